"""Figures of the hierarchical VAE study (seed 004, Ladder VAE Figures 2, 4, 5 and 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from cfae.viz.consistency import grouped_bars
from cfae.viz.figures import _save, plt


def likelihood_curves(curves: dict[str, list[tuple[int, float]]], path: str | Path) -> Path:
    """Figure 2: one-sample test ELBO (a lower bound on log p(x)) against epochs, one line per model."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, points in curves.items():
        ax.plot(*zip(*points), marker=".", label=name)
    limits = elbo_axis_limits(curves)
    if limits is not None:
        ax.set_ylim(*limits)
        ax.set_title("cut off below: a run fell under its first epoch's ELBO (diverged)", fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test ELBO (nats, 1 sample)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def elbo_axis_limits(curves: dict[str, list[tuple[int, float]]]) -> tuple[float, float] | None:
    """Figure 2's y range when a curve drops below every curve's first epoch (a diverged run would
    squash the others into a line): from the lowest first-epoch ELBO to the highest value, 5% of
    that span added at each end. None when no curve drops that far."""
    first = min(points[0][1] for points in curves.values())
    values = [v for points in curves.values() for _, v in points]
    if min(values) >= first:
        return None
    margin = 0.05 * (max(values) - first)
    return first - margin, max(values) + margin


def layer_kl_bars(layer_kl: dict[str, list[float]], path: str | Path) -> Path:
    """Figure 5: KL(q || p) of each layer, lowest to highest, one bar group per layer, a bar per model."""
    layers = max(len(v) for v in layer_kl.values())
    groups = {f"z{i + 1}": {name: (values[i], 0.0) for name, values in layer_kl.items() if i < len(values)}
              for i in range(layers)}
    return grouped_bars(groups, path, "KL(q || p), nats")


def unit_kl_heatmaps(panels: dict[str, tuple[list[int], np.ndarray, list[int]]], path: str | Path) -> Path:
    """Figure 4: log10 KL of every unit (columns, layers split by lines) at each snapshot epoch (rows)."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.2 + 0.5 * sum(len(p[0]) for p in panels.values())),
                             squeeze=False)
    for ax, (name, (epochs, kl, layer_sizes)) in zip(axes[:, 0], panels.items()):
        image = ax.imshow(np.log10(np.clip(kl, 1e-4, None)), aspect="auto", cmap="Greys", vmin=-3, vmax=1)
        for edge in np.cumsum(layer_sizes)[:-1]:
            ax.axvline(edge - 0.5, color="red", lw=0.8)
        ax.set_yticks(range(len(epochs)))
        ax.set_yticklabels([f"epoch {e}" for e in epochs], fontsize=7)
        ax.set_title(f"{name}: log10 KL per unit (white: inactive)", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.02)
    axes[-1, 0].set_xlabel("latent unit (z1 | z2 | ...)")
    return _save(fig, path)


def pca_panels(samples: dict[str, list[Tensor]], labels: Tensor, path: str | Path) -> Path:
    """Figure 6: the first two principal components of samples of each layer's q(z_i), coloured by class."""
    rows = len(samples)
    columns = max(len(v) for v in samples.values())
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.6 * rows), squeeze=False)
    colours = labels.cpu().numpy()
    for r, (name, layers) in enumerate(samples.items()):
        for c, z in enumerate(layers):
            centred = z.double() - z.double().mean(0)
            basis = np.linalg.svd(centred.numpy(), full_matrices=False)[2][:2].T
            points = centred.numpy() @ basis
            axes[r, c].scatter(points[:, 0], points[:, -1], c=colours, cmap="tab10", s=1, alpha=0.5)
            axes[r, c].set_title(f"{name} z{c + 1}", fontsize=8)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
    return _save(fig, path)


def step_traces(traces: dict[str, list[dict]], panels: dict[str, str], path: str | Path) -> Path:
    """Per-step values of one epoch on log axes, a panel per key of `panels` (key -> axis label) and
    a line per trace (e.g. a training setting): where a run blows up and what moved first."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.5, 2.2 * len(panels)), sharex=True, squeeze=False)
    for ax, (key, label) in zip(axes[:, 0], panels.items()):
        for name, rows in traces.items():
            ax.semilogy([r["step"] for r in rows], [r[key] for r in rows], lw=0.8, label=name)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("step within the epoch")
    return _save(fig, path)
