"""'No gaps in the coding space' (seed 000, Fig. 8): how often decoded latent points are unrecognisable."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm


def percentile_grid(latent_dim: int, n: int = 20) -> torch.Tensor:
    """n x n grid of Gaussian percentiles (5%..95%) over z1, z2, other dimensions 0; row-major with
    z2 decreasing down the rows, so it tiles as an image of the plane (seed 000 Fig. 8)."""
    ticks = torch.tensor(norm.ppf(np.linspace(0.05, 0.95, n)), dtype=torch.float32)
    z = torch.zeros(n * n, latent_dim)
    gy, gx = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
    z[:, 0] = gx.flatten()
    if latent_dim > 1:
        z[:, 1] = gy.flatten()
    return z


@torch.no_grad()
def hole_rate(model, classifier, z: torch.Tensor, threshold: float = 0.5) -> dict[str, float]:
    """Share of decoded codes whose top class probability is below threshold, and the mean top probability."""
    model.eval()
    classifier.eval()
    device = next(model.parameters()).device
    images = model.decode(z.to(device)).cpu()
    top = torch.softmax(classifier(images), 1).max(1).values
    return {"hole_rate": float((top < threshold).float().mean()), "mean_top_prob": float(top.mean())}


def grid_and_prior_holes(model, classifier, latent_dim: int, n: int = 20, seed: int = 0) -> dict[str, float]:
    """Hole rate on the percentile grid and on n*n prior draws N(0, I)."""
    grid = hole_rate(model, classifier, percentile_grid(latent_dim, n))
    prior = hole_rate(model, classifier, torch.randn(n * n, latent_dim, generator=torch.Generator().manual_seed(seed)))
    return {"grid_hole_rate": grid["hole_rate"], "grid_mean_top_prob": grid["mean_top_prob"],
            "prior_hole_rate": prior["hole_rate"], "prior_mean_top_prob": prior["mean_top_prob"]}
