"""Each equation against a hand-computed, closed-form or published value, so that a deliberately
broken formula fails here (Foundation v2, section 5)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from cfae.data.pendulum import PIVOT, PendulumRenderer
from cfae.data.shapes import FACTOR_SIZES, render_shapes
from cfae.metrics.disentanglement import irs_from_samples, mig, mig_from_matrix, modularity_from_matrix
from cfae.models import build_model
from cfae.nn.distributions import Bernoulli, DiagonalGaussian, Product
from cfae.nn.divergences import gaussian_kernel, imq_kernel, mmd
from cfae.nn.schedules import linear_ramp
from cfae.nn.shrb import ShRBEnsemble, probit
from cfae.train.config import TrainConfig
from cfae.train.optim import lr_factor


# --- divergences ---------------------------------------------------------------------------------
def test_gaussian_kernel_bandwidth_is_the_latent_dimension_squared():
    x, y = torch.zeros(1, 2), torch.ones(1, 2)  # ||x - y||^2 = 2, D = 2: exp(-2 / 4)
    assert gaussian_kernel(x, y).item() == pytest.approx(math.exp(-0.5))
    assert mmd(x, y, "gaussian").item() == pytest.approx(2 - 2 * math.exp(-0.5), rel=1e-6)


def test_imq_kernel_scale_is_twice_the_latent_dimension():
    x, y = torch.zeros(1, 3), torch.tensor([[1.0, 1.0, 2.0]])  # ||x - y||^2 = 6, C = 6: 6 / 12
    assert imq_kernel(x, y).item() == pytest.approx(0.5)
    assert mmd(x, y, "imq").item() == pytest.approx(1.0, rel=1e-6)


def test_mmd_of_two_point_sets_by_hand():
    x = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([[3.0]])
    k = lambda d2: math.exp(-d2)  # D = 1
    xx = (k(0) * 2 + k(1) * 2) / 4
    expected = xx + 1.0 - 2 * (k(9) + k(4)) / 2
    assert mmd(x, y).item() == pytest.approx(expected, rel=1e-6)


# --- distributions -------------------------------------------------------------------------------
def test_gaussian_log_prob_matches_scipy():
    q = DiagonalGaussian(torch.tensor([[0.5, -1.0]]), torch.tensor([[2.0, 0.3]]))
    z = torch.tensor([[1.5, -0.7]])
    expected = stats.norm(0.5, 2.0).logpdf(1.5) + stats.norm(-1.0, 0.3).logpdf(-0.7)
    assert q.log_prob(z).item() == pytest.approx(expected, rel=1e-6)


def test_bernoulli_log_prob_and_kl_by_hand():
    p = Bernoulli(torch.logit(torch.tensor([[0.8, 0.3]])))
    assert p.log_prob(torch.tensor([[1.0, 0.0]])).item() == pytest.approx(math.log(0.8) + math.log(0.7), rel=1e-6)
    q = Bernoulli(torch.logit(torch.tensor([[0.5, 0.5]])))
    expected = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)
    assert p.kl(q)[0, 0].item() == pytest.approx(expected, rel=1e-5)


def test_relaxed_bernoulli_tends_to_hard_bits_at_low_temperature():
    torch.manual_seed(0)
    probs = torch.full((20000, 1), 0.3)
    soft = Bernoulli(torch.logit(probs), temperature=0.01).rsample()
    assert ((soft < 0.01) | (soft > 0.99)).float().mean() > 0.97
    assert soft.mean().item() == pytest.approx(0.3, abs=0.02)


def test_product_of_parts_sums_log_probs_and_lays_kls_side_by_side():
    g = DiagonalGaussian(torch.zeros(1, 1), torch.ones(1, 1))
    b = Bernoulli(torch.zeros(1, 2))
    both = Product({"g": g, "b": b})
    z = torch.tensor([[0.0, 1.0, 0.0]])
    assert both.log_prob(z).item() == pytest.approx(-0.5 * math.log(2 * math.pi) + 2 * math.log(0.5), rel=1e-6)
    kl = both.kl(Product({"g": DiagonalGaussian(torch.ones(1, 1), torch.ones(1, 1)), "b": b}))
    assert kl[0].tolist() == pytest.approx([0.5, 0.0, 0.0], abs=1e-6)


# --- ShRB learners (seed 000 eqs. 11-13) ---------------------------------------------------------
def _ensemble_with_probabilities(p: torch.Tensor) -> ShRBEnsemble:
    """A 1-dimension ensemble whose learners output the given probabilities for every input."""
    ensemble = ShRBEnsemble(4, 1, learners=len(p), hidden=2)
    ensemble.forward = lambda x: torch.logit(p).expand(len(x), 1, len(p))
    return ensemble


def test_probit_published_quantiles():
    assert probit(torch.tensor([0.975, 0.5, 0.8413447])).tolist() == pytest.approx([1.959964, 0.0, 1.0], abs=1e-5)


def test_ensemble_z_aggregation_averages_probits():
    p = torch.tensor(stats.norm.cdf([0.5, 1.5]), dtype=torch.float64).float()
    mean, std = _ensemble_with_probabilities(p).gaussian(torch.zeros(3, 4), "z")
    assert mean[0, 0].item() == pytest.approx(1.0, abs=1e-4) and std[0, 0].item() == pytest.approx(0.5, abs=1e-4)


def test_ensemble_p_aggregation_is_the_delta_method():
    p = torch.tensor([0.6, 0.9])
    mean, std = _ensemble_with_probabilities(p).gaussian(torch.zeros(2, 4), "p")
    mu = stats.norm.ppf(0.75)
    assert mean[0, 0].item() == pytest.approx(mu, abs=1e-4)
    assert std[0, 0].item() == pytest.approx(0.15 / stats.norm.pdf(mu), rel=1e-4)


def test_identical_learners_give_the_floor_scale():
    mean, std = _ensemble_with_probabilities(torch.tensor([0.7, 0.7, 0.7])).gaussian(torch.zeros(1, 4), "z", 0.05)
    assert std.item() == pytest.approx(0.05)


def test_counterfactual_kl_uses_the_target_scale():
    model = build_model("counterfactual-ae", latent_dim=1, hidden=(8,))
    model.shrb.gaussian = lambda x, aggregation, floor: (torch.ones(len(x), 1), torch.full((len(x), 1), 2.0))
    posterior = DiagonalGaussian(torch.zeros(3, 1), torch.ones(3, 1))
    # KL(N(0, 1) || N(1, 2^2)) = log 2 + (1 + 1) / 8 - 1/2
    loss = model.counterfactual_loss(posterior, torch.rand(3, 1, 28, 28))
    assert loss.item() == pytest.approx(math.log(2) + 0.25 - 0.5, rel=1e-5)


# --- disentanglement metrics ---------------------------------------------------------------------
def test_mig_gap_is_between_the_two_most_informative_codes():
    m = np.array([[0.9, 0.1], [0.5, 0.0], [0.2, 0.6]])  # (codes, factors)
    h = np.array([1.0, 2.0])
    assert mig_from_matrix(m, h) == pytest.approx(((0.9 - 0.5) / 1.0 + (0.6 - 0.1) / 2.0) / 2)
    assert mig_from_matrix(m, np.array([1.0, 0.0])) == pytest.approx(0.4)  # constant factors are skipped


class _TwoFactors:
    factor_names, factor_sizes = ("a", "b"), (5, 5)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, 5, n) for _ in range(2)], 1)

    def render(self, factors):
        return torch.from_numpy(np.asarray(factors, dtype=np.float32))


def test_mig_of_a_duplicated_code_is_zero():
    # disentanglement_lib's duplicated-latent case: each factor in two codes leaves no gap
    duplicated = lambda x: np.hstack([x.numpy(), x.numpy()])
    assert mig(_TwoFactors(), duplicated, np.random.default_rng(0), num_train=2000)["mig"] == pytest.approx(0.0, abs=1e-9)
    single = lambda x: x.numpy()
    assert mig(_TwoFactors(), single, np.random.default_rng(0), num_train=2000)["mig"] > 0.95


def test_sap_continuous_score_and_gap_by_hand():
    from cfae.metrics.predictive import sap_from_scores, squared_correlation

    y, e = np.array([1.0, -1.0, 1.0, -1.0]), np.array([1.0, 1.0, -1.0, -1.0])  # orthogonal, zero mean
    assert squared_correlation(y, y) == pytest.approx(1.0)
    assert squared_correlation(y + e, y) == pytest.approx(0.5)  # cov^2 / (var z var y) = (4/3)^2 / (8/3 * 4/3)
    assert squared_correlation(np.ones(4), y) == 0.0
    assert sap_from_scores(np.array([[0.9, 0.2], [0.4, 0.7], [0.1, 0.6]])) == pytest.approx(((0.9 - 0.4) + (0.7 - 0.6)) / 2)


def test_modularity_by_hand():
    # code 0: m^2 = (1, 0.25): theta 1, delta 0.25 / (1 * 1) -> 0.75; code 1 carries nothing -> 0
    assert modularity_from_matrix(np.array([[1.0, 0.5], [0.0, 0.0]])) == pytest.approx(0.375)
    # three factors: m^2 = (0.64, 0.16, 0.04): delta = 0.2 / (0.64 * 2)
    assert modularity_from_matrix(np.array([[0.8, 0.4, 0.2]])) == pytest.approx(1 - 0.2 / 1.28)
    assert modularity_from_matrix(np.eye(3) * 0.7) == pytest.approx(1.0)


def test_irs_quantile_by_hand():
    factors = np.array([[0]] * 4 + [[1]] * 4)
    codes = np.array([[0.0, 7.0], [0.0, 7.0], [0.0, 7.0], [4.0, 7.0], [10.0, 7.0], [10.0, 7.0], [10.0, 7.0], [10.0, 7.0]])
    # constant code dropped; group means 1 and 10, |z - e| = (1, 1, 1, 3) and zeros; max |z - 5.5| = 5.5
    assert irs_from_samples(codes, factors, 1.0)["irs"] == pytest.approx(1 - 1.5 / 5.5)
    assert irs_from_samples(codes, factors, 0.5)["irs"] == pytest.approx(1 - 0.5 / 5.5)
    assert irs_from_samples(codes, factors, 0.99)["irs"] == pytest.approx(1 - (1 + 0.97 * 2) / 2 / 5.5)
    assert irs_from_samples(codes, factors)["irs_active_codes"] == 1


# --- renderers -----------------------------------------------------------------------------------
def _principal_angle(image: np.ndarray) -> float:
    rows, cols = np.nonzero(image)
    x, y = cols - cols.mean(), -(rows - rows.mean())  # y up
    return 0.5 * math.atan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean())


@pytest.mark.parametrize("k", [3, 8, 15])
def test_shapes_rotate_counter_clockwise_by_the_orientation(k):
    theta = 2 * math.pi * k / (FACTOR_SIZES[2] - 1)
    ellipse = render_shapes(torch.tensor([[1, 5, k, 16, 16]]))[0, 0].numpy()
    difference = (_principal_angle(ellipse) - theta + math.pi / 2) % math.pi - math.pi / 2
    assert abs(difference) < math.radians(3)


def test_pendulum_light_sits_where_the_ray_through_the_pivot_meets_the_top():
    renderer = PendulumRenderer()
    phi = 3 * math.pi / 8
    image = renderer.render(0.0, phi)
    expected_x = PIVOT[0] + (20.5 - PIVOT[1]) / math.tan(phi)  # 10 + 10 / tan(67.5 deg) = 14.14
    assert renderer.sun.center[0] == pytest.approx(expected_x)
    orange = (image[..., 0] > 200) & (image[..., 1] > 100) & (image[..., 1] < 210) & (image[..., 2] < 80)
    column = np.nonzero(orange)[1].mean()
    pixel_x = renderer.figure.axes[0].transData.transform((expected_x, 20.5))[0]
    assert column + 0.5 == pytest.approx(pixel_x, abs=1.0)


# --- schedules -----------------------------------------------------------------------------------
def test_schedules_by_hand():
    assert [linear_ramp(s, 0.0, 25.0, 100) for s in (0, 40, 100, 200)] == [0.0, 10.0, 25.0, 25.0]
    assert [linear_ramp(s, 2.0, 4.0, 10) for s in (0, 5, 20)] == [2.0, 3.0, 4.0]  # from start, not from 0
    assert linear_ramp(torch.tensor(5), 2.0, 4.0, 10).item() == 3.0
    cosine = TrainConfig(epochs=4, lr_schedule="cosine")
    assert [lr_factor(e, cosine) for e in range(4)] == pytest.approx([1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2])
    step = TrainConfig(epochs=9, lr_schedule="step", lr_step_epochs=3)
    assert [lr_factor(e, step) for e in (0, 2, 3, 6, 8)] == [1.0, 1.0, 0.5, 0.25, 0.25]
