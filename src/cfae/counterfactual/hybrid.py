"""Prior draws for models without a prior of their own, from encoded codes (N, n) (seed 003 Table 2):

    posterior  rows of the aggregate posterior Q(N)
    hybrid     each dimension from an independent random row (Leeb et al. 2020; reference E): every
               marginal is kept exactly, every dependence between dimensions is broken
    uniform    each dimension uniform between its smallest and largest encoded value
"""

from __future__ import annotations

import torch
from torch import Tensor

SAMPLING_MODES = ("posterior", "hybrid", "uniform")


def hybrid_codes(codes: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A permutation of each column drawn independently: the same multiset per dimension."""
    n, d = codes.shape
    order = torch.stack([torch.randperm(n, generator=generator) for _ in range(d)], 1).to(codes.device)
    return codes.gather(0, order)


def sample_codes(codes: Tensor, count: int, mode: str, generator: torch.Generator | None = None) -> Tensor:
    """count draws of the given mode from codes (N, n)."""
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown sampling mode {mode!r}; valid choices: {', '.join(SAMPLING_MODES)}")
    if mode == "uniform":
        low, high = codes.min(0).values, codes.max(0).values
        return low + (high - low) * torch.rand(count, codes.shape[1], generator=generator).to(codes)
    rows = torch.randint(len(codes), (count, codes.shape[1] if mode == "hybrid" else 1), generator=generator)
    rows = rows.expand(count, codes.shape[1]).to(codes.device)
    return codes.gather(0, rows)
