"""Seed 001 Figure 7: inputs, reconstructions, then one row of counterfactuals per flipped attribute."""

from __future__ import annotations

from pathlib import Path

import torch

from cfae.viz.figures import _save, plt
from cfae.viz.grid import image_grid


def flip_grid(rows: dict[str, torch.Tensor], path: str | Path, title: str = "") -> Path:
    """One labelled row of images (n, C, H, W) per entry, in order."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.1 * max(len(v) for v in rows.values()), 1.2 * len(rows)),
                             squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        ax.imshow(image_grid(images, len(images)), cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        axes[0, 0].set_title(title)
    return _save(fig, path)


@torch.no_grad()
def flip_rows(method, batch, names: list[str], chosen: list[str] | None = None,
              value: int | None = None) -> dict[str, torch.Tensor]:
    """{input, reconstruction, then each chosen attribute (default all) flipped, or set to value}:
    `method(batch, attribute, value)` gives the images; the reconstruction is the null flip."""
    y = batch.labels["attributes"].float()
    rows = {"input": batch.x, "reconstruction": method(batch, names[0], y[:, 0]).counterfactuals}
    for name in chosen or names:
        a = names.index(name)
        target = 1 - y[:, a] if value is None else torch.full_like(y[:, a], float(value))
        rows[f"{'flip' if value is None else f'set {value}'} {name}"] = method(batch, name, target).counterfactuals
    return rows
