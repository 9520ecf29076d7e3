"""Shared pieces of the disentanglement metrics (disentanglement_lib conventions, reference A)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from sklearn.metrics import mutual_info_score

Represent = Callable[[torch.Tensor], np.ndarray]


def model_representation(model, batch_size: int = 1024) -> Represent:
    """Observations -> encoder means (numpy), on the model's device, in eval mode."""
    device = next(model.parameters()).device
    model.eval()

    @torch.no_grad()
    def represent(x: torch.Tensor) -> np.ndarray:
        return torch.cat([model.encode(part.to(device)).mean.float().cpu() for part in x.split(batch_size)]).numpy()

    return represent


def observe(space, represent: Represent, factors: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Codes (n, D) of the observations rendered from `factors`, in batches."""
    return np.concatenate([represent(space.render(factors[i : i + batch_size])) for i in range(0, len(factors), batch_size)])


def sample_codes(space, represent: Represent, n: int, rng: np.random.Generator, batch_size: int = 2048):
    """n random factor draws and their codes: (codes (n, D), factors (n, F))."""
    factors = space.sample_factors(n, rng)
    return observe(space, represent, factors, batch_size), factors


def discretize(values: np.ndarray, bins: int = 20) -> np.ndarray:
    """Per column: equal-width histogram bins, digitised on the left edges (columns are rows here: (D, n))."""
    out = np.zeros_like(values, dtype=np.int64)
    for i, column in enumerate(values):
        edges = np.histogram(column, bins)[1][:-1]
        out[i] = np.digitize(column, edges)
    return out


def mutual_info_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """m[i, j] = MI(discrete code i, factor j) in nats; codes (D, n), factors (F, n)."""
    return np.array([[mutual_info_score(f, c) for f in factors] for c in codes])


def entropies(factors: np.ndarray) -> np.ndarray:
    """H(factor j) = MI(f_j, f_j) in nats; factors (F, n)."""
    return np.array([mutual_info_score(f, f) for f in factors])
