"""The numbers behind seed 000's claims: Gaussian shape, no gaps, class separation, reconstruction."""

from __future__ import annotations

import torch

from cfae.data.base import ImageDataset
from cfae.metrics.encode import encode_dataset
from cfae.metrics.holes import grid_and_prior_holes
from cfae.metrics.latent import (active_mask, aggregate_posterior_vs_prior, dimension_correlation, knn_accuracy, silhouette,
                                 used_mask)
from cfae.metrics.likelihood import negative_elbo


@torch.no_grad()
def latent_quality(model, train: ImageDataset, test: ImageDataset, classifier) -> dict[str, float]:
    """MMD and KS of q(z) vs N(0, I), |corr(z_i, z_j)|, active (encoder) and used (decoder) dimensions,
    hole rates, kNN accuracy, silhouette, test MSE."""
    encoded = encode_dataset(model, test)
    agg = aggregate_posterior_vs_prior(encoded)
    active, used = active_mask(encoded), used_mask(model, encoded)
    result = {
        "mmd": agg["mmd"],
        "ks_max": agg["ks_max"],
        "ks_mean": sum(agg["ks_per_dim"]) / len(agg["ks_per_dim"]),
        "max_abs_corr": dimension_correlation(encoded),
        "active_units": int(active.sum()),
        "used_units": int(used.sum()),
        **grid_and_prior_holes(model, classifier, model.config.latent_dim, active=active, used=used),
        "knn_accuracy": knn_accuracy(encode_dataset(model, train), encoded),
        "silhouette": silhouette(encoded),
        "test_mse": negative_elbo(model, test)["mse_per_pixel"],
    }
    return result


# counts the report's tables show, with no better direction
DESCRIPTIVE = ["active_units", "used_units"]
# metric -> True when larger is better (for the report's verdicts)
HIGHER_IS_BETTER = {
    "mmd": False, "ks_max": False, "ks_mean": False, "max_abs_corr": False, "grid_hole_rate": False,
    "grid_mean_top_prob": True, "planes_hole_rate_mean": False, "planes_hole_rate_max": False,
    "planes_active_hole_rate_mean": False, "planes_used_hole_rate_mean": False, "prior_hole_rate": False, "prior_mean_top_prob": True,
    "knn_accuracy": True, "silhouette": True, "test_mse": False,
}
