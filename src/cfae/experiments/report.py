"""Write the figures and metrics of trained runs into a report folder."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from cfae.data import ImageDataset
from cfae.metrics import basic_metrics, encode_dataset
from cfae.viz import figures


def run_figures(model, name: str, test: ImageDataset, out: Path) -> dict[str, Path]:
    """Latent scatter, manifold, prior samples, reconstructions and traversals for one model."""
    encoded = encode_dataset(model, test)
    x = test.pixels(slice(0, 32))
    return {
        "latent scatter": figures.latent_scatter(encoded.mean, test.class_labels, out / f"{name}_latent.png",
                                                 title=name, class_names=test.class_names),
        "manifold": figures.latent_manifold(model, out / f"{name}_manifold.png"),
        "prior samples": figures.prior_samples(model, out / f"{name}_samples.png"),
        "reconstructions": figures.reconstructions(model, x, out / f"{name}_reconstructions.png"),
        "traversals": figures.latent_traversals(model, x, out / f"{name}_traversals.png"),
    }


def metrics_table(results: dict[str, dict]) -> str:
    """Markdown table of the scalar metrics of several models."""
    keys = ["neg_elbo", "recon_nll_at_mean", "mse_per_pixel", "active_units", "aggregate_mmd", "ks_max", "knn_accuracy"]
    lines = ["| model | likelihood | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for name, res in results.items():
        cells = [f"{res[k]:.4g}" if isinstance(res.get(k), float) else str(res.get(k, "-")) for k in keys]
        lines.append(f"| {name} | {res.get('likelihood', '-')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate_and_save(model, test: ImageDataset, train: ImageDataset | None, path: Path) -> dict:
    with torch.no_grad():
        result = {"likelihood": model.config.likelihood, **basic_metrics(model, test, train)}
    path.write_text(json.dumps(result, indent=2))
    return result


def disentanglement_scores(space, represent, seed: int = 0, fast: bool = False, show: bool = True,
                           only: tuple[str, ...] | None = None) -> dict:
    """The full suite with a progress bar. Unless fast (whose fiftieth of the samples needs fewer
    encodes), a space with fewer combinations than the suite draws observations is encoded once first
    and looked up (metrics.code_table)."""
    from rich.progress import Progress

    from cfae.metrics.code_table import tabulate, worth_tabulating
    from cfae.metrics.disentanglement import SUITE, disentanglement_suite

    with Progress(transient=True, disable=not show) as bar:
        if not fast and worth_tabulating(space):
            task = bar.add_task("encoding every factor combination", total=None)
            space, represent = tabulate(space, represent,
                                        progress=lambda done, total: bar.update(task, completed=done, total=total))
        only = only or SUITE
        task = bar.add_task("disentanglement metrics", total=len(only))
        return disentanglement_suite(space, represent, seed=seed, fast=fast, only=only,
                                     progress=lambda name: bar.update(task, advance=1, description=name))


def disentanglement_and_save(model, dataset: str, path: Path, fast: bool = False, data_root: str | None = None) -> dict:
    """The suite on the encoder mean of a model trained on a ground-truth dataset, saved as JSON."""
    from cfae.data.registry import ground_truth_space
    from cfae.metrics.factor_stats import model_representation

    result = disentanglement_scores(ground_truth_space(dataset, data_root), model_representation(model), fast=fast)
    path.write_text(json.dumps(result, indent=2))
    return result
