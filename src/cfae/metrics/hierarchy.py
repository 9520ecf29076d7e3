"""Per-unit and per-layer statistics of a latent hierarchy (seed 004, Figures 4-6; Sonderby et al. 2016).

    KL_d      = E_x E_q[ KL term of unit d ]      one path z ~ q(z | x) per example; the closed-form
                                                  conditional KL given z's parents where q and p run in
                                                  the same order (Ladder VAE), else log q - log p at z
    active_kl = KL_d > 0.01 nats                  a unit the posterior uses (Figure 4's white = inactive)
    active_cov= Cov_x(E_q[z_d | x]) > 0.01        Burda et al. (2016), on each layer's conditional mean
                                                  given its parents' means

Layers are the model's latent parts (`latent_spec`), so a flat VAE is a hierarchy of one layer.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cfae.data.base import ImageDataset
from cfae.nn.distributions import kl_dims
from cfae.rng import seeded

ACTIVE_THRESHOLD = 0.01


@torch.no_grad()
def unit_statistics(model, data: ImageDataset, batch_size: int = 1000, seed: int = 0) -> dict[str, Tensor]:
    """kl (D,): mean per-unit KL over data; mean_variance (D,): Cov_x of the posterior means."""
    model.eval()
    device = next(model.parameters()).device
    kl_sum, means = 0.0, []
    with seeded(seed, device):
        for batch in data.in_order(batch_size, device):
            posterior, prior = model.encode(batch), model.prior_of(batch)
            per_unit = kl_dims(posterior, prior, posterior.rsample())
            if per_unit is None:
                raise ValueError(f"no per-unit KL between {type(posterior).__name__} and {type(prior).__name__}")
            kl_sum = kl_sum + per_unit.double().sum(0).cpu()
            means.append(posterior.mean.double().cpu())
    return {"kl": (kl_sum / len(data)).float(), "mean_variance": torch.cat(means).var(0).float()}


def per_layer(model, stats: dict[str, Tensor], threshold: float = ACTIVE_THRESHOLD) -> dict[str, dict]:
    """For each latent part: its units, summed KL (Figure 5) and its active units by both criteria."""
    layers = {}
    for part in model.latent_spec:
        kl, spread = stats["kl"][part.slice], stats["mean_variance"][part.slice]
        layers[part.name] = {"units": part.dims, "kl": float(kl.sum()), "active_kl": int((kl > threshold).sum()),
                             "active_cov": int((spread > threshold).sum()), "unit_kl": kl.tolist()}
    return layers
