"""Hierarchical VAEs (seed 004): precision-weighted merge, top-down inference and sampling, KL
warm-up, per-layer statistics, interventions per layer and the likelihood bound."""

import json
import math

import numpy as np
import pytest
import torch

from cfae.metrics.hierarchy import per_layer, unit_statistics
from cfae.metrics.likelihood import importance_weighted_bound, negative_elbo
from cfae.models import build_model
from cfae.nn.distributions import DiagonalGaussian, chain_kl_dims
from cfae.nn.ladder import precision_weighted_merge
from cfae.train import TrainConfig, Trainer
from cfae.train.trainer import kl_warmup_weight
from conftest import tiny_dataset, scored_here


def small(name: str, layers: int = 3, **options):
    torch.manual_seed(0)
    return build_model(name, layer_sizes=(6, 4, 2)[:layers], layer_hidden=(32, 16, 8)[:layers], **options)


def test_precision_weighted_merge_is_the_normalised_product_of_the_two_gaussians():
    mean, var = precision_weighted_merge(torch.tensor([1.0]), torch.tensor([4.0]), torch.tensor([3.0]), torch.tensor([1.0]))
    assert var.item() == pytest.approx(0.8) and mean.item() == pytest.approx(2.6)  # 1 / (1/4 + 1); (1/4 + 3) 0.8
    x = torch.linspace(-5, 5, 11)
    log_product = DiagonalGaussian(torch.tensor(1.0), torch.tensor(2.0)).log_prob_dims(x) + \
        DiagonalGaussian(torch.tensor(3.0), torch.tensor(1.0)).log_prob_dims(x)
    gap = log_product - DiagonalGaussian(mean, var.sqrt()).log_prob_dims(x)
    assert torch.allclose(gap, gap[0].expand_as(gap), atol=1e-5)  # the product is proportional to the merge


def test_ladder_posterior_merges_the_prior_at_the_sampled_parent_with_the_bottom_up_evidence():
    model = small("lvae").eval()
    x = tiny_dataset(5).batch(slice(None))
    posterior = model.encode(x)
    z, conditionals = posterior.walk(lambda d: d.rsample())
    evidence = [head(d) for head, d in zip(model.up_heads, model.bottom_up_layers(x.x))]
    parts = posterior.split(z)
    assert torch.allclose(conditionals["z3"].mean, evidence[2][0])  # q(z_L | x) is the bottom-up Gaussian alone
    for i in (1, 0):
        mean, var = precision_weighted_merge(*model.top_down(i, parts[f"z{i + 2}"]), *evidence[i])
        assert torch.allclose(conditionals[f"z{i + 1}"].mean, mean, atol=1e-6)
        assert torch.allclose(conditionals[f"z{i + 1}"].scale, var.sqrt(), atol=1e-6)


def test_sampling_draws_each_layer_from_its_conditional_prior():
    model = small("hvae").eval()
    with torch.no_grad():
        for head in model.down_heads:
            head.mean.weight.zero_()
            head.raw_var.weight.zero_()
            head.raw_var.bias.fill_(-20.0)  # variance = softplus(-20) + 1e-5: almost a point mass
        model.down_heads[1].mean.bias.fill_(5.0)  # p(z_2 | z_3) = N(5, ~0)
        model.down_heads[0].mean.bias.copy_(torch.arange(6.0))  # p(z_1 | z_2) = N(0..5, ~0)
    z = model.prior(4000).rsample()
    assert z[:, 6:10].mean().item() == pytest.approx(5.0, abs=0.02)
    assert torch.allclose(z[:, :6].mean(0), torch.arange(6.0), atol=0.02)
    assert z[:, 10:].std(0).min().item() == pytest.approx(1.0, abs=0.05)  # the top layer is N(0, I)


def test_kl_is_the_conditional_closed_form_for_the_ladder_and_log_q_minus_log_p_bottom_up():
    x = tiny_dataset(4).batch(slice(None))
    for name in ("hvae", "lvae"):
        model = small(name).eval()
        q, p = model.encode(x), model.prior_of(x)
        z, conditionals = q.walk(lambda d: d.rsample())
        kl = chain_kl_dims(q, p, z, conditionals)
        if name == "hvae":
            assert torch.allclose(kl.sum(1), q.log_prob(z) - p.log_prob(z), atol=1e-4)
        else:
            at_z = p.conditionals_at(z)
            by_layer = torch.cat([conditionals[f"z{i}"].kl(at_z[f"z{i}"]) for i in (1, 2, 3)], 1)
            assert torch.allclose(kl, by_layer)
            assert (kl >= 0).all()


def test_intervention_on_a_layer_changes_its_children_and_not_its_parents():
    model = small("lvae").eval()
    codes = model.encode(tiny_dataset(6).batch(slice(None))).rsample().detach()
    moved = model.intervene_codes(codes, {"z2": 3.0})
    assert torch.equal(moved[:, 10:], codes[:, 10:])  # z3, the parent, unchanged
    assert (moved[:, 6:10] == 3.0).all() and not torch.allclose(moved[:, :6], codes[:, :6], atol=1e-3)
    there = model.intervene_codes(codes, {"z3": 2.0})
    back = model.intervene_codes(there, {"z3": codes[:, 10:]})  # each layer keeps its own noise: a round trip
    assert not torch.allclose(there[:, :10], codes[:, :10], atol=1e-3) and torch.allclose(back, codes, atol=1e-4)
    lowest = model.intervene_codes(codes, {0: 1.5})
    assert torch.equal(lowest[:, 1:], codes[:, 1:]) and (lowest[:, 0] == 1.5).all()


def test_kl_warmup_schedule_values_and_the_trainer_sets_the_weight(tmp_path):
    assert [kl_warmup_weight(s, 2, 10) for s in (0, 5, 10, 20, 30)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    assert kl_warmup_weight(0, 0, 10) == 1.0
    model = small("hvae", layers=2)
    data = tiny_dataset(64)
    trainer = Trainer(model, TrainConfig(epochs=1, batch_size=16, kl_warmup_epochs=4, progress=False), data)
    history = trainer.fit()
    assert model.kl_weight.item() == pytest.approx(3 / 16)  # last step of 4: step 3 of 16 warm-up steps
    terms = history[-1]
    assert terms["train/loss"] < terms["train/neg_elbo"]  # the loss weighs the KL less than the ELBO does
    with pytest.raises(ValueError, match="kl_warmup_epochs=2: model AE has no KL weight to warm up"):
        Trainer(build_model("ae", latent_dim=2), TrainConfig(epochs=1, kl_warmup_epochs=2, progress=False), data)


def test_bound_k1_is_the_elbo_and_rises_with_k_on_a_trained_hierarchy(tmp_path):
    model = small("hvae", layers=2)
    data = tiny_dataset(256)
    Trainer(model, TrainConfig(epochs=8, batch_size=32, lr=3e-3, progress=False), data).fit()
    test = tiny_dataset(64, seed=1)
    k1 = importance_weighted_bound(model, test, k=1, seed=4)["log_likelihood_bound"]
    assert k1 == pytest.approx(-negative_elbo(model, test, seed=4)["neg_elbo"], rel=1e-5)  # bottom-up: same estimate
    bounds = [importance_weighted_bound(model, test, k=k, seed=4)["log_likelihood_bound"] for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2] < 0


def test_per_layer_statistics_count_units_whose_posterior_equals_the_prior_as_inactive():
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=3, hidden=(16,))
    with torch.no_grad():
        last = model.encoder.net[-1] if hasattr(model.encoder, "net") else [m for m in model.encoder.modules()
                                                                           if isinstance(m, torch.nn.Linear)][-1]
        last.weight[[0, 3]] = 0.0  # unit 0: mean 0, log variance 0 -> q = p, KL 0
        last.bias[[0, 3]] = 0.0
        last.weight[1] *= 50  # unit 1: far from the prior
    stats = unit_statistics(model, tiny_dataset(50))
    layer = per_layer(model, stats)["z"]
    assert stats["kl"][0].item() == pytest.approx(0.0, abs=1e-6) and stats["kl"][1] > 1
    assert layer["units"] == 3 and layer["kl"] == pytest.approx(float(stats["kl"].sum()))
    assert layer["active_kl"] == int((stats["kl"] > 0.01).sum()) and layer["active_kl"] < 3
    assert stats["mean_variance"][0].item() == pytest.approx(0.0, abs=1e-10)


def test_config_checks_the_layers():
    with pytest.raises(ValueError, match="latent_dim 5 must equal the sum of layer_sizes \\[6, 4\\] \\(10\\)"):
        build_model("lvae", layer_sizes=(6, 4), latent_dim=5)
    with pytest.raises(ValueError, match="layer_hidden needs a width for each of the 3 layers"):
        build_model("hvae", layer_sizes=(6, 4, 2), layer_hidden=(8, 8))
    with pytest.raises(ValueError, match="set layer_hidden, not network or hidden"):
        build_model("hvae", layer_sizes=(6,), network="conv")
    assert build_model("hvae", layer_sizes=(6, 4), layer_hidden=(8, 8)).config.latent_dim == 10


def test_reproduce_ladder_vae_smoke_resumes_and_refuses_unknown_names(tmp_path, shared_data):
    from cfae.experiments.ladder_vae import reproduce

    kwargs = dict(preset_name="test", seeds=(0,), variants=("VAE+BN+WU", "LVAE+BN+WU", "LVAE+BN+WU+IW10",
                                                                  "LVAE+WU+IW10+DReG"), layer_counts=(1, 2),
                  data_root=str(shared_data), progress=False, say=lambda _: None)
    reproduce(tmp_path, **kwargs)
    results = json.loads((tmp_path / "results.json").read_text())
    assert "LVAE+BN+WU/1/seed-0" not in results  # the slides have no 1-layer LVAE
    run = results["LVAE+BN+WU/2/seed-0"]
    assert run["k"] == 4 and run["log_likelihood"] >= run["elbo"] - 5 and math.isfinite(run["log_likelihood"])
    assert set(run["snapshots"]) == {"1", "2"} and [c["epoch"] for c in run["curve"]] == [1, 2]
    assert list(run["layers"]) == ["z1", "z2"] and run["layers"]["z2"]["units"] == 32 and scored_here(run)
    assert set(run["snapshots_scored_by"]) == {"1", "2"} and all(map(scored_here, run["snapshots_scored_by"].values()))
    text = (tmp_path / "report.md").read_text()
    assert "importance-weighted bound with K = 4" in text and "| 64-32 | " in text
    assert "## Acceptance: LVAE+BN+WU against the VAEs with the same layers\n\n- 2 layers, LVAE+BN+WU vs VAE+BN+WU" in text
    trained_on_bound = json.loads((tmp_path / "runs" / "LVAE_BN_WU_IW10-2-seed-0" / "run.json").read_text())
    assert trained_on_bound["model_options"]["importance_samples"] == 10 and "LVAE+BN+WU+IW10" in text
    assert "iw_gradient" not in trained_on_bound["model_options"]
    doubly = json.loads((tmp_path / "runs" / "LVAE_WU_IW10_DReG-2-seed-0" / "run.json").read_text())["model_options"]
    assert doubly["iw_gradient"] == "dreg" and not doubly["batch_norm"] and "LVAE+WU+IW10+DReG" in text
    assert "importance_samples" not in json.loads((tmp_path / "runs" / "LVAE_BN_WU-2-seed-0" / "run.json").read_text())["model_options"]
    stamp = (tmp_path / "results.json").stat().st_mtime_ns
    reproduce(tmp_path, **kwargs)  # resumes: nothing left to train, the scores stay
    assert json.loads((tmp_path / "results.json").read_text())["LVAE+BN+WU/2/seed-0"] == run
    assert (tmp_path / "fig6_pca.png").stat().st_size > 0 and stamp
    with pytest.raises(ValueError, match="unknown variant 'IWAE'; valid choices: VAE, VAE\\+BN"):
        reproduce(tmp_path, **{**kwargs, "variants": ("IWAE",)})


def test_power_law_fit_recovers_a_planted_saturating_curve():
    from cfae.experiments.ladder_vae_report import power_law_fit

    epochs = np.arange(3, 31)
    a, b, c, sd = power_law_fit(epochs, -85.0 - 40.0 * epochs ** -0.8)
    assert (a, b, c) == pytest.approx((-85.0, 40.0, 0.8), rel=1e-4) and sd < 1e-3
    noisy = -85.0 - 40.0 * epochs ** -0.8 + np.random.default_rng(0).normal(0, 0.3, len(epochs))
    assert power_law_fit(epochs, noisy)[3] > 0.05  # noise shows in the asymptote's sd


def test_trend_section_fits_a_rising_curve_and_names_a_fallen_one():
    from cfae.experiments.ladder_vae_report import trend_section

    def run(elbos):
        return {"curve": [{"epoch": t + 1, "test_neg_elbo": -e} for t, e in enumerate(elbos)], "log_likelihood": -90.0,
                "elbo": -95.0}

    rising = -85.0 - 40.0 * np.arange(1, 13) ** -0.8
    fallen = np.concatenate([rising[:6], [-1e6] * 6])  # a run that diverged after epoch 6
    results = {"LVAE+BN+WU/5/seed-0": {**run(rising), "layers": {}}, "VAE/5/seed-0": {**run(fallen), "layers": {}}}
    text = "\n".join(trend_section(results, ("VAE", "LVAE+BN+WU"), 5, 2))
    assert "-85.0 +- 0.0" in text
    assert f"no fit: the ELBO fell, best {rising[5]:.2f} at epoch 6 | -" in text
    results["VAE/5/seed-1"] = {**run(rising - 5.0), "layers": {}}  # a second VAE seed that stayed up
    text = "\n".join(trend_section(results, ("VAE", "LVAE+BN+WU"), 5, 2))
    assert "| VAE | 1 |" in text and "-90.0 +- 0.0" in text and "no fit" not in text


def test_a_diverged_run_is_counted_in_the_table_never_averaged():
    from cfae.experiments.ladder_vae_report import acceptance, fell, table_cell

    def run(elbos, ll):
        return {"curve": [{"epoch": t + 1, "test_neg_elbo": -e} for t, e in enumerate(elbos)], "log_likelihood": ll,
                "elbo": ll - 4, "layers": {"z1": {"active_kl": 3, "units": 4}}}

    good, wreck = run([-140.0, -100.0, -95.0], -90.0), run([-140.0, -100.0, -1e7], -6e6)
    assert fell(good) is None and fell(wreck) == (-100.0, 2)
    assert table_cell([good, wreck]) == "-90.000 (1); 1 diverged (best ELBO -100.00, epoch 2)"
    assert table_cell([wreck]) == "1 diverged (best ELBO -100.00, epoch 2)"
    lines = acceptance({"LVAE+BN+WU/2/seed-0": good, "VAE/2/seed-0": wreck}, [2])
    assert lines == ["- 2 layers, LVAE+BN+WU vs VAE: every VAE run diverged (1); nothing to compare"]


def test_figure2_axis_cuts_off_a_diverged_curve_only():
    from cfae.viz.ladder import elbo_axis_limits

    healthy = {"LVAE": [(1, -110.0), (2, -100.0), (3, -90.0)], "VAE": [(1, -120.0), (2, -105.0), (3, -100.0)]}
    assert elbo_axis_limits(healthy) is None
    diverged = {**healthy, "VAE": [(1, -120.0), (2, -1e9), (3, -1e7)]}
    assert elbo_axis_limits(diverged) == pytest.approx((-121.5, -88.5))  # span -120 .. -90, 5% each side


def test_step_traces_draws_one_panel_per_key(tmp_path):
    from PIL import Image

    from cfae.viz.ladder import step_traces

    rows = [{"step": s, "kl": 20.0 + s, "grad_norm": 1e4 if s == 3 else 25.0} for s in range(5)]
    path = step_traces({"plain": rows, "clipped": rows}, {"kl": "KL", "grad_norm": "norm"}, tmp_path / "steps.png")
    width, height = Image.open(path).size
    assert path.exists() and height > width * 0.6  # two stacked panels: taller than the one-panel 6.5 x 2.2
