"""The model contract: three toy models train through the one Trainer, priors are the models' own,
latent parts, interventions, per-network optimisers and the counterfactual result type."""

import json
import math

import pytest
import torch

from cfae.counterfactual import CounterfactualResult, intervene
from cfae.data.base import Batch
from cfae.metrics.likelihood import importance_weighted_bound, negative_elbo
from cfae.models import build_model
from cfae.train import TrainConfig, Trainer
from conftest import tiny_dataset
from toy_models import AdversarialAE, ConditionalPriorVAE, TwoLayerPriorVAE, build


def fit(model, tmp_path, epochs=6, **train):
    config = TrainConfig(epochs=epochs, batch_size=16, progress=False, seed=3, sync_every=3, **train)
    return Trainer(model, config, tiny_dataset(64), tiny_dataset(32, seed=1), out_dir=tmp_path).fit()


def test_conditional_prior_receives_labels_in_training_kl_and_sampling(tmp_path):
    torch.manual_seed(0)
    model = build(ConditionalPriorVAE, latent_dim=2, hidden=(32,))
    before = model.embed.weight.detach().clone()
    history = fit(model, tmp_path)
    assert history[-1]["train/loss"] < history[0]["train/loss"]
    assert not torch.equal(before, model.embed.weight)  # the prior learnt from the labels
    data = tiny_dataset(8)
    batch = data.batch(slice(None))
    model.eval()
    out = model(batch)
    q, e = out.posterior, model.embed(batch.labels["label"])
    expected = 0.5 * (q.scale.square() + (q.mean - e).square() - 1 - q.scale.square().log()).sum(1).mean()
    assert out.terms["kl"].item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="conditional"):
        model.sample(4)
    labels = {"label": torch.tensor([0, 0, 3, 3])}
    torch.manual_seed(1)
    z = model.prior(4, labels).rsample()
    torch.manual_seed(1)
    assert torch.allclose(model.sample(4, labels), model.decode(z))
    elbo = negative_elbo(model, data)
    assert math.isfinite(elbo["neg_elbo"]) and elbo["kl"] > 0


def test_three_networks_with_their_own_optimisers_and_alternating_terms(tmp_path):
    torch.manual_seed(0)
    model = build(AdversarialAE, latent_dim=2, hidden=(32,))
    start = {name: [p.detach().clone() for p in net.parameters] for name, net in model.networks().items()}
    history = fit(model, tmp_path, epochs=3, optimizers={"discriminator": {"lr": 1e-4}})
    trainer_opts = {name: type(opt).__name__ for name, opt in Trainer(model, TrainConfig(), tiny_dataset(8)).optimizers.items()}
    assert trainer_opts == {"encoder": "RMSprop", "decoder": "RMSprop", "discriminator": "RMSprop"}
    record = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert record["lr/encoder"] == 3e-4 and record["lr/decoder"] == 3e-4 and record["lr/discriminator"] == 1e-4
    assert {"train/disc", "train/gen", "train/recon"} <= set(record)
    for name, net in model.networks().items():
        assert any(not torch.equal(a, b) for a, b in zip(start[name], net.parameters)), name
    assert history[-1]["train/recon"] < history[0]["train/recon"]
    with pytest.raises(ValueError, match="unknown networks \\['critic'\\]; this model's networks: encoder, decoder, discriminator"):
        Trainer(model, TrainConfig(optimizers={"critic": {"lr": 1.0}}), tiny_dataset(8))


def test_two_layer_prior_is_used_by_loss_sampling_and_likelihood(tmp_path):
    torch.manual_seed(0)
    model = build(TwoLayerPriorVAE, latent_dim=4, hidden=(32,))
    with torch.no_grad():
        model.top_down.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, -2.0]]))
        model.top_down.bias.copy_(torch.tensor([1.0, -1.0]))
    prior = model.prior(5)
    z = torch.randn(5, 4)
    scale = torch.nn.functional.softplus(model.raw_scale) + 1e-3
    z1_mean = z[:, 2:] @ model.top_down.weight.T + model.top_down.bias
    by_hand = (-0.5 * z[:, 2:].square() - 0.5 * math.log(2 * math.pi)).sum(1) + \
        (-0.5 * ((z[:, :2] - z1_mean) / scale).square() - scale.log() - 0.5 * math.log(2 * math.pi)).sum(1)
    assert torch.allclose(prior.log_prob(z), by_hand, atol=1e-5)
    draws = model.prior(20000).rsample().detach()
    assert torch.corrcoef(draws.T)[0, 2] > 0.9 and torch.corrcoef(draws.T)[1, 3] < -0.85  # z1 follows z2
    assert draws[:, 0].mean().item() == pytest.approx(1.0, abs=0.1)
    assert [p.name for p in model.latent_spec] == ["z1", "z2"] and model.latent_spec[1].slice == slice(2, 4)
    history = fit(model, tmp_path, epochs=8)
    assert history[-1]["train/loss"] < history[0]["train/loss"]
    data = tiny_dataset(20)
    # K = 1: the bound's one log-weight per example is the ELBO's one-sample estimate (same draws)
    bound = importance_weighted_bound(model, data, k=1, seed=5)["log_likelihood_bound"]
    assert bound == pytest.approx(-negative_elbo(model, data, seed=5)["neg_elbo"], rel=1e-5)


def test_importance_weighted_bound_rises_with_k_and_k1_matches_the_closed_form_elbo(tmp_path):
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=2, hidden=(32,))
    fit(model, tmp_path, epochs=10)
    one = tiny_dataset(1)
    repeated = one.__class__("repeat", one.images.repeat(4000, 1, 1, 1), {})
    k1 = importance_weighted_bound(model, repeated, k=1, seed=2)["log_likelihood_bound"]
    elbo = -negative_elbo(model, repeated, batch_size=4000, seed=2)["neg_elbo"]
    assert k1 == pytest.approx(elbo, abs=0.05)  # same draws; only the KL estimate differs, by O(1/sqrt(N))
    data = tiny_dataset(16)
    bounds = [importance_weighted_bound(model, data, k=k, rows_per_pass=256)["log_likelihood_bound"] for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2] < 0


def test_log_mean_exp_is_stable_for_large_magnitudes():
    from cfae.metrics.likelihood import log_mean_exp

    values = torch.tensor([[-1000.0, -1000.0 + math.log(3.0)]], dtype=torch.float64)
    assert log_mean_exp(values, 1).item() == pytest.approx(-1000.0 + math.log(2.0), abs=1e-9)


def test_cross_entropy_floor_of_grey_levels_is_their_entropy():
    from cfae.data.base import ImageDataset
    from cfae.metrics.likelihood import bernoulli_entropy_floor, is_binary, likelihood_kind

    grey = ImageDataset("half", torch.full((3, 1, 2, 2), 0.5), {})
    assert bernoulli_entropy_floor(grey) == pytest.approx(4 * math.log(2))
    assert bernoulli_entropy_floor(tiny_dataset(4)) == 0.0 and is_binary(tiny_dataset(4)) and not is_binary(grey)
    assert "not a likelihood" in likelihood_kind("bernoulli", False)
    assert likelihood_kind("bernoulli", True).startswith("log-likelihood")


def test_deterministic_models_have_no_likelihood_bound():
    with pytest.raises(ValueError, match="deterministic autoencoder defines no density"):
        importance_weighted_bound(build_model("ae", latent_dim=2), tiny_dataset(4), k=2)


def test_interventions_replace_parts_or_indices_and_return_one_result_type():
    torch.manual_seed(0)
    model = build(TwoLayerPriorVAE, latent_dim=4, hidden=(16,)).eval()
    codes = torch.randn(3, 4)
    after = model.intervene_codes(codes, {"z2": torch.tensor([5.0, 6.0]), 0: -1.0})
    assert torch.equal(after[:, 2:], torch.tensor([[5.0, 6.0]] * 3)) and (after[:, 0] == -1).all()
    assert torch.equal(after[:, 1], codes[:, 1])
    with pytest.raises(KeyError, match="valid choices: z1, z2"):
        model.intervene_codes(codes, {"z3": 0.0})
    with pytest.raises(IndexError, match="out of range"):
        model.intervene_codes(codes, {7: 0.0})
    x = tiny_dataset(3).batch(slice(None))
    result = intervene(model, x, {"z1": 0.0})
    assert isinstance(result, CounterfactualResult) and result.method == "intervene"
    assert result.counterfactuals.shape == x.x.shape and result.settings == {"do": {"z1": 0.0}}
    assert result.changed_dimensions()[:, 2:].sum() == 0
    assert torch.allclose(result.counterfactuals, model.decode(result.codes_after))


def test_structured_models_override_how_an_intervention_propagates():
    class Chained(TwoLayerPriorVAE):
        def intervene_codes(self, codes, do):
            out = super().intervene_codes(codes, do)
            if "z2" in do:  # z1 is a child of z2: recompute it from its parent
                out[:, :2] = self.top_down(out[:, 2:])
            return out

    torch.manual_seed(0)
    model = build(Chained, latent_dim=4, hidden=(16,)).eval()
    result = intervene(model, tiny_dataset(2).batch(slice(None)), {"z2": 1.0})
    expected_child = model.top_down(torch.ones(2, 2))
    assert torch.allclose(result.codes_after[:, :2], expected_child)


def test_batch_carries_labels_to_the_model_and_names_missing_ones():
    data = tiny_dataset(6)
    batch = data.batch(torch.tensor([1, 4]))
    assert isinstance(batch, Batch) and batch.labels["label"].tolist() == [1, 0]
    assert batch.x.dtype == torch.float32 and batch.x.shape == (2, 1, 28, 28)
    with pytest.raises(KeyError, match="no label 'age'; it has: label"):
        batch.label("age")


def test_traversals_read_the_latent_parts(tmp_path):
    from cfae.models.base import latent_layout
    from cfae.viz.figures import latent_traversals

    model = build_model("vae", latent_dim=2, hidden=(8,))
    model.__class__ = type("WithBit", (model.__class__,), {
        "latent_spec": property(lambda self: latent_layout(("z", "gaussian", 1), ("bit", "bernoulli", 1)))})
    swept = {}
    intervene = model.intervene
    model.intervene = lambda codes, do: [swept.setdefault(k, []).append(v) for k, v in do.items()] and intervene(codes, do)
    latent_traversals(model, tiny_dataset(1).pixels(slice(None)), tmp_path / "t.png", steps=3, span=2.0)
    assert swept == {0: [-2.0, 0.0, 2.0], 1: [0.0, 0.5, 1.0]} and (tmp_path / "t.png").stat().st_size > 0
