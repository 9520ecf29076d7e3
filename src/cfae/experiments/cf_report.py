"""Report of the counterfactual-AE reproduction: tables (mean +- sd over seeds), verdicts, Figs. 5-8."""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

import torch

from cfae.data.base import ImageDataset
from cfae.experiments.report import save_markdown_report
from cfae.metrics.counterfactual_ae import DESCRIPTIVE, HIGHER_IS_BETTER
from cfae.metrics.encode import encode_dataset
from cfae.train.checkpoint import load_model
from cfae.viz import figures
from cfae.viz.consistency import heatmaps
from cfae.viz.grid import image_grid

NAMES = {"vae": "VAE", "mmd-vae": "MMD-VAE", "counterfactual-ae": "CF-AE"}
RUN_PATTERN = re.compile(r"(?P<model>.+)-d(?P<dim>\d+)-s(?P<seed>\d+)$")


def collect(out: Path) -> dict[tuple[int, int], dict[str, list[dict]]]:
    """{(latent_dim, epochs): {model: [metrics per seed]}} from every metrics-e*.json under out/runs."""
    table: dict = defaultdict(lambda: defaultdict(list))
    for path in sorted((out / "runs").glob("*/metrics-e*.json")):
        match = RUN_PATTERN.match(path.parent.name)
        if match:
            epochs = int(path.stem.split("-e")[1])
            table[(int(match["dim"]), epochs)][match["model"]].append(json.loads(path.read_text()))
    return table


def mean_sd(values: list[float | None]) -> tuple[float, float] | None:
    """Mean and sd of the recorded values; None when none was recorded."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def markdown_table(by_model: dict[str, list[dict]]) -> str:
    keys = list(HIGHER_IS_BETTER) + DESCRIPTIVE
    lines = ["| model | seeds | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for model in NAMES:
        runs = by_model.get(model, [])
        if runs:
            stats = [mean_sd([r.get(k) for r in runs]) for k in keys]
            cells = ["-" if st is None else ("{:.1f} +- {:.1f}" if k in DESCRIPTIVE else "{:.4f} +- {:.4f}").format(*st)
                     for k, st in zip(keys, stats)]
            lines.append(f"| {NAMES[model]} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(by_model: dict[str, list[dict]]) -> list[str]:
    """For each metric: which baselines the CF-AE's mean strictly beats."""
    cf = by_model.get("counterfactual-ae")
    others = [m for m in ("vae", "mmd-vae") if by_model.get(m)]
    if not cf or not others:
        return []
    lines = []
    for key, higher in HIGHER_IS_BETTER.items():
        stats = {m: mean_sd([r.get(key) for r in by_model[m]]) for m in ["counterfactual-ae", *others]}
        if any(st is None for st in stats.values()):
            lines.append(f"- {key}: not recorded for every model (see the notes)")
            continue
        cf_mean = stats.pop("counterfactual-ae")[0]
        means = {m: st[0] for m, st in stats.items()}
        beaten = [m for m in others if (cf_mean > means[m] if higher else cf_mean < means[m])]
        if len(beaten) == len(others):
            verdict = "better than every baseline"
        elif beaten:
            verdict = "better than " + ", ".join(NAMES[m] for m in beaten) + " only"
        else:
            verdict = "not better than any baseline"
        values = ", ".join(f"{NAMES[m]} {v:.4f}" for m, v in means.items())
        direction = "higher" if higher else "lower"
        lines.append(f"- {key} ({direction} is better): CF-AE {verdict} (CF-AE {cf_mean:.4f}; {values})")
    return lines


def figure_set(out: Path, test: ImageDataset, epochs: int) -> list[str]:
    """Figs. 5-8 for the 2-D, seed-0 runs at their latest checkpoint."""
    runs = {m: out / "runs" / f"{m}-d2-s0" for m in NAMES if (out / "runs" / f"{m}-d2-s0" / "checkpoints").exists()}
    if not runs:
        return []
    models = {m: load_model(path) for m, path in runs.items()}
    codes = {NAMES[m]: encode_dataset(model, test).mean for m, model in models.items()}
    fig5 = figures.latent_scatters(codes, test.class_labels, out / "fig5_latent_space.png", test.class_names)
    z = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        samples = {NAMES[m]: image_grid(model.decode(z), nrow=10) for m, model in models.items()}
    fig6 = figures.image_panels(samples, out / "fig6_random_samples.png")
    histories = {NAMES[m]: [json.loads(line) for line in (p / "log.jsonl").read_text().splitlines()]
                 for m, p in runs.items() if m in ("vae", "counterfactual-ae")}
    fig7 = figures.loss_curves(histories, out / "fig7_training_mse.png", key="mse")
    lines = [f"![Fig. 5]({fig5.name})", f"![Fig. 6]({fig6.name})", f"![Fig. 7]({fig7.name})"]
    if "counterfactual-ae" in models:
        fig8 = figures.latent_manifold(models["counterfactual-ae"], out / "fig8_cf_manifold.png")
        lines.append(f"![Fig. 8]({fig8.name})")
    return [f"Figures: 2-D latent, seed 0, after {epochs} epochs.", ""] + lines


def plane_figure(out: Path, dim: int, epochs: int) -> list[str]:
    """Heatmaps of the hole rate on every plane z_i, z_j, seed 0 of each model (a D > 2 latent)."""
    files = {NAMES[m]: out / "runs" / f"{m}-d{dim}-s0" / f"metrics-e{epochs}.json" for m in NAMES}
    planes = {name: json.loads(f.read_text()).get("planes_hole_rates") for name, f in files.items() if f.exists()}
    planes = {name: matrix for name, matrix in planes.items() if matrix is not None}
    if not planes:
        return []
    path = heatmaps(planes, out / f"planes_hole_rate_d{dim}_e{epochs}.png", xlabel="dimension j", ylabel="dimension i",
                    columns=3, cmap="magma")
    return [f"Hole rate on each plane z_i, z_j (other dimensions 0), seed 0, after {epochs} epochs:", "",
            f"![planes]({path.name})", ""]


def write_report(out: Path, dataset: str, classifier_accuracy: float, train: ImageDataset, test: ImageDataset) -> Path:
    table = collect(out)
    lines = [f"# Counterfactual Autoencoder vs VAE vs MMD-VAE on {dataset}", "",
             f"Independent CNN classifier (hole rates): test accuracy {classifier_accuracy:.4f}.",
             "Metrics on the test split, mean +- sd over seeds. mmd: MMD^2 of q(z) vs N(0, I); ks: Kolmogorov-Smirnov",
             "per dimension; max_abs_corr: largest |corr| between two dimensions; hole rate: share of decoded codes",
             "whose top class probability < 0.5 (20 x 20 percentile grid over z1, z2, as Fig. 8; planes_: the same",
             "grid on every plane z_i, z_j (up to 120, else 120 drawn), other dimensions 0, mean and worst plane,",
             "planes_active_: the mean over planes of two active dimensions (encoder side, Burda's Var_x E[z_d|x] > 0.01;",
             "active_units counts them), planes_used_: over planes of two used ones (decoder side: sweeping z_d over its",
             "5-95% data range moves the decoded image by > 0.02 of the squared distance between two reconstructions;",
             "used_units counts them; a plane of two unused dimensions decodes one image, scoring 0 or 1); and 400",
             "prior draws);",
             "knn_accuracy: 5-NN on posterior means; silhouette: by class; test_mse: per pixel at the posterior mean.", ""]
    for (dim, epochs) in sorted(table):
        lines += [f"## {dim}-D latent, {epochs} epochs", "", markdown_table(table[(dim, epochs)]), "",
                  "Where the CF-AE stands:", *verdicts(table[(dim, epochs)]), ""]
        if dim > 2:
            lines += plane_figure(out, dim, epochs)
    last = max((e for d, e in table if d == 2), default=None)
    if last is not None:
        lines += figure_set(out, test, last)
    return save_markdown_report(out, lines)
