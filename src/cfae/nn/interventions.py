"""Hard interventions on latent codes, shared by consistency training (models) and the consistency
metrics: do(N_m = v) with v drawn from the aggregate marginal posterior Q(N_m) (seed 003 section 2.1),
which on a batch of codes is column m of another row."""

from __future__ import annotations

import torch
from torch import Tensor


def intervene_columns(codes: Tensor, dims: Tensor, values: Tensor) -> Tensor:
    """A copy of codes (T, n) with row k's dimension dims[k] set to values[k]."""
    out = codes.clone()
    rows = torch.arange(len(codes), device=codes.device)
    out[rows, dims] = values.to(out.dtype)
    return out


def random_single_interventions(codes: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(intervened codes, dims, values): each row k gets one dimension m_k, uniform over the n
    dimensions, set to that dimension's value in another row drawn uniformly (a draw from the batch's
    aggregate marginal Q(N_m))."""
    t, n = codes.shape
    device = codes.device
    dims = torch.randint(n, (t,), generator=generator, device="cpu").to(device)
    donors = torch.randint(t, (t,), generator=generator, device="cpu").to(device)
    values = codes[donors, dims]
    return intervene_columns(codes, dims, values), dims, values


def off_dimension_error(a: Tensor, b: Tensor, dims: Tensor) -> Tensor:
    """Per row k: (1 / n) sum_{i != m_k} (a_ki - b_ki)^2 (the inner sum of the seed's Algorithm 1)."""
    squared = (a - b).square()
    keep = torch.ones_like(squared)
    keep[torch.arange(len(a), device=a.device), dims] = 0
    return (squared * keep).sum(1) / a.shape[1]
