import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import cfae
from cfae.cli import app
from cfae.experiments.report import score_files
from conftest import scored_here

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def trained_run(tmp_path, shared_data):
    run = tmp_path / "run"
    result = invoke("train", "vae", "--dataset", "mnist", "--data-root", shared_data, "--latent-dim", 2,
                    "--epochs", 1, "--limit", 300, "--batch-size", 64, "--out", run, "--quiet", "-o", "beta=2")
    assert result.exit_code == 0, result.output
    return run


def test_every_command_has_help():
    for command in ["train", "evaluate", "info", "compare", "sample", "plot", "datasets", "models", "demo",
                    "counterfactual"]:
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_help_prose_is_reflowed_and_keeps_placeholders(monkeypatch):
    """A docstring's hard line breaks do not survive into the help (they left one-word lines at
    80 columns), and option texts keep their placeholders."""
    monkeypatch.setenv("COLUMNS", "120")
    lines = [" ".join(line.strip(" │").split()) for line in invoke("reproduce", "--help").output.splitlines()]
    assert any("value; betavae-dsprites trains on" in line for line in lines)
    assert "RUN/streams/FROM-to-TO" in invoke("counterfactual", "stream", "--help").output


def test_list_commands():
    assert "mmd-vae" in invoke("models").output
    out = invoke("datasets").output
    assert all(name in out for name in ["mnist", "fashion", "shapes", "pendulum", "dsprites"])
    for listing in (out, invoke("models").output):  # descriptions start in one column, after the longest name
        starts = {len(line) - len(line.split(maxsplit=1)[1]) for line in listing.splitlines()}
        assert len(starts) == 1


def test_train_evaluate_sample_plot_resume(trained_run, shared_data):
    config = json.loads((trained_run / "run.json").read_text())
    assert config["model_options"] == {"latent_dim": 2, "beta": 2}
    result = invoke("evaluate", trained_run)
    assert result.exit_code == 0, result.output
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["neg_elbo"] > 0 and len(metrics["kl_per_dim"]) == 2 and 0 <= metrics["knn_accuracy"] <= 1
    assert (metrics["dataset"], metrics["test_examples"], metrics["train_examples"]) == ("mnist", 300, 300)  # the run's limit
    assert invoke("evaluate", trained_run, "--limit", 50).exit_code == 0
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert (metrics["test_examples"], metrics["train_examples"]) == (50, 50)
    for option, value, message in (("--iw", 10, "--iw does not apply to --metrics basic; it is read by --metrics likelihood"),
                                   ("--fast", None, "--fast does not apply to --metrics basic"),
                                   ("--classifier", trained_run, "--classifier does not apply to --metrics basic")):
        refused = invoke("evaluate", trained_run, option, *([] if value is None else [value]))
        assert refused.exit_code == 1 and message in refused.output, refused.output
    assert invoke("sample", trained_run, "--n", 16).exit_code == 0
    assert (trained_run / "samples.png").stat().st_size > 0
    result = invoke("plot", trained_run)
    assert result.exit_code == 0, result.output
    assert {"vae_latent.png", "vae_manifold.png", "loss_curves.png"} <= {p.name for p in (trained_run / "figures").iterdir()}
    result = invoke("counterfactual", "traverse", trained_run, "-d", 1, "--steps", 5, "-n", 3)
    assert result.exit_code == 0, result.output
    record = json.loads((trained_run / "traversals.json").read_text())
    assert record["range"] == "prior" and record["values"]["1"] == [-2.5, -1.25, 0.0, 1.25, 2.5] and len(record["test_indices"]) == 3
    again = invoke("counterfactual", "traverse", trained_run)
    assert again.exit_code == 1 and "already exists; choose another --out" in again.output
    data_range = invoke("counterfactual", "traverse", trained_run, "--range", "data", "--out", trained_run / "t.png")
    data_record = json.loads((trained_run / "t.json").read_text())
    assert data_range.exit_code == 0 and len(data_record["values"]) == 2  # both dims
    rows = 2 * len(data_record["test_indices"]) + 1  # two blocks of n inputs, a blank row between them
    assert Image.open(trained_run / "t.png").height == 2 * (rows * (28 + 2) + 2)  # save_image_grid: pad 2, scale 2
    for bad, message in ((("-d", 2), "latent dimension 2 does not exist; valid choices: 0..1"),
                         (("--range", "posterior"), "valid choices: auto, prior, data")):
        result = invoke("counterfactual", "traverse", trained_run, *bad, "--out", trained_run / "bad.png")
        assert result.exit_code == 1 and message in result.output and not (trained_run / "bad.png").exists()
    result = invoke("train", "vae", "--out", trained_run, "--epochs", 2, "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    assert len((trained_run / "log.jsonl").read_text().splitlines()) == 2


def test_evaluate_latent_judges_holes_with_a_saved_classifier(trained_run, shared_data, tmp_path):
    classifier = tmp_path / "clf"
    trained = invoke("train-classifier", "--out", classifier, "--data-root", shared_data, "--limit", 300, "--epochs", 1,
                     "--network", "mlp", "--quiet")
    assert trained.exit_code == 0, trained.output
    result = invoke("evaluate", trained_run, "--metrics", "latent", "--classifier", classifier)
    assert result.exit_code == 0, result.output
    scores = json.loads((trained_run / "latent.json").read_text())
    assert 0 <= scores["grid_hole_rate"] <= 1 and scores["planes_hole_rate_mean"] == scores["grid_hole_rate"]  # 2-D: one plane
    assert scores["classifier"] == str(classifier) and 0 <= scores["knn_accuracy"] <= 1
    missing = invoke("evaluate", trained_run, "--metrics", "latent")
    assert missing.exit_code == 1 and "--metrics latent needs --classifier" in missing.output
    not_a_predictor = invoke("evaluate", trained_run, "--metrics", "latent", "--classifier", tmp_path)
    assert not_a_predictor.exit_code == 1 and "no predictor.safetensors" in not_a_predictor.output
    unknown = invoke("evaluate", trained_run, "--metrics", "latentt")
    assert unknown.exit_code == 1 and "valid choices: basic, disentanglement, likelihood, latent" in unknown.output


def test_yaml_config_and_flags_merge(tmp_path, shared_data):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("dataset: fashion\nlimit: 200\nmodel_options: {latent_dim: 3, network: conv, hidden: [4, 8]}\n"
                   "train: {epochs: 1, batch_size: 50, lr: 0.002}\n")
    run = tmp_path / "run"
    result = invoke("train", "ae", "--config", cfg, "--latent-dim", 5, "--data-root", shared_data, "--out", run, "--quiet")
    assert result.exit_code == 0, result.output
    config = json.loads((run / "run.json").read_text())
    assert config["dataset"] == "fashion" and config["train"]["lr"] == 0.002
    assert config["model_options"]["latent_dim"] == 5 and config["model_options"]["network"] == "conv"


def test_clear_errors(tmp_path, shared_data):
    for dataset in (("--dataset", "mnist"), ()):  # without a dataset too: the model's name is checked first
        result = invoke("train", "vea", *dataset, "--out", tmp_path / "r")
        assert result.exit_code == 1 and "valid choices: ae, avae, beta-tcvae, causalvae, cdvae, cdvae-gan, counterfactual-ae, factor-vae, hvae, lvae, mmd-vae, sae, vae, vae-gan" in result.output
    result = invoke("train", "vae", "--dataset", "mnits", "--out", tmp_path / "r")
    assert result.exit_code == 1 and "valid choices: celeba, dsprites, fashion, fashion-binary, mnist" in result.output
    result = invoke("train", "vae", "--dataset", "mnist", "--out", tmp_path / "r", "-o", "betta=3", "--data-root", shared_data)
    assert result.exit_code == 1 and "betta" in result.output
    result = invoke("evaluate", tmp_path / "missing")
    assert result.exit_code == 1 and "run.json: missing" in result.output


def test_demo_end_to_end(tmp_path, shared_data):
    result = invoke("demo", "--out", tmp_path / "demo", "--epochs", 1, "--limit", 300, "--data-root", shared_data, "--quiet")
    assert result.exit_code == 0, result.output
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "| vae |" in report and "| mmd-vae |" in report and "| counterfactual-ae |" in report
    bernoulli, gaussian = report.split("Bernoulli cross-entropy on grey levels (not a likelihood)")[1].split("log-density (Gaussian")
    assert "| vae |" in bernoulli and "counterfactual-ae" not in bernoulli and "| counterfactual-ae |" in gaussian
    assert "No Bernoulli decoder can go below" in bernoulli
    assert (tmp_path / "demo" / "loss_curves.png").is_file()


def test_demo_falls_back_to_generated_shapes(tmp_path):
    result = invoke("demo", "--out", tmp_path / "demo", "--epochs", 1, "--limit", 200, "--data-root", tmp_path / "empty", "--quiet")
    assert result.exit_code == 0, result.output
    assert "using the generated dSprites-like shapes instead" in result.output
    assert "Dataset: shapes (first 200 examples)" in (tmp_path / "demo" / "report.md").read_text()


def test_evaluate_disentanglement_on_shapes_run(tmp_path):
    run = tmp_path / "run"
    result = invoke("train", "vae", "--dataset", "shapes", "--epochs", 1, "--limit", 256, "--latent-dim", 4,
                    "--out", run, "--quiet", "-o", "hidden=[32]")
    assert result.exit_code == 0, result.output
    result = invoke("evaluate", run, "--metrics", "disentanglement", "--fast")
    assert result.exit_code == 0, result.output
    scores = json.loads((run / "disentanglement.json").read_text())
    assert {"beta_vae_eval", "factor_vae_eval", "mig", "dci_disentanglement", "sap", "modularity", "irs"} <= set(scores)
    assert all(0 <= scores[k] <= 1 for k in ("beta_vae_eval", "mig", "sap", "modularity"))
    assert scores["dataset"] == "shapes" and scores["samples"] == "a fiftieth of the default (--fast)"


def test_info_says_how_far_a_run_trained_and_what_trained_it(trained_run, shared_data):
    from cfae.train.lock import run_lock
    from cfae.train.provenance import code_label, provenance

    result = invoke("train", "vae", "--dataset", "mnist", "--data-root", shared_data, "--latent-dim", 2, "--epochs", 2,
                    "--limit", 300, "--batch-size", 64, "--out", trained_run, "--quiet", "-o", "beta=2", "--resume")
    assert result.exit_code == 0, result.output
    invoke("evaluate", trained_run)
    result = invoke("info", trained_run)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    last = json.loads((trained_run / "log.jsonl").read_text().splitlines()[-1])
    assert summary["epochs"] == {"trained": 2, "of": 2} and summary["last_epoch"] == last
    assert summary["model"] == "vae" and summary["model_options"]["beta"] == 2 and summary["limit"] == 300
    assert summary["checkpoints"] == ["epoch-0001", "epoch-0002"]
    assert summary["scores"] == {"metrics.json": code_label(provenance())}  # scored by this code
    assert [s["from_epoch"] for s in summary["sessions"]] == [0, 1]
    assert summary["sessions"][0]["code"] == code_label(provenance()) and summary["in_training_by_pid"] is None
    (trained_run / "older.json").write_text('{"mse": 0.1}')  # scored before cfae stamped scores
    (trained_run / "torn.json").write_text('{"mse": 0.')
    assert json.loads(invoke("info", trained_run).output)["scores"] == {
        "metrics.json": code_label(provenance()), "older.json": "not recorded", "torn.json": "not valid JSON"}
    with run_lock(trained_run):  # as while a training holds the folder
        assert json.loads(invoke("info", trained_run).output)["in_training_by_pid"] == str(os.getpid())
    result = invoke("info", trained_run / "checkpoints")
    assert result.exit_code == 1 and "run.json: missing" in result.output
    sessions = trained_run / "provenance.jsonl"
    sessions.write_text("{torn\n" + sessions.read_text())
    result = invoke("info", trained_run)
    assert result.exit_code == 1 and "provenance.jsonl: line 1 is not valid JSON" in result.output


def test_evaluate_disentanglement_needs_ground_truth(trained_run):
    result = invoke("evaluate", trained_run, "--metrics", "disentanglement")
    assert result.exit_code == 1 and "no ground-truth factor space; valid choices: dsprites, shapes" in result.output


def test_reproduce_counterfactual_ae_smoke_and_resume(tmp_path, shared_data):
    args = ("reproduce", "counterfactual-ae", "--out", tmp_path, "--seeds", 0, "--epochs", "1,2", "--latent-dims", 2,
            "--limit", 256, "--data-root", shared_data, "--quiet")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "mnist"
    report = (out / "report.md").read_text()
    assert "## 2-D latent, 1 epochs" in report and "## 2-D latent, 2 epochs" in report
    assert "| CF-AE | 1 |" in report and "- mmd (lower is better): CF-AE " in report
    assert "## What trained these runs" in report and "Run folders under this report: 3." in report
    trained, scored = report.split("## What computed these scores")
    assert trained.count(" | 6 |\n") == 1  # three models, each trained to epoch 1 and resumed to 2, on this machine
    assert scored.count(" | 6 |\n") == 1  # each model's metrics at epochs 1 and 2, by this code
    assert all((out / f"fig{k}_{name}.png").is_file() for k, name in ((5, "latent_space"), (8, "cf_manifold")))
    run = out / "runs" / "counterfactual-ae-d2-s0"
    before = (run / "metrics-e2.json").read_text(), (run / "log.jsonl").read_text()
    result = invoke(*args)  # everything measured: nothing retrains, the report is rewritten from the files
    assert result.exit_code == 0 and ((run / "metrics-e2.json").read_text(), (run / "log.jsonl").read_text()) == before
    assert (out / "report.md").read_text().count(" | 6 |\n") == 2  # finished runs: no session added, nothing rescored
    assert len(before[1].splitlines()) == 2  # epoch 2 resumed epoch 1's run: one log line an epoch
    epoch_1 = (run / "metrics-e1.json").read_text()
    (run / "metrics-e2.json").write_text('{"mmd": 9.0}')  # as if measured before a metric was added
    result = invoke(*args, "--rescore")  # the runs to score are those in --out: --seeds, --epochs are not read
    assert result.exit_code == 1 and "--seeds does not apply to counterfactual-ae with --rescore" in result.output
    assert ((run / "metrics-e2.json").read_text(), (run / "log.jsonl").read_text()) == ('{"mmd": 9.0}', before[1])
    args = ("reproduce", "counterfactual-ae", "--out", tmp_path, "--limit", 256, "--data-root", shared_data, "--quiet")
    result = invoke(*args, "--rescore")  # measures the latest checkpoint again, trains nothing
    assert result.exit_code == 0 and "counterfactual-ae-d2-s0: scored again at epoch 2" in result.output
    rescored = json.loads((run / "metrics-e2.json").read_text())
    assert rescored["mmd"] != 9.0 and "planes_hole_rate_mean" in rescored and (run / "log.jsonl").read_text() == before[1]
    assert (run / "metrics-e1.json").read_text() == epoch_1  # not the latest checkpoint: kept as it was
    result = invoke(*args, "--rescore-knn")  # one key recomputed: the record names both codes
    assert result.exit_code == 0 and "counterfactual-ae-d2-s0: knn rescored at epoch 2" in result.output
    latest, earlier = (json.loads((run / f"metrics-e{e}.json").read_text()) for e in (2, 1))
    assert 0 <= latest["knn_accuracy"] <= 1 and scored_here(latest) and scored_here(latest["knn_accuracy_recomputed"])
    assert earlier["knn_accuracy"] is None and "no longer kept" in earlier["knn_accuracy_note"]
    assert "knn_accuracy_recomputed" not in earlier and scored_here(earlier)


@pytest.mark.slow
def test_reproduce_betavae_dsprites_smoke(tmp_path, shared_data):
    result = invoke("reproduce", "betavae-dsprites", "--out", tmp_path, "--seeds", 0, "--epochs", 1, "--limit", 256,
                    "--fast", "--betas", "1,4", "--sweep-betas", "1,4", "--sweep-latent-dims", 4, "--mnist-epochs", 1,
                    "--quiet")
    assert result.exit_code == 0, result.output
    report = (tmp_path / "betavae-dsprites" / "report.md").read_text()
    assert "| ground truth | 1 | 100.00 | 100.00 +- 0.00 |" in report
    assert (tmp_path / "betavae-dsprites" / "normalised_beta.png").is_file()
    assert "## MNIST (no ground-truth factors)" in report
    scores = score_files(tmp_path / "betavae-dsprites")  # baselines, each run's suite and Higgins metric, MNIST's
    assert len(scores) >= 8 and all(scored_here(json.loads(p.read_text())) for p in scores)
    assert "## What computed these scores" in report and "Score files computed before" not in report


@pytest.mark.slow
def test_reproduce_betavae_dsprites_without_baselines_or_mnist(tmp_path, shared_data):
    result = invoke("reproduce", "betavae-dsprites", "--out", tmp_path, "--seeds", 0, "--epochs", 1, "--limit", 256,
                    "--fast", "--betas", "1", "--factor-gammas", 35, "--sweep-latent-dims", "", "--mnist-epochs", 0,
                    "--no-baselines", "--quiet")
    assert result.exit_code == 0, result.output
    report = (tmp_path / "betavae-dsprites" / "report.md").read_text()
    assert "| FactorVAE (gamma 35) | 1 |" in report and (tmp_path / "betavae-dsprites" / "runs" / "fgamma35-d10-s0").is_dir()
    assert "| VAE | 1 |" in report and "ground truth" not in report and "## MNIST" not in report
    assert not (tmp_path / "betavae-dsprites" / "baselines").exists()
    assert not (tmp_path / "betavae-dsprites" / "mnist").exists()
    scores = json.loads((tmp_path / "betavae-dsprites" / "runs" / "beta1-d10-s0" / "disentanglement-e1.json").read_text())
    assert scores["encoded_on"] == "cpu"  # where the codes were computed is recorded with them
    assert "## Over training" not in report  # one epoch count so far
    result = invoke("reproduce", "betavae-dsprites", "--out", tmp_path, "--seeds", 0, "--epochs", 2, "--limit", 256,
                    "--fast", "--betas", "1", "--sweep-latent-dims", "", "--mnist-epochs", 0, "--no-baselines", "--quiet")
    assert result.exit_code == 0, result.output  # the run resumes to 2 epochs and keeps its 1-epoch scores
    report = (tmp_path / "betavae-dsprites" / "report.md").read_text()
    assert "| VAE | 1 | 1 |" in report and "| VAE | 2 | 1 |" in report
    assert (tmp_path / "betavae-dsprites" / "higgins_over_epochs.png").is_file()


def test_reproduce_unknown_experiment_lists_choices(tmp_path):
    result = invoke("reproduce", "ladder", "--out", tmp_path)
    assert result.exit_code == 1 and "valid choices: betavae-dsprites, causalvae, cdvae-gan, consistency, counterfactual-ae, ladder-vae, losocs" in result.output


def test_reproduce_losocs_names_an_unknown_detail_variant_before_any_training(tmp_path):
    result = invoke("reproduce", "losocs", "--out", tmp_path / "l", "--variants", "plain", "--detail-variants", "plain,nope")
    assert result.exit_code == 1 and "unknown stream variant 'nope'; valid choices: plain, plain-sgd" in result.output
    assert not (tmp_path / "l" / "runs").exists()


def test_python_dash_m_cfae_is_the_command_and_prints_its_version():
    done = subprocess.run([sys.executable, "-m", "cfae", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"cfae {cfae.__version__} (torch {torch.__version__})"
