"""Ground-truth factor spaces: datasets that can render any combination of their factors."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from cfae.data.idx import DataFileError
from cfae.data.shapes import FACTOR_NAMES, FACTOR_SIZES, render_shapes


def flat_index(factors: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """Row-major index of each factor combination: sum_j f_j * prod_{l > j} size_l."""
    bases = np.cumprod((1,) + tuple(sizes[:0:-1]))[::-1]
    return np.asarray(factors, dtype=np.int64) @ bases


def uniform_factors(sizes: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, F) integer factor classes, each drawn uniformly and independently."""
    return np.stack([rng.integers(0, size, n) for size in sizes], 1)


def all_combinations(sizes: tuple[int, ...]) -> np.ndarray:
    """(prod sizes, F) every factor combination, in flat_index order."""
    return np.indices(sizes).reshape(len(sizes), -1).T


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
        return uniform_factors(self.factor_sizes, n, rng)

    def render(self, factors: np.ndarray) -> Tensor:
        return render_shapes(torch.from_numpy(np.asarray(factors))).float().div_(255.0)


class ImageTableSpace:
    """A ground-truth space backed by one stored image per factor combination (the official dSprites
    file), kept bit-packed (737,280 binary 64x64 images: 377 MB) and rendered by lookup."""

    def __init__(self, images: np.ndarray, classes: np.ndarray, factor_names: tuple[str, ...],
                 factor_sizes: tuple[int, ...], source: str = "image table"):
        self.factor_names, self.factor_sizes = tuple(factor_names), tuple(factor_sizes)
        count = int(np.prod(self.factor_sizes))
        if len(images) != len(classes) or classes.shape[1:] != (len(self.factor_sizes),):
            raise DataFileError(f"{source}: {len(images)} images but factor classes of shape {classes.shape}")
        if (classes < 0).any() or (classes >= np.asarray(self.factor_sizes)).any():
            raise DataFileError(f"{source}: factor classes out of range for sizes {self.factor_sizes}")
        row_of = np.full(count, -1, dtype=np.int64)
        row_of[flat_index(classes, self.factor_sizes)] = np.arange(len(classes))
        if (row_of < 0).any():
            raise DataFileError(f"{source}: {int((row_of < 0).sum())} of {count} factor combinations have no image")
        self.row_of = row_of
        self.packed = np.packbits(np.asarray(images) > 0, axis=-1)
        self.width = images.shape[-1]

    @classmethod
    def from_dsprites(cls, path) -> "ImageTableSpace":
        """The official npz (imgs, latents_classes with the constant colour column first)."""
        with np.load(path, allow_pickle=False) as npz:
            images, classes = npz["imgs"], npz["latents_classes"][:, 1:]
        return cls(images, classes, FACTOR_NAMES, FACTOR_SIZES, source=str(path))

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return uniform_factors(self.factor_sizes, n, rng)

    def render(self, factors: np.ndarray) -> Tensor:
        rows = self.row_of[flat_index(factors, self.factor_sizes)]
        bits = np.unpackbits(self.packed[rows], axis=-1, count=self.width)
        return torch.from_numpy(bits).float().unsqueeze(1)


class ReobservedSpace:
    """Another space's factors with other observations; subclasses define `render`."""

    def __init__(self, space):
        self.space = space
        self.factor_names, self.factor_sizes = space.factor_names, space.factor_sizes

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.space.sample_factors(n, rng)


class FactorsAsObservations(ReobservedSpace):
    """A space whose observations are its factor classes scaled to [0, 1]: the 'ground truth'
    representation of the Higgins table is the identity on these."""

    def render(self, factors: np.ndarray) -> Tensor:
        top = np.maximum(np.asarray(self.factor_sizes) - 1, 1)
        return torch.from_numpy(np.asarray(factors, dtype=np.float32) / top.astype(np.float32))
