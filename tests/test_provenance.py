import json
import shutil
import subprocess

import pytest
import torch

from cfae.train.classifier import train_predictor
from cfae.train.provenance import SOURCE, code_label, git_state, processor, provenance
from conftest import tiny_dataset

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A git work tree holding a committed package pkg/ and an ignored folder .venv/."""
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.org")
    git(tmp_path, "config", "user.name", "t")
    git(tmp_path, "config", "commit.gpgsign", "false")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text(".venv/\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


@needs_git
def test_git_state_names_the_commit_and_sees_every_change_to_the_package(checkout):
    state = git_state.__wrapped__  # uncached: the tree changes between calls
    clean = state(checkout / "pkg")
    assert clean == {"commit": git(checkout, "rev-parse", "HEAD"), "dirty": False}
    (checkout / "pkg" / "new.py").write_text("y = 2\n")  # a new module, not yet committed
    assert state(checkout / "pkg") == {**clean, "dirty": True}
    (checkout / "pkg" / "new.py").unlink()
    (checkout / "pkg" / "__init__.py").write_text("x = 2\n")
    assert state(checkout / "pkg")["dirty"] is True


@needs_git
def test_an_installed_copy_has_no_git_state_even_inside_a_checkout(checkout, tmp_path_factory):
    installed = checkout / ".venv" / "site-packages" / "pkg"  # ignored by the checkout around it
    shutil.copytree(checkout / "pkg", installed)
    assert git_state.__wrapped__(installed) is None
    outside = tmp_path_factory.mktemp("wheel") / "pkg"
    shutil.copytree(checkout / "pkg", outside)
    assert git_state.__wrapped__(outside) is None


def test_provenance_is_json_and_names_the_machine():
    record = provenance()
    assert record["processor"] == processor() and record["processor"]
    assert record["device"] == "cpu" and record["cpu_count"] >= 1
    assert record["git"] == git_state(SOURCE)


def test_a_saved_predictor_records_what_trained_it():
    data = tiny_dataset(32)
    _, record = train_predictor("classifier", data, data, "mlp", epochs=1)
    assert record["provenance"]["torch"] == provenance()["torch"]
    assert record["provenance"]["git"] == git_state()


def test_a_report_names_what_trained_its_runs(tmp_path):
    from cfae.experiments.report import training_lines, save_markdown_report

    def session(commit, dirty, processor, threads=1):
        return json.dumps({"cfae": "0.1.0", "git": commit and {"commit": commit, "dirty": dirty}, "torch": "2.13.0+cpu",
                           "processor": processor, "threads": threads})

    runs = {"a": [session("a" * 40, False, "AMD EPYC"), session("a" * 40, False, "AMD EPYC")],  # trained, then resumed
            "b": [session("b" * 40, True, "Intel Xeon", 2)], "c": [session(None, None, "AMD EPYC")], "old": None}
    for name, sessions in runs.items():
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "run.json").write_text("{}")
        if sessions:
            (tmp_path / "runs" / name / "provenance.jsonl").write_text("\n".join(sessions) + "\n")
    lines = training_lines(tmp_path)
    assert "Run folders under this report: 4." in lines
    assert "| cfae 0.1.0, aaaaaaaaa | 2.13.0+cpu | AMD EPYC | 1 | 2 |" in lines
    assert "| cfae 0.1.0, bbbbbbbbb with changes | 2.13.0+cpu | Intel Xeon | 2 | 1 |" in lines
    assert "| cfae 0.1.0, an installed copy | 2.13.0+cpu | AMD EPYC | 1 | 1 |" in lines
    assert "Run folders trained before cfae recorded provenance (no provenance.jsonl): 1." in lines
    text = save_markdown_report(tmp_path, ["# title", "body"]).read_text()
    assert text.startswith("# title\nbody\n\n## What trained these runs")
    assert "|\n\nRun folders trained before cfae recorded provenance (no provenance.jsonl): 1.\n\nThis report" in text
    git = git_state()
    assert text.endswith(f"{'an installed copy' if git is None else git['commit'][:9]}"
                         f"{' with changes' if git and git['dirty'] else ''}, torch {provenance()['torch']}, on {processor()}.\n")
    assert training_lines(tmp_path / "runs" / "old") == [
        "## What trained these runs", "", "Run folders under this report: 1.", "",
        "Run folders trained before cfae recorded provenance (no provenance.jsonl): 1.", ""]
    assert training_lines(tmp_path / "runs" / "old" / "none") == []


def test_scores_carry_what_computed_them():
    from torch import nn

    from cfae.train.provenance import SCORED_BY, stamped, stamps_in, unstamped

    record = stamped({"mig": 0.25, SCORED_BY: {"scored": "earlier"}}, nn.Linear(2, 2))
    stamp = record[SCORED_BY]
    assert record["mig"] == 0.25 and set(record) == {"mig", SCORED_BY}
    assert stamp["git"] == git_state() and stamp["torch"] == provenance()["torch"] and stamp["processor"] == processor()
    assert stamp["device"] == "cpu" and stamp["threads"] >= 1 and stamp["scored"] != "earlier"  # replaced
    assert json.loads(json.dumps(record)) == record
    assert stamped({}, nn.Linear(2, 2, device="meta"))[SCORED_BY]["device"] == "meta"  # where the model scored sits
    results = {"a": {"x": 1, SCORED_BY: {"n": 1}}, "setup": {"runs": [{"y": 2, SCORED_BY: {"n": 2}}, {"z": 3}]},
               "b": {SCORED_BY: {"n": 3}, "inner": {SCORED_BY: {"n": 4}}}}
    assert stamps_in(results) == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    assert unstamped(results) == {"a": {"x": 1}, "setup": {"runs": [{"y": 2}, {"z": 3}]}, "b": {"inner": {}}}


def test_a_report_names_what_computed_its_scores(tmp_path):
    from cfae.experiments.report import save_scores, scoring_lines

    def stamp(commit, processor, threads=1):
        return {"scored": "2026-12-07T00:00:00+00:00", "cfae": "0.1.0", "git": {"commit": commit, "dirty": False},
                "torch": "2.13.0+cpu", "processor": processor, "threads": threads, "device": "cpu"}

    results = {"vae/seed-0": {"fid": 3.0, "scored_by": stamp("a" * 40, "AMD EPYC")},
               "vae/seed-1": {"fid": 4.0, "scored_by": stamp("a" * 40, "AMD EPYC")},
               "vae/seed-2": {"fid": 5.0, "scored_by": stamp("b" * 40, "Intel Xeon", 2)}, "setup": {"eval_size": 100}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    for name in ("run.json", "predictor.json", "checkpoints/epoch-0001/config.json"):  # settings, not scores
        (tmp_path / "runs" / "r" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "runs" / "r" / name).write_text("{}")
    (tmp_path / "runs" / "r" / "metrics-e1.json").write_text('{"mse": 0.1}')  # written before scores were stamped
    (tmp_path / "runs" / "r" / "torn.json").write_text('{"mse": 0.')
    assert scoring_lines(tmp_path) == [
        "## What computed these scores", "", "| code | torch | processor or GPU | threads | score records |",
        "|---|---|---|---|---|", "| cfae 0.1.0, aaaaaaaaa | 2.13.0+cpu | AMD EPYC | 1 | 2 |",
        "| cfae 0.1.0, bbbbbbbbb | 2.13.0+cpu | Intel Xeon | 2 | 1 |", "",
        "Score files computed before cfae recorded what computed them: 1 (runs/r/metrics-e1.json).", "",
        "Score files not valid JSON: 1 (runs/r/torn.json).", ""]
    written = save_scores(tmp_path / "runs" / "r" / "metrics-e1.json", {"mse": 0.1})
    assert json.loads((tmp_path / "runs" / "r" / "metrics-e1.json").read_text()) == written
    lines = scoring_lines(tmp_path)
    assert f"| {code_label(written['scored_by'])} | {provenance()['torch']} | {processor()} | {torch.get_num_threads()} | 1 |" in lines
    assert not any(line.startswith("Score files computed before") for line in lines)
    (tmp_path / "nothing").mkdir()
    assert scoring_lines(tmp_path / "nothing") == []
