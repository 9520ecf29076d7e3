"""`cfae reproduce cdvae-gan`: seed 001's comparison of VAE, VAE-GAN and CDVAE-GAN on attribute flips.

    Table 2   FID of counterfactual images (feature backend named in the report)
    Table 3   accuracy of an independent attribute classifier on counterfactuals, per attribute,
              with the classifier's own train and test accuracy
    beyond    preservation, reversibility, composition (1 and 10 null flips), sample diversity and
              FID of prior samples (mode collapse), and on mnist-attributes the re-measured
              Morpho-MNIST thickness, slant and width of every counterfactual against its target; on
              shapes-attributes each flip's distance to its nearest true counterfactual, rendered.
Every run, predictor and score is written under OUT and skipped when present: an interrupted
reproduction resumes. The seed's model names: "VAE" = cfae's cdvae, "VAE-GAN" = vae-gan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from cfae import jsonio
from cfae.counterfactual.flip import attribute_method
from cfae.data import get_dataset
from cfae.data.attributes import MORPHO_ATTRIBUTES, SHAPES_ATTRIBUTES, morpho_thresholds, shapes_true_flips
from cfae.data.base import Batch, ImageDataset
from cfae.data.morpho import measure
from cfae.data.shapes import FACTOR_NAMES, render_shapes
from cfae.experiments.cached import cached_predictor, feature_backend, trained_run
from cfae.experiments.report import save_result
from cfae.metrics.attributes import (attribute_scores, composition, minimality, nearest_truth_error, oracle_truth_error,
                                     relabelled, truth_gap_closed)
from cfae.metrics.fid import feature_statistics, features_of, fid, frechet_distance, gaussian_statistics
from cfae.metrics.realism import precision_recall_density_coverage
from cfae.registry import check_choices
from cfae.train.config import TrainConfig
from cfae.train.provenance import stamped
from cfae.train.run import RunConfig

MODELS = {"cdvae": "VAE", "vae-gan": "VAE-GAN", "cdvae-gan": "CDVAE-GAN"}
# Budget settings per dataset (the model settings are the seed's defaults).
PRESETS = {
    "mnist-attributes": {"network": "conv", "hidden": None, "latent_dim": 16, "epochs": 4, "batch_size": 64, "limit": 10000,
                         "predictor_epochs": 3},
    "shapes-attributes": {"network": "conv", "hidden": (16, 32, 64), "latent_dim": 10, "epochs": 4, "batch_size": 64,
                          "limit": 10000, "predictor_epochs": 8},
    "celeba": {"network": "dcgan", "hidden": None, "latent_dim": 100, "epochs": 20, "batch_size": 32, "limit": None,
               "predictor_epochs": 5},
}
SEED_TABLE2 = {"VAE": 122.86, "VAE-GAN": 48.46, "CDVAE-GAN": 34.24}


def run_config(dataset: str, model: str, seed: int, preset: dict, data_root: str | None, progress: bool) -> RunConfig:
    options = {"latent_dim": preset["latent_dim"], "network": preset["network"]}
    if preset["hidden"]:
        options["hidden"] = preset["hidden"]
    return RunConfig(model=model, dataset=dataset, data_root=data_root, limit=preset["limit"], model_options=options,
                     train=TrainConfig(epochs=preset["epochs"], batch_size=preset["batch_size"], seed=seed, progress=progress))


def mean_pairwise_distance(features: torch.Tensor) -> float:
    return float(torch.pdist(features.double()).mean())


def sample_diversity(sample_features: torch.Tensor, real_features: torch.Tensor) -> float:
    """Mean pairwise feature distance of prior samples over that of real images: well below 1 is mode collapse."""
    return mean_pairwise_distance(sample_features) / mean_pairwise_distance(real_features)


def attribute_means(per_attribute: dict[str, dict], keys: tuple[str, ...]) -> dict[str, float]:
    """Each score's unweighted mean over the attributes (the summary row of Table 3)."""
    return {k: sum(s[k] for s in per_attribute.values()) / len(per_attribute) for k in keys}


@torch.no_grad()
def evaluate_model(model, train: ImageDataset, test: Batch, classifier, backend: torch.nn.Module,
                   real_features: torch.Tensor, thresholds: dict[str, float] | None, seed: int) -> dict:
    """Every score of one trained model on the evaluation batch (real_features: the backend's
    features of test.x)."""
    names = list(train.attribute_names)
    method = attribute_method(model, train)
    scores: dict = {"attributes": {}}
    counterfactual_features = []
    for a, attribute in enumerate(names):
        per_row = attribute_scores(method, test, names, attribute, classifier)
        scores["attributes"][attribute] = {k: float(per_row[k].mean()) for k in ("effectiveness", "preservation",
                                                                                  "reversibility")}
        counterfactual_features.append(features_of(backend, per_row["counterfactuals"]))
        scores["attributes"][attribute].update(minimality_means(real_features, counterfactual_features[-1],
                                                                test.labels["attributes"][:, a]))
        if thresholds is not None and attribute in MORPHO_ATTRIBUTES:
            scores["attributes"][attribute].update(remeasured(per_row["counterfactuals"], per_row["reconstructions"],
                                                              test, names.index(attribute), MORPHO_ATTRIBUTES[attribute],
                                                              thresholds[attribute]))
        if attribute in SHAPES_ATTRIBUTES and all(k in test.labels for k in FACTOR_NAMES):
            scores["attributes"][attribute].update(truth_errors(per_row["counterfactuals"], per_row["reconstructions"],
                                                                test, attribute,
                                                                truth_reconstructor(method, test, names, attribute)))
    for attribute, accuracy in zip(names, feature_probe(model, train, test)):
        scores["attributes"][attribute]["feature_probe_accuracy"] = accuracy
    scores.update(attribute_means(scores["attributes"], ("effectiveness", "preservation", "reversibility",
                                                          "feature_probe_accuracy", "minimality", "minimality_p1",
                                                          "minimality_p2")))
    scores.update(truth_summary(scores["attributes"]))
    for m in (1, 10):
        scores[f"composition_{m}"] = float(composition(method, test, names[0], names, m).mean())
    real_stats = gaussian_statistics(real_features)
    torch.manual_seed(seed)
    sample_features = features_of(backend, model.sample(len(test)))
    all_counterfactuals = torch.cat(counterfactual_features)
    scores["fid_counterfactual"] = frechet_distance(*real_stats, *gaussian_statistics(all_counterfactuals))
    scores["fid_reconstruction"] = fid(backend, None, model.reconstruct(test), real_stats)
    scores["fid_samples"] = frechet_distance(*real_stats, *gaussian_statistics(sample_features))
    scores["diversity"] = sample_diversity(sample_features, real_features)
    for name, fake in (("counterfactual", all_counterfactuals), ("samples", sample_features)):
        scores.update({f"{k}_{name}": v for k, v in precision_recall_density_coverage(real_features, fake).items()})
    return scores


TRUTH_AVERAGED = ("truth_error", "truth_error_unchanged", "truth_error_oracle", "truth_nearer_than_unchanged")
TRUTH_KEYS = (*TRUTH_AVERAGED, "truth_gap_closed")  # the summary's gap comes from its mean errors, not a mean of gaps
TRUTH_CHUNK = 200  # test rows whose true counterfactuals are rendered at once (up to 20 each, 64 x 64)


def truth_errors(counterfactuals: torch.Tensor, reconstructions: torch.Tensor, test: Batch, attribute: str,
                 reconstruct: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> dict:
    """Generated shapes: each flip's mean |difference| per pixel to its nearest true counterfactual
    (metrics.attributes.nearest_truth_error), the reconstruction's to the same truths (what a flip that
    changes nothing scores, through the same decoder), the oracle's (reconstruct(truths, test rows owning
    them): the method's null flip of each truth, metrics.attributes.oracle_truth_error), the share of rows where
    the flip is nearer than the reconstruction, and the share of the unchanged-to-oracle gap closed."""
    factors = torch.stack([test.labels[k] for k in FACTOR_NAMES], 1)
    flip, unchanged, oracle = [], [], []
    for start in range(0, len(factors), TRUTH_CHUNK):
        rows = torch.arange(start, min(start + TRUTH_CHUNK, len(factors)))
        candidates, owner = shapes_true_flips(factors[rows], attribute)
        truths = render_shapes(candidates).float() / 255
        flip.append(nearest_truth_error(counterfactuals[rows].cpu().float(), truths, owner))
        unchanged.append(nearest_truth_error(reconstructions[rows].cpu().float(), truths, owner))
        oracle.append(oracle_truth_error(reconstruct(truths, rows[owner]).cpu().float(), truths, owner, len(rows)))
    flip, unchanged, oracle = torch.cat(flip), torch.cat(unchanged), torch.cat(oracle)
    return with_truth_gap({"truth_error": float(flip.mean()), "truth_error_unchanged": float(unchanged.mean()),
                           "truth_error_oracle": float(oracle.mean()),
                           "truth_nearer_than_unchanged": float((flip < unchanged).float().mean())})


def truth_summary(per_attribute: dict[str, dict]) -> dict[str, float]:
    """The mean row of the truth scores when every attribute has them (generated shapes), else nothing."""
    if not all("truth_error" in scores for scores in per_attribute.values()):
        return {}
    return with_truth_gap(attribute_means(per_attribute, TRUTH_AVERAGED))


def with_truth_gap(means: dict[str, float]) -> dict[str, float]:
    """The mean truth errors plus truth_gap_closed computed from them (metrics.attributes.truth_gap_closed):
    the gap of the means, never a mean of gaps, which one attribute's tiny denominator would dominate."""
    return {**means, "truth_gap_closed": truth_gap_closed(means["truth_error"], means["truth_error_unchanged"],
                                                          means["truth_error_oracle"])}


def truth_reconstructor(method, test: Batch, names: list[str],
                        attribute: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """reconstruct(truths, rows): the method's null flip of each true counterfactual, labelled as test
    row `rows` with `attribute` flipped (the value the truth has), on the test batch's device."""
    column = names.index(attribute)

    def reconstruct(truths: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        flipped = 1 - test.labels["attributes"][rows.to(test.x.device), column].float()
        batch = relabelled(truths.to(test.x.device), test.select(rows.to(test.x.device)), column, flipped)
        return torch.cat([method(batch.select(part), attribute, flipped[part]).counterfactuals
                          for part in torch.arange(len(truths), device=test.x.device).split(TRUTH_CHUNK * 4)])
    return reconstruct


def minimality_means(real_features: torch.Tensor, counterfactual_features: torch.Tensor, labels: torch.Tensor) -> dict:
    """Mean CLD (metrics.attributes.minimality) and its P1, P2 for flipping one binary attribute of every
    evaluated test image, the evaluated test images (their backend features) the real pool."""
    per_row = minimality(real_features, counterfactual_features, real_features, labels, labels, 1 - labels)
    return {"minimality" if k == "minimality" else f"minimality_{k}": float(v.nanmean()) for k, v in per_row.items()}


@torch.no_grad()
def feature_probe(model, train: ImageDataset, test: Batch, size: int = 5000) -> list[float]:
    """Per attribute: test accuracy of a logistic regression from the Gaussian feature means z_G to the
    attribute. Near the classifier's accuracy, z_G still carries the attribute (it is not disentangled
    from z_B), so the decoder can ignore a flipped bit."""
    from sklearn.linear_model import LogisticRegression

    m = model.config.latent_dim
    fit = train.batch(slice(0, size))
    z_fit, z_test = model.encode(fit).mean[:, :m].numpy(), model.encode(test).mean[:, :m].numpy()
    y_fit, y_test = fit.labels["attributes"].numpy(), test.labels["attributes"].numpy()
    return [float(LogisticRegression(max_iter=2000).fit(z_fit, y_fit[:, a]).score(z_test, y_test[:, a]))
            for a in range(y_fit.shape[1])]


def remeasured(counterfactuals: torch.Tensor, reconstructions: torch.Tensor, test: Batch, column: int,
               measurement: str, threshold: float) -> dict:
    """Morpho-MNIST re-measurement: share of counterfactuals on the target side of the threshold, and the
    mean change of the measurement from the reconstruction (the null flip), signed so that positive is
    towards the target: the flip's own effect, apart from reconstruction error."""
    target = 1 - test.labels["attributes"][:, column]
    value = measure(counterfactuals)[measurement]
    direction = 2 * target - 1
    return {"remeasured_on_target_side": float(((value > threshold).float() == target).float().mean()),
            "remeasured_change_towards_target": float((direction * (value - measure(reconstructions)[measurement])).mean())}


def reproduce(dataset: str, out: str | Path, seeds: tuple[int, ...] = (0, 1, 2), epochs: int | None = None,
              limit: int | None = None, latent_dim: int | None = None, eval_size: int = 1000, models: tuple[str, ...] = tuple(MODELS),
              data_root: str | None = None, inception: str | Path | None = None, progress: bool = True,
              say: Callable[[str], None] = print) -> Path:
    """Train each model for each seed, score it, and write OUT/results.json and OUT/report.md. FIDs use
    Inception-v3 features when `inception` names a weights file, else a cfae domain classifier; a
    results.json written with another backend is refused rather than mixed."""
    from cfae.experiments.cdvae_gan_report import write_report

    check_choices("dataset for cdvae-gan", [dataset], PRESETS)
    check_choices("model", models, MODELS)
    overrides = {"epochs": epochs, "limit": limit, "latent_dim": latent_dim}
    preset = {**PRESETS[dataset], **{k: v for k, v in overrides.items() if v}}
    out = Path(out)
    train = get_dataset(dataset, "train", data_root, preset["limit"])
    test_data = get_dataset(dataset, "test", data_root, preset["limit"])
    classifier, clf_record = cached_predictor(out / "predictors" / "attributes", "attributes", train, test_data, "conv",
                                              "attributes", preset["predictor_epochs"])
    backend, backend_record = feature_backend(out / "predictors" / "features", train, test_data, inception,
                                              preset["predictor_epochs"])
    test = test_data.batch(slice(0, eval_size))
    real_features = features_of(backend, test.x)
    thresholds = morpho_thresholds(train) if dataset == "mnist-attributes" else None
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    if results.get("setup", {}).get("feature_backend", backend.name) != backend.name:
        raise ValueError(f"{out / 'results.json'} holds FIDs under {results['setup']['feature_backend']!r}, not "
                         f"{backend.name!r}; choose another --out")
    for seed in seeds:  # seed-major: a run cut short still compares every model on the seeds it finished
        for model_name in models:
            key = f"{model_name}/seed-{seed}"
            if key in results:
                continue
            say(f"{MODELS[model_name]} ({model_name}), seed {seed}: {preset['epochs']} epochs on {len(train)} images")
            config = run_config(dataset, model_name, seed, preset, data_root, progress)
            model = trained_run(out / "runs" / f"{model_name}-seed-{seed}", config)
            save_result(out / "results.json", results, key,
                        evaluate_model(model, train, test, classifier, backend, real_features, thresholds, seed), model)
    data_fid = frechet_distance(*gaussian_statistics(real_features),
                                *feature_statistics(backend, train.batch(slice(0, eval_size)).x))
    results["setup"] = stamped({"dataset": dataset, "preset": preset, "seeds": list(seeds), "eval_size": len(test),
                                "attribute_classifier": clf_record, "feature_backend": backend.name,
                                "feature_record": backend_record, "fid_train_vs_test": data_fid,
                                "thresholds": thresholds})  # it holds a score: the data's own FID
    jsonio.write_json(out / "results.json", results)
    report = write_report(out, results, train, test, models, seeds)
    say(f"report written to {report.resolve()}")
    return report
