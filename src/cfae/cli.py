"""The `cfae` command line: train, evaluate, sample, plot, datasets, models, demo."""

from __future__ import annotations

import json
from functools import wraps
from pathlib import Path
from typing import Any, Optional

import typer
import yaml
from pydantic import ValidationError

from cfae import jsonio
from cfae.registry import check_choices
from cfae.settings import validation_problems

app = typer.Typer(help="cfae: counterfactual autoencoders. Train, evaluate, sample and plot.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="markdown")


def _print_version(asked: bool) -> None:
    if asked:
        import torch

        import cfae

        typer.echo(f"cfae {cfae.__version__} (torch {torch.__version__})")
        raise typer.Exit()


@app.callback()
def _process_setup(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                                help="print cfae's and torch's versions and exit")) -> None:
    """Every command keeps freed tensor memory in the process (cfae.train.allocator) and flushes
    float32 denormals to zero (cfae.train.denormals)."""
    from cfae.train.allocator import keep_freed_memory
    from cfae.train.denormals import flush_denormals

    keep_freed_memory()
    flush_denormals()


def _friendly(func):
    """Turn the library's specific errors into one clear line and exit code 1."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        from cfae.data import DataFileError, MissingDataError
        from cfae.registry import UnknownNameError
        from cfae.train import CheckpointError, DivergedError, NonFiniteLossError

        try:
            return func(*args, **kwargs)
        except ValidationError as err:  # before ValueError, its base: one line, not pydantic's block
            typer.echo(f"error: invalid settings: {validation_problems(err)}", err=True)
            raise typer.Exit(1)
        except (UnknownNameError, MissingDataError, DataFileError, CheckpointError, NonFiniteLossError, DivergedError,
                FileExistsError, FileNotFoundError, ValueError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1)

    return wrapper


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """-o key=value pairs; values parsed as YAML scalars (numbers, booleans, lists)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"option {pair!r} is not of the form key=value")
        options[key.replace("-", "_")] = yaml.safe_load(value)
    return options


def _read_yaml(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: invalid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    for section in ("model_options", "train"):
        if section in data and not isinstance(data[section], dict):
            raise ValueError(f"{path}: section {section!r} must be a mapping of settings, "
                             f"got {type(data[section]).__name__} {data[section]!r}")
    return data


def _parse_optim(pairs: list[str]) -> dict[str, dict]:
    """--optim NAME=TYPE[:LR] (or NAME=:LR for the lr alone) -> {NAME: {type, lr}}."""
    chosen = {}
    for pair in pairs:
        name, sep, spec = pair.partition("=")
        kind, _, lr = spec.partition(":")
        if not sep or not name or not (kind or lr):
            raise ValueError(f"--optim {pair!r} is not of the form NAME=TYPE[:LR], e.g. discriminator=rmsprop:3e-5")
        try:
            chosen[name] = {**({"type": kind} if kind else {}), **({"lr": float(lr)} if lr else {})}
        except ValueError:
            raise ValueError(f"--optim {pair!r}: learning rate {lr!r} is not a number") from None
    return chosen


def _refuse_options_not_read(ctx: typer.Context, chosen: str, readers_of: dict[str, tuple[str, ...]],
                             everyone: tuple[str, ...], label: str = "") -> None:
    """ValueError naming the first option given on the command line that the chosen experiment (or
    metric group, ...) does not read; readers_of maps an option to its readers, default everyone."""
    for param in ctx.command.params:
        readers = readers_of.get(param.name, everyone)
        if chosen not in readers and _given(ctx, param.name):
            raise ValueError(f"{param.opts[0]} does not apply to {label}{chosen}; it is read by {label}{', '.join(readers)}")


def _given(ctx: typer.Context, name: str) -> bool:
    """True when the option was set on the command line (or through its environment variable)."""
    source = ctx.get_parameter_source(name)  # an enum of click's (typer vendors it): compared by name
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _numbers(option: str, text: str, kind: type = int, empty_ok: bool = False) -> tuple:
    """A comma-separated option's values; a ValueError naming the option for a bad or missing value."""
    what = "integers" if kind is int else "numbers"
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--{option}: {text!r} is not a comma-separated list of {what}") from None
    if not values and not empty_ok:
        raise ValueError(f"--{option}: no value given (a comma-separated list of {what})")
    return values


def _relaunch_with_torchrun(nproc: int) -> int:
    """Run this same `cfae train` command under torchrun with nproc processes on this machine."""
    import subprocess
    import sys

    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "cfae.cli", *args]
    return subprocess.run(command).returncode


@app.command()
@_friendly
def train(
    model: str = typer.Argument(..., help="model name (see `cfae models`)"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="dataset name (see `cfae datasets`)"),
    out: Path = typer.Option(..., "--out", help="run folder to write"),
    latent_dim: Optional[int] = typer.Option(None, help="latent dimensions"),
    network: Optional[str] = typer.Option(None, help="encoder/decoder family: mlp or conv"),
    epochs: Optional[int] = typer.Option(None),
    batch_size: Optional[int] = typer.Option(None),
    lr: Optional[float] = typer.Option(None),
    seed: Optional[int] = typer.Option(None),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda"),
    bf16: Optional[bool] = typer.Option(None, "--bf16/--no-bf16", help="bf16 autocast (CUDA; CPUs with AMX)"),
    compile_mode: Optional[str] = typer.Option(None, "--compile", help="torch.compile mode: off, default, reduce-overhead "
                                          "(CUDA graphs) or max-autotune"),
    kl_warmup_epochs: Optional[int] = typer.Option(None, help="KL weight 0 -> 1 over the first N epochs (VAEs, hvae, lvae)"),
    divergence_factor: Optional[float] = typer.Option(None, help="stop when an epoch's training loss exceeds the best "
                                                      "epoch's by F x |best| (kept: the last good checkpoint)"),
    grad_clip_norm: Optional[float] = typer.Option(None, help="scale each step's gradients down to this L2 norm when "
                                                   "larger (log: train/grad_clipped, the share of steps clipped)"),
    eval_every: Optional[int] = typer.Option(None, help="epochs between test-set evaluations (the last is always "
                                             "evaluated)"),
    limit: Optional[int] = typer.Option(None, help="use only the first N examples of each split"),
    classes: Optional[str] = typer.Option(None, help="train on these classes only, e.g. 4 or 4,7"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML run config; flags override it"),
    option: list[str] = typer.Option([], "--option", "-o", help="model option key=value, e.g. -o beta=4"),
    optim: list[str] = typer.Option([], "--optim", help="per-network optimiser NAME=TYPE[:LR], e.g. discriminator=rmsprop:3e-5"),
    data_root: Optional[str] = typer.Option(None, help="data folder (else $CFAE_DATA, else ~/.cache/cfae)"),
    resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
    allow_changes: bool = typer.Option(False, help="with --resume: continue with changed settings (recorded in run.json)"),
    nproc: int = typer.Option(1, min=1, help="processes on this machine (launches torchrun; gloo on CPU, NCCL on CUDA)"),
    quiet: bool = typer.Option(False, help="no progress bar"),
):
    """Train MODEL on a dataset into a run folder (checkpoints, log.jsonl, run.json).

    Several processes: `--nproc N`, or `torchrun --nproc_per_node N -m cfae.cli train ...` (also
    across nodes with torchrun's --nnodes/--rdzv options); --batch-size is the global batch."""
    from cfae.train.distributed import is_main_process, launched_by_torchrun
    from cfae.models import MODELS
    from cfae.train.run import RunConfig, read_run_config, train_run

    MODELS.get(model)  # an unknown name fails first, with the valid choices
    if nproc > 1 and not launched_by_torchrun():
        raise typer.Exit(_relaunch_with_torchrun(nproc))

    settings = read_run_config(out).model_dump() if resume else {}
    file_settings = _read_yaml(config)
    settings.update({k: v for k, v in file_settings.items() if k not in ("model_options", "train")})
    settings.setdefault("model_options", {}).update(file_settings.get("model_options", {}))
    settings.setdefault("train", {}).update(file_settings.get("train", {}))
    if resume and settings["model"] != model:
        raise ValueError(f"{out} holds a {settings['model']!r} run; cannot resume it as {model!r}")
    settings["model"] = model
    chosen = [int(c) for c in classes.split(",") if c.strip()] if classes else None
    for key, value in {"dataset": dataset, "limit": limit, "data_root": data_root, "classes": chosen}.items():
        if value is not None:
            settings[key] = value
    if "dataset" not in settings:
        raise ValueError("no dataset given: pass --dataset or set `dataset:` in --config")
    options = {"latent_dim": latent_dim, "network": network, **_parse_options(option)}
    settings["model_options"].update({k: v for k, v in options.items() if v is not None})
    flags = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "device": device, "bf16": bf16, "compile": compile_mode,
             "kl_warmup_epochs": kl_warmup_epochs, "divergence_factor": divergence_factor, "grad_clip_norm": grad_clip_norm,
             "eval_every": eval_every}
    settings["train"].update({k: v for k, v in flags.items() if v is not None})
    for name, chosen in _parse_optim(optim).items():
        settings["train"].setdefault("optimizers", {}).setdefault(name, {}).update(chosen)
    if quiet:
        settings["train"]["progress"] = False
    run = RunConfig.model_validate(settings)
    _, history = train_run(run, out, resume=resume, allow_changes=allow_changes)
    if is_main_process():
        typer.echo(jsonio.dumps(history[-1] if history else {}, indent=2))
        typer.echo(f"run written to {out}")


METRIC_GROUPS = ("basic", "disentanglement", "likelihood", "latent")
# The metric groups that read each `cfae evaluate` option (the run folder: all of them).
EVALUATE_READERS = {"limit": ("basic", "likelihood", "latent"), "fast": ("disentanglement",), "iw": ("likelihood",),
                    "classifier": ("latent",)}


@app.command()
@_friendly
def evaluate(
    ctx: typer.Context,
    run: Path = typer.Argument(..., help="run folder"),
    metrics: str = typer.Option("basic", help="metric group: basic, disentanglement, likelihood or latent (seed 000's "
                                "Gaussianity, hole rates and class separation; needs --classifier)"),
    limit: Optional[int] = typer.Option(None, help="evaluate on the first N examples of each split (default: the "
                                        "run's own --limit; the training split feeds kNN)"),
    fast: bool = typer.Option(False, help="disentanglement: a fiftieth of the default samples (smoke test)"),
    iw: int = typer.Option(5000, "--iw", min=1, max=100_000, help="likelihood: importance samples K"),
    classifier: Optional[Path] = typer.Option(None, help="latent: a class classifier folder (cfae train-classifier)"),
):
    """Test-set metrics of a trained run; printed and written to RUN/metrics.json (disentanglement.json,
    likelihood-iwK.json, latent.json)."""
    import cfae
    from cfae.experiments.report import evaluate_and_save
    from cfae.train.run import read_run_config

    check_choices("metric group", [metrics], METRIC_GROUPS)
    _refuse_options_not_read(ctx, metrics, EVALUATE_READERS, METRIC_GROUPS, label="--metrics ")
    if metrics == "latent" and classifier is None:
        raise ValueError("--metrics latent needs --classifier, a folder written by `cfae train-classifier`")
    config = read_run_config(run)
    if limit is not None:
        config.limit = limit
    model = cfae.load(run)
    if metrics == "disentanglement":
        from cfae.experiments.report import disentanglement_and_save

        result = disentanglement_and_save(model, config.dataset, run / "disentanglement.json", fast=fast,
                                          data_root=config.data_root)
    elif metrics == "latent":
        from cfae.experiments.report import latent_quality_and_save

        result = latent_quality_and_save(model, config.load_split("test"), config.load_split("train"), classifier,
                                         run / "latent.json")
    elif metrics == "likelihood":
        from cfae.experiments.report import likelihood_and_save

        result = likelihood_and_save(model, config.load_split("test"), iw, run / f"likelihood-iw{iw}.json")
    else:
        result = evaluate_and_save(model, config.load_split("test"), config.load_split("train"), run / "metrics.json")
    typer.echo(jsonio.dumps(result, indent=2))


@app.command()
@_friendly
def info(run: Path = typer.Argument(..., help="run folder")):
    """What a run folder holds: settings, epochs trained, the last epoch's losses, checkpoints, score
    files with the code that computed each, and each training session's code and machine (JSON)."""
    from cfae.train.run import run_summary

    typer.echo(jsonio.dumps(run_summary(run), indent=2))


@app.command()
@_friendly
def compare(
    runs: list[Path] = typer.Argument(..., help="run folders scored by `cfae evaluate`"),
    out: Optional[Path] = typer.Option(None, help="also write the comparison to this markdown file"),
):
    """The score files of several runs side by side (markdown): one table per score file and protocol
    (dataset, examples scored, kind of likelihood, K), and the code that computed each."""
    from cfae.experiments.compare import comparison

    text = comparison(runs)
    if out is not None:
        jsonio.write_text_atomic(out, text)
    typer.echo(text, nl=False)


@app.command()
@_friendly
def sample(
    run: Path = typer.Argument(..., help="run folder"),
    n: int = typer.Option(64, min=1, help="number of samples"),
    seed: int = typer.Option(0),
    out: Optional[Path] = typer.Option(None, help="PNG path (default RUN/samples.png)"),
):
    """Decode draws from the model's prior into a PNG grid."""
    import cfae
    from cfae.viz.figures import prior_samples

    path = prior_samples(cfae.load(run), out or run / "samples.png", n=n, seed=seed)
    typer.echo(f"samples written to {path}")


@app.command()
@_friendly
def plot(run: Path = typer.Argument(..., help="run folder")):
    """Latent scatter, manifold, samples, reconstructions, traversals and loss curves into RUN/figures."""
    import cfae
    from cfae.experiments.report import run_figures
    from cfae.train.run import read_run_config
    from cfae.viz.figures import loss_curves

    config = read_run_config(run)
    out = run / "figures"
    paths = run_figures(cfae.load(run), config.model, config.load_split("test"), out)
    log = run / "log.jsonl"
    if log.exists():
        history = [json.loads(line) for line in log.read_text().splitlines()]
        paths["loss curves"] = loss_curves({config.model: history}, out / "loss_curves.png", key="loss")
    for label, path in paths.items():
        typer.echo(f"{label}: {path}")


def _predictor_command(kind: str, dataset: str, target: str, out: Path, network: str, epochs: int, seed: int,
                       lr: float, batch_size: int, limit: Optional[int], data_root: Optional[str], quiet: bool) -> None:
    from cfae.data import get_dataset
    from cfae.train.classifier import RECORD, save_predictor, train_predictor
    from cfae.train.lock import run_lock

    with run_lock(out):  # a second training into the same folder is refused while this one runs
        if (out / RECORD).exists():
            raise FileExistsError(f"{out} already holds a predictor; choose another --out")
        train_data, test_data = (get_dataset(dataset, split, data_root, limit) for split in ("train", "test"))
        model, record = train_predictor(kind, train_data, test_data, network, target, epochs, seed, batch_size, lr,
                                        progress=not quiet)
        save_predictor(out, model, record)
    typer.echo(jsonio.dumps(record, indent=2))
    typer.echo(f"{kind} written to {out}")


@app.command("train-classifier")
@_friendly
def train_classifier(
    out: Path = typer.Option(..., "--out", help="folder for predictor.safetensors + predictor.json"),
    dataset: str = typer.Option("mnist", "--dataset", "-d"),
    label: str = typer.Option("label", help="the class label to predict"),
    network: str = typer.Option("mlp", help="mlp (fully connected, as in seed 002) or conv"),
    epochs: int = typer.Option(5, min=1),
    seed: int = typer.Option(0),
    lr: float = typer.Option(1e-3),
    batch_size: int = typer.Option(128, min=1),
    limit: Optional[int] = typer.Option(None, help="use only the first N examples of each split"),
    data_root: Optional[str] = typer.Option(None),
    quiet: bool = typer.Option(False, help="no progress bar"),
):
    """Train an image classifier (logits(x)); records its test accuracy."""
    _predictor_command("classifier", dataset, label, out, network, epochs, seed, lr, batch_size, limit, data_root, quiet)


@app.command("train-regressor")
@_friendly
def train_regressor(
    out: Path = typer.Option(..., "--out", help="folder for predictor.safetensors + predictor.json"),
    dataset: str = typer.Option("mnist-morpho", "--dataset", "-d"),
    target: str = typer.Option("thickness", help="the float label to predict (mnist-morpho: thickness, slant, ...)"),
    network: str = typer.Option("conv", help="conv or mlp"),
    epochs: int = typer.Option(5, min=1),
    seed: int = typer.Option(0),
    lr: float = typer.Option(1e-3),
    batch_size: int = typer.Option(128, min=1),
    limit: Optional[int] = typer.Option(None, help="use only the first N examples of each split"),
    data_root: Optional[str] = typer.Option(None),
    quiet: bool = typer.Option(False, help="no progress bar"),
):
    """Train an image regressor (predict(x)); records its test mean absolute error."""
    _predictor_command("regressor", dataset, target, out, network, epochs, seed, lr, batch_size, limit, data_root, quiet)


counterfactual_app = typer.Typer(help="Counterfactuals from a trained run.", no_args_is_help=True)
app.add_typer(counterfactual_app, name="counterfactual")


@counterfactual_app.command("stream")
@_friendly
def counterfactual_stream(
    ctx: typer.Context,
    run: Path = typer.Argument(..., help="run folder of the autoencoder"),
    model: Path = typer.Option(..., "--model", help="classifier or regressor folder (cfae train-classifier/-regressor)"),
    from_class: Optional[int] = typer.Option(None, "--from", help="start from test images of this class"),
    to: Optional[int] = typer.Option(None, "--to", help="classifier: the target class"),
    target: Optional[float] = typer.Option(None, help="regressor: the output value to reach"),
    change: Optional[float] = typer.Option(None, help="regressor: the change of output to reach, e.g. 1.0 or -1.0"),
    n: int = typer.Option(16, "-n", min=1, help="number of streams (run as one batch)"),
    out: Optional[Path] = typer.Option(None, help="folder to write (default RUN/streams/FROM-to-TO)"),
    step_rule: str = typer.Option("adam", help="adam, sgd or fixed (latent steps of length --lr)"),
    lr: float = typer.Option(0.05, help="learning rate, or step length with --step-rule fixed"),
    max_steps: int = typer.Option(500, min=1),
    tau: Optional[float] = typer.Option(None, help="classifier: stop when softmax(target) > tau (default 0.999)"),
    proximity: float = typer.Option(0.0, help="weight of ||D(z) - x||_1"),
    plausibility: str = typer.Option("none", help="none, recon (||D(E(D(z))) - D(z)||^2), elbo (-ELBO of D(z)) or "
                                     "prototype (||E(D(z)) - proto||^2, proto: the mean of the target class's "
                                     "--prototype-k training codes nearest the start)"),
    plausibility_weight: float = typer.Option(0.0),
    prototype_k: int = typer.Option(5, min=1, help="prototype: how many nearest codes of the target class"),
    seed: int = typer.Option(0, help="which test images are drawn"),
    device: str = typer.Option("cpu"),
):
    """Streams of counterfactuals by latent optimisation (LoSoCs), one PNG strip and GIF per stream."""
    from cfae.counterfactual.streams import PLAUSIBILITY_TERMS, StreamSettings
    from cfae.experiments.stream_job import write_streams

    settings = StreamSettings(step_rule=step_rule, lr=lr, max_steps=max_steps, proximity=proximity,
                              plausibility=plausibility, plausibility_weight=plausibility_weight,
                              **({} if tau is None else {"tau": tau}))  # an unknown term is named first
    _refuse_options_not_read(ctx, plausibility, {"prototype_k": ("prototype",)}, PLAUSIBILITY_TERMS, label="--plausibility ")
    goal = to if to is not None else f"change{change:+g}" if change is not None else f"value{target:g}" if target is not None else "unset"
    folder = out or run / "streams" / f"{'any' if from_class is None else from_class}-to-{goal}"
    write_streams(run, model, folder, n, from_class, to, target, change, settings, seed, device, prototype_k,
                  tau_given=tau is not None, say=typer.echo)


@counterfactual_app.command("flip")
@_friendly
def counterfactual_flip(
    run: Path = typer.Argument(..., help="run folder of a model trained on an attribute dataset"),
    attribute: list[str] = typer.Option([], "--attribute", "-a", help="attribute to flip (repeat; default: all)"),
    value: Optional[int] = typer.Option(None, min=0, max=1, help="set the attribute to 0 or 1 instead of flipping it"),
    n: int = typer.Option(8, "-n", min=1, help="number of test images (columns)"),
    out: Optional[Path] = typer.Option(None, help="PNG to write (default RUN/flips.png)"),
    seed: int = typer.Option(0, help="which test images are drawn"),
):
    """Seed 001 Figure 7: inputs, reconstructions, then one row per flipped attribute. Models with
    attribute latents flip their bit; others move along the mean difference of their latents."""
    from cfae.experiments.flip_job import write_flip_grid

    write_flip_grid(run, attribute, n, out or run / "flips.png", value, seed, say=typer.echo)


@counterfactual_app.command("traverse")
@_friendly
def counterfactual_traverse(
    run: Path = typer.Argument(..., help="run folder"),
    dim: list[int] = typer.Option([], "--dim", "-d", help="latent dimension to sweep (repeat; default: every one)"),
    steps: int = typer.Option(9, min=2, help="values per dimension (columns)"),
    span: float = typer.Option(2.5, help="prior range: -span..span (Bernoulli bits: 0..1)"),
    value_range: str = typer.Option("auto", "--range", help="prior, data (1-99% of training codes) or auto "
                                    "(data for models without a prior)"),
    n: int = typer.Option(4, "-n", min=1, help="number of test images (rows per dimension)"),
    out: Optional[Path] = typer.Option(None, help="PNG to write (default RUN/traversals.png)"),
    seed: int = typer.Option(0, help="which test images are drawn"),
):
    """do(z_d = v) on test images' codes, v swept over a range: one block of rows per dimension."""
    from cfae.experiments.traverse_job import write_traversals

    write_traversals(run, dim, n, steps, span, value_range, out or run / "traversals.png", seed, say=typer.echo)


@counterfactual_app.command("interpolate")
@_friendly
def counterfactual_interpolate(
    run: Path = typer.Argument(..., help="run folder"),
    n: int = typer.Option(8, "-n", min=1, help="pairs of test images (rows)"),
    steps: int = typer.Option(10, min=2, help="decoded codes per path, both ends included"),
    path: str = typer.Option("linear", help="linear or slerp (spherical, keeps the codes' norm)"),
    from_class: Optional[int] = typer.Option(None, help="class of the start images (default: any)"),
    to_class: Optional[int] = typer.Option(None, help="class of the end images (default: any)"),
    classifier: Optional[Path] = typer.Option(None, help="classifier folder: score each path's frames by class"),
    out: Optional[Path] = typer.Option(None, help="PNG to write (default RUN/interpolations-PATH.png; "
                                       "its JSON record beside it)"),
    seed: int = typer.Option(0, help="which test images are drawn"),
):
    """Seed 002 Figure 1: decoded codes on the path from one test image's code to another's, a row a
    pair; with --classifier, how many frames fall in neither end's class and where the class switches."""
    from cfae.experiments.interpolate_job import write_interpolations

    write_interpolations(run, n, steps, path, from_class, to_class, classifier, out or run / f"interpolations-{path}.png",
                         seed, say=typer.echo)


@counterfactual_app.command("intervene")
@_friendly
def counterfactual_intervene(
    run: Path = typer.Argument(..., help="run folder of a model trained on pendulum or morpho-scm"),
    concept: Optional[str] = typer.Option(None, help="pendulum: pendulum_angle, light_angle, shadow_length or "
                                          "shadow_position; morpho-scm: thickness or intensity"),
    value: Optional[float] = typer.Option(None, help="the concept's new value, in its label units"),
    n: int = typer.Option(8, "-n", min=1, help="test scenes for the do(concept = value) grid"),
    regressor: Optional[Path] = typer.Option(None, help="concept regressor folder (re-estimates the concepts)"),
    out: Optional[Path] = typer.Option(None, help="folder to write (default RUN/intervene[-CONCEPT=VALUE])"),
    seed: int = typer.Option(0, help="which test scenes are drawn"),
):
    """Seed 004 Figure 3 (one row per concept across its range, the original at the bottom) beside
    the true counterfactuals of the data's mechanism; with --concept and --value, that intervention
    on n scenes scored against the true image."""
    from cfae.experiments.concept_job import write_intervention

    folder = out or run / (f"intervene-{concept}={value:g}" if concept is not None and value is not None else "intervene")
    write_intervention(run, concept, value, n, folder, regressor, seed, say=typer.echo)


def echo_table(descriptions: dict[str, str]) -> None:
    """One line a name, the descriptions aligned after the longest name."""
    width = max(map(len, descriptions), default=0)
    for name, help_text in descriptions.items():
        typer.echo(f"{name:{width}s}  {help_text}")


@app.command()
def datasets():
    """List the datasets cfae can load."""
    from cfae.data import DATASETS

    echo_table(DATASETS.describe())


@app.command()
def models():
    """List the models cfae can train."""
    from cfae.models import MODELS

    echo_table(MODELS.describe())


@app.command("merge-results")
@_friendly
def merge_results(
    target: Path = typer.Argument(..., help="reproduction folder whose results.json receives the runs"),
    shards: list[Path] = typer.Argument(..., help="reproduction folders run beside it (other seeds, families, layers)"),
    replace: bool = typer.Option(False, help="let a shard's scores replace the target's for the same run"),
):
    """Merge the results.json of side-by-side reproductions into TARGET; then report there with --report-only."""
    from cfae.experiments.shards import merge_results as merge

    added = merge(target, shards, replace)
    typer.echo(f"{len(added)} run(s) added to {target / 'results.json'}")


# The experiments that read each `cfae reproduce` option; --out, --data-root and --quiet are read by all.
# An option given on the command line to an experiment that does not read it is refused, so that a
# report never seems to have run with a setting it ignored.
ALL_EXPERIMENTS = ("betavae-dsprites", "causalvae", "cdvae-gan", "consistency", "counterfactual-ae", "ladder-vae", "losocs")
REPRODUCE_READERS = {
    "dataset": ("causalvae", "cdvae-gan", "consistency", "counterfactual-ae"),
    "seeds": ("betavae-dsprites", "causalvae", "cdvae-gan", "consistency", "counterfactual-ae", "ladder-vae", "losocs"),
    "epochs": ("betavae-dsprites", "counterfactual-ae"),
    "latent_dims": ("consistency", "counterfactual-ae"),
    "network": ("betavae-dsprites", "counterfactual-ae"),
    "limit": ("betavae-dsprites", "cdvae-gan", "consistency", "counterfactual-ae", "losocs"),
    **dict.fromkeys(("betas", "tc_betas", "factor_gammas", "sweep_betas", "sweep_latent_dims", "fast", "mnist_epochs", "baselines"),
                    ("betavae-dsprites",)),
    "rescore_knn": ("counterfactual-ae",),
    **dict.fromkeys(("vae_epochs", "streams", "cohort", "siamese_streams", "regression", "variants", "detail_variants"),
                    ("losocs",)),
    **dict.fromkeys(("gan_epochs", "eval_size", "gan_latent_dim", "models", "inception"), ("cdvae-gan",)),
    "preset": ("causalvae", "consistency", "ladder-vae"),
    "causal_models": ("causalvae",),
    **dict.fromkeys(("families", "model_variants", "unit_dim"), ("consistency",)),
    **dict.fromkeys(("run_epochs", "report_only"), ("causalvae", "consistency", "ladder-vae")),
    **dict.fromkeys(("layers", "ladder_variants"), ("ladder-vae",)),
    "rescore": ("consistency", "counterfactual-ae"),
}


@app.command()
@_friendly
def reproduce(
    ctx: typer.Context,
    experiment: str = typer.Argument(..., help="experiment name: counterfactual-ae, betavae-dsprites, losocs, cdvae-gan, "
                                     "consistency, ladder-vae or causalvae"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="default mnist; causalvae: pendulum (or morpho-scm)"),
    out: Path = typer.Option(Path("reports/reproduce"), help="report folder (runs are kept under it)"),
    seeds: str = typer.Option("0,1,2", help="comma-separated seeds"),
    epochs: str = typer.Option("20,50", help="comma-separated epoch counts to evaluate at"),
    latent_dims: str = typer.Option("", help="comma-separated latent sizes, e.g. 2,16 (default: 2; consistency: the preset's)"),
    network: str = typer.Option("mlp", help="encoder/decoder family shared by all models"),
    limit: Optional[int] = typer.Option(None, help="use only the first N examples of each split"),
    data_root: Optional[str] = typer.Option(None),
    betas: str = typer.Option("1,4", help="betavae-dsprites: betas of the main table"),
    tc_betas: str = typer.Option("", help="betavae-dsprites: beta-TCVAE rows beside them, with these weights on "
                                 "the total correlation (none by default)"),
    factor_gammas: str = typer.Option("", help="betavae-dsprites: FactorVAE rows beside them, with these weights "
                                      "gamma on the total correlation (none by default)"),
    sweep_betas: str = typer.Option("1,2,4,8,16", help="betavae-dsprites: betas of the normalised-beta study"),
    sweep_latent_dims: str = typer.Option("5,10", help="betavae-dsprites: latent sizes of that study"),
    fast: bool = typer.Option(False, help="betavae-dsprites: a fiftieth of the metric samples (smoke test)"),
    mnist_epochs: int = typer.Option(20, help="betavae-dsprites: epochs of the MNIST VAE / beta-VAE runs (0: none)"),
    baselines: bool = typer.Option(True, help="betavae-dsprites: score the non-learned baselines (they do not "
                                   "depend on --epochs)"),
    rescore_knn: bool = typer.Option(False, help="counterfactual-ae: recompute kNN accuracy from the latest checkpoints"),
    vae_epochs: int = typer.Option(12, help="losocs: epochs of the 16-D convolutional VAE"),
    streams: int = typer.Option(1000, help="losocs: random -> random streams of Table 1"),
    cohort: int = typer.Option(500, help="losocs: streams per cohort of Table 2"),
    siamese_streams: int = typer.Option(5000, help="losocs: streams from 4-digits for the Siamese test (Table 3)"),
    regression: int = typer.Option(500, help="losocs: streams per thickness change"),
    variants: str = typer.Option("plain,proximity,plausible-recon,plausible-elbo", help="losocs: stream variants"),
    detail_variants: str = typer.Option("plain,plausible-recon", help="losocs: variants also run for Tables 2 and 3"),
    gan_epochs: Optional[int] = typer.Option(None, help="cdvae-gan: training epochs (default: the dataset's preset)"),
    eval_size: int = typer.Option(1000, help="cdvae-gan: test images scored"),
    gan_latent_dim: Optional[int] = typer.Option(None, help="cdvae-gan: Gaussian feature size (default: the preset's)"),
    models: str = typer.Option("cdvae,vae-gan,cdvae-gan", help="cdvae-gan: models to compare"),
    inception: Optional[Path] = typer.Option(None, help="cdvae-gan: Inception-v3 weights (safetensors) for FID; "
                                             "default: a cfae domain classifier"),
    preset: str = typer.Option("cpu", help="consistency: cpu (depth 3, 5,000 images, 6 epochs) or seed (the seed's "
                               "Appendix); ladder-vae: cpu (10 epochs, K = 100) or paper (2,000 epochs, K = 5000); "
                               "causalvae: cpu (6 epochs, small conv nets) or paper (100 epochs, the reference's MLPs)"),
    causal_models: str = typer.Option("CausalVAE,CausalVAE-refinit,CausalVAE-unsup,beta-VAE,VAE,LadderVAE",
                                      help="causalvae: models to compare"),
    families: str = typer.Option("ae,vae,sae,avae", help="consistency: model families (avae: plain only)"),
    model_variants: str = typer.Option("plain,X,XC-I,XC-E", help="consistency: plain, X, XC-I, XC-E (the seed's); "
                                      "Xr, XCr-I, XCr-E (XBlock with residual mechanisms)"),
    unit_dim: int = typer.Option(1, help="consistency: dimensions of each XBlock cause unit (4 with latent 6: the "
                                 "seed's S4; X variants only)"),
    run_epochs: Optional[int] = typer.Option(None, help="consistency, ladder-vae, causalvae: training epochs (default: the preset's)"),
    report_only: bool = typer.Option(False, help="consistency, ladder-vae, causalvae: write the report from results.json, train nothing"),
    layers: str = typer.Option("1,2,3,4,5", help="ladder-vae: numbers of stochastic layers (64-32-16-8-4)"),
    ladder_variants: str = typer.Option("VAE,VAE+BN,VAE+BN+WU,LVAE+BN+WU",
                                        help="ladder-vae: table columns (also LVAE+BN+WU+IW10: the IWAE bound, "
                                        "K = 10; LVAE+WU+IW10, LVAE+WU+IW10+DReG, LVAE+WU+IW10+DReG-unshared: "
                                        "without batch norm, under each of the bound's gradients)"),
    rescore: bool = typer.Option(False, help="consistency, counterfactual-ae: score the runs already trained again "
                                 "from their (latest) checkpoints (after a metric changed), train nothing"),
    quiet: bool = typer.Option(False, help="no progress bar"),
):
    """Reproduce a seed experiment: train, measure and write report.md with figures.

    counterfactual-ae uses --dataset, --latent-dims and every --epochs value; betavae-dsprites
    trains on the generated shapes for the largest --epochs value.
    """
    check_choices("experiment", [experiment], ALL_EXPERIMENTS)
    _refuse_options_not_read(ctx, experiment, REPRODUCE_READERS, ALL_EXPERIMENTS)
    if experiment == "counterfactual-ae" and (rescore_knn or rescore):  # it scores the runs already in OUT, as they are
        for param in ctx.command.params:
            if param.name in ("seeds", "epochs", "latent_dims", "network") and _given(ctx, param.name):
                raise ValueError(f"{param.opts[0]} does not apply to counterfactual-ae with --rescore or "
                                 "--rescore-knn: they score again every run already in --out")
    dataset = dataset or ("pendulum" if experiment == "causalvae" else "mnist")
    names = lambda text: tuple(v.strip() for v in text.split(",") if v.strip())  # noqa: E731
    seed_list, latent_list = _numbers("seeds", seeds), _numbers("latent-dims", latent_dims, empty_ok=True)
    from cfae.train.lock import run_lock

    with run_lock(Path(out)):  # one reproduction per report folder: results.json is rewritten as runs finish
        if experiment == "counterfactual-ae" and (rescore_knn or rescore):
            from cfae.experiments import counterfactual_ae

            again = counterfactual_ae.rescore_knn if rescore_knn else counterfactual_ae.rescore
            again(dataset, out, data_root=data_root, limit=limit, say=typer.echo)
        elif experiment == "cdvae-gan":
            from cfae.experiments.cdvae_gan import reproduce as reproduce_cdvae_gan

            reproduce_cdvae_gan(dataset, out, seeds=seed_list, epochs=gan_epochs, limit=limit, latent_dim=gan_latent_dim,
                                eval_size=eval_size,
                                models=names(models), data_root=data_root,
                                inception=inception, progress=not quiet, say=typer.echo)
        elif experiment == "consistency":
            from cfae.experiments.consistency import reproduce as reproduce_consistency

            reproduce_consistency(out, dataset=dataset, preset_name=preset, seeds=seed_list, latent_dims=latent_list or None,
                                  families=names(families), variants=names(model_variants), epochs=run_epochs, limit=limit,
                                  data_root=data_root, progress=not quiet, report_only=report_only, rescore=rescore,
                                  unit_dim=unit_dim, say=typer.echo)
        elif experiment == "ladder-vae":
            from cfae.experiments.ladder_vae import reproduce as reproduce_ladder

            reproduce_ladder(out, preset_name=preset, seeds=seed_list, variants=names(ladder_variants),
                             layer_counts=_numbers("layers", layers), epochs=run_epochs, data_root=data_root, progress=not quiet,
                             report_only=report_only, say=typer.echo)
        elif experiment == "causalvae":
            from cfae.experiments.causalvae import reproduce as reproduce_causalvae

            reproduce_causalvae(out, preset_name=preset, seeds=seed_list, models=names(causal_models), data_root=data_root,
                                progress=not quiet, report_only=report_only, epochs=run_epochs, dataset=dataset, say=typer.echo)
        elif experiment == "losocs":
            from cfae.experiments.losocs import reproduce as reproduce_losocs

            reproduce_losocs(out, data_root=data_root, epochs=vae_epochs, streams=streams, cohort=cohort,
                             siamese_streams=siamese_streams, regression=regression,
                             variants=names(variants), detail_variants=names(detail_variants), limit=limit,
                             seeds=seed_list, progress=not quiet,
                             say=typer.echo)
        elif experiment == "counterfactual-ae":
            from cfae.experiments.counterfactual_ae import reproduce as reproduce_cf

            reproduce_cf(dataset, out, seeds=seed_list, epochs=_numbers("epochs", epochs), latent_dims=latent_list or (2,),
                         network=network, data_root=data_root, limit=limit, progress=not quiet, say=typer.echo)
        else:
            from cfae.experiments.betavae_dsprites import reproduce as reproduce_beta

            reproduce_beta(out, seeds=seed_list, betas=_numbers("betas", betas, float),
                           sweep_betas=_numbers("sweep-betas", sweep_betas, float, empty_ok=True),
                           sweep_latent_dims=_numbers("sweep-latent-dims", sweep_latent_dims, empty_ok=True),
                           network=network, epochs=max(_numbers("epochs", epochs)), limit=limit, data_root=data_root,
                           fast=fast, progress=not quiet, mnist_epochs=mnist_epochs, baselines=baselines,
                           tc_betas=_numbers("tc-betas", tc_betas, float, empty_ok=True),
                           factor_gammas=_numbers("factor-gammas", factor_gammas, float, empty_ok=True), say=typer.echo)


@app.command()
@_friendly
def demo(
    out: Path = typer.Option(Path("reports/demo"), help="report folder"),
    epochs: int = typer.Option(20),
    limit: Optional[int] = typer.Option(None, help="train on the first N examples"),
    data_root: Optional[str] = typer.Option(None),
    quiet: bool = typer.Option(False, help="no progress bar"),
):
    """The main job: VAE and MMD-VAE with a 2-D latent, compared in a report folder."""
    from cfae.experiments.demo import run_demo

    run_demo(out, data_root=data_root, epochs=epochs, limit=limit, progress=not quiet, say=typer.echo)


if __name__ == "__main__":  # pragma: no cover
    app()
