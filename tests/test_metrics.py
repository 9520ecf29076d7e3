import math

import pytest
import torch

from cfae.metrics.encode import Encoded, encode_dataset
from cfae.metrics.latent import active_units, aggregate_posterior_vs_prior, kl_per_dimension, knn_accuracy
from cfae.metrics.likelihood import negative_elbo
from cfae.models import build_model
from conftest import tiny_dataset


def encoded(mean, scale=None, label=None):
    return Encoded(mean, scale, {"label": label} if label is not None else {})


def test_active_units_counts_dimensions_whose_mean_varies():
    torch.manual_seed(0)
    mean = torch.cat([torch.randn(500, 3), 0.01 * torch.randn(500, 2)], 1)
    assert active_units(encoded(mean)) == 3


def test_kl_per_dimension_is_zero_for_the_prior():
    mean, scale = torch.zeros(10, 2), torch.ones(10, 2)
    scale[:, 1] = 2.0
    kl = kl_per_dimension(encoded(mean, scale))
    assert kl[0] == pytest.approx(0.0, abs=1e-6) and kl[1] == pytest.approx(2.0 - 0.5 - math.log(2.0), abs=1e-6)


def test_aggregate_posterior_gaussian_vs_shifted():
    torch.manual_seed(0)
    gaussian = aggregate_posterior_vs_prior(encoded(torch.randn(3000, 2) * 0.1, torch.full((3000, 2), 0.995)))
    shifted = aggregate_posterior_vs_prior(encoded(torch.randn(3000, 2) + 1.5))
    assert gaussian["ks_max"] < 0.05 and gaussian["mmd"] < 0.01
    assert shifted["ks_max"] > 0.4 and shifted["mmd"] > 10 * gaussian["mmd"]


def test_knn_accuracy_on_separated_and_mixed_clusters():
    torch.manual_seed(0)
    labels = torch.arange(400) % 4
    centres = torch.tensor([[0.0, 0], [10, 0], [0, 10], [10, 10]])
    separated = centres[labels] + torch.randn(400, 2)
    assert knn_accuracy(encoded(separated, label=labels), encoded(separated + 0.1, label=labels)) > 0.98
    noise = torch.randn(400, 2)
    assert knn_accuracy(encoded(noise, label=labels), encoded(torch.randn(400, 2), label=labels)) < 0.45


def test_negative_elbo_matches_a_direct_computation():
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=2, hidden=(16,)).eval()
    data = tiny_dataset(20)
    result = negative_elbo(model, data, batch_size=7, seed=3)
    x = data.pixels(slice(None))
    posterior = model.encode(x)
    torch.manual_seed(3)
    # batch-wise noise, drawn in the same order as the metric draws it
    noise = torch.cat([torch.randn(len(b), 2) for b in x.split(7)])
    z = posterior.mean + posterior.scale * noise
    kl = 0.5 * (posterior.scale.square() + posterior.mean.square() - 1 - posterior.scale.square().log()).sum(1)
    expected = (model.reconstruction_nll(model.decode_logits(z), x) + kl).mean()
    assert result["neg_elbo"] == pytest.approx(expected.item(), rel=1e-5)
    assert result["neg_elbo"] == pytest.approx(result["recon_nll"] + result["kl"], rel=1e-6)


def test_encode_dataset_shapes():
    model = build_model("ae", latent_dim=3, hidden=(16,))
    enc = encode_dataset(model, tiny_dataset(10), batch_size=4)
    assert enc.mean.shape == (10, 3) and enc.scale is None and enc.labels["label"].shape == (10,)


def test_total_correlation_zero_for_independent_and_positive_for_correlated_codes():
    from cfae.metrics.latent import total_correlation

    torch.manual_seed(0)
    independent = torch.randn(2000, 2)
    scale = torch.full((2000, 2), 0.2)
    tc_ind = total_correlation(encoded(independent, scale), n=1500)
    shared = torch.randn(2000, 1)
    correlated = torch.cat([shared, shared + 0.1 * torch.randn(2000, 1)], 1)
    tc_cor = total_correlation(encoded(correlated, scale), n=1500)
    # q(z) is then about a bivariate normal: var 1.04 and 1.05, covariance 1; TC = -0.5 log(1 - rho^2)
    rho2 = 1 / (1.04 * 1.05)
    assert abs(tc_ind) < 0.05 and tc_cor == pytest.approx(-0.5 * math.log(1 - rho2), abs=0.15)


def test_knn_reference_set_is_random_not_the_first_rows():
    # training codes sorted by class, as in the shared Fashion-MNIST npz
    labels = torch.arange(10).repeat_interleave(100)
    codes = labels[:, None].float() * 10 + torch.randn(1000, 2)
    test = encoded(codes[::7] + 0.1, label=labels[::7])
    assert knn_accuracy(encoded(codes, label=labels), test, max_train=200) > 0.95
