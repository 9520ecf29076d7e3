"""`cfae reproduce betavae-dsprites`: seed 004's beta-VAE slides on the generated dSprites.

Trains VAE (beta = 1) and beta-VAEs with a 10-D latent (by default Higgins et al.'s 2D-shapes
networks: fully connected, two hidden layers of 1200 units), scores them and the non-learned
baselines of the slide table (ground truth, raw pixels, PCA, ICA, an untrained VAE encoder) with
the disentanglement suite, runs the normalised-beta study (beta M / N against the Higgins metric
for several latent sizes M, N = 64 x 64), draws traversals and per-dimension KL bars, and
measures MNIST-trained VAE / beta-VAE with the factor-free scores (active units, total correlation).
Every score is written per run, so an interrupted reproduction continues where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cfae.data.groundtruth import FactorsAsObservations, ShapesSpace
from cfae.experiments.betavae_report import row_name
from cfae.experiments.report import disentanglement_scores, save_scores
from cfae.metrics.disentanglement import disentanglement_suite
from cfae.metrics.factor_stats import model_representation
from cfae.models import build_model
from cfae.registry import check_choices
from cfae.train.checkpoint import load_model
from cfae.train.config import TrainConfig
from cfae.train.run import RunConfig, train_run

# Higgins metric (%) of the slide table (seed 004), for side-by-side reporting.
SLIDE_HIGGINS = {"ground truth": 100.0, "raw pixels": 45.75, "PCA": 84.9, "ICA": 42.03,
                 "untrained VAE": 44.14, "VAE": 61.58, "beta-VAE": 99.23}
PIXELS = 64 * 64
# Hidden sizes per network family: Higgins et al. (2017) used 1200-1200 fully connected nets on 2D shapes.
HIDDEN = {"mlp": (1200, 1200), "conv": None}
BATCH_SIZE, LEARNING_RATE = 128, 1e-3


def _cached(path: Path, compute: Callable[[], dict]) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_scores(path, compute())


# Learned rows: model -> (prefix of its run folders, the option its weight sets)
LEARNED = {"vae": ("beta", "beta"), "beta-tcvae": ("tcbeta", "beta"), "factor-vae": ("fgamma", "gamma")}


def _model(latent_dim: int, network: str, weight: float = 1.0, model_name: str = "vae") -> dict:
    return {"latent_dim": latent_dim, "network": network, "hidden": HIDDEN[network], LEARNED[model_name][1]: weight}


def _baseline_representations(space, latent_dim: int, network: str, seed: int, fast: bool) -> dict[str, Callable]:
    """name -> builder of (space, representation); built only when its scores are not cached."""
    from sklearn.decomposition import PCA, FastICA

    def fitted(estimator):
        rng = np.random.default_rng(seed)
        estimator.fit(space.render(space.sample_factors(2000 if fast else 10000, rng)).flatten(1).numpy())
        return space, lambda x: estimator.transform(x.flatten(1).numpy())

    def untrained():
        torch.manual_seed(seed)
        return space, model_representation(build_model("vae", input_shape=(1, 64, 64), **_model(latent_dim, network)))

    return {
        "ground truth": lambda: (FactorsAsObservations(space), lambda x: x.numpy()),
        "PCA": lambda: fitted(PCA(latent_dim, random_state=seed)),
        "ICA": lambda: fitted(FastICA(latent_dim, random_state=seed, max_iter=400)),
        "untrained VAE": untrained,
    }


def baseline_scores(out: Path, latent_dim: int, network: str, seed: int, fast: bool, progress: bool) -> dict[str, dict]:
    """Suite scores of the non-learned representations (raw pixels: Higgins metric only)."""
    space = ShapesSpace()
    scores = {name: _cached(out / "baselines" / f"{name.replace(' ', '_')}-s{seed}.json",
                            lambda build=build: disentanglement_scores(*build(), seed=seed, fast=fast, show=progress))
              for name, build in _baseline_representations(space, latent_dim, network, seed, fast).items()}
    # 4096-D codes: too wide to tabulate (12 GB), so drawn directly
    scores["raw pixels"] = _cached(out / "baselines" / f"raw_pixels-s{seed}.json", lambda: disentanglement_suite(
        space, lambda x: x.flatten(1).numpy(), seed=seed, fast=fast, only=("beta_vae",)))
    return scores


def train_and_score(out: Path, beta: float, latent_dim: int, network: str, seed: int, epochs: int, limit,
                    fast: bool, progress: bool, suite: bool = True, model_name: str = "vae") -> dict:
    """Train vae(beta) (or beta-tcvae / factor-vae with this TC weight) on shapes; return its suite scores plus KL per
    dimension, or (suite False, for the sweep) the Higgins metric alone, the same value the suite would report."""
    run_dir = run_folder(out, beta, latent_dim, seed, model_name)
    suite_file, higgins_file = run_dir / f"disentanglement-e{epochs}.json", run_dir / f"higgins-e{epochs}.json"
    for path in (suite_file,) if suite else (suite_file, higgins_file):
        if path.exists():
            return json.loads(path.read_text())
    config = RunConfig(model=model_name, dataset="shapes", limit=limit,
                       model_options=_model(latent_dim, network, beta, model_name),
                       train=TrainConfig(epochs=epochs, seed=seed, batch_size=BATCH_SIZE, lr=LEARNING_RATE,
                                         progress=progress))
    model, history = train_run(config, run_dir, resume=(run_dir / "checkpoints").exists())
    model = model.eval()  # encoded where it trained: on a GPU the 737,280 combinations take seconds, not minutes
    scores = disentanglement_scores(ShapesSpace(), model_representation(model), seed=seed, fast=fast, show=progress,
                                    only=None if suite else ("beta_vae",))
    scores["encoded_on"] = str(next(model.parameters()).device)
    if not suite:
        return save_scores(higgins_file, scores, model)
    from cfae.metrics.encode import encode_dataset
    from cfae.metrics.latent import kl_per_dimension

    scores["kl_per_dim"] = kl_per_dimension(encode_dataset(model, config.load_split("test").head(5000)))
    scores["final_train_loss"] = history[-1]["train/loss"] if history else None
    return save_scores(suite_file, scores, model)


def scores_over_training(out: Path, learned, latent_dim: int, seeds) -> dict[str, dict[int, list[dict]]]:
    """Row name -> epochs -> the suite scores of each seed's run at those epochs, read from every
    disentanglement-e<epochs>.json in its folder (a run resumed to more epochs keeps the earlier ones);
    learned: (model name, beta) pairs."""
    history: dict[str, dict[int, list[dict]]] = {}
    for model_name, beta in learned:
        for seed in seeds:
            for path in sorted(run_folder(out, beta, latent_dim, seed, model_name).glob("disentanglement-e*.json")):
                epochs = int(path.stem.removeprefix("disentanglement-e"))
                history.setdefault(row_name(beta, model_name), {}).setdefault(epochs, []).append(json.loads(path.read_text()))
    return history


def run_folder(out: Path, beta: float, latent_dim: int, seed: int, model_name: str = "vae") -> Path:
    return out / "runs" / f"{LEARNED[model_name][0]}{beta:g}-d{latent_dim}-s{seed}"


def mnist_unsupervised(out: Path, beta: float, seed: int, epochs: int, limit, data_root: str | None,
                       progress: bool) -> dict:
    """VAE / beta-VAE on MNIST (10-D, MLP): the factor-free measures, active units and total correlation."""
    from cfae.metrics.encode import encode_dataset
    from cfae.metrics.latent import active_units, kl_per_dimension, total_correlation

    run_dir = out / "mnist" / f"beta{beta:g}-d10-s{seed}"
    score_file = run_dir / f"unsupervised-e{epochs}.json"
    if score_file.exists():
        return json.loads(score_file.read_text())
    config = RunConfig(model="vae", dataset="mnist", limit=limit, data_root=data_root, model_options={"latent_dim": 10, "beta": beta},
                       train=TrainConfig(epochs=epochs, seed=seed, progress=progress))
    model, _ = train_run(config, run_dir, resume=(run_dir / "checkpoints").exists())
    encoded = encode_dataset(model.cpu().eval(), config.load_split("test"))
    scores = {"active_units": active_units(encoded), "total_correlation": total_correlation(encoded),
              "kl_per_dim": kl_per_dimension(encoded)}
    return save_scores(score_file, scores)


def reproduce(out: str | Path, seeds=(0, 1, 2), betas=(1.0, 4.0), sweep_betas=(1.0, 2.0, 4.0, 8.0, 16.0),
              sweep_latent_dims=(5, 10), latent_dim: int = 10, network: str = "mlp", epochs: int = 30,
              limit: int | None = None, data_root: str | None = None, fast: bool = False, progress: bool = True,
              mnist_epochs: int = 20, baselines: bool = True, tc_betas=(), factor_gammas=(),
              say: Callable[[str], None] = print) -> Path:
    """baselines False leaves the non-learned rows out (they do not depend on `epochs`);
    mnist_epochs 0 leaves the MNIST study out; tc_betas adds beta-TCVAE rows (Chen et al. 2018)
    and factor_gammas FactorVAE rows (Kim & Mnih 2018) with these weights on the total
    correlation, trained and scored like the beta-VAEs."""
    from cfae.experiments.betavae_report import write_report

    check_choices("network", [network], HIDDEN)
    out = Path(out) / "betavae-dsprites"
    main_scores: dict[str, list[dict]] = {}
    others = [("beta-tcvae", beta) for beta in tc_betas] + [("factor-vae", gamma) for gamma in factor_gammas]
    learned = [("vae", beta) for beta in betas] + others
    for seed in seeds:
        if baselines:
            say(f"baselines, seed {seed}")
            for name, scores in baseline_scores(out, latent_dim, network, seed, fast, progress).items():
                main_scores.setdefault(name, []).append(scores)
        for model_name, beta in learned:
            say(f"{model_name}, {LEARNED[model_name][1]} = {beta:g}, {latent_dim}-D, seed {seed}")
            main_scores.setdefault(row_name(beta, model_name), []).append(
                {**train_and_score(out, beta, latent_dim, network, seed, epochs, limit, fast, progress,
                                   model_name=model_name), "seed": seed})
    sweep: dict[int, list[tuple[float, float]]] = {}
    for m in sweep_latent_dims:
        for beta in sweep_betas:
            say(f"sweep: beta = {beta:g}, {m}-D, seed {seeds[0]}")
            scores = train_and_score(out, beta, m, network, seeds[0], epochs, limit, fast, progress, suite=False)
            sweep.setdefault(m, []).append((beta * m / PIXELS, scores["beta_vae_eval"]))
    mnist = {}
    for beta in betas if mnist_epochs else ():
        for seed in seeds:
            say(f"MNIST: beta = {beta:g}, 10-D, seed {seed}")
            mnist.setdefault(beta, []).append(mnist_unsupervised(out, beta, seed, mnist_epochs, limit, data_root, progress))
    shown = [("vae", b) for b in sorted({min(betas), max(betas)})] + others
    models = {}
    for model_name, beta in shown:  # traversals of seed 0's runs, where their checkpoints were kept
        folder = run_folder(out, beta, latent_dim, seeds[0], model_name)
        if (folder / "checkpoints").is_dir():
            models[row_name(beta, model_name)] = load_model(folder)
        else:
            say(f"no checkpoints in {folder}: its traversals are left out of the report")
    history = scores_over_training(out, learned, latent_dim, seeds)
    report = write_report(out, main_scores, sweep, models, mnist, history)
    say(f"report written to {report.resolve()}")
    return report
