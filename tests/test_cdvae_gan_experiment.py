import json
import math

import pytest
import torch
from typer.testing import CliRunner

from cfae.cli import app
from cfae.data.base import Batch
from cfae.experiments import cdvae_gan
from cfae.experiments.cdvae_gan import attribute_means, mean_pairwise_distance, minimality_means, reproduce, sample_diversity
from cfae.experiments.cdvae_gan_report import verdicts
from conftest import scored_here


def test_reproduce_cdvae_gan_smoke_and_flip_grid(shared_data, tmp_path):
    out = tmp_path / "rep"
    report = reproduce("mnist-attributes", out, seeds=(0,), epochs=1, limit=200, eval_size=64,
                       data_root=str(shared_data), progress=False, say=lambda _: None)
    results = json.loads((out / "results.json").read_text())
    for model in ("cdvae", "vae-gan", "cdvae-gan"):
        scores = results[f"{model}/seed-0"]
        assert 0 <= scores["effectiveness"] <= 1 and scores["fid_counterfactual"] > 0
        assert set(scores["attributes"]) == {"thick", "slanted", "wide"}
        assert "remeasured_on_target_side" in scores["attributes"]["thick"]
        assert 0 <= scores["precision_counterfactual"] <= 1 and scores["density_samples"] >= 0
        assert 0 <= scores["minimality"] <= 1 and 0 <= scores["attributes"]["wide"]["minimality_p2"] <= 1
        assert scores["minimality_p2"] == pytest.approx(sum(a["minimality_p2"] for a in scores["attributes"].values()) / 3)
        assert (out / f"figure7_{model}.png").stat().st_size > 0 and scored_here(scores)
    assert results["setup"]["attribute_classifier"]["kind"] == "attributes" and scored_here(results["setup"])
    text = report.read_text()
    assert "Table 2" in text and "Table 3" in text and "CDVAE-GAN" in text and "| minimality |" in text and "| coverage_samples |" in text
    assert "| minimality_p1 | minimality_p2 |" in text and "unchanged scores P1 = 0, P2 = 1, minimality 0.295" in text
    again = reproduce("mnist-attributes", out, seeds=(0,), epochs=1, limit=200, eval_size=64,
                      data_root=str(shared_data), progress=False, say=lambda _: None)  # resumes: nothing retrained
    assert again == report

    runner = CliRunner()
    run = out / "runs" / "cdvae-gan-seed-0"
    grid = tmp_path / "flips.png"
    result = runner.invoke(app, ["counterfactual", "flip", str(run), "-a", "thick", "-n", "4", "--out", str(grid)])
    assert result.exit_code == 0, result.output
    flips = json.loads(grid.with_suffix(".json").read_text())
    assert grid.stat().st_size > 0 and flips["method"] == "flip" and scored_here(flips)
    result = runner.invoke(app, ["counterfactual", "flip", str(run), "-a", "bold", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "valid choices: thick, slanted, wide" in result.output
    result = runner.invoke(app, ["counterfactual", "flip", str(out / "runs" / "vae-gan-seed-0"), "--out", str(tmp_path / "v.png")])
    assert result.exit_code == 0 and "mean-difference" in result.output


def test_verdicts_compare_means_over_seeds_in_each_metric_s_direction():
    results = {"cdvae-gan/seed-0": {"effectiveness": 0.8, "fid_counterfactual": 30.0},
               "cdvae-gan/seed-1": {"effectiveness": 0.6, "fid_counterfactual": 50.0},
               "vae/seed-0": {"effectiveness": 0.75, "fid_counterfactual": 35.0},
               "vae/seed-1": {"effectiveness": 0.5, "fid_counterfactual": 20.0}}
    # CDVAE-GAN: effectiveness 0.7 (higher is better) against 0.625; FID 40 (lower is better) against 27.5
    assert verdicts(results, ("cdvae-gan", "vae"), (0, 1)) == [
        "- effectiveness: CDVAE-GAN 0.700 vs vae 0.625: better",
        "- fid_counterfactual: CDVAE-GAN 40.000 vs vae 27.500: NOT better"]
    assert verdicts(results, ("vae",), (0, 1)) == []


def test_remeasured_counts_the_target_side_and_signs_the_change_towards_the_target(monkeypatch):
    # a stand-in measurement: each image's mean pixel
    monkeypatch.setattr(cdvae_gan, "measure", lambda images: {"thickness": images.flatten(1).mean(1)})
    test = Batch(torch.zeros(2, 1, 2, 2), {"attributes": torch.tensor([[0], [1]])})  # targets: thick, then thin
    counterfactuals = torch.tensor([3.0, 1.0]).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    reconstructions = torch.tensor([2.5, 1.5]).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    result = cdvae_gan.remeasured(counterfactuals, reconstructions, test, 0, "thickness", threshold=2.0)
    assert result["remeasured_on_target_side"] == 1.0  # 3 > 2 (thick) and 1 < 2 (thin)
    assert result["remeasured_change_towards_target"] == 0.5  # +0.5 thicker, and 0.5 thinner
    wrong_way = cdvae_gan.remeasured(counterfactuals.flip(0), reconstructions.flip(0), test, 0, "thickness", threshold=2.0)
    assert wrong_way["remeasured_on_target_side"] == 0.0 and wrong_way["remeasured_change_towards_target"] == -0.5


def test_mean_pairwise_distance_by_hand():
    assert mean_pairwise_distance(torch.tensor([[0.0], [1.0], [3.0]])) == 2.0  # distances 1, 3, 2


def test_sample_diversity_is_the_samples_spread_over_the_real_spread():
    real, collapsed = torch.tensor([[0.0], [2.0], [6.0]]), torch.tensor([[0.0], [1.0], [3.0]])  # mean distances 4 and 2
    assert sample_diversity(collapsed, real) == 0.5 and sample_diversity(real, collapsed) == 2.0


def test_attribute_means_weigh_every_attribute_alike():
    per_attribute = {"thick": {"effectiveness": 1.0, "preservation": 0.5}, "slanted": {"effectiveness": 0.5, "preservation": 0.25},
                     "wide": {"effectiveness": 0.0, "preservation": 0.75}}
    assert attribute_means(per_attribute, ("effectiveness", "preservation")) == {"effectiveness": 0.5, "preservation": 0.5}


def test_minimality_means_flip_each_image_s_own_label_against_the_real_pool():
    real, labels = torch.tensor([[0.0], [1.0], [2.0], [3.0]]), torch.tensor([0.0, 0.0, 1.0, 1.0])
    counterfactual = torch.tensor([[2.5], [1.0], [0.5], [3.0]])  # rows 0 and 2 move, 1 and 3 stay put
    # moved rows: half of the flipped-value images are nearer (P1 1/2), none of their own farther (P2 0);
    # unmoved rows: P1 0, P2 1 (every own-value image is at least as far as no change)
    scores = minimality_means(real, counterfactual, labels)
    assert scores["minimality_p1"] == pytest.approx(0.25) and scores["minimality_p2"] == pytest.approx(0.5)
    moved, unmoved = math.log(0.8 * math.exp(0.5) + 0.2), math.log(0.8 + 0.2 * math.e)
    assert scores["minimality"] == pytest.approx((moved + unmoved) / 2)


def _shapes_test_batch():
    from cfae.data.shapes import FACTOR_NAMES, render_shapes

    factors = torch.tensor([[2, 5, 0, 3, 10], [0, 0, 5, 20, 10], [1, 2, 10, 15, 0]])
    labels = {k: factors[:, i] for i, k in enumerate(FACTOR_NAMES)}
    return factors, Batch(render_shapes(factors).float() / 255, labels)


def _exact(truths, rows):
    return truths


def test_truth_errors_score_the_rendered_true_flip_zero_and_doing_nothing_above_it():
    from cfae.data.shapes import render_shapes

    factors, test = _shapes_test_batch()
    images = test.x
    moved = factors.clone()
    moved[:, 3] = (factors[:, 3] + 16) % 32  # the same shapes on the other side: a true "left" flip of each
    truth = render_shapes(moved).float() / 255
    scores = cdvae_gan.truth_errors(truth, images, test, "left", _exact)
    assert scores["truth_error"] == 0.0 and scores["truth_nearer_than_unchanged"] == 1.0
    assert scores["truth_error_oracle"] == 0.0 and scores["truth_gap_closed"] == 1.0
    # doing nothing scores its distance to the smallest true move across the middle: pos_x 16, 15, 16
    nearest_moves = render_shapes(torch.tensor([[2, 5, 0, 16, 10], [0, 0, 5, 15, 10], [1, 2, 10, 16, 0]])).float() / 255
    expected = (images - nearest_moves).abs().flatten(1).mean(1).mean()
    assert scores["truth_error_unchanged"] == pytest.approx(float(expected)) and scores["truth_error_unchanged"] > 0
    nothing = cdvae_gan.truth_errors(images, images, test, "left", _exact)
    assert nothing["truth_nearer_than_unchanged"] == 0.0 and nothing["truth_gap_closed"] == 0.0


def test_truth_errors_oracle_reconstructs_each_row_s_own_truths(monkeypatch):
    """A decoder that halves every pixel misses each truth by half its ink: the oracle error is each
    row's smallest truth ink / 2, and the truths handed over belong to the rows named with them."""
    from cfae.data.attributes import shapes_true_flips
    from cfae.data.shapes import render_shapes

    factors, test = _shapes_test_batch()
    seen = []

    def halved(truths, rows):
        seen.append(rows)
        return truths / 2

    monkeypatch.setattr(cdvae_gan, "TRUTH_CHUNK", 2)  # two chunks: rows 0-1, then row 2
    scores = cdvae_gan.truth_errors(test.x, test.x, test, "is_heart", halved)
    candidates, owner = shapes_true_flips(factors, "is_heart")
    assert len(seen) == 2 and torch.equal(torch.cat(seen), owner) and (candidates[:, 1:] == factors[owner, 1:]).all()
    ink = (render_shapes(candidates).float() / 255).flatten(1).mean(1) / 2
    expected = torch.stack([ink[owner == r].min() for r in range(3)]).mean()
    assert scores["truth_error_oracle"] == pytest.approx(float(expected))
    # halving the ink misses by more than the other shapes at the same place differ: no gap to close
    assert scores["truth_error_oracle"] > scores["truth_error_unchanged"] and math.isnan(scores["truth_gap_closed"])


def test_summary_gap_is_the_gap_of_the_attribute_means_not_the_mean_of_their_gaps():
    per_attribute = {"a": {"truth_error": 0.02, "truth_error_unchanged": 0.04, "truth_error_oracle": 0.01,
                           "truth_nearer_than_unchanged": 0.5},   # gap 2/3
                     "b": {"truth_error": 0.05, "truth_error_unchanged": 0.04, "truth_error_oracle": 0.039,
                           "truth_nearer_than_unchanged": 0.25}}  # gap -10
    summary = cdvae_gan.truth_summary(per_attribute)
    assert summary["truth_error"] == pytest.approx(0.035) and summary["truth_error_oracle"] == pytest.approx(0.0245)
    assert summary["truth_nearer_than_unchanged"] == pytest.approx(0.375)
    assert summary["truth_gap_closed"] == pytest.approx(0.005 / 0.0155)  # 0.32, not (2/3 - 10) / 2
    assert set(summary) == set(cdvae_gan.TRUTH_KEYS)
    assert cdvae_gan.truth_summary({"a": per_attribute["a"], "c": {"effectiveness": 1.0}}) == {}  # not shapes


def test_truth_reconstructor_null_flips_each_truth_under_its_row_s_flipped_label():
    from cfae.counterfactual.result import CounterfactualResult

    calls = []

    def method(batch, attribute, value):
        calls.append((batch, attribute, value))
        return CounterfactualResult(batch.x, batch.x + value[:, None], batch.x, batch.x, "test", {})

    attributes = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    test = Batch(torch.zeros(3, 4), {"attributes": attributes})
    reconstruct = cdvae_gan.truth_reconstructor(method, test, ["a", "b"], "b")
    out = reconstruct(torch.ones(4, 4), torch.tensor([0, 0, 2, 1]))
    batch, attribute, value = calls[0]
    assert attribute == "b" and value.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert batch.labels["attributes"].tolist() == [[0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    assert torch.equal(out, torch.ones(4, 4) + value[:, None])


def test_reproduce_on_generated_shapes_scores_flips_against_the_true_counterfactuals(tmp_path):
    report = reproduce("shapes-attributes", tmp_path, seeds=(0,), epochs=1, limit=120, eval_size=32, models=("cdvae",),
                       progress=False, say=lambda _: None)
    scores = json.loads((tmp_path / "results.json").read_text())["cdvae/seed-0"]
    for name in ("is_heart", "large", "tilted", "left"):
        one = scores["attributes"][name]
        assert 0 < one["truth_error"] < 1 and 0 < one["truth_error_unchanged"] < 1 and 0 < one["truth_error_oracle"] < 1
        assert 0 <= one["truth_nearer_than_unchanged"] <= 1
    assert scores["truth_error"] == pytest.approx(sum(scores["attributes"][a]["truth_error"] for a in scores["attributes"]) / 4)
    # one epoch on 120 images: the decoder is nearly constant, so the oracle may be no nearer than doing nothing
    denominator = scores["truth_error_unchanged"] - scores["truth_error_oracle"]
    gap = (scores["truth_error_unchanged"] - scores["truth_error"]) / denominator
    assert scores["truth_gap_closed"] == (pytest.approx(gap) if denominator > 0 else None)  # json writes nan as null
    text = report.read_text()
    assert "## Against the true counterfactuals (generated shapes)" in text and "| mean | truth_nearer_than_unchanged |" in text
    assert "| mean | truth_gap_closed |" in text
