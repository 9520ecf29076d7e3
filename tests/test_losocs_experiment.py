"""`cfae reproduce losocs` end to end on a few hundred images (a smoke test of every stage)."""

import json

import pytest
import torch

from cfae.counterfactual.streams import StreamResult
from cfae.experiments import losocs
from cfae.experiments.losocs import change_summary, cohort_inputs, reproduce
from cfae.data import get_dataset
from conftest import scored_here


def test_cohort_inputs_respect_sources_and_never_target_the_own_class(shared_data):
    test = get_dataset("mnist", "test", shared_data, 2000)
    index, targets = cohort_inputs(test, 50, 4, None, seed=0)
    labels = test.labels["label"][index]
    assert (labels == 4).all() and (targets != 4).all() and len(index) == 50
    index, targets = cohort_inputs(test, 80, None, 7, seed=0)
    assert (targets == 7).all() and (test.labels["label"][index] != 7).all()


def test_reproduce_losocs_smoke(tmp_path, shared_data, monkeypatch):
    report = reproduce(tmp_path, data_root=str(shared_data), epochs=1, streams=12, cohort=10, siamese_streams=25,
                       regression=6, variants=("plain", "plausible-recon", "plausible-prototype"), im_epochs=1, siamese_epochs=1, limit=300, max_steps=25,
                       progress=False, say=lambda _: None)
    text = report.read_text()
    for heading in ("## Table 1", "## Table 2", "## Table 3", "## Regression"):
        assert heading in text
    assert "| seed 002 | 1000 | 0.58 ± 0.4 | 2.52 ± 0.75 |" in text
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["table1/plain"]["steps"]["count"] == 12
    assert 0 <= results["table3/plain"]["test"]["accuracy"] <= 1
    assert set(results) >= {"regression/plain/+1", "regression/plausible-recon/-1", "table2/plain/4->7",
                            "table1/plausible-prototype", "sweep/prototype/0.1"}
    assert "regression/plausible-prototype/+1" not in results  # a regressor's target has no class prototype
    assert all(scored_here(results[key]) for key in results if key.startswith(("table", "regression/", "sweep/")))
    assert (tmp_path / "figures" / "distance_histograms.png").is_file()
    assert (tmp_path / "figures" / "siamese_candidates.png").is_file()
    again = reproduce(tmp_path, data_root=str(shared_data), epochs=1, streams=12, cohort=10, siamese_streams=25,
                      regression=6, variants=("plain", "plausible-recon", "plausible-prototype"), im_epochs=1, siamese_epochs=1, limit=300, max_steps=25,
                      progress=False, say=lambda _: None)
    assert json.loads((tmp_path / "results.json").read_text())["table1/plain"] == results["table1/plain"]
    assert again == report
    # a variant whose settings changed is run again, not read back from the cache; the others are kept
    monkeypatch.setitem(losocs.VARIANTS, "plain", losocs.StreamSettings(lr=0.02))
    said = []
    reproduce(tmp_path, data_root=str(shared_data), epochs=1, streams=12, cohort=10, siamese_streams=25, regression=6,
              variants=("plain", "plausible-prototype"), im_epochs=1, siamese_epochs=1, limit=300, max_steps=25,
              sweep_streams=0, progress=False, say=said.append)
    rerun = json.loads((tmp_path / "results.json").read_text())
    assert rerun["table1/plain"]["settings"]["lr"] == 0.02 and rerun["variant_settings"]["plain"]["lr"] == 0.02
    assert rerun["table1/plain"]["l1"] != results["table1/plain"]["l1"]  # streams run anew, not read from the cache
    assert rerun["table1/plausible-prototype"] == results["table1/plausible-prototype"]
    assert rerun["sweep/proximity/0.05"] == results["sweep/proximity/0.05"]  # sweeps are keyed by their own weight
    assert "regression/plausible-recon/-1" in rerun and "variant plain: settings changed since its cached results (lr 0.05 -> 0.02); running it again" in said
    with pytest.raises(ValueError, match="unknown stream variant 'nope'; valid choices: plain"):
        reproduce(tmp_path, variants=("plain",), detail_variants=("nope",))


def test_change_summary_compares_intended_claimed_and_measured_over_successful_streams():
    claimed, measured = torch.tensor([1.2, -0.8, 0.5]), torch.tensor([0.9, -0.1, 2.0])
    ok = torch.tensor([True, True, False])  # the third stream failed: left out of everything but the rate
    result = change_summary(1.0, claimed, measured, ok)
    assert result["streams"] == 3 and result["success_rate"] == pytest.approx(2 / 3)
    assert result["measured_in_intended_direction"] == 0.5  # +0.9 yes, -0.1 no
    assert result["abs_claimed_minus_measured"]["mean"] == pytest.approx(0.5)  # |0.3|, |-0.7|
    assert result["abs_intended_minus_measured"]["mean"] == pytest.approx(0.6)  # |0.1|, |1.1|
    assert change_summary(-1.0, claimed, measured, ok)["measured_in_intended_direction"] == 0.5
    assert change_summary(-1.0, claimed, -measured, ok)["measured_in_intended_direction"] == 0.5
    assert change_summary(-1.0, claimed, measured.abs(), ok)["measured_in_intended_direction"] == 0.0


def test_stream_changes_run_from_the_first_frame_to_each_stream_s_own_end(monkeypatch):
    monkeypatch.setattr(losocs, "measure", lambda images: {"thickness": images.flatten(1).mean(1)})  # stand-in: mean pixel
    frames = torch.tensor([[1.0, 2.0, 4.0], [5.0, 3.0, 3.0]]).view(2, 3, 1, 1, 1)  # stream 2 stopped after one step
    result = StreamResult(inputs=torch.zeros(2, 1, 1, 1), counterfactuals=frames[:, -1], codes_before=torch.zeros(2, 1),
                          codes_after=torch.zeros(2, 3, 1), method="stream", frames=frames,
                          scores=torch.tensor([[0.5, 1.0, 2.5], [3.0, 1.0, 9.0]]), lengths=torch.tensor([3, 2]))
    claimed, measured = losocs.stream_changes(result)
    assert claimed.tolist() == [2.0, -2.0]  # 2.5 - 0.5; 1.0 - 3.0 (the padded 9.0 past its end is not read)
    assert measured.tolist() == [3.0, -2.0]  # 4 - 1; 3 - 5


def _seed_results(r2: float, cv: float, im1: float, im1_prototype: float, original: float, final: float,
                  accuracy: float, success: float) -> dict:
    """A stand-in results.json of one seed: the entries write_across_seeds reads."""
    entry = lambda mean: {"mean": mean, "sd": 0.0, "count": 10}  # noqa: E731
    table1 = {k: entry(1.0) for k in ("r2_from_input", "cv_from_input", "steps", "path_r2", "l1", "im2", "ynn", "prior_log_density")}
    return {"models": {"classifier": {"test_accuracy": accuracy}, "thickness_regressor": {"test_mae": 0.05}},
            "table1/plain": {**table1, "r2": entry(r2), "cv": entry(cv), "im1": entry(im1), "success_rate": success},
            "table1/plausible-prototype": {**table1, "r2": entry(float("nan")), "cv": entry(cv), "im1": entry(im1_prototype),
                                           "success_rate": success},
            "table2/plain/random->7": {"original": entry(original), "final": entry(final), "success_rate": 1.0},
            "table3/plain": {"test": {"accuracy": accuracy, "f1": accuracy}, "cross_validation": {"accuracy": accuracy}},
            "regression/plain/+1": {k: entry(0.1) for k in ("claimed_change", "measured_change", "abs_claimed_minus_measured")}
            | {"success_rate": success, "measured_in_intended_direction": 1.0}}


def test_across_seeds_gives_mean_and_sd_over_seeds_and_counts_the_seeds_that_agree_with_the_paper(tmp_path):
    from cfae.experiments.losocs_report import seed_values, write_across_seeds

    results = {0: _seed_results(0.5, 3.0, 0.6, 0.4, 5.0, 6.0, 0.80, 1.0),
               2: _seed_results(0.9, 1.0, 0.5, 0.6, 5.0, 4.0, 0.85, 0.8),
               1: _seed_results(0.7, 2.0, 0.7, 0.3, 5.0, 7.0, 0.90, 0.9)}
    assert seed_values(results, "table1/plain", "r2") == [0.5, 0.7, 0.9]  # seed order, a summary gives its mean
    assert seed_values(results, "table1/plausible-prototype", "r2") == []  # NaN means are left out
    assert seed_values(results, "table3/plain", "test", "accuracy") == [0.80, 0.90, 0.85]
    assert seed_values(results, "table1/plain-sgd", "r2") == []
    text = write_across_seeds(tmp_path, results, ("plain", "plausible-prototype")).read_text()
    assert "Seeds 0, 1, 2:" in text
    assert "| plain | 3 | 0.700 +- 0.200 | 2.000 +- 1.000 |" in text  # sample sd over the seeds' means
    assert "R^2 above the seed paper's 0.58 in 2 of 3 seeds (0.500, 0.700, 0.900); CV below its 2.52 in 2 of 3." in text
    assert "plausible-prototype: IM1 below plain's in 2 of 3 seeds (plain 0.600, 0.700, 0.500; plausible-prototype 0.400, 0.300, 0.600)." in text
    assert "| plausible-prototype | 3 | - | 2.000 +- 1.000 |" in text  # its R^2 had no stream long enough
    assert "| plain | random->7 | 3 | 5.00 +- 0.00 | 5.67 +- 1.53 | 2 of 3 |" in text
    assert "the ends spread out in 4->7 and 4->random and come closer in random->7 and random->random." in text
    assert "| plain | 3 | 0.8500 +- 0.0500 | 0.8500 +- 0.0500 | 0.8500 +- 0.0500 | 2 of 3 |" in text  # 0.85 and 0.90 above 0.818
    assert "| plain | +1 px | 3 | 0.900 +- 0.100 |" in text
    assert "| classifier (fully connected) | test accuracy | 0.8500 +- 0.0500 |" in text
    assert (tmp_path / "figures" / "across_seeds.png").is_file() and "(figures/across_seeds.png)" in text


def test_each_seed_trains_its_own_networks_on_the_same_stream_inputs(tmp_path, shared_data):
    from safetensors.torch import load_file

    said = []
    report = reproduce(tmp_path, data_root=str(shared_data), epochs=1, streams=8, cohort=6, siamese_streams=20, regression=4,
                       variants=("plain",), detail_variants=("plain",), im_epochs=1, siamese_epochs=1, limit=200,
                       max_steps=10, sweep_streams=0, seeds=(0, 1), progress=False, say=said.append)
    assert report == tmp_path / "report.md" and (tmp_path / "seed-1" / "report.md").is_file()
    assert "Seed 1 for every network." in (tmp_path / "seed-1" / "report.md").read_text()
    assert "(figures/straight-vs-stream-4-to-7.png)" in report.read_text()
    assert (tmp_path / "figures" / "straight-vs-stream-4-to-7.png").is_file()
    for seed, folder in ((0, tmp_path), (1, tmp_path / "seed-1")):
        assert json.loads((folder / "results.json").read_text())["models"]["seed"] == seed
        for run in ("vae", "im-ae-all", "im-ae-3"):
            assert json.loads((folder / "runs" / run / "run.json").read_text())["train"]["seed"] == seed
    weights = [load_file(next((folder / "predictors" / name).glob("*.safetensors")))
               for name in ("classifier", "thickness") for folder in (tmp_path, tmp_path / "seed-1")]
    for first, second in (weights[:2], weights[2:]):  # each predictor started from its seed's weights
        assert any(not torch.equal(first[k], second[k]) for k in first)
    streams = [load_file(losocs.stream_file(folder, "table1", "plain")) for folder in (tmp_path, tmp_path / "seed-1")]
    assert torch.equal(streams[0]["inputs"], streams[1]["inputs"]) and torch.equal(streams[0]["targets"], streams[1]["targets"])
    assert not torch.equal(streams[0]["start_code"], streams[1]["start_code"])  # another VAE
    text = (tmp_path / "across-seeds.md").read_text()
    assert "Seeds 0, 1:" in text and "| plain | 2 |" in text
    assert any(line.startswith("across seeds written to") for line in said)
