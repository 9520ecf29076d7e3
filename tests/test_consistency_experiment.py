import json

from typer.testing import CliRunner

from cfae.cli import app


def test_reproduce_consistency_smoke_resumes_and_refuses_unknown_names(shared_data, tmp_path):
    out = tmp_path / "rep"
    runner = CliRunner()
    args = ["reproduce", "consistency", "--preset", "test", "--seeds", "0", "--families", "ae,sae,avae",
            "--model-variants", "plain,X,XC-I", "--out", str(out), "--data-root", str(shared_data), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert "latent-3/avae/plain/seed-0" in results and "latent-3/avae/X/seed-0" not in results
    scores = results["latent-3/ae/XC-I/seed-0"]
    assert len(scores["INV"]) == 3 and len(scores["SCN"]) == 3
    assert scores["mask"]["possible"] == 3 and "mask" not in results["latent-3/ae/plain/seed-0"]
    assert set(scores["self_consistency"]) == {"posterior", "hybrid", "uniform"} and scores["fid_reconstruction"] > 0
    text = (out / "report.md").read_text()
    assert "Table 1" in text and "Table 2" in text and "XCAE-I vs AE" in text and "XCSAE-I" in text
    assert (out / "fig3_ae.png").stat().st_size > 0 and (out / "masks_sae.png").stat().st_size > 0
    again = runner.invoke(app, args)  # resumes: every run is found, nothing retrained
    assert again.exit_code == 0 and "epochs on" not in again.output
    bad = runner.invoke(app, args[:-1] + ["--families", "ae,gan"])
    assert bad.exit_code == 1 and "valid choices: ae, vae, sae, avae" in bad.output
