"""report.md of `cfae reproduce causalvae`: the MIC/TIC table (beside the slides' on Pendulum), learned graphs,
true-counterfactual errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cfae.data.worlds import PENDULUM, causal_world
from cfae.experiments.report import save_markdown_report
from cfae.viz.consistency import heatmaps


def _mean_sd(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 seed)"
    return f"{np.mean(values):.{digits}f} +- {np.std(values, ddof=1):.{digits}f}"


def _entries(results: dict, name: str) -> list[dict]:
    return [v for k, v in sorted(results.items()) if k.startswith(f"{name}/seed-")]


def write_report(out: Path, results: dict) -> Path:
    from cfae.experiments.causalvae import MODELS, SLIDES, UNCHANGED

    setup = results["setup"]
    world = causal_world(setup.get("dataset", "pendulum"))
    concepts = world.concepts
    slides = SLIDES if world is PENDULUM else {}
    names = [m for m in MODELS if _entries(results, m)]
    lines = [f"# CausalVAE on {'Pendulum' if world is PENDULUM else world.name} (seed 004)", "",
             f"Preset `{setup['preset']}`: {setup['epochs']} epochs, batch {setup['batch']}, lr {setup['lr']}, "
             f"network {setup['network']} {list(setup['hidden'])}; the reference trains about 100 epochs (on Pendulum). "
             f"Test examples: {setup['test_scenes']}. Seeds run per model: "
             + ", ".join(f"{m} {len(_entries(results, m))}" for m in names) + ".", "",
             "## MIC and TIC between each concept and its latent (%)", "",
             "minepy's MINE(alpha 0.6, c 15) between each concept label and its latent (CausalVAE: the mean of the "
             "concept's dimensions; other models: the code dimension with the largest |r| with the label), averaged "
             f"over the {len(concepts)} concepts. TIC is normalised by the number of cells of the characteristic matrix (its mean "
             "cell), which puts it in [0, 1]; the slides do not say how theirs is normalised.", "",
             "| model | MIC (cfae) | TIC (cfae) | MIC (slides) | TIC (slides) |", "|---|---|---|---|---|"]
    for name in names:
        info = [e["information"] for e in _entries(results, name)]
        quote = slides.get(name)
        quoted = (f"{quote[0]}" + (f" +- {quote[1]}" if quote[1] else ""), f"{quote[2]}" + (f" +- {quote[3]}" if quote[3] else "")) if quote else ("-", "-")
        lines.append(f"| {name} | {_mean_sd([i['mic'] for i in info])} | {_mean_sd([i['tic'] for i in info])} | {quoted[0]} | {quoted[1]} |")
    lines += ["", "## Learned graphs", "",
              f"True graph: {', '.join(f'{a} -> {b}' for a, b in world.edges)}. Edges where |A| > "
              f"{setup['edge_threshold']}; SHD counts missing, extra and reversed edges. The heatmaps share one "
              "colour scale, -1 to 1.", "",
              "| model | seed | SHD | SHD of A's start | edges (parent -> child) |", "|---|---|---|---|---|"]
    maps = {"true graph": world.graph()}
    for name in names:
        for k, entry in enumerate(_entries(results, name)):
            graph = entry["graph"]
            if graph is None:
                continue
            edges = np.argwhere(np.array(graph["edges"]))
            listed = ", ".join(f"{concepts[a]} -> {concepts[b]}" for a, b in edges) or "none"
            lines.append(f"| {name} | {k} | {graph['shd']} | {graph.get('start_shd', '-')} | {listed} |")
            maps[f"{name} seed {k}"] = np.array(graph["weights"])
    if len(maps) > 1:
        short = [c.replace("pendulum", "pend.").replace("shadow_", "sh. ").replace("_angle", " angle") for c in concepts]
        heatmaps(maps, out / "adjacency.png", xlabel="child", ylabel="parent", vmin=-1.0, vmax=1.0, labels=short,
                 cmap="RdBu_r")
        lines += ["", "![learned adjacency](adjacency.png)"]
    lines += ["", "## Counterfactuals against the mechanism's truth", "",
              "do(concept = v) for values across each concept's range on test examples; pixel MSE between the model's "
              "counterfactual and the true image; concept error = mean |re-estimated - true| of the intervened concept "
              "(label units) by the concept regressor"
              + (f" (its test MAE per concept: {', '.join(f'{c} {e:.2f}' for c, e in zip(concepts, results['regressor']['test_mae']))})"
                 if "regressor" in results else "") + "."
              + (" A set shadow is a scene the simulator never renders; its truth keeps both angles." if world is PENDULUM
                 else " The truth keeps each example's exogenous noise, so do() on a cause moves its effects as the data's mechanism would."),
              "",
              "| model | " + " | ".join(f"{c}: pixel MSE / concept error" for c in concepts) + " |",
              "|---|" + "---|" * len(concepts)]
    for name in names + ([UNCHANGED] if _entries(results, UNCHANGED) else []):
        cells = []
        for c in concepts:
            rows = [e["counterfactuals"][c] for e in _entries(results, name)]
            error = [r["concept_error"] for r in rows if "concept_error" in r]
            cells.append(f"{_mean_sd([r['pixel_mse'] for r in rows], 4)} / {_mean_sd(error, 2)}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if _entries(results, UNCHANGED):
        lines += ["", f"The {UNCHANGED} row offers the original image as every counterfactual: a model whose "
                  "counterfactuals are no closer to the truth than that has not rendered the intervention."]
    lines += ["", "Figure 3 grids (one row per concept across its range; bottom row: the scene and its reconstruction) "
              "per model under figures/<model>/figure3.png, the true renders in figure3_truth.png.", ""]
    lines += acceptance(results, names, concepts)
    return save_markdown_report(out, lines)


def acceptance(results: dict, names: list[str], concepts: tuple[str, ...] = PENDULUM.concepts) -> list[str]:
    """The issue's three acceptance checks for each CausalVAE trained with labels, answered from the
    measured entries; the baselines are the models that are not CausalVAE variants."""
    lines = ["## Acceptance", ""]
    baselines = [n for n in names if not n.startswith("CausalVAE")]
    pixel = {n: np.mean([np.mean([e["counterfactuals"][c]["pixel_mse"] for c in concepts]) for e in _entries(results, n)])
             for n in names}
    from cfae.experiments.causalvae import UNCHANGED

    reference = _entries(results, UNCHANGED)
    unchanged = np.mean([np.mean([e["counterfactuals"][c]["pixel_mse"] for c in concepts]) for e in reference]) if reference else None
    for name in (n for n in ("CausalVAE", "CausalVAE-refinit") if n in names):
        if "beta-VAE" in names:
            mic = {n: [e["information"]["mic"] for e in _entries(results, n)] for n in (name, "beta-VAE")}
            lines.append(f"- MIC: {name} {_mean_sd(mic[name])} vs beta-VAE {_mean_sd(mic['beta-VAE'])}: "
                         + (f"{name} is above." if np.mean(mic[name]) > np.mean(mic["beta-VAE"]) else f"{name} is NOT above."))
        graphs = [e["graph"] for e in _entries(results, name)]
        shds = [g["shd"] for g in graphs]
        tolerance = 1 if len(concepts) > 2 else 0  # between two concepts, every graph is one edge from the truth
        close = sum(s <= tolerance for s in shds)
        starts = [g.get("start_shd") for g in graphs]
        started = ""
        if None not in starts:
            started = f"; A starts at SHD {starts}" + (", so training brought it no closer to the truth"
                                                         if all(s >= a for s, a in zip(shds, starts)) else "")
        lines.append(f"- Graph, {name}: SHD per seed {shds}{started}; "
                     + ("within one edge of the truth" if tolerance else "the true graph") + " for "
                     f"{close} of {len(shds)} seeds "
                     + ("(criterion: at least 2 of 3 met)." if close >= 2 and len(shds) >= 3 else "(criterion: at least 2 of 3, not met)."))
        if baselines:
            best = min(baselines, key=pixel.get)
            lines.append(f"- Counterfactual pixel MSE averaged over concepts: {name} {pixel[name]:.4f}, best baseline {best} "
                         f"{pixel[best]:.4f}: " + (f"{name} beats the baselines." if pixel[name] < pixel[best]
                                                 else f"{name} does NOT beat the baselines.")
                         + (f" The unchanged scene scores {unchanged:.4f}, so {name}'s counterfactuals are "
                            + ("closer to the truth than no change at all." if pixel[name] < unchanged
                               else "NOT closer to the truth than no change at all.") if unchanged is not None else ""))
    return lines
