"""The LoSoCs command line: classifier / regressor training and `cfae counterfactual stream`."""

import json

import pytest

from cfae.train.classifier import load_predictor
from conftest import scored_here
from test_cli import invoke, trained_run  # noqa: F401  (the fixture is shared)


@pytest.fixture
def classifier_dir(tmp_path, shared_data):
    out = tmp_path / "clf"
    result = invoke("train-classifier", "--out", out, "--data-root", shared_data, "--limit", 500, "--epochs", 1, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_train_classifier_records_accuracy_and_loads(classifier_dir):
    record = json.loads((classifier_dir / "predictor.json").read_text())
    assert record["kind"] == "classifier" and record["network"] == "mlp" and 0.1 < record["test_accuracy"] <= 1
    model, again = load_predictor(classifier_dir)
    assert again == record and hasattr(model, "logits")
    assert invoke("train-classifier", "--out", classifier_dir, "--limit", 10).exit_code == 1


def test_a_predictor_folder_in_use_is_refused_and_left_empty(tmp_path):
    from cfae.train.lock import run_lock

    out = tmp_path / "clf"
    with run_lock(out):  # as a training still running there holds it
        result = invoke("train-classifier", "--out", out, "--limit", 10, "--quiet")
    assert result.exit_code == 1 and "in use by another cfae run" in result.output
    assert not out.exists()


def test_train_regressor_on_morpho_labels(tmp_path, shared_data, trained_run):  # noqa: F811
    out = tmp_path / "reg"
    result = invoke("train-regressor", "--out", out, "--data-root", shared_data, "--limit", 300, "--epochs", 1, "--quiet")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "predictor.json").read_text())
    assert record["kind"] == "regressor" and record["target"] == "thickness" and 0 < record["test_mae"] < 3
    bad = invoke("train-regressor", "--out", tmp_path / "r2", "--data-root", shared_data, "--limit", 50, "--target", "weight")
    assert bad.exit_code == 1 and "valid choices" in bad.output and "thickness" in bad.output
    to_class = invoke("counterfactual", "stream", trained_run, "--model", out, "--to", 3, "--change", 1.0, "--out", tmp_path / "s")
    assert to_class.exit_code == 1 and "is a regressor of thickness: --to is for a classifier" in to_class.output
    tau = invoke("counterfactual", "stream", trained_run, "--model", out, "--change", 1.0, "--tau", 0.9, "--out", tmp_path / "s")
    assert tau.exit_code == 1 and "is a regressor of thickness: --tau is for a classifier" in tau.output


def test_counterfactual_stream_writes_strips_gifs_and_json(trained_run, classifier_dir, tmp_path):  # noqa: F811
    out = tmp_path / "streams"
    result = invoke("counterfactual", "stream", trained_run, "--model", classifier_dir, "--from", 4, "--to", 7,
                    "-n", 3, "--max-steps", 15, "--tau", 0.99, "--out", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "streams.json").read_text())
    assert len(summary["steps"]) == 3 and max(summary["steps"]) <= 15 and summary["to"] == 7
    assert summary["settings"]["tau"] == 0.99 and scored_here(summary)
    for i in range(3):
        assert (out / f"stream-{i:03d}.png").is_file() and (out / f"stream-{i:03d}.gif").is_file()
    again = invoke("counterfactual", "stream", trained_run, "--model", classifier_dir, "--to", 7, "--out", out)
    assert again.exit_code == 1 and "already holds files" in again.output
    missing = invoke("counterfactual", "stream", trained_run, "--model", classifier_dir, "--out", tmp_path / "x")
    assert missing.exit_code == 1 and "--to" in missing.output
    both = invoke("counterfactual", "stream", trained_run, "--model", classifier_dir, "--to", 3, "--change", 1.0,
                  "--out", tmp_path / "z")
    assert both.exit_code == 1 and "--target and --change are for a regressor" in both.output
    assert not (tmp_path / "z").exists()
    wrong = invoke("counterfactual", "stream", trained_run, "--model", classifier_dir, "--to", 3,
                   "--step-rule", "newton", "--out", tmp_path / "y")
    assert wrong.exit_code == 1 and "valid choices: adam, sgd, fixed" in wrong.output
    proto = invoke("counterfactual", "stream", trained_run, "--model", classifier_dir, "--from", 4, "--to", 7, "-n", 2,
                   "--max-steps", 5, "--plausibility", "prototype", "--plausibility-weight", 0.1, "--out", tmp_path / "p")
    assert proto.exit_code == 0, proto.output
    recorded = json.loads((tmp_path / "p" / "streams.json").read_text())
    assert recorded["settings"]["plausibility"] == "prototype" and recorded["prototype_k"] == 5
    unused = invoke("counterfactual", "stream", trained_run, "--model", classifier_dir, "--to", 7, "--prototype-k", 9,
                    "--out", tmp_path / "q")
    assert unused.exit_code == 1 and not (tmp_path / "q").exists()
    assert "--prototype-k does not apply to --plausibility none; it is read by --plausibility prototype" in unused.output
