"""'No gaps in the coding space' (seed 000, Fig. 8): how often decoded latent points are unrecognisable."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch
from scipy.stats import norm


def percentile_grid(latent_dim: int, n: int = 20, dims: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """n x n grid of Gaussian percentiles (5%..95%) over the plane of z_i, z_j (dims; seed 000 Fig. 8
    is z1, z2), other dimensions 0; row-major with z_j decreasing down the rows, so it tiles as an
    image of the plane."""
    ticks = torch.tensor(norm.ppf(np.linspace(0.05, 0.95, n)), dtype=torch.float32)
    z = torch.zeros(n * n, latent_dim)
    gy, gx = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
    z[:, dims[0]] = gx.flatten()
    if latent_dim > 1:
        z[:, dims[1]] = gy.flatten()
    return z


@torch.no_grad()
def top_class_probability(model, classifier, z: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """The classifier's top softmax probability on each decoded code, max_c p(c | decode(z))."""
    model.eval()
    classifier.eval()
    device = next(model.parameters()).device
    tops = [torch.softmax(classifier(model.decode(part.to(device)).cpu()), 1).max(1).values for part in z.split(chunk)]
    return torch.cat(tops)


def hole_rate(model, classifier, z: torch.Tensor, threshold: float = 0.5) -> dict[str, float]:
    """Share of decoded codes whose top class probability is below threshold, and the mean top probability."""
    top = top_class_probability(model, classifier, z)
    return {"hole_rate": float((top < threshold).float().mean()), "mean_top_prob": float(top.mean())}


def pair_hole_rates(model, classifier, latent_dim: int, n: int = 20, threshold: float = 0.5, max_planes: int = 120,
                    seed: int = 0) -> torch.Tensor:
    """(D, D) symmetric matrix whose (i, j) entry is the hole rate of the percentile grid on the plane
    of z_i, z_j: all D(D-1)/2 planes (not only z1, z2) up to max_planes (16-D: 120), else a seeded
    random max_planes of them. Unmeasured planes and the diagonal are NaN."""
    rates = torch.full((latent_dim, latent_dim), float("nan"))
    pairs = list(combinations(range(latent_dim), 2))
    if len(pairs) > max_planes:
        chosen = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:max_planes]
        pairs = [pairs[k] for k in sorted(chosen.tolist())]
    if not pairs:
        return rates
    top = top_class_probability(model, classifier, torch.cat([percentile_grid(latent_dim, n, p) for p in pairs]))
    per_plane = (top < threshold).float().view(len(pairs), n * n).mean(1)
    for (i, j), rate in zip(pairs, per_plane):
        rates[i, j] = rates[j, i] = rate
    return rates


def plane_summary(planes: torch.Tensor, active: torch.Tensor | None = None, used: torch.Tensor | None = None) -> dict:
    """Mean and worst hole rate over the measured planes of a pair_hole_rates matrix, and the mean over
    the planes of two active dimensions (encoder side, latent.active_mask) and of two used ones
    (decoder side, latent.used_mask): a plane of two unused dimensions decodes one image 400 times,
    so it scores 0 or 1 whatever the space's gaps; {} without a measured plane."""
    upper = torch.ones_like(planes, dtype=torch.bool).triu(1)  # each plane once
    measured = upper & planes.isfinite()
    if not measured.any():
        return {}
    summary = {"planes_hole_rate_mean": float(planes[measured].mean()), "planes_hole_rate_max": float(planes[measured].max()),
               "planes_measured": int(measured.sum())}
    for name, mask in (("active", active), ("used", used)):
        if mask is not None:
            both = measured & mask[:, None] & mask[None, :]
            summary[f"planes_{name}_hole_rate_mean"] = float(planes[both].mean()) if both.any() else None
            summary[f"planes_{name}_measured"] = int(both.sum())
    return {**summary, "planes_hole_rates": planes.tolist()}


def grid_and_prior_holes(model, classifier, latent_dim: int, n: int = 20, seed: int = 0,
                         active: torch.Tensor | None = None, used: torch.Tensor | None = None) -> dict:
    """Hole rate on the z1, z2 percentile grid, over the planes z_i, z_j (every one up to 120;
    plane_summary, `active` / `used` marking the dimensions encoder / decoder use), and on n*n prior
    draws N(0, I)."""
    grid = hole_rate(model, classifier, percentile_grid(latent_dim, n))
    prior = hole_rate(model, classifier, torch.randn(n * n, latent_dim, generator=torch.Generator().manual_seed(seed)))
    planes = plane_summary(pair_hole_rates(model, classifier, latent_dim, n, seed=seed), active, used)
    return {"grid_hole_rate": grid["hole_rate"], "grid_mean_top_prob": grid["mean_top_prob"], **planes,
            "prior_hole_rate": prior["hole_rate"], "prior_mean_top_prob": prior["mean_top_prob"]}
