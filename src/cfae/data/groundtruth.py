"""Ground-truth factor spaces: datasets that can render any combination of their factors."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from cfae.data.shapes import FACTOR_NAMES, FACTOR_SIZES, render_shapes


class GroundTruthSpace(Protocol):
    """What the disentanglement metrics need: factor sizes, sampling, and rendering on demand."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, F) integer factor classes, each drawn uniformly and independently."""
        ...

    def render(self, factors: np.ndarray) -> Tensor:
        """Observations for the given factor classes (images (n, C, H, W) in [0, 1])."""
        ...


class ShapesSpace:
    """The dSprites-like shapes generator as a ground-truth space (5 factors)."""

    factor_names, factor_sizes = FACTOR_NAMES, FACTOR_SIZES

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, size, n) for size in self.factor_sizes], 1)

    def render(self, factors: np.ndarray) -> Tensor:
        return render_shapes(torch.from_numpy(np.asarray(factors))).float().div_(255.0)


class FactorsAsObservations:
    """A space whose observations are its factor classes scaled to [0, 1]: the 'ground truth'
    representation of the Higgins table is the identity on these."""

    def __init__(self, space):
        self.space = space
        self.factor_names, self.factor_sizes = space.factor_names, space.factor_sizes

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.space.sample_factors(n, rng)

    def render(self, factors: np.ndarray) -> Tensor:
        top = np.maximum(np.asarray(self.factor_sizes) - 1, 1)
        return torch.from_numpy(np.asarray(factors, dtype=np.float32) / top.astype(np.float32))
