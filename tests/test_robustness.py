"""Runs that cannot corrupt each other, and bad input that gets one clear line: each test here
failed before the fix it guards (Foundation v2, section 4)."""

import gzip
import inspect
import json
import math
import os
import struct

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cfae
from cfae.cli import app
from cfae.data import DataFileError, get_dataset, read_idx, write_idx
from cfae.jsonio import write_json
from cfae.models import build_model
from cfae.train import CheckpointError, NonFiniteLossError, TrainConfig, Trainer
from cfae.train.lock import RunFolderError, run_lock
from cfae.train.run import RunConfig, read_run_config, train_run
from conftest import tiny_dataset

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def root(tmp_path):
    """A data root holding a small MNIST-like npz (4 noisy templates)."""
    rng = np.random.default_rng(0)
    templates = rng.random((4, 28, 28)) > 0.6
    labels = np.arange(120) % 4
    x = (templates[labels] ^ (rng.random((120, 28, 28)) < 0.05)).astype(np.uint8) * 255
    folder = tmp_path / "data"
    folder.mkdir()
    np.savez(folder / "mnist.npz", x_train=x[:96], y_train=labels[:96], x_test=x[96:], y_test=labels[96:])
    return folder


def small_run(root, epochs=1, **train):
    return RunConfig(model="vae", dataset="mnist", data_root=str(root), model_options={"latent_dim": 2, "hidden": [16]},
                     train=TrainConfig(epochs=epochs, batch_size=32, progress=False, **train))


def test_an_experiment_refuses_a_run_trained_past_the_epochs_it_scores(tmp_path, root):
    from cfae.experiments.cached import trained_run

    trained_run(tmp_path / "run", small_run(root, epochs=2))
    assert trained_run(tmp_path / "run", small_run(root, epochs=2)) is not None  # finished: loaded, not retrained
    with pytest.raises(ValueError, match="the run is at epoch 2, past the 1 this experiment scores"):
        trained_run(tmp_path / "run", small_run(root, epochs=1))


# --- two runs, one folder ------------------------------------------------------------------------
def test_a_second_training_into_a_locked_folder_is_refused_and_writes_nothing(tmp_path, root):
    out = tmp_path / "run"
    with run_lock(out):
        with pytest.raises(RunFolderError, match=f"in use by another cfae run \\(pid {os.getpid()}\\)"):
            train_run(small_run(root), out)
    assert not (out / "run.json").exists() and not (out / "log.jsonl").exists()
    train_run(small_run(root), out)  # released: the folder is usable again
    assert (out / "run.json").exists()



def test_a_second_reproduction_into_a_busy_report_folder_is_refused(tmp_path):
    out = tmp_path / "report"
    with run_lock(out):  # as a reproduction still writing results.json holds it
        result = CliRunner().invoke(app, ["reproduce", "causalvae", "--preset", "test", "--out", str(out), "--quiet"])
    assert result.exit_code == 1 and f"in use by another cfae run (pid {os.getpid()})" in result.output
    assert not (out / "results.json").exists()


def test_a_lock_removes_the_folder_it_created_only_when_nothing_was_written(tmp_path):
    with run_lock(tmp_path / "empty"):
        pass
    assert not (tmp_path / "empty").exists()
    with run_lock(tmp_path / "used"):
        (tmp_path / "used" / "results.json").write_text("{}")
    assert (tmp_path / "used" / "results.json").exists()
    (tmp_path / "given").mkdir()
    with run_lock(tmp_path / "given"):
        pass
    assert (tmp_path / "given").is_dir()  # the user's folder stays


@pytest.mark.parametrize("args, message", [
    (["losocs", "--epochs", "5"], "--epochs does not apply to losocs; it is read by betavae-dsprites, counterfactual-ae"),
    (["betavae-dsprites", "--preset", "paper"], "--preset does not apply to betavae-dsprites; it is read by causalvae, "
                                                "consistency, ladder-vae"),
    (["ladder-vae", "-d", "fashion"], "--dataset does not apply to ladder-vae"),
    (["causalvae", "--seeds", "0,x"], "--seeds: '0,x' is not a comma-separated list of integers"),
    (["betavae-dsprites", "--betas", "1,four"], "--betas: '1,four' is not a comma-separated list of numbers"),
    (["ladder-vae", "--seeds", " "], "--seeds: no value given"),
    (["causalvae", "--preset", "huge"], "unknown preset 'huge'; valid choices: paper, cpu, test"),
])
def test_a_reproduction_refuses_options_it_would_ignore_or_misread_and_leaves_no_folder(tmp_path, args, message):
    out = tmp_path / "report"
    result = invoke("reproduce", *args, "--out", out, "--quiet")
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0, result.output
    assert message in result.output
    assert not out.exists()


def test_every_option_in_the_reproduce_readers_table_is_an_option_of_reproduce():
    # a misspelt name there would make that option count as read by every experiment
    from cfae.cli import ALL_EXPERIMENTS, REPRODUCE_READERS, reproduce

    assert set(REPRODUCE_READERS) <= set(inspect.signature(reproduce).parameters)
    assert all(set(readers) <= set(ALL_EXPERIMENTS) for readers in REPRODUCE_READERS.values())


# --- pixels that are not what they claim ---------------------------------------------------------
def test_float_images_in_unit_range_are_kept_and_others_refused_naming_the_file(tmp_path):
    x = np.random.default_rng(0).random((10, 28, 28)).astype(np.float32)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=np.zeros(10, int), x_test=x, y_test=np.zeros(10, int))
    data = get_dataset("mnist", "train", tmp_path)
    assert data.images.dtype == torch.float32 and data.pixels(slice(None)).mean().item() == pytest.approx(x.mean(), rel=1e-6)
    np.savez(tmp_path / "mnist.npz", x_train=x * 255, y_train=np.zeros(10, int), x_test=x, y_test=np.zeros(10, int))
    with pytest.raises(DataFileError, match=r"mnist.npz\): float pixels must lie in \[0, 1\]"):
        get_dataset("mnist", "train", tmp_path)


def test_idx_integers_above_255_are_refused_naming_the_file(tmp_path):
    folder = tmp_path / "mnist-idx"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", np.full((3, 28, 28), 300, dtype=np.int32))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte\): integer pixels must lie in 0..255, found 300..300"):
        get_dataset("mnist", "train", tmp_path)


# --- resume records what ran ---------------------------------------------------------------------
def test_resume_with_a_changed_lr_is_refused_unless_allowed_and_then_it_is_what_runs(tmp_path, root):
    out = tmp_path / "run"
    train_run(small_run(root, epochs=1), out)
    with pytest.raises(ValueError, match=r"train.lr: 0.001 -> 0.5.*--allow-changes"):
        train_run(small_run(root, epochs=2, lr=0.5), out, resume=True)
    _, history = train_run(small_run(root, epochs=2, lr=0.5), out, resume=True, allow_changes=True)
    assert history[-1]["lr/main"] == 0.5
    recorded = read_run_config(out)
    assert recorded.train.lr == 0.5
    assert recorded.changes == [{"from_epoch": 1, "changed": {"train.lr": [0.001, 0.5]}}]


def test_each_training_session_records_the_code_and_machine_it_ran_on(tmp_path, root, monkeypatch):
    from cfae.train.provenance import git_state

    out = tmp_path / "run"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    train_run(small_run(root, epochs=1), out)
    train_run(small_run(root, epochs=3), out, resume=True)
    train_run(small_run(root, epochs=3), out, resume=True)  # nothing left to train: no session
    sessions = [strict_json(line) for line in (out / "provenance.jsonl").read_text().splitlines()]
    assert [s["from_epoch"] for s in sessions] == [0, 1]
    first = sessions[0]
    assert first["torch"] == torch.__version__ and first["cfae"] == cfae.__version__
    assert first["threads"] == torch.get_num_threads() and first["device"] == "cpu" and first["world_size"] == 1
    assert first["environment"]["OMP_NUM_THREADS"] == "1" and first["processor"]
    assert first["git"] == git_state()  # this checkout's commit, or null for an installed copy


def test_resume_with_changed_model_options_names_the_mismatch(tmp_path, root):
    out = tmp_path / "run"
    train_run(small_run(root), out)
    changed = small_run(root, epochs=2)
    changed.model_options["latent_dim"] = 3
    with pytest.raises(ValueError, match="model_options.latent_dim: 2 -> 3"):
        train_run(changed, out, resume=True)
    with pytest.raises(CheckpointError, match="model.safetensors: weights do not fit"):
        train_run(changed, out, resume=True, allow_changes=True)


# --- the NaN guard covers evaluation; files are valid JSON --------------------------------------
def test_non_finite_evaluation_stops_before_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=2, hidden=(16,))
    trainer = Trainer(model, TrainConfig(epochs=2, batch_size=16, progress=False), tiny_dataset(32),
                      tiny_dataset(8), out_dir=tmp_path)
    trainer.config.epochs = 1
    trainer.fit()
    evaluate = trainer.evaluate
    trainer.evaluate = lambda data: {**evaluate(data), "kl": float("nan")}
    trainer.config.epochs = 2
    with pytest.raises(NonFiniteLossError, match="evaluation after epoch 2: term 'kl' is nan"):
        trainer.fit()
    assert (tmp_path / "checkpoints" / "LATEST").read_text() == "epoch-0001"
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1


def test_written_json_never_holds_bare_nan_or_infinity(tmp_path):
    write_json(tmp_path / "m.json", {"a": float("nan"), "b": [1.0, float("inf")], "c": torch.tensor(2.5)})
    assert strict_json((tmp_path / "m.json").read_text()) == {"a": None, "b": [1.0, None], "c": 2.5}


def test_written_json_round_trips_and_keeps_lists_of_numbers_on_one_line(tmp_path):
    data = {"curve": [0.5, 1, None, "x"], "matrix": [[1, 2], [3, 4]], "runs": [{"seed": 0}], 7: {}, "empty": []}
    text = write_json(tmp_path / "r.json", data).read_text()
    assert json.loads(text) == {"curve": [0.5, 1, None, "x"], "matrix": [[1, 2], [3, 4]], "runs": [{"seed": 0}],
                                "7": {}, "empty": []}  # JSON's own rule: a non-string key becomes its text
    lines = text.splitlines()
    assert '  "curve": [0.5, 1, null, "x"],' in lines and "    [3, 4]" in lines and '      "seed": 0' in lines


# --- crashes mid-write ---------------------------------------------------------------------------
def test_a_kill_during_the_first_checkpoint_leaves_a_restartable_run(tmp_path, root):
    out = tmp_path / "run"
    partial = out / "checkpoints" / ".epoch-0001-abc123"
    partial.mkdir(parents=True)
    (partial / "model.safetensors").write_bytes(b"half")
    (out / "run.json").write_text(small_run(root).model_dump_json())
    train_run(small_run(root), out)  # not "already holds a run"
    assert not partial.exists()  # leftovers removed
    assert (out / "checkpoints" / "LATEST").read_text() == "epoch-0001"
    partial.mkdir()
    with pytest.warns(UserWarning, match="no complete checkpoint yet"):
        empty = tmp_path / "other"
        (empty / "checkpoints" / ".epoch-0001-x").mkdir(parents=True)
        trainer = Trainer(build_model("vae", latent_dim=2, hidden=(16,)), TrainConfig(progress=False), tiny_dataset(8),
                          out_dir=empty)
        assert trainer.resume() is False


def test_a_torn_last_log_line_is_dropped_on_resume_and_a_bad_middle_line_is_named(tmp_path, root):
    out = tmp_path / "run"
    train_run(small_run(root, epochs=2), out)
    log = out / "log.jsonl"
    good = log.read_text()
    log.write_text(good + '{"epoch": 3, "train/lo')
    with pytest.warns(UserWarning, match="torn last line"):
        _, history = train_run(small_run(root, epochs=3), out, resume=True)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], "{oops", lines[1], lines[2]]) + "\n")
    with pytest.raises(CheckpointError, match=r"log.jsonl: line 2 is not valid JSON"):
        train_run(small_run(root, epochs=4), out, resume=True)


def test_a_corrupt_newest_checkpoint_falls_back_to_the_older_one(tmp_path, root):
    out = tmp_path / "run"
    train_run(small_run(root, epochs=2), out)
    (out / "checkpoints" / "epoch-0002" / "model.safetensors").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="resumed from .*epoch-0001"):
        _, history = train_run(small_run(root, epochs=3), out, resume=True)
    assert [r["epoch"] for r in history] == [1, 2, 3]


def test_extending_a_cosine_run_never_trains_at_zero_lr(tmp_path, root):
    out = tmp_path / "run"
    train_run(small_run(root, epochs=2, lr_schedule="cosine"), out)
    _, history = train_run(small_run(root, epochs=4, lr_schedule="cosine"), out, resume=True)
    lrs = [r["lr/main"] for r in history]
    assert lrs[:2] == pytest.approx([1e-3, 5e-4])  # the 2-epoch schedule that ran
    assert lrs[2:] == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in (2, 3)])


# --- options that make no network ----------------------------------------------------------------
def test_zero_width_networks_are_refused(tmp_path):
    with pytest.raises(ValueError, match="positive layer widths, got \\[0\\]"):
        build_model("vae", hidden=(0,))
    result = invoke("train", "vae", "--dataset", "shapes", "--out", tmp_path / "run", "-o", "hidden=[0]")
    assert result.exit_code == 1 and "positive layer widths" in result.output
    assert not (tmp_path / "run").exists()  # refused before the folder was made


# --- the IDX parser under fuzzing ----------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.booleans())
def test_idx_parser_raises_only_data_file_errors(tmp_path_factory, payload, gzipped):
    path = tmp_path_factory.mktemp("fuzz") / "f-idx3-ubyte"
    path.write_bytes(gzip.compress(payload)[: max(10, len(payload))] if gzipped else payload)
    try:
        read_idx(path)
    except DataFileError as err:
        assert str(path) in str(err)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4), st.binary(max_size=32))
@example(dims=[0, 55, 409499025, 409519103], body=b"")  # no values, but numpy cannot index that shape (found in CI)
def test_idx_headers_with_any_dimensions_raise_data_file_errors(tmp_path_factory, dims, body):
    path = tmp_path_factory.mktemp("fuzz") / "f-idx"
    path.write_bytes(bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + body)
    try:
        read_idx(path)
    except DataFileError as err:
        assert str(path) in str(err)


def test_idx_specific_failures_name_the_file(tmp_path):
    broken = tmp_path / "broken-idx.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"garbage that is not deflate")
    with pytest.raises(DataFileError, match="broken-idx.gz: corrupt gzip stream"):
        read_idx(broken)
    huge = tmp_path / "huge-idx"
    huge.write_bytes(bytes([0, 0, 0x0E, 4]) + struct.pack(">4I", *[2**32 - 1] * 4))
    with pytest.raises(DataFileError, match="huge-idx: truncated or oversized IDX payload"):
        read_idx(huge)


# --- one line naming the file, never a traceback -------------------------------------------------
def test_a_non_zip_npz_is_named(tmp_path):
    (tmp_path / "mnist.npz").write_text("this is not a zip archive")
    result = invoke("train", "vae", "--dataset", "mnist", "--data-root", tmp_path, "--out", tmp_path / "r")
    assert result.exit_code == 1 and "mnist.npz: not an npz (an npz is a zip archive; this file is not one, or is cut short)" in result.output
    assert "pickle" not in result.output
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 truncated zip")
    result = invoke("train", "vae", "--dataset", "mnist", "--data-root", tmp_path, "--out", tmp_path / "r")
    assert result.exit_code == 1 and "mnist.npz: not an npz" in result.output
    np.savez(tmp_path / "mnist.npz", images=np.zeros((2, 28, 28), np.uint8))  # an npz, but not MNIST's keys
    result = invoke("train", "vae", "--dataset", "mnist", "--data-root", tmp_path, "--out", tmp_path / "r")
    assert result.exit_code == 1 and "mnist.npz: not a Keras-style npz with x_train/y_train" in result.output


def test_a_text_file_named_png_is_named(tmp_path):
    folder = tmp_path / "mnist" / "train" / "3"
    folder.mkdir(parents=True)
    (folder / "a.png").write_text("not an image")
    with pytest.raises(DataFileError, match="a.png: not a readable PNG image"):
        get_dataset("mnist", "train", tmp_path)


def test_checkpoint_configs_with_missing_keys_or_another_latent_size_are_named(tmp_path, root):
    out = tmp_path / "run"
    train_run(small_run(root), out)
    config_file = out / "checkpoints" / "epoch-0001" / "config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({"model": config["model"]}))
    with pytest.raises(CheckpointError, match=r"config.json: missing keys \['optimizers', 'trainer'\]"):
        cfae.load(out)
    config["model"]["latent_dim"] = 5
    config_file.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"model.safetensors: weights do not fit the config.*\(16, 2\) vs \(16, 5\)"):
        cfae.load(out)
    config["model"]["latent_dim"] = "many"
    config_file.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config.json: invalid model config \(latent_dim: Input should be a valid "
                                              r"integer, unable to parse string as an integer \(given 'many'\)\)$"):
        cfae.load(out)


def test_a_run_file_that_is_not_json_or_not_a_run_is_one_line_naming_the_file(tmp_path, root):
    out = tmp_path / "run"
    train_run(small_run(root), out)
    run_file = out / "run.json"
    recorded = json.loads(run_file.read_text())
    run_file.write_text(run_file.read_text()[:40])
    result = invoke("evaluate", out)
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0, result.output
    assert f"{run_file}: invalid run config (Invalid JSON: EOF while parsing" in result.output
    assert "given" not in result.output  # the position of the fault, not the file's text
    run_file.write_text(json.dumps({**recorded, "train": {**recorded["train"], "epochs": 0}}))
    result = invoke("evaluate", out)
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0, result.output
    assert "invalid run config (train.epochs: Input should be greater than or equal to 1 (given 0))" in result.output


def test_optimiser_per_network_from_the_command_line(tmp_path, root):
    out = tmp_path / "run"
    result = invoke("train", "counterfactual-ae", "--dataset", "mnist", "--data-root", root, "--out", out, "--epochs", 1,
                    "--quiet", "-o", "hidden=[16]", "--optim", "shrb=sgd:0.01", "--optim", "encoder=:0.002")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "log.jsonl").read_text())
    assert record["lr/shrb"] == 0.01 and record["lr/encoder"] == 0.002 and record["lr/autoencoder"] == 1e-3
    assert read_run_config(out).train.optimizers["shrb"].type == "sgd"
    result = invoke("train", "vae", "--dataset", "mnist", "--out", out, "--optim", "main")
    assert result.exit_code == 1 and "NAME=TYPE[:LR]" in result.output
    result = invoke("train", "vae", "--dataset", "mnist", "--out", out, "--optim", "main=adagrad")
    assert result.exit_code == 1 and "'adam', 'adamw', 'rmsprop' or 'sgd'" in result.output


def test_a_bad_setting_is_one_line_naming_the_setting_and_the_value(tmp_path, root):
    result = invoke("train", "vae", "--dataset", "mnist", "--data-root", root, "--compile", "fast", "--out", tmp_path / "r")
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0
    assert "train.compile: Input should be 'off', 'default', 'reduce-overhead' or 'max-autotune' (given 'fast')" in result.output
    result = invoke("train", "vae", "--dataset", "mnist", "--data-root", root, "-o", "beta=-1", "--out", tmp_path / "r")
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0 and "beta:" in result.output
    result = invoke("train", "mmd-vae", "--dataset", "mnist", "--data-root", root, "-o", "importance_samples=5",
                    "--out", tmp_path / "r")  # an option of another model: named, with the ones this model has
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0
    assert "unknown mmd-vae option 'importance_samples'; valid choices: gaussian_std, hidden, input_shape, kernel," in result.output
    assert not (tmp_path / "r").exists()


def test_yaml_sections_of_the_wrong_type_are_named(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("dataset: mnist\ntrain: 3\n")
    result = invoke("train", "vae", "--config", cfg, "--out", tmp_path / "r")
    assert result.exit_code == 1 and "run.yaml: section 'train' must be a mapping" in result.output


def test_sample_zero_images_is_refused(tmp_path, root):
    out = tmp_path / "run"
    train_run(small_run(root), out)
    result = invoke("sample", out, "--n", 0)
    assert result.exit_code == 2 and "greater than or equal to 1" in result.output
    with pytest.raises(ValueError, match="must be positive"):
        cfae.load(out).sample(0)


def test_unwritable_or_file_blocked_output_folders_fail_before_training(tmp_path, root):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the run folder should be")
    with pytest.raises(RunFolderError, match="blocked: a file is in the way"):
        train_run(small_run(root), blocked)
    result = invoke("train", "vae", "--dataset", "mnist", "--data-root", root, "--out", blocked, "--quiet")
    assert result.exit_code == 1 and "a file is in the way" in result.output
    inner = tmp_path / "run"
    inner.mkdir()
    (inner / "checkpoints").write_text("a file")
    with pytest.raises(RunFolderError, match="checkpoints: a file is in the way"):
        train_run(small_run(root), inner)
    assert not (inner / "log.jsonl").exists()
    under_a_file = blocked / "run"  # a location no one can create, root included
    with pytest.raises(RunFolderError, match="run: cannot write the run folder there"):
        train_run(small_run(root), under_a_file)
    if os.geteuid() != 0:  # root ignores permission bits
        readonly = tmp_path / "readonly"
        readonly.mkdir()
        readonly.chmod(0o500)
        with pytest.raises(RunFolderError, match="cannot write the run folder there"):
            train_run(small_run(root), readonly / "run")


# --- bf16 autocast covers forward passes only ----------------------------------------------------
def _autocast_on() -> bool:
    return torch.is_autocast_enabled("cpu")


class _Probe(torch.autograd.Function):
    seen: dict = {}

    @staticmethod
    def forward(ctx, x):
        _Probe.seen["forward"] = _autocast_on()
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        _Probe.seen["backward"] = _autocast_on()
        return grad


def test_bf16_autocast_wraps_the_forward_pass_only():
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=2, hidden=(16,))
    model.encoder = torch.nn.Sequential(model.encoder, torch.nn.Identity())
    model.encoder[1].forward = _Probe.apply  # sees the encoder's output, which carries gradients
    trainer = Trainer(model, TrainConfig(epochs=1, batch_size=16, bf16=True, progress=False, device="cpu"),
                      tiny_dataset(16))
    trainer.optimizers["main"].register_step_pre_hook(lambda *a: _Probe.seen.__setitem__("step", _autocast_on()))
    trainer.fit()
    assert _Probe.seen == {"forward": True, "backward": False, "step": False}


# --- binarised data and the likelihood command ---------------------------------------------------
def test_binarised_train_split_is_redrawn_each_epoch_and_the_test_split_is_fixed(tmp_path):
    grey_levels = (np.random.default_rng(0).random((40, 28, 28)) * 255).astype(np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=grey_levels, y_train=np.zeros(40, int), x_test=grey_levels[:8],
             y_test=np.zeros(8, int))
    root = tmp_path
    train = get_dataset("mnist-binary", "train", root)
    grey = get_dataset("mnist", "train", root)
    first = train.images.clone()
    assert set(first.unique().tolist()) <= {0, 255}
    train.set_epoch(1)
    second = train.images.clone()
    train.set_epoch(0)
    assert torch.equal(train.images, first) and not torch.equal(first, second)
    p = grey.pixels(slice(None))
    assert ((first > 0).float().mean() - p.mean()).abs() < 0.02  # on-rate follows the grey levels
    assert torch.equal(get_dataset("mnist-binary", "test", root).images, get_dataset("mnist-binary", "test", root).images)


def test_evaluate_likelihood_names_what_it_measures(tmp_path, root):
    out = tmp_path / "run"
    config = small_run(root)
    config.dataset = "mnist-binary"
    train_run(config, out)
    result = invoke("evaluate", out, "--metrics", "likelihood", "--iw", 10)
    assert result.exit_code == 0, result.output
    saved = strict_json((out / "likelihood-iw10.json").read_text())
    assert saved["what"] == "log-likelihood (Bernoulli, binary data)" and saved["importance_samples"] == 10
    assert saved["log_likelihood_bound"] < 0 and saved["examples"] == 24
    assert invoke("evaluate", out, "--metrics", "likelihood", "--iw", 0).exit_code == 2
    metrics = invoke("evaluate", out)
    assert metrics.exit_code == 0 and "cross_entropy_floor" not in strict_json((out / "metrics.json").read_text())
