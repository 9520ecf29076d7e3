"""`cfae compare`: runs side by side only where their protocols agree, with the code that scored them."""

import json

from typer.testing import CliRunner

from cfae.cli import app
from cfae.experiments.compare import comparison


def stamp(commit):
    return {"scored": "2026-12-07T00:00:00+00:00", "cfae": "0.1.0", "git": {"commit": commit, "dirty": False},
            "torch": "2.13.0+cpu", "processor": "AMD EPYC", "threads": 2, "device": "cpu"}


def metrics(test_examples, mse, kind="Bernoulli cross-entropy on grey levels (not a likelihood)", commit="a" * 40):
    return {"dataset": "mnist", "test_examples": test_examples, "train_examples": 60000, "likelihood_kind": kind,
            "neg_elbo": 100.0 + mse, "mse_per_pixel": mse, "active_units": 2, "scored_by": stamp(commit)}


def runs(tmp_path, files: dict[str, dict[str, dict]]):
    for run, records in files.items():
        (tmp_path / run).mkdir(parents=True)
        for name, record in records.items():
            (tmp_path / run / name).write_text(json.dumps(record))
    return [tmp_path / run for run in files]


def test_runs_share_a_table_only_where_their_protocols_agree(tmp_path):
    bound = {"what": "log-likelihood (binary pixels)", "dataset": "mnist-binary", "examples": 10000,
             "log_likelihood_bound": -90.5, "importance_samples": 5000, "scored_by": stamp("a" * 40)}
    text = comparison(runs(tmp_path, {
        "vae": {"metrics.json": metrics(10000, 0.035), "likelihood-iw5000.json": bound},
        "iwae": {"metrics.json": metrics(10000, 0.031), "likelihood-iw5000.json": {**bound, "log_likelihood_bound": -89.0},
                 "likelihood-iw100.json": {**bound, "importance_samples": 100, "log_likelihood_bound": -89.4}},
        "short": {"metrics.json": metrics(300, 0.050)},  # evaluated on the first 300 test images only
        "gauss": {"metrics.json": metrics(10000, 0.040, kind="log-density (Gaussian, continuous pixels)")}}))
    sections = text.split("\n## ")
    full = next(s for s in sections if s.startswith("metrics.json: dataset mnist, test_examples 10000,"))
    assert "| vae | 0.035 | 2 |" in full and "| iwae | 0.031 | 2 |" in full and "| gauss | 0.04 | 2 |" in full
    assert "| short |" not in full and "| gauss | 100 |" in full.split("log-density")[1]  # its own likelihood table
    assert "| gauss |" not in full.split("log-density")[0].split("nats per image")[1]
    short = next(s for s in sections if s.startswith("metrics.json: dataset mnist, test_examples 300,"))
    assert "| short | 0.05 | 2 |" in short and "| vae |" not in short
    k5000 = next(s for s in sections if "importance_samples 5000" in s)
    assert "| run | log_likelihood_bound |" in k5000 and "| vae | -90.5 |" in k5000 and "| iwae | -89 |" in k5000
    k100 = next(s for s in sections if "importance_samples 100" in s.split("\n")[0])
    assert "| iwae | -89.4 |" in k100 and "| vae |" not in k100
    assert "| vae | cfae 0.1.0, aaaaaaaaa |" in text and "different codes" not in text


def test_scores_of_different_codes_are_flagged(tmp_path):
    text = comparison(runs(tmp_path, {"old": {"metrics.json": {**metrics(10000, 0.03), "scored_by": None}},
                                      "new": {"metrics.json": metrics(10000, 0.03, commit="b" * 40)}}))
    assert "| old | not recorded |" in text and "| new | cfae 0.1.0, bbbbbbbbb |" in text
    assert "computed by 2 different codes" in text


def test_compare_names_a_run_it_cannot_read_in_one_line(tmp_path):
    good, empty, torn = runs(tmp_path, {"good": {"metrics.json": metrics(10000, 0.03)}, "empty": {},
                                         "torn": {"metrics.json": {}}})
    (torn / "metrics.json").write_text('{"mse_per_pixel": 0.')
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(good), str(empty)])
    assert result.exit_code == 1 and f"{empty}: no score files" in result.output and "cfae evaluate" in result.output
    result = runner.invoke(app, ["compare", str(good), str(torn)])
    assert result.exit_code == 1 and f"{torn / 'metrics.json'}: not valid JSON" in result.output
    result = runner.invoke(app, ["compare", str(good), str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "nowhere: no such run folder" in result.output
    (tmp_path / "b" / "good").mkdir(parents=True)
    (tmp_path / "b" / "good" / "metrics.json").write_text(json.dumps(metrics(10000, 0.02)))
    result = runner.invoke(app, ["compare", str(good), str(tmp_path / "b" / "good"), "--out", str(tmp_path / "c.md")])
    assert result.exit_code == 0 and f"| {good} | 0.03 |" in result.output  # two runs named alike: their paths
    assert (tmp_path / "c.md").read_text() == result.output
