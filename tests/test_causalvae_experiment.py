"""`cfae reproduce causalvae` (test preset) and `cfae counterfactual intervene` end to end (issue 13)."""

import json

import pytest
from typer.testing import CliRunner

from cfae.cli import app


def test_reproduce_then_intervene_on_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv("CFAE_CACHE", str(tmp_path / "cache"))  # the pendulum renders once for both steps
    out = tmp_path / "report"
    runner = CliRunner()
    result = runner.invoke(app, ["reproduce", "causalvae", "--preset", "test", "--out", str(out), "--seeds", "0",
                                 "--causal-models", "CausalVAE,VAE", "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    causal, plain = results["CausalVAE/seed-0"], results["VAE/seed-0"]
    assert causal["handles"]["light_angle"]["key"] == "light_angle" and causal["handles"]["light_angle"]["dims"] == [4, 5, 6, 7]
    assert isinstance(plain["handles"]["light_angle"]["key"], int) and plain["graph"] is None
    assert 0 <= causal["graph"]["shd"] <= 6 and 0 <= causal["information"]["mic"] <= 100
    assert not causal["counterfactuals"]["shadow_length"]["simulable"] and causal["counterfactuals"]["pendulum_angle"]["simulable"]
    report = (out / "report.md").read_text()
    assert "## Acceptance" in report and "SHD per seed" in report and (out / "figures" / "CausalVAE" / "figure3.png").exists()

    run = out / "runs" / "CausalVAE-seed-0"
    result = runner.invoke(app, ["counterfactual", "intervene", str(run), "--concept", "pendulum_angle", "--value", "20",
                                 "-n", "3", "--regressor", str(out / "regressor")])
    assert result.exit_code == 0, result.output
    folder = run / "intervene-pendulum_angle=20"
    record = json.loads((folder / "intervention.json").read_text())
    assert record["simulable"] and record["pixel_mse"] > 0 and set(record["concept_abs_error"]) >= {"light_angle"}
    assert (folder / "figure3.png").exists() and (folder / "figure3_truth.png").exists()
    again = runner.invoke(app, ["counterfactual", "intervene", str(run), "--concept", "pendulum_angle", "--value", "20"])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(app, ["counterfactual", "intervene", str(run), "--concept", "rope", "--value", "1", "--out",
                              str(tmp_path / "x")])
    assert bad.exit_code == 1 and "valid choices: pendulum_angle" in bad.output


@pytest.mark.parametrize("args, message", [(["--causal-models", "GAN"], "unknown models ['GAN']"),
                                           (["--preset", "huge"], "unknown preset ['huge']")])
def test_reproduce_causalvae_refuses_unknown_names(tmp_path, args, message):
    result = CliRunner().invoke(app, ["reproduce", "causalvae", "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == 1 and message in result.output
