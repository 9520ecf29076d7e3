"""`cfae reproduce counterfactual-ae`: seed 000's comparison of VAE, MMD-VAE and the Counterfactual
Autoencoder (same encoder/decoder), with its qualitative claims turned into numbers.

Every (model, latent dim, seed) is one run folder trained to each requested epoch count in turn
(resume makes the 20-epoch state of a 50-epoch run identical to a 20-epoch run); metrics are
written per epoch count, so an interrupted reproduction continues where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from cfae import jsonio
from cfae.data import get_dataset
from cfae.experiments.cf_report import NAMES as COMPARED, write_report
from cfae.experiments.report import save_scores
from cfae.metrics.counterfactual_ae import latent_quality
from cfae.train.classifier import cached_classifier
from cfae.train.config import TrainConfig
from cfae.train.provenance import stamped
from cfae.train.run import RunConfig, train_run


def run_name(model: str, latent_dim: int, seed: int) -> str:
    return f"{model}-d{latent_dim}-s{seed}"


def reproduce(dataset: str, out: str | Path, seeds=(0, 1, 2), epochs=(20, 50), latent_dims=(2,), network: str = "mlp",
              data_root: str | None = None, limit: int | None = None, progress: bool = True,
              say: Callable[[str], None] = print) -> Path:
    """Train and measure every configuration not measured yet, then (re)write the report."""
    out = Path(out) / dataset
    train, test = get_dataset(dataset, "train", data_root, limit), get_dataset(dataset, "test", data_root, limit)
    classifier, accuracy = cached_classifier(train, test, out / "classifier")
    say(f"independent classifier test accuracy on {dataset}: {accuracy:.4f}")
    for latent_dim in latent_dims:
        for model_name in COMPARED:
            for seed in seeds:
                run_dir = out / "runs" / run_name(model_name, latent_dim, seed)
                for n_epochs in sorted(epochs):
                    metrics_file = run_dir / f"metrics-e{n_epochs}.json"
                    if metrics_file.exists():
                        continue
                    say(f"{dataset}: {model_name}, {latent_dim}-D, seed {seed}, to epoch {n_epochs}")
                    config = RunConfig(model=model_name, dataset=dataset, data_root=data_root, limit=limit,
                                       model_options={"latent_dim": latent_dim, "network": network},
                                       train=TrainConfig(epochs=n_epochs, seed=seed, progress=progress))
                    model, _ = train_run(config, run_dir, resume=(run_dir / "checkpoints").exists())
                    model = model.cpu().eval()
                    save_scores(metrics_file, latent_quality(model, train, test, classifier), model)
    report = write_report(out, dataset, accuracy, train, test)
    say(f"report written to {report.resolve()}")
    return report


def latest_models(out: Path):
    """(run folder, epoch, model) of every run under out/runs at its latest checkpoint."""
    from cfae.train.checkpoint import load_model, read_config, resolve_checkpoint

    for run_dir in sorted((out / "runs").iterdir()):
        ckpt = resolve_checkpoint(run_dir)
        yield run_dir, read_config(ckpt)["trainer"]["epoch"], load_model(ckpt).eval()


def rescore(dataset: str, out: str | Path, data_root: str | None = None, limit: int | None = None,
            say: Callable[[str], None] = print) -> None:
    """Measure every run again at its latest checkpoint (after a metric changed or was added): that
    epoch's metrics file is replaced; earlier epochs', whose checkpoints are gone, are kept as they are."""
    out = Path(out) / dataset
    train, test = get_dataset(dataset, "train", data_root, limit), get_dataset(dataset, "test", data_root, limit)
    classifier, accuracy = cached_classifier(train, test, out / "classifier")
    for run_dir, latest, model in latest_models(out):
        save_scores(run_dir / f"metrics-e{latest}.json", latent_quality(model, train, test, classifier), model)
        say(f"{run_dir.name}: scored again at epoch {latest}")
    write_report(out, dataset, accuracy, train, test)


def rescore_knn(dataset: str, out: str | Path, data_root: str | None = None, limit: int | None = None,
                say: Callable[[str], None] = print) -> None:
    """Recompute knn_accuracy of every run from its latest checkpoint (the metric once used the first
    10,000 training codes, all of two classes in class-sorted files); the record keeps the stamp of the
    code that computed its other scores and gains knn_accuracy_recomputed, the stamp of this one.
    Metrics files of earlier epochs, whose checkpoints are gone, get knn_accuracy = null and a note."""
    from cfae.metrics.encode import encode_dataset
    from cfae.metrics.latent import knn_accuracy

    out = Path(out) / dataset
    train, test = get_dataset(dataset, "train", data_root, limit), get_dataset(dataset, "test", data_root, limit)
    for run_dir, latest, model in latest_models(out):
        for metrics_file in sorted(run_dir.glob("metrics-e*.json")):
            metrics = json.loads(metrics_file.read_text())
            if int(metrics_file.stem.split("-e")[1]) == latest:
                metrics["knn_accuracy"] = knn_accuracy(encode_dataset(model, train), encode_dataset(model, test))
                metrics["knn_accuracy_recomputed"] = stamped({}, model)
                metrics.pop("knn_accuracy_note", None)
            else:
                metrics["knn_accuracy"] = None
                metrics.pop("knn_accuracy_recomputed", None)
                metrics["knn_accuracy_note"] = "not recomputed: this epoch's checkpoint is no longer kept"
            jsonio.write_json(metrics_file, metrics)
        say(f"{run_dir.name}: knn rescored at epoch {latest}")
    write_report(out, dataset, cached_classifier(train, test, out / "classifier")[1], train, test)
