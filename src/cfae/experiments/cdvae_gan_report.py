"""report.md of `cfae reproduce cdvae-gan`: seed 001 Tables 2 and 3, the further scores, Figure 7 grids."""

from __future__ import annotations

from pathlib import Path

import cfae
from cfae.counterfactual.flip import attribute_method
from cfae.experiments.cdvae_gan import TRUTH_KEYS
from cfae.experiments.cf_report import mean_sd
from cfae.experiments.report import save_markdown_report
from cfae.metrics.attributes import divergence_of
from cfae.viz.attributes import flip_grid, flip_rows


def seed_cell(values: list[float], digits: int = 3) -> str:
    """mean +- sd over seeds; a single seed's value alone (it has no sd)."""
    stats = mean_sd(values)
    if stats is None:
        return "-"
    return f"{stats[0]:.{digits}f}" if len(values) == 1 else f"{stats[0]:.{digits}f} +- {stats[1]:.{digits}f}"


def _runs(results: dict, model: str, seeds) -> list[dict]:
    return [results[f"{model}/seed-{s}"] for s in seeds if f"{model}/seed-{s}" in results]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _backend_note(record: dict) -> str:
    if "weights" in record:
        return f"weights {record['weights']}"
    return f"its test accuracy {record['test_accuracy']:.4f}"


def verdicts(results: dict, models, seeds) -> list[str]:
    """Whether CDVAE-GAN's mean beats each baseline's on effectiveness (higher) and counterfactual FID (lower)."""
    if "cdvae-gan" not in models:
        return []
    lines = []
    for key, higher in (("effectiveness", True), ("fid_counterfactual", False)):
        ours = mean_sd([r[key] for r in _runs(results, "cdvae-gan", seeds)])
        for other in (m for m in models if m != "cdvae-gan"):
            theirs = mean_sd([r[key] for r in _runs(results, other, seeds)])
            if ours and theirs:
                wins = ours[0] > theirs[0] if higher else ours[0] < theirs[0]
                lines.append(f"- {key}: CDVAE-GAN {ours[0]:.3f} vs {other} {theirs[0]:.3f}: "
                             f"{'better' if wins else 'NOT better'}")
    return lines


def write_report(out: Path, results: dict, train, test, models, seeds) -> Path:
    from cfae.experiments.cdvae_gan import MODELS, SEED_TABLE2

    setup = results["setup"]
    names = list(train.attribute_names)
    clf = setup["attribute_classifier"]
    parts = [f"# CDVAE-GAN reproduction on {setup['dataset']} (seed 001)", "",
             f"Runs: {len(seeds)} seeds ({', '.join(map(str, seeds))}) per model; budget {setup['preset']}; "
             f"scores on the first {setup['eval_size']} test images. Model settings are the seed's defaults "
             "(RMSProp 3e-4 / 3e-4 / 3e-5, gamma 15, lambda_B 1, tau 0.1).", "",
             f"FID backend: {setup['feature_backend']} ({_backend_note(setup['feature_record'])}); FID of training vs test images under it: "
             f"{setup['fid_train_vs_test']:.3f} (the floor). Only Inception FIDs on CelebA "
             f"are comparable with the seed's values ({SEED_TABLE2}).", ""]
    parts += ["## Table 2: FID of counterfactual images (lower is better)", "",
              markdown_table(["model", "seeds", "FID counterfactuals", "FID reconstructions", "FID prior samples",
                      "sample diversity (1 = data)"],
                     [[MODELS[m], str(len(_runs(results, m, seeds)))] +
                      [seed_cell([r[k] for r in _runs(results, m, seeds)]) for k in
                       ("fid_counterfactual", "fid_reconstruction", "fid_samples", "diversity")] for m in models]), ""]
    realism = [f"{k}_{kind}" for kind in ("counterfactual", "samples") for k in ("precision", "recall", "density", "coverage")]
    parts += ["Precision, recall, density and coverage (Naeem et al. 2020; k = 5) in the same features, of the "
              "counterfactuals and of prior samples against the evaluated test images: precision and density say "
              "whether the images lie where real ones do (density about 1 for images drawn like the real ones), "
              "recall and coverage whether they reach all of the real ones (higher is better for all four).", "",
              markdown_table(["model"] + realism, [[MODELS[m]] + [seed_cell([r.get(k) for r in _runs(results, m, seeds)])
                                                   for k in realism] for m in models]), ""]
    rows = []
    for a, name in enumerate(names):
        row = [name, f"{clf['train_accuracy'][a]:.3f}", f"{clf['test_accuracy'][a]:.3f}"]
        row += [seed_cell([r["attributes"][name]["effectiveness"] for r in _runs(results, m, seeds)]) for m in models]
        rows.append(row)
    rows.append(["mean", "", ""] + [seed_cell([r["effectiveness"] for r in _runs(results, m, seeds)]) for m in models])
    parts += ["## Table 3: attribute classifier accuracy on counterfactuals (higher is better)", "",
              "Each test image's attribute is set to the opposite of its label; the independent classifier "
              "(conv, trained on the training split) must see the new value.", "",
              markdown_table(["attribute", "classifier train", "classifier test"] + [MODELS[m] for m in models], rows), ""]
    keys = ("preservation", "reversibility", "composition_1", "composition_10", "minimality", "minimality_p1",
            "minimality_p2", "feature_probe_accuracy")
    parts += ["## Beyond the seed", "",
              "preservation: classifier accuracy on the attributes not flipped (higher is better); reversibility: "
              "mean |flip back - reconstruction| per pixel; composition_m: mean |x - null flip applied m times| per "
              "pixel (lower is better); minimality: counterfactual latent divergence (Melistas et al. 2024) in the FID "
              "backend's features, log(0.8 e^P1 + 0.2 e^P2) in [0, 1], P1 the share of real test images with the "
              "flipped value nearer the input than its counterfactual, P2 the share with the input's own value "
              "farther from it (0: changed enough, and no more; lower is better); a counterfactual that returns the "
              f"input unchanged scores P1 = 0, P2 = 1, minimality {float(divergence_of(0.0, 1.0)):.3f}; "
              "feature_probe_accuracy: a logistic regression from the Gaussian features z_G "
              "(posterior means) to the attributes, mean test accuracy: how much of the attributes z_G still carries "
              "(0.5-ish: none; near the classifier's accuracy: all of it, so a decoder can ignore the bits).", "",
              markdown_table(["model"] + list(keys),
                             [[MODELS[m]] + [seed_cell([r.get(k) for r in _runs(results, m, seeds)]) for k in keys]
                              for m in models]), ""]
    if setup.get("thresholds"):
        rows = []
        for name in setup["thresholds"]:
            for key in ("remeasured_on_target_side", "remeasured_change_towards_target"):
                rows.append([name, key] + [seed_cell([r["attributes"][name][key] for r in _runs(results, m, seeds)])
                                           for m in models])
        parts += ["## Morpho-MNIST re-measurement of the counterfactuals", "",
                  f"Thresholds (training-split medians): {setup['thresholds']}. On target side: share of counterfactuals "
                  "whose re-measured value lies on the flipped side of the threshold; change: mean re-measured change "
                  "from the reconstruction towards the target (pixels for thickness and width, radians for slant).", "",
                  markdown_table(["attribute", "score"] + [MODELS[m] for m in models], rows), ""]
    if any("truth_error" in r for m in models for r in _runs(results, m, seeds)):
        rows = [[name, key] + [seed_cell([r["attributes"][name].get(key) for r in _runs(results, m, seeds)], 4)
                               for m in models] for name in names for key in TRUTH_KEYS]
        rows += [["mean", key] + [seed_cell([r.get(key) for r in _runs(results, m, seeds)], 4) for m in models]
                 for key in TRUTH_KEYS]
        parts += ["## Against the true counterfactuals (generated shapes)", "",
                  "The data's renderer gives every true counterfactual of a flip: the same shape with only the "
                  "attribute's factor changed to a value on the other side (shape, scale, orientation or x position; "
                  "several for most flips). truth_error: mean |counterfactual - nearest truth| per pixel; "
                  "truth_error_unchanged: the same for the reconstruction, a flip that changes nothing through the same "
                  "decoder; truth_error_oracle: the same for the model's reconstruction of the true counterfactual "
                  "itself, how near this decoder gets to the truth when shown it; truth_nearer_than_unchanged: share of "
                  "images whose flip is nearer the truth than the reconstruction; truth_gap_closed: (unchanged - flip) / "
                  "(unchanged - oracle) of the mean errors, 0 for a flip that changes nothing, 1 for one as near as the "
                  "oracle, below 0 for one that moves away, nan where the oracle is no nearer the truth than the "
                  "reconstruction, so no gap exists (the mean row's from the mean errors). "
                  "No classifier is involved.", "",
                  markdown_table(["attribute", "score"] + [MODELS[m] for m in models], rows), ""]
    parts += ["## Verdicts (means over seeds)", "", *verdicts(results, models, seeds), "", "## Figure 7", ""]
    sample = test.select(slice(0, 8))
    for m in models:
        folder = out / "runs" / f"{m}-seed-{seeds[0]}"
        if not folder.exists():
            continue
        model = cfae.load(folder)
        rows = flip_rows(attribute_method(model, train), sample, names)
        path = flip_grid(rows, out / f"figure7_{m}.png", title=f"{MODELS[m]}, seed {seeds[0]}")
        parts.append(f"![{MODELS[m]}]({path.name})")
    return save_markdown_report(out, parts)
