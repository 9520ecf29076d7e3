"""Image grids written as PNG with Pillow (no torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def image_grid(images: Tensor, nrow: int, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile (N, C, H, W) images in [0, 1] into one uint8 array (rows of nrow), (H', W') or (H', W', 3)."""
    images = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = images.shape
    rows = (n + nrow - 1) // nrow
    canvas = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value)
    for k in range(n):
        r, col = divmod(k, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        canvas[:, y : y + h, x : x + w] = images[k]
    array = (canvas * 255).round().to(torch.uint8).numpy()
    return array[0] if c == 1 else array.transpose(1, 2, 0)


def save_image_grid(path: str | Path, images: Tensor, nrow: int, scale: int = 2) -> Path:
    """Write a grid PNG, upscaled by `scale` with nearest-neighbour for legibility."""
    array = image_grid(images, nrow)
    img = Image.fromarray(array)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
