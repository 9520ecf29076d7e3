"""beta-TCVAE: the minibatch estimates of the KL decomposition (Chen et al. 2018) against cases whose
aggregate posterior is known in closed form, and the model's loss built from them."""

import math

import pytest
import torch

from cfae.data.base import Batch
from cfae.models import build_model
from cfae.nn.divergences import kl_decomposition, stratified_log_weights
from cfae.train.config import TrainConfig
from cfae.train.run import RunConfig, train_run
from conftest import eval_term_under_seeds, tiny_dataset


def test_stratified_weights_weigh_the_draws_own_example_by_one_over_n():
    n, m = 1000, 5
    weights = stratified_log_weights(m, n).double().exp()
    neighbour = (n - m + 1) / (n * (m - 1))
    expected = torch.full((m, m), 1 / (m - 1), dtype=torch.float64)
    for i in range(m):
        expected[i, (i + 1) % m] = neighbour
        expected[i, i] = 1 / n
    assert torch.allclose(weights, expected, rtol=1e-6)
    assert torch.allclose(weights.sum(1), torch.ones(m, dtype=torch.float64), rtol=1e-6)  # unbiased for q(z_i)
    assert stratified_log_weights(1, n).item() == 0.0  # a lone draw: weight 1 on its own example
    with pytest.raises(ValueError, match="no larger than dataset_size"):
        stratified_log_weights(8, 4)


def random_posteriors(m: int = 64, d: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mean, scale = torch.randn(m, d, generator=g), torch.rand(m, d, generator=g) + 0.3
    return mean + scale * torch.randn(m, d, generator=g), mean, scale


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_the_three_terms_sum_to_the_one_sample_kl(estimator):
    z, mean, scale = random_posteriors()
    parts = kl_decomposition(z, mean, scale, dataset_size=5000, estimator=estimator)
    log_q = torch.distributions.Normal(mean, scale).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    assert torch.allclose(sum(parts.values()), log_q - log_p, atol=1e-4)


def test_identical_posteriors_have_no_information_and_no_total_correlation():
    """q(z|x) the same for every x: q(z) = q(z|x) and is a product, so I = TC = 0 under mss; mws's
    log q(z) = log q(z|x) - log N gives I = log N and TC = (D - 1) log N, its constant offsets."""
    n, d = 5000, 4
    z, mean, scale = random_posteriors(d=d)
    mean, scale = mean[:1].expand_as(z), scale[:1].expand_as(z)
    mss = kl_decomposition(z, mean, scale, n, "mss")
    assert mss["mutual_information"].abs().max() < 1e-4
    assert mss["total_correlation"].abs().max() < 1e-4
    mws = kl_decomposition(z, mean, scale, n, "mws")
    assert torch.allclose(mws["mutual_information"], torch.full((len(z),), math.log(n)), atol=1e-4)
    assert torch.allclose(mws["total_correlation"], torch.full((len(z),), (d - 1) * math.log(n)), atol=1e-3)


def test_posteriors_apart_from_each_other_give_log_n_of_information():
    """Each example's posterior far from every other's, in every dimension: q(z_i) = q(z_i|x_i) / N and
    q(z_i,d) = q(z_i,d|x_i) / N, so I = log N and TC = (D - 1) log N exactly. A batch of 50 from N = 10^4
    sees this only if the draw's own example weighs 1/N (the reference code's stride gives it 1/49)."""
    n, m, d = 10_000, 50, 3
    mean = torch.arange(m, dtype=torch.float32)[:, None] * torch.tensor([1.0, -2.0, 3.0])
    scale = torch.full((m, d), 1e-3)
    z = mean + scale * torch.randn(m, d, generator=torch.Generator().manual_seed(1))
    parts = kl_decomposition(z, mean, scale, n, "mss")
    assert parts["mutual_information"].mean().item() == pytest.approx(math.log(n), abs=1e-3)
    assert parts["total_correlation"].mean().item() == pytest.approx((d - 1) * math.log(n), abs=1e-3)


def test_mss_recovers_the_closed_form_terms_of_a_linear_gaussian_encoder():
    """x ~ N(0, I), q(z|x) = N(A x, s^2 I): q(z) = N(0, S), S = A A^T + s^2 I, so I(x; z) = (log det S -
    D log s^2) / 2, TC = (sum_d log S_dd - log det S) / 2 and the dimension-wise KL is
    sum_d (S_dd - 1 - log S_dd) / 2. One batch of 3000 from a large dataset estimates all three."""
    a, s = torch.tensor([[1.0, 0.0], [0.8, 0.6]]), 0.5
    cov = a @ a.T + s**2 * torch.eye(2)
    truth = {"mutual_information": 0.5 * (torch.logdet(cov) - 2 * math.log(s**2)),
             "total_correlation": 0.5 * (cov.diagonal().log().sum() - torch.logdet(cov)),
             "dimension_kl": 0.5 * (cov.diagonal() - 1 - cov.diagonal().log()).sum()}
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3000, 2, generator=g, dtype=torch.float64)
    mean = x @ a.double().T
    scale = torch.full_like(mean, s)
    z = mean + scale * torch.randn(mean.shape, generator=g, dtype=torch.float64)
    parts = kl_decomposition(z, mean, scale, dataset_size=10**7, estimator="mss")
    for name, value in truth.items():
        assert parts[name].mean().item() == pytest.approx(value.item(), abs=0.04), name
    assert truth["total_correlation"].item() > 0.25  # the codes are correlated: the check has power


def test_the_loss_weighs_each_term_by_its_own_factor():
    batch = Batch(torch.rand(16, 1, 28, 28))
    terms = {}
    for weights in ((1.0, 1.0, 1.0), (2.0, 6.0, 0.5)):
        torch.manual_seed(0)
        model = build_model("beta-tcvae", latent_dim=3, dataset_size=1000,
                            **dict(zip(("alpha", "beta", "gamma"), weights))).train()
        torch.manual_seed(1)
        terms[weights] = model(batch).terms
    plain, weighted = terms[(1.0, 1.0, 1.0)], terms[(2.0, 6.0, 0.5)]
    parts = ("mutual_information", "total_correlation", "dimension_kl")
    assert plain["loss"].item() == pytest.approx((plain["recon"] + sum(plain[p] for p in parts)).item(), rel=1e-5)
    assert weighted["loss"].item() == pytest.approx((weighted["recon"] + 2 * weighted[parts[0]] + 6 * weighted[parts[1]]
                                                     + 0.5 * weighted[parts[2]]).item(), rel=1e-5)
    assert weighted["total_correlation"].item() == pytest.approx(plain["total_correlation"].item(), rel=1e-5)


def test_the_kl_warm_up_scales_all_three_terms():
    model = build_model("beta-tcvae", latent_dim=3, dataset_size=1000).train()
    model.set_schedule(0, kl_weight=0.25)
    terms = model(Batch(torch.rand(8, 1, 28, 28))).terms
    regulariser = terms["mutual_information"] + 6 * terms["total_correlation"] + terms["dimension_kl"]
    assert terms["loss"].item() == pytest.approx((terms["recon"] + 0.25 * regulariser).item(), rel=1e-5)


def test_a_run_takes_the_training_set_size_and_a_bare_model_asks_for_it(tmp_path, monkeypatch):
    data = tiny_dataset(48)
    monkeypatch.setattr("cfae.train.run.RunConfig.load_split", lambda self, split: data)
    config = RunConfig(model="beta-tcvae", dataset="tiny", model_options={"latent_dim": 2, "hidden": [16]},
                       train=TrainConfig(epochs=1, batch_size=20, progress=False))  # batches of 20, 20 and 8
    model, history = train_run(config, tmp_path / "run")
    assert model.config.dataset_size == 48 and math.isfinite(history[-1]["train/loss"])
    with pytest.raises(ValueError, match="beta-tcvae needs dataset_size"):
        build_model("beta-tcvae", latent_dim=2)(Batch(torch.rand(4, 1, 28, 28)))


def test_evaluation_scores_the_loss_at_a_draw_not_at_the_mean():
    """In eval mode out.z is the posterior mean; the decomposition still needs z ~ q(z|x), so two
    evaluations under different seeds differ (at the mean they would be equal)."""
    first, second = eval_term_under_seeds(build_model("beta-tcvae", latent_dim=3, dataset_size=1000),
                                          "total_correlation")
    assert first != second
