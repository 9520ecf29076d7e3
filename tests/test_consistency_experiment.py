import json

from typer.testing import CliRunner

from cfae.cli import app
from cfae.experiments.consistency import reproduce
from conftest import scored_here


def test_reproduce_consistency_smoke_resumes_and_refuses_unknown_names(shared_data, tmp_path):
    out = tmp_path / "rep"
    runner = CliRunner()
    args = ["reproduce", "consistency", "--preset", "test", "--seeds", "0", "--families", "ae,avae",
            "--model-variants", "plain,XC-E", "--out", str(out), "--data-root", str(shared_data), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert "latent-3/avae/plain/seed-0" in results and "latent-3/avae/XC-E/seed-0" not in results
    scores = results["latent-3/ae/XC-E/seed-0"]
    assert len(scores["INV"]) == 3 and len(scores["SCN"]) == 3
    assert scores["mask"]["possible"] == 3 and "mask" not in results["latent-3/ae/plain/seed-0"]
    assert set(scores["self_consistency"]) == {"posterior", "hybrid", "uniform"} and scores["fid_reconstruction"] > 0
    assert scored_here(scores) and scored_here(results["latent-3/avae/plain/seed-0"])
    text = (out / "report.md").read_text()
    assert "Table 1" in text and "Table 2" in text and "XCAE-E vs AE" in text and "AVAE" in text
    assert (out / "fig3_ae.png").stat().st_size > 0 and (out / "masks_ae.png").stat().st_size > 0
    assert (out / "figures" / "double_causes_3_ae_XC-E_seed0.png").stat().st_size > 0
    again = runner.invoke(app, args)  # resumes: every run is found, nothing retrained
    assert again.exit_code == 0 and "epochs on" not in again.output
    del results["latent-3/ae/plain/seed-0"]["self_consistency_response_scale"]
    (out / "results.json").write_text(json.dumps(results))
    rescored = runner.invoke(app, [*args, "--rescore"])  # scores again from the checkpoints, trains nothing
    assert rescored.exit_code == 0 and "epochs on" not in rescored.output and "scored again" in rescored.output
    assert "self_consistency_response_scale" in json.loads((out / "results.json").read_text())["latent-3/ae/plain/seed-0"]
    wider = runner.invoke(app, [*args, "--model-variants", "plain,X,XC-E", "--report-only"])  # X never ran: reported as absent
    assert wider.exit_code == 0 and "epochs on" not in wider.output
    assert json.loads((out / "results.json").read_text())["setup"]["variants"] == ["plain", "X", "XC-E"]
    bad = runner.invoke(app, args[:-1] + ["--families", "ae,gan"])
    assert bad.exit_code == 1 and "valid choices: ae, vae, sae, avae" in bad.output


def test_reproduce_consistency_on_shapes_scores_the_ground_truth(tmp_path):
    out = tmp_path / "shapes"
    reproduce(out, dataset="shapes", preset_name="test", seeds=(0,), families=("ae",), variants=("plain", "XC-I"),
              eval_size=64, progress=False, say=lambda _: None)
    results = json.loads((out / "results.json").read_text())
    truth = results["latent-3/ae/XC-I/seed-0"]["ground_truth"]
    assert 0 <= truth["mig"] <= 1 and truth["counterfactual"]["error"] >= 0
    text = (out / "report.md").read_text()
    assert "Ground truth (generated shapes)" in text and "Spearman rank correlation with invariance over all 2 runs" in text
    assert (out / "figures" / "double_causes_3_ae_XC-I_seed0.png").stat().st_size > 0
    assert (out / "figures" / "true_counterfactuals_3_ae_plain_seed0.png").stat().st_size > 0


def test_reproduce_consistency_with_cause_units_of_several_dimensions(shared_data, tmp_path):
    """The seed's S4 (cause units of 4 dimensions): X variants only, keyed apart from unit-1 runs."""
    out = tmp_path / "s4"
    runner = CliRunner()
    args = ["reproduce", "consistency", "--preset", "test", "--seeds", "0", "--families", "ae", "--unit-dim", "2",
            "--out", str(out), "--data-root", str(shared_data), "--quiet"]
    refused = runner.invoke(app, args)  # the default variants include plain, which has no cause units
    assert refused.exit_code == 1 and "--unit-dim 2" in refused.output and "--model-variants X,XC-I,XC-E" in refused.output
    result = runner.invoke(app, [*args, "--model-variants", "X"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"latent-3-unit-2/ae/X/seed-0", "setup"} and results["setup"]["unit_dim"] == 2
    run = json.loads((out / "runs" / "latent-3-unit-2-ae-X-seed-0" / "run.json").read_text())
    assert run["model_options"]["unit_dim"] == 2
    scores = results["latent-3-unit-2/ae/X/seed-0"]
    assert len(scores["EQV"]) == 3 and len(scores["EQV"][0]) == 3 and scores["mask"]["possible"] == 3
    text = (out / "report.md").read_text()
    assert "units of 2 dimensions" in text and "| latent-3-unit-2 | XAE | 1 |" in text
    assert "| latent-3-unit-2 | 1 |" in text and "nan" not in text  # Table 1 has no seed value for unit-2 sizes
    assert (out / "figures" / "traversals_3-unit-2_ae_X_seed0.png").stat().st_size > 0


def test_acceptance_compares_residual_variants_with_the_plain_model_and_their_own_block():
    from cfae.experiments.consistency import block_variant, label
    from cfae.experiments.consistency_report import acceptance

    assert [label("sae", v) for v in ("plain", "X", "XC-I", "Xr", "XCr-E")] == ["SAE", "XSAE", "XCSAE-I", "XrSAE", "XCrSAE-E"]
    assert [block_variant(v) for v in ("XC-I", "XC-E", "XCr-I", "XCr-E")] == ["X", "X", "Xr", "Xr"]
    scores = {"plain": (0.5, 100.0), "X": (0.6, 400.0), "Xr": (0.6, 200.0), "XC-I": (0.9, 300.0), "XCr-I": (0.8, 105.0)}
    results = {f"latent-6/ae/{v}/seed-0": {"invariance": inv, "fid_reconstruction": fid} for v, (inv, fid) in scores.items()}
    lines = acceptance(results, "latent-6", "ae", ("plain", "X", "XC-I", "Xr", "XCr-I"))
    assert len(lines) == 2
    assert "XCAE-I vs AE" in lines[0] and "+200.0% in the mean; against XAE (FID 400.00) -25.0%" in lines[0]
    assert lines[0].endswith("does NOT hold (1 / 1 seeds)")
    assert "XCrAE-I vs AE" in lines[1] and "+5.0% in the mean; against XrAE (FID 200.00) -47.5%" in lines[1]
    assert lines[1].endswith(": holds (1 / 1 seeds)")


def test_ground_truth_section_ranks_invariance_against_the_excess_over_the_floor(tmp_path):
    """The excess is error - floor per run; with invariance rising as the excess falls, rho = -1."""
    from cfae.experiments.consistency_report import ground_truth_section

    def run(inv, error, floor):
        truth = {"mig": inv / 2, "dci_disentanglement": 0.1,
                 "counterfactual": {"error": error, "floor": floor, "dimension_agreement": 0.5}}
        return {"invariance": inv, "ground_truth": truth}

    results = {"latent-6/ae/plain/seed-0": run(0.7, 0.05, 0.01), "latent-6/ae/plain/seed-1": run(0.8, 0.05, 0.02),
               "latent-6/ae/X/seed-0": run(0.9, 0.06, 0.05)}
    text = "\n".join(ground_truth_section(results, ("latent-6",), ("ae",), ("plain", "X"), tmp_path))
    assert "| latent-6 | AE | 2 | 0.375 +- 0.035 |" in text and "| 0.035 +- 0.007 |" in text  # excess 0.04, 0.03
    assert "- excess over floor: rho = -1.000" in text and "- MIG: rho = 1.000" in text
    assert "- DCI disentanglement: rho undefined (one side is the same in every run)" in text  # 0.1 in all three
    assert "over all 3 runs" in text
    assert "![ground-truth scores against invariance](fig_ground_truth.png)" in text
    assert (tmp_path / "fig_ground_truth.png").stat().st_size > 0


def test_merge_results_adds_shard_runs_and_refuses_a_conflict(tmp_path):
    def folder(name, results):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(results))
        return str(tmp_path / name)

    main = folder("main", {"a/seed-0": {"x": 1, "scored_by": {"scored": "then"}}, "setup": {"seeds": [0]}})
    shard = folder("s1", {"a/seed-1": {"x": 2}, "a/seed-0": {"x": 1, "scored_by": {"scored": "now"}},  # the same scores
                          "setup": {"seeds": [1]}})
    clash = folder("s2", {"a/seed-0": {"x": 9}})
    runner = CliRunner()
    done = runner.invoke(app, ["merge-results", main, shard])
    assert done.exit_code == 0 and "1 run(s) added" in done.output
    merged = json.loads((tmp_path / "main" / "results.json").read_text())
    assert merged == {"a/seed-0": {"x": 1, "scored_by": {"scored": "then"}}, "a/seed-1": {"x": 2}, "setup": {"seeds": [0]}}
    refused = runner.invoke(app, ["merge-results", main, clash])
    assert refused.exit_code == 1 and "run a/seed-0 is already in" in refused.output and "--replace" in refused.output
    assert json.loads((tmp_path / "main" / "results.json").read_text()) == merged
    assert runner.invoke(app, ["merge-results", main, clash, "--replace"]).exit_code == 0
    assert json.loads((tmp_path / "main" / "results.json").read_text())["a/seed-0"] == {"x": 9}
    fresh = tmp_path / "new" / "folder"  # a target that does not exist yet
    assert runner.invoke(app, ["merge-results", str(fresh), shard]).exit_code == 0
    assert json.loads((fresh / "results.json").read_text()) == {"a/seed-1": {"x": 2},
                                                                "a/seed-0": {"x": 1, "scored_by": {"scored": "now"}}}
