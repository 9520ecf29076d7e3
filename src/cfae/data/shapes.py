"""dSprites-like shapes: square, ellipse, heart rendered on demand from their factors.

Factor layout follows dSprites (reference B): shape 3, scale 6 in [0.5, 1], orientation 40 in
[0, 2 pi], posX 32 and posY 32 in [0, 1]; 64 x 64 binary images. The official npz is read too.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cfae.data.base import ImageDataset

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
SIZE = 64
DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SPRITE_RADIUS = 0.2 * SIZE  # pixels at scale 1; the largest sprite spans at most 29 pixels


def factor_values(factors: Tensor) -> dict[str, Tensor]:
    """Map integer factor classes (N, 5) to their dSprites values."""
    f = factors.long()
    return {
        "shape": f[:, 0],
        "scale": 0.5 + 0.5 * f[:, 1].float() / (FACTOR_SIZES[1] - 1),
        "orientation": 2 * math.pi * f[:, 2].float() / (FACTOR_SIZES[2] - 1),
        "pos_x": f[:, 3].float() / (FACTOR_SIZES[3] - 1),
        "pos_y": f[:, 4].float() / (FACTOR_SIZES[4] - 1),
    }


def _inside(shape: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Implicit shape tests in the shape's own frame (unit size, y up)."""
    square = torch.maximum(u.abs(), v.abs()) <= 0.8
    ellipse = u.square() + (v / 0.5).square() <= 1.0
    hx, hy = 1.15 * u, 1.15 * v + 0.15
    heart = (hx.square() + hy.square() - 1).pow(3) - hx.square() * hy.pow(3) <= 0
    return torch.where(shape == 0, square, torch.where(shape == 1, ellipse, heart))


@lru_cache(maxsize=1)
def sprite_bank() -> Tensor:
    """Every (shape, scale, orientation) sprite centred at (32, 32), as bool (3 * 6 * 40, 64, 64)."""
    combos = torch.cartesian_prod(*(torch.arange(n) for n in FACTOR_SIZES[:3]))
    val = factor_values(torch.cat([combos, torch.zeros(len(combos), 2, dtype=torch.long)], 1))
    centres = torch.arange(SIZE, dtype=torch.float32) + 0.5 - SIZE / 2
    py, px = torch.meshgrid(centres, centres, indexing="ij")
    radius = (SPRITE_RADIUS * val["scale"])[:, None, None]
    dx, dy = px / radius, -py / radius
    c, s = torch.cos(val["orientation"])[:, None, None], torch.sin(val["orientation"])[:, None, None]
    return _inside(combos[:, 0, None, None], c * dx + s * dy, -s * dx + c * dy)


@lru_cache(maxsize=1)
def _sprite_rows() -> Tensor:
    """Every run of SIZE consecutive pixels of the sprite bank tiled 2 x 2 (720, 128, 128; 0 / 255),
    as an overlapping (n, SIZE) view: a cyclic shift of a sprite by (dy, dx) is SIZE of these rows."""
    flat = (sprite_bank().to(torch.uint8) * 255).repeat(1, 2, 2).flatten()
    return flat.as_strided((flat.numel() - SIZE + 1, SIZE), (1, 1))


def render_shapes(factors: Tensor) -> Tensor:
    """Render integer factors (N, 5) to binary uint8 images (N, 1, 64, 64), deterministically.

    Position class i puts the sprite's centre at pixel 16 + i (16..47), so a render is a sprite
    from the bank cyclically shifted by whole pixels, image[r, c] = sprite[(r - dy) % 64, (c - dx) % 64]:
    in the 2 x 2 tiled bank that is the 64 x 64 window at ((-dy) % 64, (-dx) % 64), gathered row by row.
    """
    factors = torch.as_tensor(factors).long()
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_SIZES):
        raise ValueError(f"factors must be (N, {len(FACTOR_SIZES)}), got {tuple(factors.shape)}")
    high = torch.tensor(FACTOR_SIZES)
    if (factors < 0).any() or (factors >= high).any():
        raise ValueError(f"factor classes out of range; sizes are {dict(zip(FACTOR_NAMES, FACTOR_SIZES))}")
    sprite = (factors[:, 0] * FACTOR_SIZES[1] + factors[:, 1]) * FACTOR_SIZES[2] + factors[:, 2]
    top, left = (16 - factors[:, 4]) % SIZE, (16 - factors[:, 3]) % SIZE
    tiled = 2 * SIZE  # the tiled sprite's side
    corner = sprite * tiled * tiled + top * tiled + left
    rows = corner[:, None] + torch.arange(SIZE) * tiled
    return _sprite_rows()[rows.flatten()].view(len(factors), 1, SIZE, SIZE)


def sample_factors(n: int, generator: torch.Generator | None = None) -> Tensor:
    """n factor vectors drawn uniformly and independently (the disentanglement_lib convention)."""
    cols = [torch.randint(size, (n,), generator=generator) for size in FACTOR_SIZES]
    return torch.stack(cols, 1)


def all_factors() -> Tensor:
    """Every one of the 737,280 factor combinations, in dSprites index order."""
    axes = [torch.arange(s) for s in FACTOR_SIZES]
    return torch.cartesian_prod(*axes)


def shapes_dataset(n: int, seed: int, name: str = "shapes") -> ImageDataset:
    """n random renderings with their factors as labels; the same seed gives the same set."""
    gen = torch.Generator().manual_seed(seed)
    factors = sample_factors(n, gen)
    labels = {k: factors[:, i] for i, k in enumerate(FACTOR_NAMES)}
    labels["label"] = factors[:, 0]
    return ImageDataset(name, render_shapes(factors), labels, list(SHAPE_NAMES))


def load_official_dsprites(path: Path, n: int | None, seed: int) -> ImageDataset:
    """The official dSprites npz (imgs, latents_classes), optionally a seeded random subset of n."""
    with np.load(path, allow_pickle=False) as npz:
        classes = npz["latents_classes"][:, 1:]
        index = np.arange(len(classes))
        if n is not None:
            index = np.sort(np.random.default_rng(seed).choice(len(classes), n, replace=False))
        imgs = npz["imgs"][index]
    factors = torch.from_numpy(classes[index].astype(np.int64))
    labels = {k: factors[:, i] for i, k in enumerate(FACTOR_NAMES)}
    labels["label"] = factors[:, 0]
    images = torch.from_numpy(imgs.astype(np.uint8) * 255).unsqueeze(1)
    return ImageDataset("dsprites", images, labels, list(SHAPE_NAMES))
