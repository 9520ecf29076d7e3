"""The standard test-set report for any trained model (what `cfae evaluate` prints)."""

from __future__ import annotations

from cfae.data.base import ImageDataset
from cfae.metrics.encode import encode_dataset
from cfae.metrics.latent import active_units, aggregate_posterior_vs_prior, kl_per_dimension, knn_accuracy
from cfae.metrics.likelihood import negative_elbo


def basic_metrics(model, test: ImageDataset, train: ImageDataset | None = None) -> dict:
    """-ELBO (nats), reconstruction error, KL per dim, active units, q(z) vs N(0, I), latent kNN accuracy."""
    result: dict = dict(negative_elbo(model, test))
    encoded = encode_dataset(model, test)
    result["kl_per_dim"] = kl_per_dimension(encoded)
    result["active_units"] = active_units(encoded)
    agg = aggregate_posterior_vs_prior(encoded)
    result["aggregate_mmd"] = agg["mmd"]
    result["ks_per_dim"] = agg["ks_per_dim"]
    result["ks_max"] = agg["ks_max"]
    if train is not None and "label" in test.labels:
        result["knn_accuracy"] = knn_accuracy(encode_dataset(model, train), encoded)
    return result
