"""report.md and figures of `cfae reproduce losocs` from OUT/results.json and the cached streams."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from safetensors.torch import load_file

from cfae.counterfactual.prototypes import prototypes_for
from cfae.counterfactual.streams import stream
from cfae.experiments.cdvae_gan_report import markdown_table, seed_cell
from cfae.experiments.losocs import COHORTS, SEED_TABLE1, SEED_TABLE2, SEED_TABLE3, TABLE1_ONLY, cohort_inputs, stream_file
from cfae.experiments.report import save_markdown_report
from cfae.metrics import streams as sm
from cfae.metrics.siamese import LeNetFeatures
from cfae.viz import streams as fig


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ms(entry: dict, digits: int = 2) -> str:
    if entry["mean"] is None:
        return "n/a"
    return f"{entry['mean']:.{digits}f} ± {entry['sd']:.{digits}f}"


def _figures(out: Path, vae, classifier, test, settings: dict, reference=None) -> list[str]:
    figures = out / "figures"
    lines = []
    index, targets = cohort_inputs(test, 8, 4, 7, seed=5)
    for name, chosen in settings.items():
        batch = test.batch(index)
        result = stream(vae, classifier, batch, targets, chosen,
                        prototypes=prototypes_for(vae, batch, targets, chosen, reference))
        path = fig.example_streams(result, figures / f"streams-4-to-7-{name}.png")
        lines.append(f"![4 -> 7 streams, {name}](figures/{path.name})")
        if name == "plain":
            path = fig.straight_vs_stream([_straight_and_stream(result, i, vae, classifier) for i in range(2)],
                                          figures / "straight-vs-stream-4-to-7.png")
            lines.append(f"![the straight line from the first code to the last, above the stream (seed Fig. 9)](figures/{path.name})")
    cohorts = {}
    for cohort in COHORTS:
        file = stream_file(out, "table2", "plain", cohort)
        if file.exists():
            v = load_file(file)
            cohorts[cohort] = (sm.pairwise_distances(v["start_code"]), sm.pairwise_distances(v["end_code"]))
    if cohorts:
        path = fig.distance_histograms(cohorts, figures / "distance_histograms.png")
        lines.append(f"![pairwise latent distances (seed Figs. 4-7)](figures/{path.name})")
    table1 = stream_file(out, "table1", "plain")
    if table1.exists():
        v = load_file(table1)
        path = fig.histogram(v["path_r2"], figures / "path_r2.png", "mean R^2 over latent dimensions",
                             "per-stream path linearity (seed Fig. 10)")
        lines.append(f"![path R^2 (seed Fig. 10)](figures/{path.name})")
        before, after = v["change_before"], v["change_after"]
        path = fig.frame_change_distributions(before[~before.isnan()], after[~after.isnan()], 0.99,
                                              figures / "frame_change.png")
        lines.append(f"![frame change before / after p = 0.99 (seed Fig. 11)](figures/{path.name})")
    siamese, values = stream_file(out, "siamese", "plain"), stream_file(out, "table3", "plain")
    if siamese.exists() and values.exists():
        v = load_file(values)
        net = LeNetFeatures()
        net(v["inputs"][:1])
        net.load_state_dict(load_file(siamese))
        net.eval()
        picked = torch.arange(len(v["inputs"]) - 4, len(v["inputs"]))  # held-out originals are shuffled in; any four do
        with torch.no_grad():
            d = (net(v["inputs"][picked]) - net(v["end_frame"][picked[:1]])).norm(dim=1)
        path = fig.candidate_panel(v["inputs"][picked], v["end_frame"][picked[0]], d, 0, figures / "siamese_candidates.png")
        lines.append(f"![Siamese candidates (seed Fig. 8)](figures/{path.name})")
    return lines


def _straight_and_stream(result, i: int, vae, classifier, count: int = 10) -> tuple:
    """Stream i's straight line decoded and its own frames at `count` evenly spaced positions, with the
    target's probability at each."""
    frames = result.stream(i)[0]
    positions = fig.evenly_spaced(len(frames), count)
    with torch.no_grad():
        straight = vae.decode(result.straight_path(i, positions))
        probability = classifier.logits(straight).softmax(1)[:, int(result.targets[i])]
    return straight, frames[positions], probability, result.probabilities[i, positions]


def write_report(out: Path, results: dict, vae, classifier, test, settings: dict, siamese_epochs: int,
                 reference=None) -> Path:
    """report.md: the seed's tables beside every variant's, then the figures (reference: the labelled
    codes the prototype term's class prototypes come from)."""
    r = results
    variants = list(settings)
    lines = ["# LoSoCs on MNIST (seed 002), reproduced by `cfae reproduce losocs`", "",
             f"Convolutional VAE, 16-D latent, {r['models']['vae_epochs']} epochs; fully connected classifier, "
             f"test accuracy {r['models']['classifier']['test_accuracy']:.4f}; thickness regressor (conv), "
             f"test MAE {r['models']['thickness_regressor']['test_mae']:.3f} px. Seed {r['models'].get('seed', 0)} for every network.",
             "Variants: " + "; ".join(f"**{n}** ({_settings(settings[n])})" for n in variants) + ".", "",
             "## Table 1: random -> random streams", "",
             "| variant | streams | R^2 | CV | R^2, input as frame 0 | CV, input as frame 0 | success | steps | s / cf | "
             "path R^2 | L1 | L2 | sparsity | IM1 | IM2 | yNN | log p(z_end) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
             f"| seed 002 | 1000 | {SEED_TABLE1['r2'][0]} ± {SEED_TABLE1['r2'][1]} | {SEED_TABLE1['cv'][0]} ± {SEED_TABLE1['cv'][1]} "
             "| (convention not stated) | | - | - | - | ~0.93 | - | - | - | - | - | - | - |"]
    for n in variants:
        t = r.get(f"table1/{n}")
        if t:
            lines.append(f"| {n} | {t['steps']['count']} | {_ms(t['r2'])} | {_ms(t['cv'])} | {_ms(t['r2_from_input'])} | "
                         f"{_ms(t['cv_from_input'])} | {t['success_rate']:.3f} | "
                         f"{_ms(t['steps'], 1)} | {t['seconds_per_counterfactual']:.4f} | {_ms(t['path_r2'])} | "
                         f"{_ms(t['l1'], 1)} | {_ms(t['l2'])} | {_ms(t['sparsity'])} | {_ms(t['im1'])} | "
                         f"{_ms(t['im2'], 3)} | {_ms(t['ynn'])} | {_ms(t['prior_log_density'], 1)} |")
    lines += ["", "R^2 leaves out streams of fewer than 3 frames and CV those of fewer than 2 frame differences. "
              "s / cf is wall time with 250 streams per batch, on a machine that may have been running other jobs "
              "(the clean speed comparison is benchmarks/stream_speed.py). Frame change (mean |x_{t+1} - x_t| per "
              "stream) before / after softmax_target reaches 0.99:"]
    for n in variants:
        t = r.get(f"table1/{n}")
        if t:
            lines.append(f"- {n}: before {_ms(t['change_before_p099'], 4)}, after {_ms(t['change_after_p099'], 4)}")
    lines += ["", "L1 = sum |x' - x|, L2 = sqrt(sum (x' - x)^2) (a true Euclidean distance), sparsity = 1 - share "
              "of pixels changed by more than 0.05; IM1 / IM2 from per-class MLP autoencoders trained by cfae "
              f"({r['models']['im_autoencoder_epochs']} epochs each); yNN with 5 neighbours among 10,000 random training "
              "images.", "",
              "## Table 2: pairwise latent distances, start vs end", "",
              "| variant | cohort | original mean | final mean | original sd | final sd | success |", "|---|---|---|---|---|---|---|"]
    for cohort, (om, fm, osd, fsd) in SEED_TABLE2.items():
        lines.append(f"| seed 002 | {cohort} | {om} | {fm} | {osd} | {fsd} | - |")
    for n in variants:
        for cohort in SEED_TABLE2:
            t = r.get(f"table2/{n}/{cohort}")
            if t:
                lines.append(f"| {n} | {cohort} | {t['original']['mean']:.2f} | {t['final']['mean']:.2f} | "
                             f"{t['original']['sd']:.2f} | {t['final']['sd']:.2f} | {t['success_rate']:.3f} |")
    lines += ["", "## Table 3: Siamese fundamental similarity (4-digits and their optimised images)", "",
              "| variant | split | accuracy | precision | recall | F1 | streams |", "|---|---|---|---|---|---|---|"]
    for split, s in SEED_TABLE3.items():
        lines.append(f"| seed 002 | {split} | {s['accuracy']} | {s['precision']} | {s['recall']} | {s['f1']} | 5000 |")
    for n in variants:
        t = r.get(f"table3/{n}")
        if t:
            for split in ("test", "cross_validation"):
                s = t[split]
                lines.append(f"| {n} | {split} | {s['accuracy']:.4f} | {s['precision']:.4f} | {s['recall']:.4f} | "
                             f"{s['f1']:.4f} | {t['train_streams'] + t['test_streams']} |")
    lines += ["", f"LeNet features, contrastive loss (margin 1), {siamese_epochs} epochs; a pair is called similar "
              "when its distance is below 0.5. Folds and the test split divide originals, not pairs.", "",
              "## Regression: thicker / thinner under the thickness regressor, re-measured", "",
              "| variant | intended | success | claimed change | measured change | abs(claimed - measured) | "
              "abs(intended - measured) | measured in intended direction |", "|---|---|---|---|---|---|---|---|"]
    for n in variants:
        for change in ("+1", "-1"):
            t = r.get(f"regression/{n}/{change}")
            if t:
                lines.append(f"| {n} | {change} px | {_num(t['success_rate'])} | {_ms(t['claimed_change'])} | "
                             f"{_ms(t['measured_change'])} | {_ms(t['abs_claimed_minus_measured'])} | "
                             f"{_ms(t['abs_intended_minus_measured'])} | {_num(t['measured_in_intended_direction'])} |")
    lines += ["", "Claimed = regressor output at the end minus at the start frame D(z0); measured = Morpho-MNIST "
              "thickness of the end frame minus that of D(z0). Statistics over successful streams.", "",
              "## Weight sweep: do the plausibility terms buy IM1 / IM2?", "",
              "Random -> random streams (adam lr 0.05, tau 0.999), one row per term and weight.", "",
              "| term | weight | streams | success | steps | IM1 | IM2 | L1 | log p(z_end) |", "|---|---|---|---|---|---|---|---|---|"]
    plain = r.get("table1/plain")
    if plain:
        lines.append(f"| none (plain, Table 1) | 0 | {plain['steps']['count']} | {_num(plain['success_rate'])} | "
                     f"{_ms(plain['steps'], 1)} | {_ms(plain['im1'])} | {_ms(plain['im2'], 3)} | {_ms(plain['l1'], 1)} | "
                     f"{_ms(plain['prior_log_density'], 1)} |")
    for key, t in r.items():
        if key.startswith("sweep/"):
            _, term, weight = key.split("/")
            lines.append(f"| {term} | {weight} | {t['steps']['count']} | {_num(t['success_rate'])} | {_ms(t['steps'], 1)} | "
                         f"{_ms(t['im1'])} | {_ms(t['im2'], 3)} | {_ms(t['l1'], 1)} | {_ms(t['prior_log_density'], 1)} |")
    lines += ["", "## Figures", "", *_figures(out, vae, classifier, test, settings, reference), ""]
    return save_markdown_report(out, lines)


def _settings(s) -> str:
    extra = []
    if s.proximity:
        extra.append(f"proximity {s.proximity}")
    if s.plausibility != "none":
        extra.append(f"{s.plausibility} weight {s.plausibility_weight}")
    return f"{s.step_rule} lr {s.lr}, tau {s.tau}, max {s.max_steps} steps" + (", " + ", ".join(extra) if extra else "")


# Table 1's columns across seeds: (heading, key in the entry, digits); a dict entry's value is its mean
TABLE1_ACROSS = (("R^2", "r2", 3), ("CV", "cv", 3), ("R^2, input as frame 0", "r2_from_input", 3),
                 ("CV, input as frame 0", "cv_from_input", 3), ("success", "success_rate", 3), ("steps", "steps", 1),
                 ("path R^2", "path_r2", 3), ("L1", "l1", 1), ("IM1", "im1", 3), ("IM2", "im2", 4), ("yNN", "ynn", 3),
                 ("log p(z_end)", "prior_log_density", 1))


def seed_values(results: dict[int, dict], key: str, *path: str) -> list[float]:
    """The value at results[seed][key][path...] of every seed that has the entry, in seed order; a
    summary (a dict with "mean") gives its mean; a NaN mean (no stream long enough) is left out."""
    values = []
    for seed in sorted(results):
        value = results[seed].get(key)
        for step in path:
            value = None if value is None else value.get(step)
        if isinstance(value, dict):
            value = value["mean"]
        if value is not None and not math.isnan(value):
            values.append(float(value))
    return values


def _per_seed(values: list[float], digits: int) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def write_across_seeds(out: Path, results: dict[int, dict], variants) -> Path:
    """OUT/across-seeds.md: every table's mean +- sd over the seeds' own results (each seed's value is its
    mean over streams), and how many seeds agree with each of the seed paper's findings."""
    seeds = sorted(results)
    detail = [v for v in variants if v not in TABLE1_ONLY]
    lines = ["# LoSoCs on MNIST across seeds", "",
             f"Seeds {', '.join(map(str, seeds))}: each trained every network (VAE, classifier, thickness regressor, "
             "IM autoencoders, Siamese net) from its own seed; the streams' inputs and targets are the same in every "
             "seed. A cell is the mean +- sd over seeds of each seed's mean over its streams; each seed's own report "
             "is in its folder (seed 0: report.md, seed N: seed-N/report.md).", "",
             "## The networks", "",
             markdown_table(["network", "score", "seeds"], [
                 ["classifier (fully connected)", "test accuracy",
                  seed_cell(seed_values(results, "models", "classifier", "test_accuracy"), 4)],
                 ["thickness regressor (conv)", "test MAE (px)",
                  seed_cell(seed_values(results, "models", "thickness_regressor", "test_mae"), 3)]]), "",
             "## Table 1: random -> random streams", "",
             markdown_table(["variant", "seeds", *(h for h, _, _ in TABLE1_ACROSS)],
                            [[v, str(sum(f"table1/{v}" in results[s] for s in seeds))] +
                             [seed_cell(seed_values(results, f"table1/{v}", key), d) for _, key, d in TABLE1_ACROSS]
                             for v in variants if any(f"table1/{v}" in results[s] for s in seeds)]), ""]
    for v in variants:
        r2 = seed_values(results, f"table1/{v}", "r2")
        if r2:
            lines.append(f"- {v}: R^2 above the seed paper's {SEED_TABLE1['r2'][0]} in {sum(x > SEED_TABLE1['r2'][0] for x in r2)} "
                         f"of {len(r2)} seeds ({_per_seed(r2, 3)}); CV below its {SEED_TABLE1['cv'][0]} in "
                         f"{sum(x < SEED_TABLE1['cv'][0] for x in seed_values(results, f'table1/{v}', 'cv'))} of {len(r2)}.")
    plain_im1 = {s: results[s].get("table1/plain", {}).get("im1", {}).get("mean") for s in seeds}
    for v in variants:
        if v == "plain":
            continue
        pairs = [(plain_im1[s], results[s][f"table1/{v}"]["im1"]["mean"]) for s in seeds
                 if plain_im1[s] is not None and f"table1/{v}" in results[s]]
        if pairs:
            lines.append(f"- {v}: IM1 below plain's in {sum(b < a for a, b in pairs)} of {len(pairs)} seeds "
                         f"(plain {_per_seed([a for a, _ in pairs], 3)}; {v} {_per_seed([b for _, b in pairs], 3)}).")
    rows = []
    for v in detail:
        for cohort in COHORTS:
            key = f"table2/{v}/{cohort}"
            before, after = seed_values(results, key, "original"), seed_values(results, key, "final")
            if before:
                spread = sum(end > start for start, end in zip(before, after))
                rows.append([v, cohort, str(len(before)), seed_cell(before, 2), seed_cell(after, 2), f"{spread} of {len(before)}"])
    apart = [c for c, (before, after, _, _) in SEED_TABLE2.items() if after > before]
    lines += ["", "## Table 2: pairwise latent distances, start vs end", "",
              markdown_table(["variant", "cohort", "seeds", "original", "final", "seeds where the ends spread out"], rows), "",
              f"In the seed paper the ends spread out in {' and '.join(apart)} and come closer in "
              f"{' and '.join(c for c in SEED_TABLE2 if c not in apart)}.", "",
              "## Table 3: Siamese fundamental similarity", "",
              markdown_table(["variant", "seeds", "test accuracy", "test F1", "5-fold CV accuracy", f"seeds above the paper's {SEED_TABLE3['test']['accuracy']}"],
                             [[v, str(len(acc)), seed_cell(acc, 4), seed_cell(seed_values(results, f"table3/{v}", "test", "f1"), 4),
                               seed_cell(seed_values(results, f"table3/{v}", "cross_validation", "accuracy"), 4),
                               f"{sum(a > SEED_TABLE3['test']['accuracy'] for a in acc)} of {len(acc)}"]
                              for v in detail if (acc := seed_values(results, f"table3/{v}", "test", "accuracy"))]), "",
              "## Regression: thicker / thinner, re-measured by Morpho-MNIST", "",
              markdown_table(["variant", "intended", "seeds", "success", "claimed change", "measured change",
                              "abs(claimed - measured)", "measured in intended direction"],
                             [[v, f"{change} px", str(len(ok)), seed_cell(ok, 3),
                               *(seed_cell(seed_values(results, f"regression/{v}/{change}", k), 3)
                                 for k in ("claimed_change", "measured_change", "abs_claimed_minus_measured",
                                           "measured_in_intended_direction"))]
                              for v in detail for change in ("+1", "-1")
                              if (ok := seed_values(results, f"regression/{v}/{change}", "success_rate"))]), ""]
    figure = fig.seed_dots({
        "Table 1: R^2": ({v: seed_values(results, f"table1/{v}", "r2") for v in variants}, SEED_TABLE1["r2"]),
        "Table 1: CV": ({v: seed_values(results, f"table1/{v}", "cv") for v in variants}, SEED_TABLE1["cv"]),
        "Table 1: IM1 (lower: nearer the target class)": ({v: seed_values(results, f"table1/{v}", "im1") for v in variants}, None),
        "Table 3: Siamese test accuracy": ({v: seed_values(results, f"table3/{v}", "test", "accuracy") for v in detail},
                                           (SEED_TABLE3["test"]["accuracy"], 0.0))}, out / "figures" / "across_seeds.png")
    lines += ["## Figure", "", f"![each seed's mean per variant, beside the seed paper's](figures/{figure.name})", ""]
    return save_markdown_report(out, lines, "across-seeds.md")
