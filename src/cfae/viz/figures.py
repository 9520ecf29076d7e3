"""The standard figures of an autoencoder run (seed 000 Figs. 5-8 and the usual diagnostics)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from cfae.counterfactual.traverse import latent_width, prior_values, traverse  # noqa: E402
from cfae.metrics.holes import percentile_grid  # noqa: E402
from cfae.rng import seeded  # noqa: E402
from cfae.viz.grid import save_image_grid  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def latent_scatter(z: torch.Tensor, labels: torch.Tensor | None, path, title: str = "", class_names=None) -> Path:
    """Scatter of the first two latent dimensions coloured by class (seed 000 Fig. 5)."""
    return latent_scatters({title: z}, labels, path, class_names)


def latent_scatters(codes: dict[str, torch.Tensor], labels: torch.Tensor | None, path, class_names=None) -> Path:
    """One scatter panel per model, side by side, first two dimensions coloured by class."""
    fig, axes = plt.subplots(1, len(codes), figsize=(5 * len(codes), 5), squeeze=False)
    colours = labels.cpu().numpy() if labels is not None else None
    for ax, (title, z) in zip(axes[0], codes.items()):
        z = z.detach().cpu().numpy()
        if z.shape[1] < 2:
            z = np.concatenate([z, np.zeros_like(z)], 1)
        points = ax.scatter(z[:, 0], z[:, 1], c=colours, cmap="tab10", s=2, alpha=0.6)
        if colours is not None:
            handles, _ = points.legend_elements()
            names = class_names or [str(i) for i in range(len(handles))]
            ax.legend(handles, names[: len(handles)], fontsize=6, markerscale=0.7, loc="upper right")
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
        ax.set_title(title)
    return _save(fig, path)


def image_panels(images: dict[str, np.ndarray], path) -> Path:
    """Image grids (uint8 arrays from viz.grid.image_grid) side by side with titles (seed 000 Fig. 6)."""
    fig, axes = plt.subplots(1, len(images), figsize=(4 * len(images), 4.3), squeeze=False)
    for ax, (title, array) in zip(axes[0], images.items()):
        ax.imshow(array, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title)
        ax.axis("off")
    return _save(fig, path)


@torch.no_grad()
def latent_manifold(model, path, n: int = 20) -> Path:
    """Decode an n x n grid of Gaussian percentiles over z1, z2 (others 0) (seed 000 Fig. 8)."""
    device = next(model.parameters()).device
    z = percentile_grid(model.config.latent_dim, n)
    return save_image_grid(path, model.eval().decode(z.to(device)), nrow=n, scale=1)


@torch.no_grad()
def prior_samples(model, path, n: int = 64, seed: int = 0, labels=None) -> Path:
    """Decoded draws from the model's own prior (seed 000 Fig. 6)."""
    with seeded(seed, next(model.parameters()).device):
        images = model.eval().sample(n, labels)
    return save_image_grid(path, images, nrow=max(1, int(np.sqrt(n))))


@torch.no_grad()
def reconstructions(model, x: torch.Tensor, path) -> Path:
    """Originals (odd rows) above their reconstructions (even rows)."""
    device = next(model.parameters()).device
    x = x[:32].to(device)
    recon = model.eval().reconstruct(x)
    rows = [t for pair in zip(x.split(8), recon.split(8)) for t in pair]
    return save_image_grid(path, torch.cat(rows), nrow=8)


def loss_curves(histories: dict[str, list[dict]], path, key: str = "recon") -> Path:
    """Per-epoch train (solid) and eval (dashed) curves of one loss term per run (seed 000 Fig. 7)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, history in histories.items():
        for split, style in (("train", "-"), ("eval", "--")):  # eval may skip epochs (train.eval_every)
            points = [(r["epoch"], r[f"{split}/{key}"]) for r in history if r.get(f"{split}/{key}") is not None]
            if points:
                ax.plot(*zip(*points), style, marker="." if len(points) < len(history) else None, label=f"{name} {split}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE per pixel" if key == "mse" else f"{key} (nats per image)")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


@torch.no_grad()
def latent_traversals(model, x: torch.Tensor, path, steps: int = 9, span: float = 2.5) -> Path:
    """Row d: the intervention do(z_d = v) on the code of x, v swept over [-span, span] for continuous
    latent parts and over [0, 1] for Bernoulli ones (the parts come from model.latent_spec)."""
    first = x[:1].to(next(model.parameters()).device)
    rows = [traverse(model, first, d, prior_values(model, d, steps, span)).counterfactuals[0]
            for d in range(latent_width(model))]
    return save_image_grid(path, torch.cat(rows), nrow=steps)


def kl_bars(kl_per_dim: dict[str, list[float]], path) -> Path:
    """Mean KL(q(z_d|x) || N(0, 1)) per latent dimension, one group of bars per model."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / max(1, len(kl_per_dim))
    for k, (name, values) in enumerate(kl_per_dim.items()):
        ax.bar(np.arange(len(values)) + k * width, values, width, label=name)
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("KL (nats)")
    ax.legend()
    return _save(fig, path)


def metric_vs_normalised_beta(points: dict[int, list[tuple[float, float]]], path, metric: str = "Higgins metric") -> Path:
    """Metric against normalised beta = beta M / N, one line per latent size M (seed 004's study)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for latent_dim, pairs in sorted(points.items()):
        pairs = sorted(pairs)
        ax.plot([p[0] for p in pairs], [p[1] for p in pairs], "o-", label=f"M = {latent_dim}")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("normalised beta (beta M / N)")
    ax.set_ylabel(metric)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def metric_over_epochs(series: dict[str, dict[int, list[float]]], path, metric: str = "Higgins metric") -> Path:
    """A metric against training epochs, one line per model: the mean over seeds, bars of one sd,
    each seed's value as a dot; the models are set slightly apart along x so their bars do not overlap."""
    fig, ax = plt.subplots(figsize=(6, 4))
    every = sorted({e for by_epochs in series.values() for e in by_epochs})
    step = 0.02 * ((every[-1] - every[0]) or 1)
    for i, (name, by_epochs) in enumerate(series.items()):
        epochs = sorted(by_epochs)
        x = np.asarray(epochs, dtype=float) + (i - (len(series) - 1) / 2) * step
        values = [np.asarray(by_epochs[e], dtype=float) for e in epochs]
        line = ax.errorbar(x, [v.mean() for v in values], yerr=[v.std(ddof=1) if len(v) > 1 else 0.0 for v in values],
                           marker="o", capsize=3, label=name)
        for xi, v in zip(x, values):
            ax.plot([xi] * len(v), v, ".", color=line.lines[0].get_color(), alpha=0.5)
    ax.set_xticks(every)
    ax.set_xlabel("training epochs")
    ax.set_ylabel(metric)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)
