"""The standard figures of an autoencoder run (seed 000 Figs. 5-8 and the usual diagnostics)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import norm  # noqa: E402

from cfae.viz.grid import save_image_grid  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def latent_scatter(z: torch.Tensor, labels: torch.Tensor | None, path, title: str = "", class_names=None) -> Path:
    """Scatter of the first two latent dimensions coloured by class (seed 000 Fig. 5)."""
    z = z.detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(5, 5))
    if z.shape[1] < 2:
        z = np.concatenate([z, np.zeros_like(z)], 1)
    colours = labels.cpu().numpy() if labels is not None else None
    points = ax.scatter(z[:, 0], z[:, 1], c=colours, cmap="tab10", s=2, alpha=0.6)
    if colours is not None:
        handles, _ = points.legend_elements()
        names = class_names or [str(i) for i in range(len(handles))]
        ax.legend(handles, names[: len(handles)], fontsize=6, markerscale=0.7, loc="upper right")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(title)
    return _save(fig, path)


@torch.no_grad()
def latent_manifold(model, path, n: int = 20) -> Path:
    """Decode an n x n grid of Gaussian percentiles over z1, z2 (others 0) (seed 000 Fig. 8)."""
    device = next(model.parameters()).device
    ticks = torch.tensor(norm.ppf(np.linspace(0.05, 0.95, n)), dtype=torch.float32)
    z = torch.zeros(n * n, model.config.latent_dim)
    grid_y, grid_x = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
    z[:, 0] = grid_x.flatten()
    if model.config.latent_dim > 1:
        z[:, 1] = grid_y.flatten()
    return save_image_grid(path, model.eval().decode(z.to(device)), nrow=n, scale=1)


@torch.no_grad()
def prior_samples(model, path, n: int = 64, seed: int = 0) -> Path:
    """Decoded draws from N(0, I) (seed 000 Fig. 6)."""
    device = next(model.parameters()).device
    z = torch.randn(n, model.config.latent_dim, generator=torch.Generator().manual_seed(seed))
    return save_image_grid(path, model.eval().decode(z.to(device)), nrow=int(np.sqrt(n)))


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
        epochs = [r["epoch"] for r in history]
        for split, style in (("train", "-"), ("eval", "--")):
            values = [r.get(f"{split}/{key}") for r in history]
            if all(v is not None for v in values):
                ax.plot(epochs, values, style, label=f"{name} {split}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{key} (nats per image)")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


@torch.no_grad()
def latent_traversals(model, x: torch.Tensor, path, steps: int = 9, span: float = 2.5) -> Path:
    """Row d: decode the code of x with dimension d swept over [-span, span] (others fixed)."""
    device = next(model.parameters()).device
    base = model.eval().encode(x[:1].to(device)).mean[0]
    values = torch.linspace(-span, span, steps, device=device)
    codes = base.repeat(model.config.latent_dim * steps, 1)
    for d in range(model.config.latent_dim):
        codes[d * steps : (d + 1) * steps, d] = values
    return save_image_grid(path, model.decode(codes), nrow=steps)
