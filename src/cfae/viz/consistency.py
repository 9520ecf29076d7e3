"""Figures of the interventional consistency study (seed 003 Figures 2, 3, 5b, 8 and A.4.4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cfae.viz.figures import _save, plt
from cfae.viz.grid import save_image_grid


def heatmaps(matrices: dict[str, np.ndarray], path: str | Path, xlabel: str = "response dimension i",
             ylabel: str = "intervened dimension m", vmin: float | None = 0.0, vmax: float | None = 1.0,
             columns: int = 4, labels: list[str] | None = None, cmap: str = "viridis") -> Path:
    """One annotated heatmap per title, `columns` to a row (INV / EQV matrices, learned masks);
    `labels` names the rows and columns (default: their indices). A fixed vmin and vmax share one
    colour bar; otherwise each panel has its own."""
    columns = min(columns, len(matrices))
    rows = -(-len(matrices) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, (4.4 if labels else 3.4) * rows), squeeze=False)
    shared = vmin is not None and vmax is not None
    for ax in axes.flat[len(matrices):]:
        ax.axis("off")
    for k, (ax, (title, matrix)) in enumerate(zip(axes.flat, matrices.items())):
        matrix = np.asarray(matrix, dtype=float)
        image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax)
        if matrix.shape[0] <= 12:
            ax.set_xticks(range(matrix.shape[1]), labels or range(matrix.shape[1]), rotation=30 if labels else 0,
                          fontsize=7)
            ax.set_yticks(range(matrix.shape[0]), (labels or range(matrix.shape[0])) if k % columns == 0 else [],
                          fontsize=7)
            for (r, c), value in np.ndenumerate(matrix):
                ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        bbox={"boxstyle": "round,pad=0.1", "fc": "w", "ec": "none", "alpha": 0.6})
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        if k % columns == 0:
            ax.set_ylabel(ylabel)
        if not shared:
            fig.colorbar(image, ax=ax, fraction=0.046)
    if shared:
        fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.02)
    return _save(fig, path)


def response_errors(values: np.ndarray, errors: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Seed Figure 2 (bottom): errors[step, sample, i] against the traversal value, one panel per
    dimension i, one line per sample."""
    values, errors = np.asarray(values), np.asarray(errors)
    dims = errors.shape[2]
    fig, axes = plt.subplots(1, dims, figsize=(2.2 * dims, 2.2), sharey=True, squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.plot(values, errors[:, :, i], linewidth=0.8)
        ax.axhline(0, color="k", linewidth=0.5)
        ax.set_title(f"dim {i}", fontsize=8)
        ax.set_xlabel("traversal value", fontsize=7)
    axes[0][0].set_ylabel("N_I - R(N_I)")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def grouped_bars(groups: dict[str, dict[str, tuple[float, float]]], path: str | Path, ylabel: str) -> Path:
    """Seed Figure 5b: for each group (model family) one bar per variant it has (mean, sd error bar),
    centred on the group's tick; a variant keeps its colour across groups."""
    variants = list(dict.fromkeys(v for stats in groups.values() for v in stats))
    colours = dict(zip(variants, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    width = 0.8 / len(variants)
    fig, ax = plt.subplots(figsize=(1.8 * len(groups) + 2, 3.2))
    labelled = set()
    for i, stats in enumerate(groups.values()):
        present = [v for v in variants if v in stats and np.isfinite(stats[v][0])]
        for k, variant in enumerate(present):
            mean, sd = stats[variant]
            ax.bar(i + (k - (len(present) - 1) / 2) * width, mean, width, yerr=sd, capsize=2, color=colours[variant],
                   label=None if variant in labelled else variant)
            labelled.add(variant)
    ax.set_xticks(np.arange(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return _save(fig, path)


def distributions(samples: dict[str, list[float]], path: str | Path, ylabel: str) -> Path:
    """Seed Figure 8: the spread of one score over runs, one box per model."""
    fig, ax = plt.subplots(figsize=(0.9 * len(samples) + 2, 3.2))
    ax.boxplot(list(samples.values()))
    ax.set_xticks(range(1, len(samples) + 1), list(samples), rotation=45, fontsize=7)
    ax.set_ylabel(ylabel)
    return _save(fig, path)


def double_intervention_grid(images: Tensor, references: Tensor, path: str | Path) -> Path:
    """Seed Figure 35: a first row with the references (base, first and second alternative), then
    the (n, n) matrix of double interventions."""
    n = images.shape[0]
    top = torch.ones(n, *images.shape[2:])
    top[: len(references)] = references
    return save_image_grid(path, torch.cat([top, images.flatten(0, 1)]), nrow=n)


def hybridisation_rows(bases: Tensor, alternatives: Tensor, hybrids: Tensor, path: str | Path) -> Path:
    """Seed Figure 34: per row the base, the alternative and the n hybrids (base with one dimension
    from the alternative); hybrids (rows, n, C, H, W)."""
    rows = torch.cat([bases[:, None], alternatives[:, None], hybrids], 1)
    return save_image_grid(path, rows.flatten(0, 1), nrow=rows.shape[1])


def score_scatters(x: list[float], panels: dict[str, list[float]], groups: list[str], path: str | Path,
                   xlabel: str, titles: dict[str, str] | None = None) -> Path:
    """One scatter per score against x (a run a point), coloured by group (model family), with
    the panel's title from `titles` (e.g. its rank correlation)."""
    colours = dict(zip(dict.fromkeys(groups), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.0), squeeze=False)
    for ax, (name, y) in zip(axes[0], panels.items()):
        for group, colour in colours.items():
            keep = [k for k, g in enumerate(groups) if g == group]
            ax.scatter([x[k] for k in keep], [y[k] for k in keep], s=14, color=colour, label=group)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title((titles or {}).get(name, name), fontsize=8)
    axes[0][0].legend(fontsize=6)
    return _save(fig, path)
