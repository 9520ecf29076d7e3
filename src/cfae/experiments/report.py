"""Write the figures and metrics of trained runs into a report folder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from cfae import jsonio
from cfae.data import ImageDataset
from cfae.metrics import basic_metrics, encode_dataset
from cfae.train.provenance import code_label, provenance
from cfae.train.run import PROVENANCE_FILE, RUN_FILE, read_sessions
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


LIKELIHOOD_KEYS = ["neg_elbo", "recon_nll_at_mean"]
SHARED_KEYS = ["mse_per_pixel", "active_units", "aggregate_mmd", "ks_max", "knn_accuracy"]


def _table(results: dict[str, dict], keys: list[str], first: str = "model") -> list[str]:
    lines = [f"| {first} | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, res in results.items():
        cells = [f"{res[k]:.4g}" if isinstance(res.get(k), float) else str(res.get(k, "-")) for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def metrics_table(results: dict[str, dict]) -> str:
    """Markdown tables of several models: the measures every model shares in one table, then one
    table of -ELBO / reconstruction NLL (nats per image) per kind of likelihood, never mixed."""
    lines = ["Measures shared by every model:", "", *_table(results, SHARED_KEYS)]
    kinds = sorted({res.get("likelihood_kind", "-") for res in results.values()})
    for kind in kinds:
        same = {n: r for n, r in results.items() if r.get("likelihood_kind", "-") == kind}
        lines += ["", f"{kind}, nats per image (compare only within this table):", "",
                  *_table(same, [k for k in LIKELIHOOD_KEYS if any(k in r for r in same.values())])]
        floors = {r["cross_entropy_floor"] for r in same.values() if "cross_entropy_floor" in r}
        if len(floors) == 1:
            lines += ["", f"No Bernoulli decoder can go below {floors.pop():.2f} nats on these grey levels: "
                          "their own entropy, sum over pixels of -x log x - (1 - x) log(1 - x)."]
    return "\n".join(lines)


def scored_on(test: ImageDataset, train: ImageDataset | None = None) -> dict:
    """What the scores beside it were measured on: the dataset and how many examples of each split
    (a run trained with --limit, or evaluated with one, scores only the first examples)."""
    return {"dataset": test.name, "test_examples": len(test), **({"train_examples": len(train)} if train is not None else {})}


def evaluate_and_save(model, test: ImageDataset, train: ImageDataset | None, path: Path) -> dict:
    from cfae.metrics.likelihood import bernoulli_entropy_floor, is_binary, likelihood_kind

    with torch.no_grad():
        binary = is_binary(test)
        result = {**scored_on(test, train), "likelihood": model.config.likelihood,
                  "likelihood_kind": likelihood_kind(model.config.likelihood, binary),
                  **basic_metrics(model, test, train)}
        if model.config.likelihood == "bernoulli" and not binary:
            result["cross_entropy_floor"] = bernoulli_entropy_floor(test)
    jsonio.write_json(path, result)
    return result


def latent_quality_and_save(model, test: ImageDataset, train: ImageDataset, classifier_folder: Path, path: Path) -> dict:
    """Seed 000's latent measures (cfae.metrics.counterfactual_ae) with hole rates judged by a saved
    class classifier (`cfae train-classifier`), which must read the run's images."""
    from cfae.metrics.counterfactual_ae import latent_quality
    from cfae.train.classifier import load_predictor

    classifier, record = load_predictor(classifier_folder)
    if record["kind"] != "classifier":
        raise ValueError(f"--classifier {classifier_folder} holds a {record['kind']} predictor, not a class classifier")
    if tuple(record["input_shape"]) != tuple(test.image_shape):
        raise ValueError(f"--classifier {classifier_folder} reads images of shape {tuple(record['input_shape'])}, "
                         f"the run's are {tuple(test.image_shape)}")
    if "label" not in test.labels:
        raise ValueError(f"dataset {test.name!r} has no class labels, which the hole rates and kNN accuracy need")
    result = {**scored_on(test, train), "classifier": str(classifier_folder), "classifier_dataset": record["dataset"],
              "classifier_test_accuracy": record["test_accuracy"], **latent_quality(model, train, test, classifier)}
    jsonio.write_json(path, result)
    return result


def likelihood_and_save(model, test: ImageDataset, k: int, path: Path, show: bool = True) -> dict:
    """The importance-weighted bound with K samples on the test split, named for what it measures."""
    from rich.progress import Progress

    from cfae.metrics.likelihood import importance_weighted_bound, is_binary, likelihood_kind

    with Progress(transient=True, disable=not show) as bar:
        task = bar.add_task(f"log p(x) bound, K = {k}", total=len(test))
        bound = importance_weighted_bound(model, test, k, progress=lambda n: bar.update(task, advance=n))
    result = {"what": likelihood_kind(model.config.likelihood, is_binary(test)), "dataset": test.name,
              "examples": len(test), **bound}
    jsonio.write_json(path, result)
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

    scores = disentanglement_scores(ground_truth_space(dataset, data_root), model_representation(model), fast=fast)
    result = {"dataset": dataset, "samples": "a fiftieth of the default (--fast)" if fast else "the default", **scores}
    jsonio.write_json(path, result)
    return result


def _code_and_machine(session: dict) -> tuple:
    """A provenance record's code, torch, machine and threads, as a row of the provenance table."""
    return code_label(session), session["torch"], session.get("gpu") or session["processor"], session["threads"]


def provenance_lines(out: Path) -> list[str]:
    """The closing section of a report: which code, torch and machine trained the run folders under
    out, one row per combination with its number of training sessions (a resume is a session).
    Scores of runs trained on different rows need not repeat bit for bit (docs/results.md)."""
    runs = sorted(p.parent for p in Path(out).rglob(RUN_FILE))
    if not runs:
        return []
    rows, unrecorded = Counter(), 0
    for run in runs:
        sessions = read_sessions(run)
        unrecorded += not sessions
        rows.update(_code_and_machine(session) for session in sessions)
    lines = ["## What trained these runs", "", f"Run folders under this report: {len(runs)}.", ""]
    if rows:
        lines += ["| code | torch | processor or GPU | threads | training sessions |", "|---|---|---|---|---|",
                  *(f"| {c} | {t} | {m} | {n} | {count} |" for (c, t, m, n), count in sorted(rows.items())), ""]
    if unrecorded:
        lines += [f"Run folders trained before cfae recorded provenance (no {PROVENANCE_FILE}): {unrecorded}.", ""]
    return lines


def save_markdown_report(out: Path, lines: list[str]) -> Path:
    """OUT/report.md: the lines, then the provenance of the runs under OUT and of the code writing it
    (scores cached in OUT by an earlier command keep the code that computed them)."""
    code, torch_version, machine, _ = _code_and_machine(provenance())
    writer = f"This report was written by {code}, torch {torch_version}, on {machine}."
    path = Path(out) / "report.md"
    path.write_text("\n".join([*lines, "", *provenance_lines(out), writer]).rstrip("\n") + "\n")
    return path
