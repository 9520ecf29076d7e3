"""`cfae reproduce losocs`: seed 002's MNIST experiments, variant beside variant, plus ground truth.

One convolutional VAE (16-D latent) and one fully connected classifier, as in the seed; a thickness
regressor on Morpho-MNIST labels; per-class autoencoders for IM1 / IM2. Every stage writes its
result into OUT and is skipped when that file exists, so an interrupted reproduction resumes.

    Table 1   random -> random streams: linearity R^2, continuity CV, and the standard metrics
    Table 2   cohorts 4 -> 7, 4 -> random, random -> 7, random -> random: pairwise latent distances
    Table 3   Siamese similarity of 4-digits and their optimised images
    Regression: thicker / thinner by a set amount under the regressor, re-measured with Morpho-MNIST
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from cfae import jsonio
from cfae.counterfactual.prototypes import prototypes_for
from cfae.counterfactual.streams import StreamResult, StreamSettings, stream
from cfae.data import get_dataset
from cfae.data.base import ImageDataset
from cfae.data.morpho import measure
from cfae.experiments.cached import cached_predictor, trained_run
from cfae.experiments.report import save_result
from cfae.metrics import streams as sm
from cfae.metrics.encode import Encoded, encode_dataset
from cfae.metrics.siamese import siamese_evaluation
from cfae.registry import check_choices
from cfae.train.config import TrainConfig
from cfae.train.run import RunConfig

VARIANTS: dict[str, StreamSettings] = {
    "plain": StreamSettings(),
    "plain-sgd": StreamSettings(step_rule="sgd", lr=0.01),
    "proximity": StreamSettings(proximity=0.05),
    "plausible-recon": StreamSettings(plausibility="recon", plausibility_weight=1.0),
    "plausible-elbo": StreamSettings(plausibility="elbo", plausibility_weight=0.02),
    "plausible-prototype": StreamSettings(plausibility="prototype", plausibility_weight=1.0),
}
# Table 1 only: the seed's step rule is not stated; plain SGD is run to compare conventions.
TABLE1_ONLY = ("plain-sgd",)
# The weight sweep behind the choice of the variants' weights (random -> random streams).
SWEEP = {"proximity": (0.01, 0.05, 0.1, 0.3), "recon": (0.3, 1.0, 3.0, 10.0), "elbo": (0.02, 0.1, 0.2, 1.0),
         "prototype": (0.03, 0.1, 0.3, 1.0, 3.0)}
SEED_TABLE1 = {"r2": (0.58, 0.40), "cv": (2.52, 0.75)}
SEED_TABLE2 = {"4->7": (10.02, 11.09, 2.60, 2.74), "4->random": (10.21, 11.83, 2.58, 3.69),
               "random->7": (11.95, 11.07, 2.45, 2.52), "random->random": (11.95, 11.01, 2.41, 3.02)}
SEED_TABLE3 = {"test": {"accuracy": 0.818, "precision": 0.8171, "recall": 0.8268, "f1": 0.8219},
               "cross_validation": {"accuracy": 0.7925, "precision": 0.8112, "recall": 0.7626, "f1": 0.7850}}
CHUNK = 250
VARIANT_TABLES = ("table1", "table2", "table3", "regression")  # result keys "<table>/<variant>[/...]"
# Table 2's cohorts: name -> (source class, target class), None for any
COHORTS = {"4->7": (4, 7), "4->random": (4, None), "random->7": (None, 7), "random->random": (None, None)}


def class_indices(data: ImageDataset, n: int, label: int | None, generator: torch.Generator) -> torch.Tensor:
    """n indices (fewer if the pool is smaller) drawn without replacement from the images of class
    `label`, or from all of them."""
    pool = torch.arange(len(data)) if label is None else (data.labels["label"] == label).nonzero()[:, 0]
    return pool[torch.randperm(len(pool), generator=generator)[:n]]


def cohort_inputs(data: ImageDataset, n: int, source: int | None, target: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n test indices (of class `source`, or any) and targets (`target`, or a random class other than the
    image's own), drawn with a fixed seed; a fixed source never targets itself."""
    g = torch.Generator().manual_seed(seed)
    labels = data.labels["label"]
    index = class_indices(data, n, source, g)
    if target is not None:
        keep = labels[index] != target
        index = index[keep]
        return index, torch.full((len(index),), target)
    shift = torch.randint(1, 10, (len(index),), generator=g)
    return index, (labels[index] + shift) % 10


def run_cohort(vae, classifier, data: ImageDataset, index, targets, settings: StreamSettings,
               per_stream: Callable | None = None, reference: Encoded | None = None) -> dict[str, torch.Tensor]:
    """Streams in chunks of CHUNK (bounded memory); per_stream(result) adds per-stream metrics; the
    "prototype" term takes its class prototypes from the reference codes."""
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(index), CHUNK):
        batch = data.batch(index[start : start + CHUNK])
        goals = targets[start : start + CHUNK]
        result = stream(vae, classifier, batch, goals, settings, prototypes=prototypes_for(vae, batch, goals, settings, reference))
        last = result.lengths - 1
        rows = torch.arange(len(result))
        values = {"start_code": result.codes_before, "end_code": result.codes_after[rows, last],
                  "inputs": batch.x, "end_frame": result.counterfactuals, "start_frame": result.frames[:, 0],
                  "steps": result.steps.float(), "success": result.success.float(),
                  "seconds": torch.full((len(result),), result.seconds / len(result)),
                  "targets": result.targets.float()}
        if per_stream is not None:
            values.update(per_stream(result))
        for key, value in values.items():
            parts.setdefault(key, []).append(value.detach().cpu().float())
    return {k: torch.cat(v) for k, v in parts.items()}


def stream_file(out: Path, table: str, variant: str, cohort: str | None = None) -> Path:
    """Where a table's cached streams of one variant (and Table 2 cohort) are kept; table "siamese":
    the variant's Siamese network."""
    suffix = "" if cohort is None else "-" + cohort.replace("->", "-to-")
    return out / "streams" / f"{table}-{variant}{suffix}.safetensors"


def forget_changed_variants(out: Path, results: dict, settings: dict[str, StreamSettings],
                            say: Callable[[str], None]) -> None:
    """A variant whose settings differ from those its cached results ran with loses those results and
    cached streams, so that they are run again: what the report shows is what ran. Results from before
    "variant_settings" was kept name their settings in Table 1."""
    known = results.setdefault("variant_settings", {})
    for name, chosen in settings.items():
        current = asdict(chosen)
        before = known.get(name, results.get(f"table1/{name}", {}).get("settings"))
        if before is not None and before != current:
            changed = ", ".join(f"{k} {before.get(k)} -> {v}" for k, v in current.items() if before.get(k) != v)
            say(f"variant {name}: settings changed since its cached results ({changed}); running it again")
            for key in [k for k in results if k.split("/")[0] in VARIANT_TABLES and k.split("/")[1] == name]:
                del results[key]
            for path in [*(stream_file(out, table, name) for table in ("table1", "table3", "siamese")),
                         *(stream_file(out, "table2", name, c) for c in COHORTS)]:
                path.unlink(missing_ok=True)
        known[name] = current


def _cached_cohort(path: Path, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    if path.exists():
        return load_file(path)
    values = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in values.items()}, path)
    return values


def seed_metrics(classifier, result) -> dict[str, torch.Tensor]:
    """Per-stream seed metrics of one chunk: linearity, continuity (from D(z0), and with the input image
    as frame 0), mean path R^2 and mean frame changes before / after p = 0.99."""
    with torch.no_grad():
        rows = torch.arange(len(result))
        input_scores = classifier.logits(result.inputs)[rows, result.targets.long()]
    before, after = sm.frame_change_means(result, 0.99)
    return {"r2": sm.linearity(result), "cv": sm.continuity(result),
            "r2_from_input": sm.linearity(result, input_scores), "cv_from_input": sm.continuity(result, include_input=True),
            "path_r2": sm.path_r_squared(result).nanmean(1), "change_before": before, "change_after": after}


def _per_class_reconstruction(aes: dict, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Each image reconstructed by the autoencoder of its class."""
    out = torch.empty_like(images)
    for k in classes.unique().tolist():
        rows = classes == k
        out[rows] = aes[k](images[rows])
    return out


def standard_metrics(values, vae, classifier, im_aes, reference: ImageDataset) -> dict[str, float]:
    """Success, steps, time, proximity, sparsity, IM1, IM2, yNN and the prior log density of the end codes."""
    x, cf = values["inputs"], values["end_frame"]
    targets = values["targets"].long()
    with torch.no_grad():
        origin = classifier.logits(x).argmax(1)
        cf_label = classifier.logits(cf).argmax(1)
        recon_target = _per_class_reconstruction(im_aes, cf, targets)
        recon_origin = _per_class_reconstruction(im_aes, cf, origin)
        recon_all = im_aes["all"](cf)
        sample = torch.randperm(len(reference), generator=torch.Generator().manual_seed(0))[:10000]
        ref = reference.pixels(sample)
        ref_labels = classifier.logits(ref).argmax(1)
        density = vae.prior(len(cf)).log_prob(values["end_code"])
    prox = sm.proximity(x, cf)
    out = {
        "success_rate": float(values["success"].mean()), "steps": sm.summary(values["steps"]),
        "seconds_per_counterfactual": float(values["seconds"].mean()),
        "l1": sm.summary(prox["l1"]), "l2": sm.summary(prox["l2"]), "sparsity": sm.summary(sm.sparsity(x, cf)),
        "im1": sm.summary(sm.im1(cf, recon_target, recon_origin)), "im2": sm.summary(sm.im2(cf, recon_target, recon_all)),
        "ynn": sm.summary(sm.ynn(cf, cf_label, ref, ref_labels)), "prior_log_density": sm.summary(density),
    }
    return out


def regression_streams(vae, regressor, data: ImageDataset, n: int, change: float, settings: StreamSettings,
                       seed: int) -> dict[str, float]:
    """Thicker / thinner by `change` under the regressor; claimed vs re-measured thickness change."""
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    claimed, measured, success = [], [], []
    for start in range(0, n, CHUNK):
        result = stream(vae, regressor, data.batch(index[start : start + CHUNK]), change, settings, change=True)
        by_regressor, by_measurement = stream_changes(result)
        claimed.append(by_regressor)
        measured.append(by_measurement)
        success.append(result.success.float())
    return change_summary(change, torch.cat(claimed).cpu(), torch.cat(measured), torch.cat(success).cpu().bool())


def stream_changes(result: StreamResult) -> tuple[torch.Tensor, torch.Tensor]:
    """Each stream's change from its first frame (the start code's decoding) to its end: claimed, the
    regressor's score at the last frame minus at the first; measured, the Morpho-MNIST thickness of
    the counterfactual minus that of the first frame."""
    last = result.lengths - 1
    claimed = result.scores[torch.arange(len(result)), last] - result.scores[:, 0]
    measured = measure(result.counterfactuals.cpu())["thickness"] - measure(result.frames[:, 0].cpu())["thickness"]
    return claimed, measured


def change_summary(change: float, claimed: torch.Tensor, measured: torch.Tensor, ok: torch.Tensor) -> dict:
    """Intended vs claimed (regressor) vs measured (Morpho-MNIST) change over the successful streams
    `ok`: each one's summary, |claimed - measured|, |intended - measured| and the share measured
    in the intended direction."""
    return {"intended_change": change, "streams": len(ok), "success_rate": float(ok.float().mean()),
            "claimed_change": sm.summary(claimed[ok]), "measured_change": sm.summary(measured[ok]),
            "abs_claimed_minus_measured": sm.summary((claimed - measured)[ok].abs()),
            "abs_intended_minus_measured": sm.summary((change - measured)[ok].abs()),
            "measured_in_intended_direction": float(((measured[ok] * change) > 0).float().mean())}


def seed_folder(out: Path, seed: int) -> Path:
    """Where one seed's networks, streams and results live: OUT itself for seed 0 (where single-seed
    reproductions put them), OUT/seed-N for the others."""
    return Path(out) if seed == 0 else Path(out) / f"seed-{seed}"


def reproduce(out: str | Path, data_root: str | None = None, epochs: int = 12, streams: int = 1000,
              cohort: int = 500, siamese_streams: int = 5000, regression: int = 500, variants: tuple[str, ...] = tuple(VARIANTS),
              detail_variants: tuple[str, ...] = ("plain", "plausible-recon"),
              im_epochs: int = 10, siamese_epochs: int = 10, limit: int | None = None, max_steps: int | None = None,
              sweep_streams: int = 150, seeds: tuple[int, ...] = (0,),
              progress: bool = True, say: Callable[[str], None] = print) -> Path:
    """Every seed's reproduction (seed_folder), then, for more than one seed, OUT/across-seeds.md; returns
    the first seed's report. Each seed trains every network (VAE, classifier, regressor, IM autoencoders,
    Siamese net) from its own seed; the streams' inputs and targets are the same in every seed."""
    from cfae.experiments.losocs_report import write_across_seeds

    check_choices("stream variant", (*variants, *detail_variants), VARIANTS)
    reports = []
    for seed in seeds:
        if len(seeds) > 1:
            say(f"seed {seed} into {seed_folder(out, seed)}")
        reports.append(reproduce_seed(seed_folder(out, seed), seed, data_root=data_root, epochs=epochs, streams=streams,
                                      cohort=cohort, siamese_streams=siamese_streams, regression=regression,
                                      variants=variants, detail_variants=detail_variants, im_epochs=im_epochs,
                                      siamese_epochs=siamese_epochs, limit=limit, max_steps=max_steps,
                                      sweep_streams=sweep_streams, progress=progress, say=say))
    if len(seeds) > 1:
        results = {seed: read_results(seed_folder(out, seed) / "results.json") for seed in seeds}
        say(f"across seeds written to {write_across_seeds(Path(out), results, variants).resolve()}")
    return reports[0]


def reproduce_seed(out: Path, seed: int, data_root: str | None, epochs: int, streams: int, cohort: int,
                   siamese_streams: int, regression: int, variants: tuple[str, ...], detail_variants: tuple[str, ...],
                   im_epochs: int, siamese_epochs: int, limit: int | None, max_steps: int | None, sweep_streams: int,
                   progress: bool, say: Callable[[str], None]) -> Path:
    """Run every stage of one seed not run yet into OUT and write OUT/report.md; max_steps overrides every
    variant's step limit (smoke tests)."""
    from cfae.experiments.losocs_report import write_report

    settings = {name: replace(VARIANTS[name], max_steps=max_steps or VARIANTS[name].max_steps) for name in variants}
    train = get_dataset("mnist", "train", data_root, limit)
    test = get_dataset("mnist", "test", data_root, limit)
    vae = trained_run(out / "runs" / "vae", RunConfig(model="vae", dataset="mnist", data_root=data_root, limit=limit,
                       model_options={"latent_dim": 16, "network": "conv"},
                       train=TrainConfig(epochs=epochs, seed=seed, progress=progress)))
    classifier, clf_record = cached_predictor(out / "predictors" / "classifier", "classifier", train, test, "mlp", "label", 5,
                                              seed)
    say(f"classifier (fully connected) test accuracy {clf_record['test_accuracy']:.4f}")
    im_aes = {"all": trained_run(out / "runs" / "im-ae-all", _im_config(data_root, None, im_epochs, limit, progress, seed)).reconstruct}
    for k in range(10):
        im_aes[k] = trained_run(out / "runs" / f"im-ae-{k}", _im_config(data_root, [k], im_epochs, limit, progress, seed)).reconstruct
    results = read_results(out / "results.json")
    reference = encode_dataset(vae, train.head(10000))  # the prototype term's class prototypes
    forget_changed_variants(out, results, settings, say)

    for name in variants:
        key = f"table1/{name}"
        if key not in results:
            index, targets = cohort_inputs(test, streams, None, None, seed=1)
            say(f"table 1, {name}: {len(index)} random -> random streams")
            values = _cached_cohort(stream_file(out, "table1", name),
                                    lambda: run_cohort(vae, classifier, test, index, targets, settings[name],
                                                       partial(seed_metrics, classifier), reference))
            save_result(out / "results.json", results, key, {
                "settings": asdict(settings[name]), "r2": sm.summary(values["r2"]), "cv": sm.summary(values["cv"]),
                "r2_from_input": sm.summary(values["r2_from_input"]), "cv_from_input": sm.summary(values["cv_from_input"]),
                "path_r2": sm.summary(values["path_r2"]), "change_before_p099": sm.summary(values["change_before"]),
                "change_after_p099": sm.summary(values["change_after"]),
                **standard_metrics(values, vae, classifier, im_aes, train)}, vae)

    for name in [v for v in variants if v in detail_variants and v not in TABLE1_ONLY]:
        for cohort_name, (source, target) in COHORTS.items():
            key = f"table2/{name}/{cohort_name}"
            if key in results:
                continue
            index, targets = cohort_inputs(test, cohort, source, target, seed=2)
            say(f"table 2, {name}: {cohort_name} ({len(index)} streams)")
            values = _cached_cohort(stream_file(out, "table2", name, cohort_name),
                                    lambda: run_cohort(vae, classifier, test, index, targets, settings[name], reference=reference))
            save_result(out / "results.json", results, key, {
                "original": sm.summary(sm.pairwise_distances(values["start_code"])),
                "final": sm.summary(sm.pairwise_distances(values["end_code"])),
                "success_rate": float(values["success"].mean())}, vae)

    for name in [v for v in variants if v in detail_variants and v not in TABLE1_ONLY]:
        key = f"table3/{name}"
        if key in results:
            continue
        fours = (train.labels["label"] == 4).nonzero()[:, 0][:siamese_streams]
        targets = (4 + torch.randint(1, 10, (len(fours),), generator=torch.Generator().manual_seed(3))) % 10
        say(f"table 3, {name}: {len(fours)} streams from training 4-digits for the Siamese test")
        values = _cached_cohort(stream_file(out, "table3", name),
                                lambda: run_cohort(vae, classifier, train, fours, targets, settings[name], reference=reference))
        origin = torch.arange(len(fours))
        siamese, net = siamese_evaluation(values["inputs"], values["end_frame"], origin, epochs=siamese_epochs, seed=seed)
        save_file(net.state_dict(), stream_file(out, "siamese", name))
        save_result(out / "results.json", results, key, {**siamese, "success_rate": float(values["success"].mean())}, vae)

    morpho_test = get_dataset("mnist-morpho", "test", data_root, limit)
    morpho_train = get_dataset("mnist-morpho", "train", data_root, limit)
    regressor, reg_record = cached_predictor(out / "predictors" / "thickness", "regressor", morpho_train, morpho_test, "conv",
                                       "thickness", 5, seed)
    say(f"thickness regressor test MAE {reg_record['test_mae']:.4f} px")
    # a regressor's target is a value, not a class: no class prototype to pull towards
    for name in [v for v in variants if v not in TABLE1_ONLY and settings[v].plausibility != "prototype"]:
        for change in (1.0, -1.0):
            key = f"regression/{name}/{change:+g}"
            if key in results:
                continue
            say(f"regression, {name}: thickness {change:+g} px ({regression} streams)")
            capped = replace(settings[name], max_steps=min(300, settings[name].max_steps))
            save_result(out / "results.json", results, key,
                        regression_streams(vae, regressor, morpho_test, regression, change, capped, seed=4), vae)

    for term, weights in (SWEEP.items() if sweep_streams else ()):
        for weight in weights:
            key = f"sweep/{term}/{weight:g}"
            if key in results:
                continue
            chosen = StreamSettings(proximity=weight) if term == "proximity" else StreamSettings(plausibility=term, plausibility_weight=weight)
            chosen = replace(chosen, max_steps=max_steps or chosen.max_steps)
            index, targets = cohort_inputs(test, sweep_streams, None, None, seed=6)
            say(f"weight sweep: {term} {weight:g} ({len(index)} streams)")
            values = run_cohort(vae, classifier, test, index, targets, chosen, reference=reference)
            save_result(out / "results.json", results, key, standard_metrics(values, vae, classifier, im_aes, train), vae)

    results["models"] = {"seed": seed, "classifier": clf_record, "thickness_regressor": reg_record, "vae_epochs": epochs, "limit": limit,
                         "im_autoencoder_epochs": im_epochs, "siamese_epochs": siamese_epochs}
    jsonio.write_json(out / "results.json", results)
    report = write_report(out, results, vae, classifier, test, settings, siamese_epochs, reference)
    say(f"report written to {report.resolve()}")
    return report


def _im_config(data_root, classes, epochs, limit, progress, seed: int) -> RunConfig:
    """The IM1 / IM2 autoencoders: a deterministic MLP autoencoder per class and one on all classes."""
    return RunConfig(model="ae", dataset="mnist", data_root=data_root, classes=classes, limit=limit,
                     model_options={"latent_dim": 16, "network": "mlp"},
                     train=TrainConfig(epochs=epochs, seed=seed, progress=progress))


def read_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


