import json

import pytest
import torch

import cfae
from cfae.models import build_model
from cfae.train import CheckpointError, DivergedError, NonFiniteLossError, TrainConfig, Trainer
from cfae.train.config import OptimizerSettings
from conftest import tiny_dataset


def make_trainer(tmp_path, epochs, name="vae", lr_schedule="constant", train=None, **model_options):
    """A small VAE trainer; `train` adds TrainConfig settings (they must be known before the Trainer is built)."""
    torch.manual_seed(7)
    model = build_model(name, latent_dim=2, hidden=(32, 16), **model_options)
    config = TrainConfig(epochs=epochs, batch_size=16, progress=False, seed=7, sync_every=3, lr_schedule=lr_schedule,
                         **(train or {}))
    return Trainer(model, config, tiny_dataset(80), tiny_dataset(32, seed=1), out_dir=tmp_path)


def test_loss_decreases_on_tiny_subset(tmp_path):
    history = make_trainer(tmp_path, epochs=25).fit()
    assert history[-1]["train/loss"] < 0.8 * history[0]["train/loss"]
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 26))
    assert {"train/recon", "train/kl", "eval/loss", "time_s", "lr/main"} <= set(json.loads(lines[0]))


def test_each_epoch_record_names_the_thread_count_it_ran_with(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # CPU results depend on the count, so the record must say which ran
    try:
        history = make_trainer(tmp_path, epochs=1).fit()
    finally:
        torch.set_num_threads(before)
    assert history[0]["threads"] == 3


def test_same_seed_same_numbers(tmp_path):
    a = make_trainer(tmp_path / "a", epochs=2).fit()
    b = make_trainer(tmp_path / "b", epochs=2).fit()
    assert [r["train/loss"] for r in a] == [r["train/loss"] for r in b]


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1, name="mmd-vae", kernel="imq")
    trainer.fit()
    loaded = cfae.load(tmp_path)
    model = trainer.model.eval()
    x = tiny_dataset(8).pixels(slice(None))
    assert type(loaded) is type(model) and loaded.config == model.config
    assert torch.equal(loaded.encode(x).mean, model.encode(x).mean)
    assert torch.equal(loaded.decode(torch.ones(3, 2)), model.decode(torch.ones(3, 2)))
    files = {p.name for p in (tmp_path / "checkpoints" / "epoch-0001").iterdir()}
    assert files == {"config.json", "model.safetensors", "optimizers.safetensors"}


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_resume_equals_uninterrupted_run(tmp_path, schedule):
    straight = make_trainer(tmp_path / "straight", epochs=4, lr_schedule=schedule).fit()
    first = make_trainer(tmp_path / "split", epochs=4, lr_schedule=schedule)
    train_epoch = first._train_epoch

    def killed_in_epoch_3(progress):
        if first.epoch == 2:
            raise KeyboardInterrupt
        return train_epoch(progress)

    first._train_epoch = killed_in_epoch_3
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    resumed = make_trainer(tmp_path / "split", epochs=4, lr_schedule=schedule)
    resumed.resume()
    assert resumed.epoch == 2
    history = resumed.fit()
    keys = ["train/loss", "train/kl", "eval/loss", "lr/main"]
    assert [[r[k] for k in keys] for r in history] == [[r[k] for k in keys] for r in straight]


def test_nan_guard_names_term_and_step_and_keeps_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, epochs=2)
    trainer.config.epochs = 1
    trainer.fit()
    good = cfae.load(tmp_path).state_dict()
    with torch.no_grad():
        trainer.model.decoder.net[0].weight.fill_(float("nan"))
    trainer.config.epochs = 2
    with pytest.raises(NonFiniteLossError, match=r"loss term 'loss' became nan at step 5 \(epoch 2\)"):
        trainer.fit()
    assert (tmp_path / "checkpoints" / "LATEST").read_text() == "epoch-0001"
    reloaded = cfae.load(tmp_path).state_dict()
    assert all(torch.equal(good[k], reloaded[k]) for k in good)


def test_divergence_guard_stops_a_finite_blow_up_and_keeps_the_checkpoint(tmp_path):
    from cfae.train.trainer import diverged

    assert diverged(1200.0, 100.0, 10) and not diverged(1100.0, 100.0, 10)  # threshold best + 10 |best| = 1100
    assert diverged(-40.0, -500.0, 0.5) and not diverged(-300.0, -500.0, 0.5)  # negative losses: -500 + 250
    assert not diverged(1e12, 100.0, None)
    trainer = make_trainer(tmp_path, epochs=1)
    trainer.config.divergence_factor = 10.0
    trainer.fit()
    with torch.no_grad():
        trainer.model.decoder.net[-1].bias.fill_(-1e4)  # every pixel's logit far off: huge, finite loss
    trainer.config.epochs = 2
    with pytest.raises(DivergedError, match=r"epoch 2: training loss .* past the best epoch's .* divergence_factor 10"):
        trainer.fit()
    assert (tmp_path / "checkpoints" / "LATEST").read_text() == "epoch-0001"
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1


def test_clip_gradient_norm_scales_all_gradients_together_to_the_bound():
    from cfae.train.optim import clip_gradient_norm

    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([a, b], lr=1.0)
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0])  # joint norm 5
    assert not clip_gradient_norm(optimizer, 10.0) and torch.equal(b.grad, torch.tensor([0.0, 4.0]))
    assert clip_gradient_norm(optimizer, 1.0)
    assert torch.allclose(torch.cat([a.grad, b.grad]), torch.tensor([0.6, 0.0, 0.0, 0.8]), atol=1e-6)


@pytest.mark.parametrize("clip, share", [(None, None), (1e-3, 1.0), (1e9, 0.0)])
def test_trainer_clips_every_step_and_logs_the_share_clipped(tmp_path, clip, share):
    trainer = make_trainer(tmp_path, epochs=1, train={"grad_clip_norm": clip,
                                                      "optimizers": {"main": OptimizerSettings(type="sgd", lr=0.1)}})
    before = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
    record = trainer.fit()[0]
    moved = (torch.cat([p.detach().flatten() for p in trainer.model.parameters()]) - before).norm().item()
    assert record.get("train/grad_clipped") == share
    if clip == 1e-3:  # 5 steps of SGD, each at most lr x clip long
        assert 0 < moved <= 5 * 0.1 * 1e-3 * (1 + 1e-4)
    else:
        assert moved > 0.01


def compiled_against_eager(tmp_path, mode: str, device: str, **model_options) -> tuple[list[dict], list[dict]]:
    import torch._inductor.config

    runs = []
    with torch._inductor.config.patch(fallback_random=True):  # eager RNG in compiled code: same noise
        for name, chosen in (("eager", "off"), ("compiled", mode)):
            runs.append(make_trainer(tmp_path / name, epochs=2, train={"device": device, "compile": chosen,
                                                                      "kl_warmup_epochs": 2},  # schedule read each step
                                     **model_options).fit())
    return runs[0], runs[1]


@pytest.mark.slow
@pytest.mark.parametrize("options", [{}, {"importance_samples": 3, "iw_gradient": "dreg"}], ids=["elbo", "iwae-dreg"])
def test_compiled_training_gives_the_eager_losses_on_cpu(tmp_path, options):
    # iwae-dreg: the importance-weighted terms run eagerly inside the compiled forward (their gradient hooks)
    eager, compiled = compiled_against_eager(tmp_path, "default", "cpu", **options)
    for a, b in zip(eager, compiled):
        assert b["train/loss"] == pytest.approx(a["train/loss"], rel=1e-5)
        assert b["eval/loss"] == pytest.approx(a["eval/loss"], rel=1e-5)
    assert cfae.load(tmp_path / "compiled").state_dict().keys() == cfae.load(tmp_path / "eager").state_dict().keys()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_training_gives_the_eager_losses(tmp_path):
    eager, graphed = compiled_against_eager(tmp_path, "reduce-overhead", "cuda")
    for a, b in zip(eager, graphed):
        assert b["train/loss"] == pytest.approx(a["train/loss"], rel=1e-3)  # TF32 / kernel choice differ on GPU
        assert b["eval/loss"] == pytest.approx(a["eval/loss"], rel=1e-3)


def test_corrupt_checkpoint_files_are_named(tmp_path):
    make_trainer(tmp_path, epochs=1).fit()
    ckpt = tmp_path / "checkpoints" / "epoch-0001"
    (ckpt / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="model.safetensors: corrupt"):
        cfae.load(tmp_path)
    (ckpt / "config.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="config.json: corrupt JSON"):
        cfae.load(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        cfae.load(tmp_path / "nowhere")


def test_checkpoints_keep_only_the_newest_two(tmp_path):
    make_trainer(tmp_path, epochs=3).fit()
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir())
    assert names == ["epoch-0002", "epoch-0003"]


def test_no_pickle_based_loading_in_source():
    from pathlib import Path

    src = Path(cfae.__file__).parent
    text = "\n".join(p.read_text() for p in src.rglob("*.py"))
    assert "torch.load(" not in text and "import pickle" not in text


@pytest.mark.parametrize("kind", ["adam", "adamw"])
def test_adam_is_fused_on_cpu_and_steps_like_the_foreach_loop(kind):
    from cfae.models.base import Network
    from cfae.train.optim import build_optimizers

    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(40, 30)), torch.nn.Parameter(torch.randn(30))]
    twins = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    start = weights[0].detach().clone()
    fused = build_optimizers({"main": Network(weights, optimizer=kind)}, TrainConfig(lr=1e-2))["main"]
    assert fused.param_groups[0]["fused"] is True
    loop = (torch.optim.Adam if kind == "adam" else torch.optim.AdamW)(twins, lr=1e-2, foreach=True)
    for step in range(1, 6):
        for params, opt in ((weights, fused), (twins, loop)):
            opt.zero_grad()
            ((params[0] * step - 1).sin().sum() + params[1].square().sum()).backward()
            opt.step()
    assert (weights[0].detach() - start).abs().mean() > 1e-2  # the weights moved (Adam steps ~ lr each)
    assert torch.allclose(weights[0], twins[0], atol=1e-6) and torch.allclose(weights[1], twins[1], atol=1e-6)


@pytest.mark.parametrize("name, options", [("vae", {"capacity_max": 25.0, "capacity_steps": 100, "capacity_gamma": 10.0}),
                                           ("lvae", {"layer_sizes": (4, 2), "layer_hidden": (32, 16)})])
def test_compiled_forward_reads_the_schedule_without_recompiling(name, options):
    """The step and KL weight live in buffers: one compiled graph serves every step, and it sees each new value."""
    import torch._dynamo.testing

    torch.manual_seed(0)
    model = build_model(name, input_shape=(1, 28, 28), **({"latent_dim": 2, "hidden": (32, 16)} if name == "vae" else {}),
                        **options).eval()
    counter = torch._dynamo.testing.CompileCounter()
    model.compile(backend=counter, dynamic=False)
    x = torch.rand(8, 1, 28, 28)
    for step in range(12):
        model.set_schedule(step * 10, kl_weight=min(1.0, step / 10))
        torch.manual_seed(1)
        terms = model(x).terms
    assert counter.frame_count == 1
    if name == "vae":  # step 110: capacity C = 25 (reached at 100); kl weight 1
        assert torch.allclose(terms["loss"], terms["recon"] + 10 * (terms["kl"] - 25.0).abs())
    model.set_schedule(30, kl_weight=0.25)
    terms = model(x).terms
    expected = terms["recon"] + (10 * (terms["kl"] - 7.5).abs() if name == "vae" else 0.25 * terms["kl"])
    assert torch.allclose(terms["loss"], expected) and counter.frame_count == 1
    assert terms["loss"].dtype == torch.float32  # the float32 buffers do not promote the loss


def test_eval_every_scores_some_epochs_and_the_last_and_leaves_training_alone(tmp_path):
    every_epoch = make_trainer(tmp_path / "each", epochs=5).fit()
    sparse = make_trainer(tmp_path / "sparse", epochs=5, train={"eval_every": 2}).fit()
    assert [r["epoch"] for r in sparse if "eval/loss" in r] == [2, 4, 5]
    assert [r["train/loss"] for r in sparse] == [r["train/loss"] for r in every_epoch]  # bit for bit
    assert [r["eval/loss"] for r in sparse if "eval/loss" in r] == [every_epoch[k - 1]["eval/loss"] for k in (2, 4, 5)]


def test_progress_into_a_log_file_writes_epoch_lines_only(capsys, monkeypatch):
    """Where stderr is not a terminal the bar is not drawn (it would repeat the last batch's losses,
    cut to 80 columns); the epoch lines still are, and a terminal gets the bar."""
    from cfae.train.progress import TrainingProgress

    for forces_a_terminal in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(forces_a_terminal, raising=False)
    with TrainingProgress(True, epochs=1, steps_per_epoch=2) as progress:
        progress.advance(2, {"batch_loss_term": 1.5})
        progress.end_epoch({"epoch": 1, "train/loss": 2.0, "eval/loss": 3.0, "time_s": 0.5})
    assert capsys.readouterr().err.strip() == "epoch 1: train/loss 2.0000  eval/loss 3.0000  (0.5s)"
    assert TrainingProgress(True, 1, 2).bar.disable
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich then takes stderr for a terminal
    assert not TrainingProgress(True, 1, 2).bar.disable and TrainingProgress(False, 1, 2).bar.disable
