"""The causal layers of CausalVAE (Yang et al. 2021, sections 3.1-3.3; reference section D).

A (k x k) holds the weighted edges between k concepts, A[j, i] for the edge j -> i. Each concept
has a latent of d dimensions, and every dimension follows the same graph:

    linear SCM     z = A^T z + eps,  so z = (I - A^T)^{-1} eps            (eq. 1, per dimension)
    do(z_i = c)    column i of A cut (no parents) and eps_i = c, then the same solve, so every
                   descendant of i moves and no ancestor does
    mask layer     z~_i = g_i(A_i o z) + eps_i, g_i a small MLP per concept  (eq. 7)
    acyclicity     h(A) = tr((I + A o A / m)^m) - m, zero exactly when A is a DAG (DAG-GNN, Yu et al.
                   2019; the slides write the limit form tr(e^{A o A}) - m)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def dag_constraint(adjacency: Tensor) -> Tensor:
    """h(A) = tr((I + A o A / m)^m) - m (module docstring); 0 for a DAG, > 0 when A has a cycle."""
    m = adjacency.shape[0]
    eye = torch.eye(m, dtype=adjacency.dtype, device=adjacency.device)
    return torch.linalg.matrix_power(eye + adjacency * adjacency / m, m).trace() - m


def cut_parents(adjacency: Tensor, concepts: list[int]) -> Tensor:
    """A with the incoming edges of the given concepts removed (columns zeroed): the graph under do()."""
    out = adjacency.clone()
    out[:, concepts] = 0
    return out


def linear_scm(eps: Tensor, adjacency: Tensor, do: dict[int, Tensor | float] | None = None) -> Tensor:
    """z = (I - A^T)^{-1} eps for eps (N, k, d), each of the d dimensions through the same graph;
    do = {concept: value (scalar, (d,) or (N, d))} fixes those concepts before the solve."""
    k = adjacency.shape[0]
    if eps.shape[1] != k:
        raise ValueError(f"the SCM has {k} concepts but the codes have {eps.shape[1]}")
    if do:
        for i in do:
            if not 0 <= i < k:
                raise IndexError(f"concept {i} out of range for {k} concepts")
        adjacency = cut_parents(adjacency, list(do))
        eps = eps.clone()
        for i, value in do.items():
            eps[:, i] = torch.as_tensor(value, dtype=eps.dtype, device=eps.device)
    eye = torch.eye(k, dtype=eps.dtype, device=eps.device)
    mixing = torch.linalg.inv(eye - adjacency.to(eps.dtype).T)
    return torch.einsum("ij,njd->nid", mixing, eps)


class ConceptMLPs(nn.Module):
    """k independent MLPs d -> hidden -> d (ELU), one per concept, applied in one batched product."""

    def __init__(self, concepts: int, dim: int, hidden: int = 32):
        super().__init__()
        bound1, bound2 = 1 / math.sqrt(dim), 1 / math.sqrt(hidden)
        self.w1 = nn.Parameter(torch.empty(concepts, dim, hidden).uniform_(-bound1, bound1))
        self.b1 = nn.Parameter(torch.empty(concepts, hidden).uniform_(-bound1, bound1))
        self.w2 = nn.Parameter(torch.empty(concepts, hidden, dim).uniform_(-bound2, bound2))
        self.b2 = nn.Parameter(torch.empty(concepts, dim).uniform_(-bound2, bound2))

    def forward(self, x: Tensor) -> Tensor:
        """(N, k, d) -> (N, k, d), concept i through its own MLP g_i."""
        h = nn.functional.elu(torch.einsum("nkd,kdh->nkh", x, self.w1) + self.b1)
        return torch.einsum("nkh,khd->nkd", h, self.w2) + self.b2


def parent_inputs(z: Tensor, adjacency: Tensor) -> Tensor:
    """A_i o z for every concept i: row i = sum_j A[j, i] z_j, (N, k, d) (what g_i sees)."""
    return torch.einsum("ji,njd->nid", adjacency, z)
