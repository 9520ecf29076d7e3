"""FactorVAE (Kim & Mnih 2018): the shuffle that draws from prod_j q(z_j), the discriminator's density
ratio against a Gaussian whose total correlation is known in closed form, the loss, and the two
networks' separate updates."""

import copy
import math

import pytest
import torch

from cfae.data.base import Batch
from cfae.models import build_model
from cfae.nn.density_ratio import density_ratio_loss, permute_dims
from cfae.train.config import TrainConfig
from cfae.train.optim import build_optimizers
from cfae.train.run import RunConfig, train_run
from conftest import eval_term_under_seeds, tiny_dataset


def test_shuffling_keeps_every_column_and_breaks_the_ties_between_columns():
    n = 4000
    column = torch.randn(n, generator=torch.Generator().manual_seed(0))
    z = torch.stack([column, column, -column], 1)  # three perfectly dependent dimensions
    shuffled = permute_dims(z, torch.Generator().manual_seed(1))
    assert torch.equal(shuffled.sort(0).values, z.sort(0).values)  # each marginal q(z_j) kept
    correlation = torch.corrcoef(shuffled.T)
    off_diagonal = correlation[~torch.eye(3, dtype=torch.bool)]
    assert off_diagonal.abs().max() < 4 / math.sqrt(n)  # each column has its own permutation
    with pytest.raises(AssertionError):
        torch.testing.assert_close(shuffled[:, 0], z[:, 0])


def test_the_density_ratio_loss_is_the_mean_of_the_two_cross_entropies():
    joint, shuffled = torch.tensor([2.0, -1.0]), torch.tensor([0.5])
    expected = 0.5 * (-(torch.sigmoid(joint).log().mean()) - torch.log(1 - torch.sigmoid(shuffled)).mean())
    assert density_ratio_loss(joint, shuffled).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_a_trained_discriminator_estimates_the_total_correlation_of_a_gaussian(rho):
    """z ~ N(0, [[1, rho], [rho, 1]]): TC = KL(q(z) || q(z_1) q(z_2)) = -log(1 - rho^2) / 2, which the
    discriminator's mean logit E_q[t(z)] approaches as it learns the log density ratio."""
    torch.manual_seed(0)
    model = build_model("factor-vae", latent_dim=2, discriminator_hidden=(64, 64))
    optimizer = torch.optim.Adam(model.discriminator.parameters(), lr=2e-3)
    mix = torch.tensor([[1.0, rho], [0.0, math.sqrt(1 - rho**2)]])
    for _ in range(1500):
        z = torch.randn(512, 2) @ mix
        optimizer.zero_grad()
        model.discriminator_terms(z)["d_loss"].backward()
        optimizer.step()
    with torch.no_grad():
        estimate = model.discriminator(torch.randn(20_000, 2) @ mix).mean().item()
    truth = -0.5 * math.log(1 - rho**2)
    assert estimate == pytest.approx(truth, abs=0.08)


def test_the_loss_is_the_elbo_plus_gamma_times_the_mean_logit():
    batch = Batch(torch.rand(16, 1, 28, 28))
    torch.manual_seed(0)
    model = build_model("factor-vae", latent_dim=3, gamma=7.0, discriminator_hidden=(8,)).train()
    torch.manual_seed(1)
    terms = model(batch).terms
    torch.manual_seed(1)
    z = model.encode(batch).rsample()
    assert terms["total_correlation"].item() == pytest.approx(model.discriminator(z).mean().item(), rel=1e-5)
    expected = terms["recon"] + terms["kl"] + 7.0 * terms["total_correlation"]
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    model.set_schedule(0, kl_weight=0.25)  # the warm-up scales the KL and the TC penalty alike
    torch.manual_seed(1)
    warm = model(batch).terms
    assert warm["loss"].item() == pytest.approx((warm["recon"] + 0.25 * (warm["kl"] + 7.0 * warm["total_correlation"])).item(),
                                                rel=1e-5)


def test_the_discriminator_has_its_own_adam_and_the_vae_everything_else():
    model = build_model("factor-vae", latent_dim=3, discriminator_hidden=(8,))
    optimizers = build_optimizers(model.networks(), TrainConfig(lr=1e-3))
    critic = optimizers["discriminator"].param_groups[0]
    assert (critic["lr"], critic["betas"]) == (1e-4, (0.5, 0.9))
    assert optimizers["vae"].param_groups[0]["betas"] == (0.9, 0.999)
    vae_ids = {id(p) for p in optimizers["vae"].param_groups[0]["params"]}
    critic_ids = {id(p) for p in critic["params"]}
    assert not vae_ids & critic_ids and vae_ids | critic_ids == {id(p) for p in model.parameters()}


def test_at_gamma_zero_the_vae_steps_as_the_plain_vae():
    """The VAE's step is the plain VAE's step from the same weights: the discriminator's loss stays
    out of the encoder and decoder."""
    batch = Batch(torch.rand(16, 1, 28, 28))
    torch.manual_seed(0)
    model = build_model("factor-vae", latent_dim=3, gamma=0.0, hidden=(32,), discriminator_hidden=(8,)).train()
    vae = build_model("vae", latent_dim=3, hidden=(32,)).train()
    vae.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("discriminator.")})
    torch.manual_seed(1)
    model.training_step(batch, build_optimizers(model.networks(), TrainConfig(lr=1e-2)))
    torch.manual_seed(1)
    vae.training_step(batch, build_optimizers(vae.networks(), TrainConfig(lr=1e-2)))
    for name, value in vae.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value)


def test_the_discriminator_steps_on_its_own_loss_alone():
    """Its gradient is that of loss_D, without the VAE's gamma E[t(z)] (which also depends on it)."""
    batch = Batch(torch.rand(16, 1, 28, 28))
    torch.manual_seed(0)
    model = build_model("factor-vae", latent_dim=3, gamma=3.0, hidden=(32,), discriminator_hidden=(8,)).train()
    before = copy.deepcopy(model)
    torch.manual_seed(1)
    terms = model.training_step(batch, build_optimizers(model.networks(), TrainConfig(lr=1e-2)))
    torch.manual_seed(1)
    alone = before.discriminator_terms(before(batch).z)
    alone["d_loss"].backward()
    assert terms["d_loss"].item() == pytest.approx(alone["d_loss"].item(), rel=1e-6)
    for mine, reference in zip(model.discriminator.parameters(), before.discriminator.parameters()):
        torch.testing.assert_close(mine.grad, reference.grad)
    assert not torch.equal(next(model.discriminator.parameters()), next(before.discriminator.parameters()))


def test_evaluation_scores_the_penalty_at_a_draw_not_at_the_mean():
    first, second = eval_term_under_seeds(build_model("factor-vae", latent_dim=3, discriminator_hidden=(8,)),
                                          "total_correlation")
    assert first != second


def test_a_run_trains_and_logs_the_discriminator(tmp_path, monkeypatch):
    data = tiny_dataset(48)
    monkeypatch.setattr("cfae.train.run.RunConfig.load_split", lambda self, split: data)
    config = RunConfig(model="factor-vae", dataset="tiny", model_options={"latent_dim": 2, "hidden": [16],
                                                                         "discriminator_hidden": [8, 8]},
                       train=TrainConfig(epochs=2, batch_size=16, progress=False))
    model, history = train_run(config, tmp_path / "run")
    assert {"train/d_loss", "train/d_accuracy", "train/total_correlation"} <= set(history[-1])
    assert math.isfinite(history[-1]["train/loss"]) and model.config.discriminator_hidden == (8, 8)
    with pytest.raises(ValueError, match="discriminator_hidden must list one or more positive widths"):
        build_model("factor-vae", latent_dim=2, discriminator_hidden=())
