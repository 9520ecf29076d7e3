"""Write the figures and metrics of trained runs into a report folder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from cfae import jsonio
from cfae.data import ImageDataset
from cfae.metrics import basic_metrics, encode_dataset
from cfae.train.classifier import RECORD as PREDICTOR_RECORD
from cfae.train.provenance import code_label, provenance, stamped, stamps_in_file
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


def markdown_table(results: dict[str, dict], keys: list[str], first: str = "model") -> list[str]:
    """Lines of a markdown table: a row per name, a column per key (floats to 4 significant digits,
    "-" where a record has no such key)."""
    lines = [f"| {first} | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, res in results.items():
        cells = [f"{res[k]:.4g}" if isinstance(res.get(k), float) else str(res.get(k, "-")) for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def metrics_table(results: dict[str, dict], first: str = "model") -> str:
    """Markdown tables of several models: the measures every model shares in one table, then one
    table of -ELBO / reconstruction NLL (nats per image) per kind of likelihood, never mixed."""
    lines = ["Measures shared by every model:", "", *markdown_table(results, SHARED_KEYS, first)]
    kinds = sorted({res.get("likelihood_kind", "-") for res in results.values()})
    for kind in kinds:
        same = {n: r for n, r in results.items() if r.get("likelihood_kind", "-") == kind}
        lines += ["", f"{kind}, nats per image (compare only within this table):", "",
                  *markdown_table(same, [k for k in LIKELIHOOD_KEYS if any(k in r for r in same.values())], first)]
        floors = {r["cross_entropy_floor"] for r in same.values() if "cross_entropy_floor" in r}
        if len(floors) == 1:
            lines += ["", f"No Bernoulli decoder can go below {floors.pop():.2f} nats on these grey levels: "
                          "their own entropy, sum over pixels of -x log x - (1 - x) log(1 - x)."]
    return "\n".join(lines)


def scored_on(test: ImageDataset, train: ImageDataset | None = None) -> dict:
    """What the scores beside it were measured on: the dataset and how many examples of each split
    (a run trained with --limit, or evaluated with one, scores only the first examples)."""
    return {"dataset": test.name, "test_examples": len(test), **({"train_examples": len(train)} if train is not None else {})}


def save_scores(path: Path, scores: dict, model=None) -> dict:
    """Write a record of scores as JSON, stamped with the code and machine that computed them
    (provenance.stamped); return what was written."""
    record = stamped(scores, model)
    jsonio.write_json(path, record)
    return record


def save_result(path: Path, results: dict, key: str, scores: dict, model=None) -> dict:
    """results[key] = the scores, stamped with what computed them; the whole results file written again
    (an interrupted reproduction keeps every run scored so far)."""
    results[key] = stamped(scores, model)
    jsonio.write_json(path, results)
    return results[key]


def evaluate_and_save(model, test: ImageDataset, train: ImageDataset | None, path: Path) -> dict:
    from cfae.metrics.likelihood import bernoulli_entropy_floor, is_binary, likelihood_kind

    with torch.no_grad():
        binary = is_binary(test)
        result = {**scored_on(test, train), "likelihood": model.config.likelihood,
                  "likelihood_kind": likelihood_kind(model.config.likelihood, binary),
                  **basic_metrics(model, test, train)}
        if model.config.likelihood == "bernoulli" and not binary:
            result["cross_entropy_floor"] = bernoulli_entropy_floor(test)
    return save_scores(path, result, model)


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
    return save_scores(path, result, model)


def likelihood_and_save(model, test: ImageDataset, k: int, path: Path, show: bool = True) -> dict:
    """The importance-weighted bound with K samples on the test split, named for what it measures."""
    from rich.progress import Progress

    from cfae.metrics.likelihood import importance_weighted_bound, is_binary, likelihood_kind

    with Progress(transient=True, disable=not show) as bar:
        task = bar.add_task(f"log p(x) bound, K = {k}", total=len(test))
        bound = importance_weighted_bound(model, test, k, progress=lambda n: bar.update(task, advance=n))
    result = {"what": likelihood_kind(model.config.likelihood, is_binary(test)), "dataset": test.name,
              "examples": len(test), **bound}
    return save_scores(path, result, model)


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
    return save_scores(path, result, model)


def _code_and_machine(record: dict) -> tuple:
    """A provenance record's (or score stamp's) code, torch, machine and threads, as a table row."""
    return code_label(record), record["torch"], record.get("gpu") or record["processor"], record["threads"]


def _provenance_table(rows: Counter, counted: str) -> list[str]:
    return [f"| code | torch | processor or GPU | threads | {counted} |", "|---|---|---|---|---|",
            *(f"| {c} | {t} | {m} | {n} | {count} |" for (c, t, m, n), count in sorted(rows.items())), ""]


def training_lines(out: Path) -> list[str]:
    """Which code, torch and machine trained the run folders under out: one row per combination with
    its number of training sessions (a resume is a session)."""
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
        lines += _provenance_table(rows, "training sessions")
    if unrecorded:
        lines += [f"Run folders trained before cfae recorded provenance (no {PROVENANCE_FILE}): {unrecorded}.", ""]
    return lines


def score_files(out: Path) -> list[Path]:
    """The JSON files under out that may hold scores: all but run settings, checkpoint configs and
    predictor records (those carry their own provenance)."""
    return [p for p in sorted(Path(out).rglob("*.json"))
            if p.name not in (RUN_FILE, PREDICTOR_RECORD) and "checkpoints" not in p.relative_to(out).parts]


def scoring_lines(out: Path) -> list[str]:
    """Which code, torch and machine computed the scores under out: one row per combination with its
    number of stamped score records, then the score files that name none (or cannot be read)."""
    rows, unrecorded, unreadable = Counter(), [], []
    for path in score_files(out):
        stamps = stamps_in_file(path)
        if stamps is None:
            unreadable.append(path)
            continue
        rows.update(_code_and_machine(stamp) for stamp in stamps)
        if not stamps:
            unrecorded.append(path)
    if not (rows or unrecorded or unreadable):
        return []
    lines = ["## What computed these scores", ""]
    if rows:
        lines += _provenance_table(rows, "score records")
    for paths, what in ((unrecorded, "computed before cfae recorded what computed them"), (unreadable, "not valid JSON")):
        if paths:
            names = ", ".join(str(p.relative_to(out)) for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
            lines += [f"Score files {what}: {len(paths)} ({names}).", ""]
    return lines


def save_markdown_report(out: Path, lines: list[str], name: str = "report.md") -> Path:
    """OUT/name: the lines, then what trained the runs under OUT, what computed its scores (a score
    cached by an earlier command keeps the code that computed it) and the code writing it."""
    code, torch_version, machine, _ = _code_and_machine(provenance())
    writer = f"This report was written by {code}, torch {torch_version}, on {machine}."
    path = Path(out) / name
    path.write_text("\n".join([*lines, "", *training_lines(out), *scoring_lines(out), writer]).rstrip("\n") + "\n")
    return path
