import json
import math

import pytest
import torch
from torch import nn

from cfae.models import build_model
from cfae.train.optim import build_optimizers
from cfae.nn.shrb import ShRBEnsemble, batch_percentiles, bootstrap_counts, normal_cdf, probit
from cfae.train import TrainConfig, Trainer
from conftest import tiny_dataset


def test_probit_inverts_the_normal_cdf():
    z = torch.linspace(-4, 4, 81, dtype=torch.float64)
    assert torch.allclose(probit(normal_cdf(z)), z, atol=1e-6)
    assert probit(torch.tensor([0.5])).item() == pytest.approx(0.0, abs=1e-7)
    assert probit(torch.tensor([0.975])).item() == pytest.approx(1.959964, abs=1e-5)
    assert torch.isfinite(probit(torch.tensor([0.0, 1.0]))).all()


def test_every_learner_sees_a_third_of_the_features_and_masks_differ():
    ens = ShRBEnsemble(in_features=784, latent_dim=4, learners=5)
    mask = ens.feature_mask
    assert mask.shape == (20, 784)
    assert (mask.sum(1) == math.floor(784 / 3)).all()
    assert len({tuple(row.nonzero().flatten().tolist()) for row in mask}) == 20
    top, bottom = mask[:, :392].sum(1), mask[:, 392:].sum(1)
    assert (top != bottom).any()


def test_percentile_targets_are_the_batch_ecdf():
    z = torch.tensor([[3.0, -1.0], [1.0, 5.0], [2.0, 0.0], [0.0, 2.0]])
    assert torch.equal(batch_percentiles(z), torch.tensor([[7, 1], [3, 7], [5, 3], [1, 5]]) / 8.0)


def reference_loop(ens: ShRBEnsemble) -> tuple[list[nn.Sequential], list[torch.Tensor]]:
    """One nn.Sequential per learner holding the same weights as the vectorised ensemble."""
    modules, subsets = [], []
    for l in range(ens.total):
        idx = ens.feature_index[l]
        first, second = nn.Linear(len(idx), ens.hidden), nn.Linear(ens.hidden, 1)
        with torch.no_grad():
            first.weight.copy_(ens.w1[l].T)
            first.bias.copy_(ens.b1[l])
            second.weight.copy_(ens.w2[l][None])
            second.bias.copy_(ens.b2[l : l + 1])
        modules.append(nn.Sequential(first, nn.ReLU(), second))
        subsets.append(idx)
    return modules, subsets


def test_vectorised_ensemble_equals_loop_of_modules():
    torch.manual_seed(0)
    ens = ShRBEnsemble(in_features=30, latent_dim=3, learners=4, hidden=5, seed=2).double()
    x = torch.randn(12, 30, dtype=torch.float64)
    target = torch.rand(12, 3, dtype=torch.float64)
    counts = bootstrap_counts(ens.total, 12, generator=torch.Generator().manual_seed(1)).double()
    modules, subsets = reference_loop(ens)
    modules = [m.double() for m in modules]
    logits = ens(x)
    loop_logits = torch.stack([m(x[:, s])[:, 0] for m, s in zip(modules, subsets)], 1).view(12, 3, 4)
    assert torch.allclose(logits, loop_logits, atol=1e-12)
    # the weighted loss equals training each learner on its own resample, gradients included
    ens.fit_loss(x, target, counts).backward()
    loop_loss = 0
    for l, (m, s) in enumerate(zip(modules, subsets)):
        resample = torch.repeat_interleave(torch.arange(12), counts[l].long())
        pred = m(x[resample][:, s])[:, 0]
        loop_loss = loop_loss + nn.functional.binary_cross_entropy_with_logits(pred, target[resample, l // 4])
    loop_loss.backward()
    for l, (m, s) in enumerate(zip(modules, subsets)):
        assert torch.allclose(ens.w1.grad[l].T, m[0].weight.grad, atol=1e-10)
        assert torch.allclose(ens.w2.grad[l], m[2].weight.grad[0], atol=1e-10)
        assert torch.allclose(ens.b2.grad[l], m[2].bias.grad[0], atol=1e-10)


def test_bootstrap_is_reproducible_with_the_seed_and_changes_with_it():
    a = bootstrap_counts(6, 50, generator=torch.Generator().manual_seed(3))
    b = bootstrap_counts(6, 50, generator=torch.Generator().manual_seed(3))
    c = bootstrap_counts(6, 50, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a.sum(1) == 50).all() and not torch.equal(a[0], a[1])
    torch.manual_seed(9)
    d = bootstrap_counts(6, 50)
    torch.manual_seed(9)
    assert torch.equal(d, bootstrap_counts(6, 50))


@pytest.mark.parametrize("aggregation", ["z", "p"])
def test_ensemble_gaussian_is_finite_with_floored_scale(aggregation):
    ens = ShRBEnsemble(20, 2, learners=6, hidden=4)
    mean, std = ens.gaussian(torch.randn(9, 20), aggregation, min_scale=0.05)
    assert mean.shape == std.shape == (9, 2) and torch.isfinite(mean).all() and (std >= 0.05).all()


@pytest.mark.parametrize("options", [{}, {"shrb_features": "encoder", "shrb_target": "standardised",
                                          "shrb_aggregation": "p", "counterfactual_loss": "squared", "z_c": "sample"}])
def test_counterfactual_ae_losses_decrease_on_tiny_subset(tmp_path, options):
    torch.manual_seed(0)
    model = build_model("counterfactual-ae", latent_dim=2, hidden=(64, 32), **options)
    config = TrainConfig(epochs=30, batch_size=32, progress=False, sync_every=4)
    history = Trainer(model, config, tiny_dataset(128), None, out_dir=tmp_path).fit()
    first, last = history[0], history[-1]
    assert last["train/recon"] < first["train/recon"] and last["train/mse"] < 0.8 * first["train/mse"]
    assert last["train/shrb"] < first["train/shrb"]
    assert set(model.networks()) == {"autoencoder", "shrb", "encoder"}


def test_counterfactual_phase_moves_only_the_encoder():
    torch.manual_seed(0)
    model = build_model("counterfactual-ae", latent_dim=2, hidden=(16,))
    opts = build_optimizers(model.networks(), TrainConfig(lr=1e-2))
    decoder_before = [p.clone() for p in model.decoder.parameters()]
    shrb_before = [p.clone() for p in model.shrb.parameters()]
    x = tiny_dataset(16).pixels(slice(None))
    loss = model.counterfactual_loss(model.encode(x), x)
    opts["encoder"].zero_grad()
    loss.backward()
    opts["encoder"].step()
    assert all(torch.equal(a, b) for a, b in zip(decoder_before, model.decoder.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(shrb_before, model.shrb.parameters()))
    assert all(p.grad is None for p in model.shrb.parameters())


def test_report_collects_runs_by_latent_size_and_epochs_and_judges_each_metric_by_its_direction(tmp_path):
    from cfae.experiments.cf_report import collect, markdown_table, verdicts

    written = {("vae", 2, 0, 20): {"mmd": 0.2, "knn_accuracy": 0.9, "used_units": 2},
               ("vae", 2, 1, 20): {"mmd": 0.4, "knn_accuracy": 0.8, "used_units": 1},
               ("mmd-vae", 2, 0, 20): {"mmd": 0.1, "knn_accuracy": 0.7},
               ("counterfactual-ae", 2, 0, 20): {"mmd": 0.2, "knn_accuracy": 0.75},
               ("vae", 16, 0, 50): {"mmd": 0.5}}
    for (model, dim, seed, epochs), metrics in written.items():
        folder = tmp_path / "runs" / f"{model}-d{dim}-s{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"metrics-e{epochs}.json").write_text(json.dumps(metrics))
    table = collect(tmp_path)
    assert sorted(table) == [(2, 20), (16, 50)] and len(table[(2, 20)]["vae"]) == 2
    rows = table[(2, 20)]
    # mmd, lower is better: CF-AE 0.2 beats the VAE's mean 0.3, not the MMD-VAE's 0.1;
    # knn, higher is better: CF-AE 0.75 beats the MMD-VAE's 0.7, not the VAE's 0.85
    lines = verdicts(rows)
    assert "- mmd (lower is better): CF-AE better than VAE only (CF-AE 0.2000; VAE 0.3000, MMD-VAE 0.1000)" in lines
    assert "- knn_accuracy (higher is better): CF-AE better than MMD-VAE only (CF-AE 0.7500; VAE 0.8500, MMD-VAE 0.7000)" in lines
    assert "- ks_max: not recorded for every model (see the notes)" in lines
    assert verdicts({"vae": rows["vae"]}) == []  # no CF-AE, nothing to judge
    assert "| VAE | 2 | 0.3000 +- 0.1414 |" in markdown_table(rows)
    assert markdown_table(rows).splitlines()[2].endswith("| - | 1.5 +- 0.7 |")  # active_units unrecorded, used_units
    assert not any("used_units" in line for line in lines)  # a count, not judged


def test_plane_figure_draws_each_model_s_plane_hole_rates_and_skips_runs_without_them(tmp_path):
    from cfae.experiments.cf_report import plane_figure

    for model, metrics in {"vae": {"planes_hole_rates": [[None, 0.2, 0.5], [0.2, None, 1.0], [0.5, 1.0, None]]},
                           "counterfactual-ae": {"mmd": 0.1}}.items():  # a run measured before the planes existed
        folder = tmp_path / "runs" / f"{model}-d3-s0"
        folder.mkdir(parents=True)
        (folder / "metrics-e5.json").write_text(json.dumps(metrics))
    lines = plane_figure(tmp_path, 3, 5)
    assert "![planes](planes_hole_rate_d3_e5.png)" in lines and (tmp_path / "planes_hole_rate_d3_e5.png").stat().st_size > 0
    assert plane_figure(tmp_path, 3, 20) == []  # no run at that epoch
