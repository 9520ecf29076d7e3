import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from cfae.metrics.counterfactual_ae import DESCRIPTIVE, HIGHER_IS_BETTER, latent_quality
from cfae.metrics.encode import Encoded, encode_dataset
from cfae.metrics.holes import grid_and_prior_holes, hole_rate, pair_hole_rates, percentile_grid, plane_summary
from cfae.metrics.latent import (active_units, aggregate_posterior_vs_prior, decoder_sensitivity, dimension_correlation,
                                 gaussian_total_correlation, kl_per_dimension, knn_accuracy, sampled_total_correlation, total_correlation, used_mask)
from cfae.metrics.likelihood import negative_elbo
from cfae.metrics.pixels import mean_abs, mean_squared_error
from cfae.models import build_model
from conftest import tiny_dataset


def encoded(mean, scale=None, label=None):
    return Encoded(mean, scale, {"label": label} if label is not None else {})


def test_active_units_counts_dimensions_whose_mean_varies():
    torch.manual_seed(0)
    mean = torch.cat([torch.randn(500, 3), 0.01 * torch.randn(500, 2)], 1)
    assert active_units(encoded(mean)) == 3


class _LinearDecoder(torch.nn.Module):
    """decode(z) = z W^T: a decoder whose sensitivity has a closed form."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)

    def decode(self, z):
        return z @ self.weight.T


def test_decoder_sensitivity_of_a_linear_decoder_matches_its_closed_form():
    torch.manual_seed(0)
    mean = torch.randn(400, 3) * torch.tensor([1.0, 0.5, 2.0])
    weight = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.0, 0.0]])  # pixels x dims; z_2 unused
    model = _LinearDecoder(weight)
    sensitivity = decoder_sensitivity(model, encoded(mean), n=400)
    # sweeping z_d from its 5% to its 95% quantile moves pixel p by (q95_d - q05_d) W_pd
    sweep = torch.tensor(np.quantile(mean.numpy(), 0.95, axis=0) - np.quantile(mean.numpy(), 0.05, axis=0))
    spread = 2 * (mean @ weight.T).var(0).mean()  # mean squared distance between two reconstructions
    expected = sweep.square() * weight.square().mean(0) / spread
    assert torch.allclose(sensitivity, expected.float(), rtol=1e-4)
    assert sensitivity[2] == 0 and sensitivity[0] > sensitivity[1]
    assert used_mask(model, encoded(mean), n=400).tolist() == [True, True, False]
    assert used_mask(model, encoded(mean), threshold=float(sensitivity[1]) + 1e-3, n=400).tolist() == [True, False, False]
    assert torch.equal(decoder_sensitivity(_LinearDecoder(torch.zeros(3, 3)), encoded(mean)), torch.zeros(3))


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


def test_gaussian_total_correlation_adds_the_posterior_variance_to_the_spread_of_the_means():
    """Means with unit variances and covariance rho, posteriors of variance s^2: q(z) has covariance
    [[1 + s^2, rho], [rho, 1 + s^2]], so TC = -log(1 - (rho / (1 + s^2))^2) / 2."""
    rho, s = 0.6, 0.5
    g = torch.Generator().manual_seed(0)
    means = torch.randn(200_000, 2, generator=g) @ torch.tensor([[1.0, rho], [0.0, math.sqrt(1 - rho**2)]])
    expected = -0.5 * math.log(1 - (rho / (1 + s**2)) ** 2)
    assert gaussian_total_correlation(encoded(means, torch.full_like(means, s))) == pytest.approx(expected, abs=0.01)
    assert gaussian_total_correlation(encoded(means, None)) == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.01)
    assert abs(gaussian_total_correlation(encoded(torch.randn(200_000, 3, generator=g), None))) < 1e-3


def test_knn_reference_set_is_random_not_the_first_rows():
    # training codes sorted by class, as in the shared Fashion-MNIST npz
    labels = torch.arange(10).repeat_interleave(100)
    codes = labels[:, None].float() * 10 + torch.randn(1000, 2)
    test = encoded(codes[::7] + 0.1, label=labels[::7])
    assert knn_accuracy(encoded(codes, label=labels), test, max_train=200) > 0.95


def test_kl_per_dimension_averages_the_recorded_kl_over_examples():
    kl = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    assert kl_per_dimension(Encoded(torch.zeros(2, 2), torch.ones(2, 2), {}, kl)) == [2.0, 4.0]
    assert kl_per_dimension(encoded(torch.zeros(2, 2))) == []  # deterministic codes: no KL


def test_aggregate_posterior_ks_max_is_the_worst_dimension():
    torch.manual_seed(0)
    codes = torch.cat([torch.randn(3000, 1), torch.randn(3000, 1) + 1.5, torch.randn(3000, 1)], 1)
    result = aggregate_posterior_vs_prior(encoded(codes))
    assert result["ks_per_dim"][1] > 0.4 > max(result["ks_per_dim"][0], result["ks_per_dim"][2])
    assert result["ks_max"] == result["ks_per_dim"][1]


def test_knn_votes_over_k_neighbours():
    # one label-1 code next to the test point, four label-0 codes a little further: 1-NN says 1, 5-NN says 0
    train = torch.tensor([[0.1], [0.2], [-0.25], [0.3], [-0.35]])
    labels = torch.tensor([1, 0, 0, 0, 0])
    test = encoded(torch.zeros(1, 1), label=torch.tensor([0]))
    assert knn_accuracy(encoded(train, label=labels), test, k=5) == 1.0
    assert knn_accuracy(encoded(train, label=labels), test, k=1) == 0.0


def test_dimension_correlation_is_the_largest_off_diagonal_correlation():
    a, b = torch.tensor([1.0, -1, 1, -1]), torch.tensor([1.0, 1, -1, -1])  # uncorrelated, equal variance
    codes = torch.stack([a, b, a + b], 1)  # corr(a, a + b) = corr(b, a + b) = 1 / sqrt(2)
    assert dimension_correlation(encoded(codes)) == pytest.approx(1 / math.sqrt(2), abs=1e-6)
    assert dimension_correlation(encoded(a[:, None])) == 0.0


def test_sampled_total_correlation_matches_scipy_densities():
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    scale = 0.2 + torch.rand(30, 3, generator=gen, dtype=torch.float64)  # each example its own scales
    z = mean + scale * torch.randn(30, 3, generator=gen, dtype=torch.float64)
    log_pdf = norm.logpdf(z.numpy()[:, None, :], mean.numpy()[None], scale.numpy()[None])  # (i, j, d)
    joint = logsumexp(log_pdf.sum(2), axis=1) - math.log(30)
    marginals = (logsumexp(log_pdf, axis=1) - math.log(30)).sum(1)
    expected = float((joint - marginals).mean())
    assert sampled_total_correlation(z, mean, scale) == pytest.approx(expected, rel=1e-9)
    assert sampled_total_correlation(z, mean, scale, chunk=7) == pytest.approx(expected, rel=1e-9)


class _IdentityDecoder(torch.nn.Module):
    """decode(z) = z, so a classifier that reads its input as logits sees the code itself."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def decode(self, z):
        return z


def test_hole_rate_counts_decoded_points_below_the_threshold():
    # softmax top probabilities 8/10, 1/3 and 3/5: one of three below 0.5
    z = torch.tensor([[math.log(8), 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, math.log(3)]])
    result = hole_rate(_IdentityDecoder(), torch.nn.Identity(), z)
    assert result["hole_rate"] == pytest.approx(1 / 3)
    assert result["mean_top_prob"] == pytest.approx((0.8 + 1 / 3 + 0.6) / 3)
    assert hole_rate(_IdentityDecoder(), torch.nn.Identity(), z, threshold=0.7)["hole_rate"] == pytest.approx(2 / 3)


def test_percentile_grid_spans_the_5th_to_95th_percentile_with_z2_decreasing_down_the_rows():
    edge = 1.6448536  # Phi^-1(0.95)
    grid = percentile_grid(4, n=3).view(3, 3, 4)
    assert torch.allclose(grid[0, 0], torch.tensor([-edge, edge, 0, 0]))  # top left
    assert torch.allclose(grid[2, 2], torch.tensor([edge, -edge, 0, 0]))  # bottom right
    assert torch.allclose(grid[1, 1], torch.zeros(4))  # the median
    assert torch.allclose(percentile_grid(1, n=3)[:, 0], torch.tensor([-edge, 0, edge]).repeat(3))
    other_plane = percentile_grid(4, n=3, dims=(3, 1)).view(3, 3, 4)
    assert torch.allclose(other_plane[0, 0], torch.tensor([0, edge, 0, -edge]))  # z4 across, z2 down


def test_every_plane_s_hole_rate_is_the_hole_rate_of_its_own_grid():
    torch.manual_seed(0)
    classifier = torch.nn.Linear(4, 3)  # reads the code itself (decode = identity) as features
    rates = pair_hole_rates(_IdentityDecoder(), classifier, 4, n=6)
    for i in range(4):
        assert math.isnan(rates[i, i])
        for j in range(i + 1, 4):
            single = hole_rate(_IdentityDecoder(), classifier, percentile_grid(4, 6, (i, j)))["hole_rate"]
            assert rates[i, j] == rates[j, i] == pytest.approx(single)
    pairs = rates[~torch.eye(4, dtype=torch.bool)]
    assert len(set(pairs.tolist())) > 2  # the planes differ, so a mixed-up plane order would show
    holes = grid_and_prior_holes(_IdentityDecoder(), classifier, 4, n=6)
    assert holes["grid_hole_rate"] == pytest.approx(float(rates[0, 1]))
    assert holes["planes_hole_rate_mean"] == pytest.approx(float(pairs.mean()))
    assert holes["planes_hole_rate_max"] == pytest.approx(float(pairs.max())) and holes["planes_measured"] == 6
    sampled = pair_hole_rates(_IdentityDecoder(), classifier, 4, n=6, max_planes=2)  # 2 of the 6 planes, seeded
    assert int(sampled.isfinite().sum()) == 4 and torch.equal(sampled.isfinite(), sampled.T.isfinite())
    assert torch.allclose(sampled[sampled.isfinite()], rates[sampled.isfinite()])
    assert torch.equal(sampled.isnan(), pair_hole_rates(_IdentityDecoder(), classifier, 4, n=6, max_planes=2).isnan())
    one_dimension = grid_and_prior_holes(_IdentityDecoder(), torch.nn.Linear(1, 3), 1, n=6)
    assert "planes_hole_rate_mean" not in one_dimension and "grid_hole_rate" in one_dimension  # no plane to scan


def test_plane_summary_averages_measured_planes_and_those_of_two_active_dimensions():
    nan = float("nan")
    planes = torch.tensor([[nan, 0.2, 0.4, nan], [0.2, nan, 1.0, 0.6], [0.4, 1.0, nan, 0.0], [nan, 0.6, 0.0, nan]])
    summary = plane_summary(planes, active=torch.tensor([True, True, False, True]),  # plane (0, 3) not measured
                            used=torch.tensor([False, True, True, True]))
    assert summary["planes_measured"] == 5 and summary["planes_active_measured"] == 2  # (0, 1) and (1, 3)
    assert summary["planes_used_measured"] == 3 and summary["planes_used_hole_rate_mean"] == pytest.approx(1.6 / 3)
    assert summary["planes_hole_rate_mean"] == pytest.approx(0.44) and summary["planes_hole_rate_max"] == pytest.approx(1.0)
    assert summary["planes_active_hole_rate_mean"] == pytest.approx(0.4)  # (0.2 + 0.6) / 2
    assert plane_summary(planes, active=torch.tensor([True, False, False, False]))["planes_active_hole_rate_mean"] is None
    assert "planes_active_measured" not in plane_summary(planes) and plane_summary(torch.full((1, 1), nan)) == {}


def test_latent_quality_reports_every_verdict_metric_with_ks_mean_the_mean_over_dimensions():
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=3, hidden=(16,)).eval()
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 4))
    train, test = tiny_dataset(64), tiny_dataset(40, seed=1)
    result = latent_quality(model, train, test, classifier)
    assert set(result) == set(HIGHER_IS_BETTER) | set(DESCRIPTIVE) | {"planes_hole_rates", "planes_measured",
                                                                       "planes_active_measured", "planes_used_measured"}
    assert 0 <= result["used_units"] <= 3 and 0 <= result["active_units"] <= 3
    per_dim = aggregate_posterior_vs_prior(encode_dataset(model, test))["ks_per_dim"]
    assert result["ks_mean"] == pytest.approx(sum(per_dim) / 3) and result["ks_mean"] < result["ks_max"]


def test_pixel_distances_by_hand():
    a = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    b = torch.zeros_like(a)
    assert mean_abs(a, b).tolist() == [1.5, 1.0] and mean_abs(b, a).tolist() == [1.5, 1.0]
    assert mean_squared_error(a, b) == 2.25  # (0 + 1 + 4 + 9 + 4 * 1) / 8


def test_precision_recall_density_coverage_on_points_placed_by_hand():
    from cfae.metrics.realism import knn_radii, precision_recall_density_coverage

    real = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    # k = 1: real balls of radius 1, 1, 1, 8 (10's nearest is 2)
    assert knn_radii(real, 1).tolist() == [1.0, 1.0, 1.0, 8.0]
    fake = torch.tensor([[0.5], [2.5], [30.0]])  # fake balls: 2, 2, 27.5
    scores = precision_recall_density_coverage(real, fake, k=1)
    # 0.5 lies in the balls of 0 and 1; 2.5 in those of 2 and 10 (|10 - 2.5| <= 8); 30 in none
    assert scores["precision"] == pytest.approx(2 / 3) and scores["density"] == pytest.approx(4 / 3)
    assert scores["coverage"] == pytest.approx(1.0)  # every real ball holds a fake
    # real 0, 1, 2 lie within 2 of a fake; 10 lies within 27.5 of 30
    assert scores["recall"] == pytest.approx(1.0)
    # k = 2: real radii 2, 1, 2, 9; 0.5 lies in 3 balls, 2.5 in 2 (those of 2 and 10): density 5 / (2 x 3)
    assert knn_radii(real, 2).tolist() == [2.0, 1.0, 2.0, 9.0]
    assert precision_recall_density_coverage(real, fake, k=2)["density"] == pytest.approx(5 / 6)
    near = precision_recall_density_coverage(real, fake[:2], k=1)  # without 30, no fake ball reaches 10
    assert near["recall"] == pytest.approx(0.75) and near["coverage"] == 1.0 and near["precision"] == 1.0
    far = precision_recall_density_coverage(real, fake + 100, k=1)
    assert far["precision"] == far["density"] == far["coverage"] == 0.0 and far["recall"] == 0.0
    same = precision_recall_density_coverage(real, real.clone(), k=1)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    with pytest.raises(ValueError, match="need more than 5 feature rows, got 4"):
        precision_recall_density_coverage(real, fake, k=5)
