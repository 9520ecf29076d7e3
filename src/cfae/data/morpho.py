"""Morpho-MNIST measurements and perturbations (Castro et al. 2019), batched in torch.

Reference section 2: upsample x4 (bicubic), binarise at 50% between each image's min and max,
skeletonise; then
    area      = sum(binary) / s^2
    length    = skeleton length (axis steps 1, diagonal steps sqrt 2) / s
    thickness = 2 mean(distance map on the skeleton) / s
    slant     = arctan(-mu11 / mu02)       (second-order central moments; > 0 leans right)
    width, height: the shear-aligned box holding 96% of the mass (2% dropped on each side), / s.
Thinning / thickening: erosion / dilation of the binary image by a disk of radius
amount * s * thickness / 2 (amounts 0.7 and 1.0); set_thickness moves to a target thickness.
The skeleton is Zhang-Suen thinning and the distance map an exact Euclidean distance transform
(separable, Meijster et al. 2000), both over a whole batch at once, on CPU or GPU.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor

from cfae.data.base import ImageDataset
from cfae.data.paths import cache_dir

SCALE = 4
MASS_DROPPED = 0.02
MEASURES = ("area", "length", "thickness", "slant", "width", "height")


def upscale_binary(images: Tensor, scale: int = SCALE) -> Tensor:
    """(N, 1, H, W) or (N, H, W) grey images -> (N, sH, sW) bool, cut at 50% between min and max."""
    x = images.reshape(len(images), 1, *images.shape[-2:]).float()
    up = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)[:, 0]
    low = x.amin(dim=(1, 2, 3)).view(-1, 1, 1)
    high = x.amax(dim=(1, 2, 3)).view(-1, 1, 1)
    return up > (low + high) / 2


def downscale(mask: Tensor, scale: int = SCALE) -> Tensor:
    """(N, sH, sW) binary -> (N, 1, H, W) grey by averaging each s x s block."""
    return F.avg_pool2d(mask.float().unsqueeze(1), scale)


def _line_distance(mask: Tensor) -> Tensor:
    """Distance along each column to the nearest False pixel (inf where a column has none)."""
    n, h, w = mask.shape
    big = float(h + w)
    down = torch.empty(n, h, w, device=mask.device)
    run = torch.full((n, w), big, device=mask.device)
    for i in range(h):
        run = torch.where(mask[:, i], run + 1, torch.zeros_like(run))
        down[:, i] = run
    run = torch.full((n, w), big, device=mask.device)
    for i in reversed(range(h)):
        run = torch.where(mask[:, i], run + 1, torch.zeros_like(run))
        down[:, i] = torch.minimum(down[:, i], run)
    return down


def distance_transform(mask: Tensor) -> Tensor:
    """Exact Euclidean distance from every True pixel to the nearest False pixel (0 on False pixels).

    Separable form: g = distance to the nearest False pixel within the column, then
    D(i, j)^2 = min_l g(i, l)^2 + (j - l)^2 along the row (Meijster et al. 2000); only |j - l| <= max g
    can win, and none once shift^2 exceeds every current D^2, so the row pass is a short loop of shifts."""
    g = _line_distance(mask)
    w = mask.shape[-1]
    finite = g[g < mask.shape[-2] + w]
    reach = min(int(finite.max().item()) if finite.numel() else 0, w - 1)
    g2 = g.square()
    padded = F.pad(g2, (reach, reach), value=float("inf"))
    out = g2.clone()
    for shift in range(1, reach + 1):
        if shift % 4 == 1 and shift**2 > out.max():
            break
        out = torch.minimum(out, padded[..., reach - shift : reach - shift + w] + shift**2)
        out = torch.minimum(out, padded[..., reach + shift : reach + shift + w] + shift**2)
    return out.sqrt()


def _removable_table(phase: int) -> Tensor:
    """For each of the 256 neighbourhoods (bit k = neighbour P(k+2), clockwise from north), whether
    Zhang-Suen's sub-iteration `phase` deletes the centre pixel."""
    table = torch.zeros(256, dtype=torch.bool)
    for code in range(256):
        p = [(code >> k) & 1 for k in range(8)]  # P2 .. P9
        count = sum(p)
        transitions = sum((1 - p[k]) * p[(k + 1) % 8] for k in range(8))
        p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
        first, second = (p2 * p4 * p6, p4 * p6 * p8) if phase == 0 else (p2 * p4 * p8, p2 * p6 * p8)
        table[code] = 2 <= count <= 6 and transitions == 1 and first == 0 and second == 0
    return table


_REMOVABLE = (_removable_table(0), _removable_table(1))
# Row and column offsets of P2 .. P9: N, NE, E, SE, S, SW, W, NW.
_NEIGHBOUR_OFFSETS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _neighbourhood_code(mask: Tensor) -> Tensor:
    """sum_k 2^k P(k+2) for every pixel, as an int64 index into the deletion tables."""
    h, w = mask.shape[-2:]
    padded = F.pad(mask.to(torch.uint8), (1, 1, 1, 1))
    code = torch.zeros(mask.shape, dtype=torch.uint8, device=mask.device)
    for k, (di, dj) in enumerate(_NEIGHBOUR_OFFSETS):
        code |= padded[:, 1 + di : 1 + di + h, 1 + dj : 1 + dj + w] << k
    return code.long()


def skeleton(mask: Tensor, max_iterations: int = 200) -> Tensor:
    """Zhang-Suen thinning of a batch of binary images to one-pixel-wide curves (the deletion rule
    of each sub-iteration read from a 256-entry table of neighbourhood codes)."""
    skel = mask.clone()
    tables = [t.to(mask.device) for t in _REMOVABLE]
    for _ in range(max_iterations):
        changed = False
        for table in tables:
            remove = skel & table[_neighbourhood_code(skel)]
            if remove.any():
                skel = skel & ~remove
                changed = True
        if not changed:
            break
    return skel


def skeleton_length(skel: Tensor) -> Tensor:
    """Length of one-pixel curves in pixels: axis-adjacent pairs count 1, diagonal pairs sqrt 2
    unless the two pixels are already joined through an axis neighbour (no double counting)."""
    s = skel.float()
    right = s[:, :, :-1] * s[:, :, 1:]
    down = s[:, :-1, :] * s[:, 1:, :]
    a, b, c, d = s[:, :-1, :-1], s[:, :-1, 1:], s[:, 1:, :-1], s[:, 1:, 1:]  # a b / c d
    diag = a * d * (1 - b) * (1 - c) + b * c * (1 - a) * (1 - d)
    return right.sum((1, 2)) + down.sum((1, 2)) + math.sqrt(2) * diag.sum((1, 2))


def _weighted_quantile_span(coord: Tensor, mask: Tensor, drop: float) -> Tensor:
    """Distance between the drop and 1 - drop quantiles of coord over each image's True pixels."""
    n = len(mask)
    flat = torch.where(mask, coord, torch.full_like(coord, float("inf"))).reshape(n, -1)
    ordered = flat.sort(dim=1).values
    count = mask.reshape(n, -1).sum(1).clamp_min(1)
    low = (drop * (count - 1)).round().long()
    high = ((1 - drop) * (count - 1)).round().long()
    return (ordered.gather(1, high[:, None]) - ordered.gather(1, low[:, None]))[:, 0]


def _centred_grid(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Row and column coordinates of every pixel minus the shape's centre of mass, (N, H, W) each."""
    m = mask.float()
    h, w = mask.shape[-2:]
    rows = torch.arange(h, device=mask.device, dtype=torch.float32).view(1, -1, 1)
    cols = torch.arange(w, device=mask.device, dtype=torch.float32).view(1, 1, -1)
    mass = m.sum((1, 2), keepdim=True).clamp_min(1)
    dr = (rows - (m * rows).sum((1, 2), keepdim=True) / mass).expand_as(m)
    dc = (cols - (m * cols).sum((1, 2), keepdim=True) / mass).expand_as(m)
    return dr, dc


def slant_of(mask: Tensor) -> Tensor:
    """arctan(-mu11 / mu02): the shear of the shape, rows down and columns right (> 0 leans right)."""
    m = mask.float()
    dr, dc = _centred_grid(mask)
    mu11 = (m * dr * dc).sum((1, 2))
    mu02 = (m * dr.square()).sum((1, 2)).clamp_min(1e-8)
    return torch.atan(-mu11 / mu02)


def _thickness(skel: Tensor, dist: Tensor, scale: int) -> Tensor:
    """2 mean(distance map on the skeleton) / scale."""
    on_skeleton = skel.float().sum((1, 2)).clamp_min(1)
    return 2 * (dist * skel).sum((1, 2)) / on_skeleton / scale


def measure(images: Tensor, scale: int = SCALE, chunk: int = 256, progress: bool = False) -> dict[str, Tensor]:
    """The six Morpho-MNIST measurements of each image, in pixels of the input resolution (slant in
    radians), `chunk` images at a time (with a progress bar if asked)."""
    results: dict[str, list[Tensor]] = {name: [] for name in MEASURES}
    with Progress(TextColumn("morpho-mnist measurements"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not progress) as bar:
        task = bar.add_task("measure", total=len(images))
        for start in range(0, len(images), chunk):
            for name, value in _measure_chunk(images[start : start + chunk], scale).items():
                results[name].append(value)
            bar.advance(task, min(chunk, len(images) - start))
    return {name: torch.cat(values) for name, values in results.items()}


def _measure_chunk(images: Tensor, scale: int) -> dict[str, Tensor]:
    mask = upscale_binary(images, scale)
    skel = skeleton(mask)
    slant = slant_of(mask)
    dr, dc = _centred_grid(mask)
    return {
        "area": mask.float().sum((1, 2)) / scale**2,
        "length": skeleton_length(skel) / scale,
        "thickness": _thickness(skel, distance_transform(mask), scale),
        "slant": slant,
        "width": _weighted_quantile_span(dc + torch.tan(slant).view(-1, 1, 1) * dr, mask, MASS_DROPPED) / scale,
        "height": _weighted_quantile_span(dr, mask, MASS_DROPPED) / scale,
    }


def _perturbed(images: Tensor, radius_of, grow_of, scale: int) -> Tensor:
    """Erode or dilate each upscaled binary image by a disk of its own radius, then downscale.
    Erosion keeps pixels farther than r from the background; dilation adds pixels within r of the shape."""
    mask = upscale_binary(images, scale)
    dist = distance_transform(mask)
    thickness = _thickness(skeleton(mask), dist, scale)
    r, grow = radius_of(thickness).view(-1, 1, 1), grow_of(thickness).view(-1, 1, 1)
    out = dist > r
    if grow.any():
        out = torch.where(grow, mask | (distance_transform(~mask) <= r), out)
    return downscale(out, scale).reshape(images.shape).to(images.dtype)


def thin(images: Tensor, amount: float = 0.7, scale: int = SCALE) -> Tensor:
    """Erode by a disk of radius amount * scale * thickness / 2."""
    return _perturbed(images, lambda t: amount * scale * t / 2, lambda t: torch.zeros_like(t, dtype=torch.bool), scale)


def thicken(images: Tensor, amount: float = 1.0, scale: int = SCALE) -> Tensor:
    """Dilate by a disk of radius amount * scale * thickness / 2."""
    return _perturbed(images, lambda t: amount * scale * t / 2, lambda t: torch.ones_like(t, dtype=torch.bool), scale)


def set_thickness(images: Tensor, target: Tensor | float, scale: int = SCALE) -> Tensor:
    """Dilate or erode each image by scale * |target - thickness| / 2 so that its thickness becomes target."""
    target = torch.as_tensor(target, dtype=torch.float32, device=images.device).expand(len(images))
    return _perturbed(images, lambda t: scale * (target - t).abs() / 2, lambda t: target > t, scale)


def morphometry(images: Tensor, cache: Path | None = None, progress: bool = True) -> dict[str, Tensor]:
    """measure() of a whole dataset, cached in `cache` (an npz keyed by a hash of the pixels)."""
    if cache is not None and cache.is_file():
        with np.load(cache) as stored:
            return {name: torch.from_numpy(stored[name]) for name in MEASURES}
    result = measure(images, progress=progress)
    if cache is not None:
        tmp = cache.with_name(cache.name + ".partial.npz")
        np.savez(tmp, **{name: value.numpy() for name, value in result.items()})
        tmp.replace(cache)
    return result


def pixel_digest(images: Tensor) -> str:
    return hashlib.sha1(images.contiguous().numpy().tobytes()).hexdigest()[:16]


def with_morphometry(data: ImageDataset, progress: bool = True) -> ImageDataset:
    """The dataset with the six Morpho-MNIST measurements added as float labels (cached on disk)."""
    cache = cache_dir() / f"morpho-{data.name}-{len(data)}-{pixel_digest(data.images)}.npz"
    labels = {**data.labels, **morphometry(data.images, cache, progress)}
    return ImageDataset(f"{data.name}-morpho", data.images, labels, data.class_names)
