"""Report of the beta-VAE / dSprites reproduction: the slide table beside cfae's scores, the
normalised-beta figure, traversals and KL bars."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

from cfae.data.groundtruth import ShapesSpace
from cfae.data.registry import get_dataset
from cfae.experiments.report import save_markdown_report
from cfae.viz import figures

COLUMNS = ["beta_vae_eval", "factor_vae_eval", "mig", "dci_disentanglement", "dci_completeness",
           "dci_informativeness_test", "sap", "modularity", "explicitness_test", "irs"]


def row_name(beta: float, model: str = "vae") -> str:
    """The table row of a model trained with this beta: the VAE at 1, else the beta-VAE; for
    beta-tcvae and factor-vae, the beta-TCVAE / FactorVAE with this weight on the total correlation."""
    if model == "beta-tcvae":
        return f"beta-TCVAE (beta {beta:g})"
    if model == "factor-vae":
        return f"FactorVAE (gamma {beta:g})"
    return "VAE" if beta == 1 else f"beta-VAE (beta {beta:g})"


def _cell(runs: list[dict], key: str, percent: bool = False) -> str:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return "-"
    scale = 100 if percent else 1
    mean = statistics.fmean(values) * scale
    sd = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.2f} +- {sd:.2f}" if percent else f"{mean:.3f} +- {sd:.3f}"


def traversal_file(row: str) -> str:
    """The PNG of a row's traversals, named after the whole row ("FactorVAE (gamma 10)" ->
    traversals_factorvae-gamma-10.png): two rows of one model with other weights get two files."""
    return "traversals_" + re.sub(r"[^a-z0-9]+", "-", row.lower()).strip("-") + ".png"


def score_table(scores: dict[str, list[dict]]) -> str:
    from cfae.experiments.betavae_dsprites import SLIDE_HIGGINS

    header = ["representation", "seeds", "slide Higgins %", "cfae Higgins %"] + COLUMNS[1:]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, runs in scores.items():
        slide_key = "beta-VAE" if name.startswith("beta-VAE") else name
        slide = SLIDE_HIGGINS.get(slide_key)
        cells = [name, str(len(runs)), f"{slide:.2f}" if slide is not None else "-", _cell(runs, "beta_vae_eval", True)]
        cells += [_cell(runs, key) for key in COLUMNS[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sign_test_p(higher: int, lower: int) -> float:
    """Two-sided exact sign test of `higher` wins against `lower` losses (ties left out):
    p = min(1, 2 sum_{i >= max(higher, lower)} C(n, i) / 2^n), n = higher + lower; 1 when n = 0."""
    n = higher + lower
    tail = sum(math.comb(n, i) for i in range(max(higher, lower), n + 1))
    return min(1.0, 2 * tail / 2**n) if n else 1.0


def paired_table(scores: dict[str, list[dict]],
                 keys=("beta_vae_eval", "mig", "dci_disentanglement", "factor_vae_eval")) -> str:
    """Each beta-VAE, beta-TCVAE and FactorVAE row minus the VAE of the same seed (each run's "seed"; a seed
    without a VAE run is left out): mean +- sd of the differences, the seeds where the row scores
    higher and the sign test's p of that count. Empty without a VAE row."""
    vae = {run["seed"]: run for run in scores.get("VAE", [])}
    rows = [(name, runs) for name, runs in scores.items() if name.startswith(("beta-VAE", "beta-TCVAE", "FactorVAE"))]
    if not vae or not rows:
        return ""
    lines = ["| minus the VAE, same seed | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, runs in rows:
        cells, pairs = [], [(vae[b["seed"]], b) for b in runs if b["seed"] in vae]
        for key in keys:
            diffs = [b[key] - a[key] for a, b in pairs if a.get(key) is not None and b.get(key) is not None]
            scale = 100 if key == "beta_vae_eval" else 1
            sd = statistics.stdev(diffs) * scale if len(diffs) > 1 else 0.0
            higher, lower = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
            cells.append(f"{statistics.fmean(diffs) * scale:+.3g} +- {sd:.2g} ({higher} of {len(diffs)} higher, "
                         f"sign test p {sign_test_p(higher, lower):.2g})" if diffs else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def recall_table(scores: dict[str, list[dict]], factor_names: tuple[str, ...]) -> str:
    """Higgins metric per fixed factor (eval recall, %, mean over seeds): which factors the codes confuse."""
    lines = ["| representation | " + " | ".join(factor_names) + " |", "|---" * (len(factor_names) + 1) + "|"]
    for name, runs in scores.items():
        recalls = [r["beta_vae_eval_recall"] for r in runs if r.get("beta_vae_eval_recall")]
        if recalls:
            cells = [f"{100 * statistics.fmean(r[k] for r in recalls if r[k] is not None):.1f}" for k in range(len(factor_names))]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def training_table(history: dict[str, dict[int, list[dict]]], keys=("beta_vae_eval", "mig", "dci_disentanglement",
                                                                       "factor_vae_eval")) -> str:
    """Scores of each model at every epoch count its runs were scored at (mean +- sd over seeds)."""
    lines = ["| representation | epochs | seeds | " + " | ".join(keys) + " |", "|---" * (len(keys) + 3) + "|"]
    for name, by_epochs in history.items():
        for epochs, runs in sorted(by_epochs.items()):
            cells = [_cell(runs, key, percent=key == "beta_vae_eval") for key in keys]
            lines.append(f"| {name} | {epochs} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_table(sweep: dict[int, list[tuple[float, float]]]) -> str:
    from cfae.experiments.betavae_dsprites import PIXELS

    lines = [f"| latent size M | beta | normalised beta (beta M / {PIXELS}) | Higgins % |", "|---|---|---|---|"]
    for m, points in sorted(sweep.items()):
        for norm_beta, higgins in sorted(points):
            lines.append(f"| {m} | {norm_beta * PIXELS / m:g} | {norm_beta:.4f} | {100 * higgins:.2f} |")
    return "\n".join(lines)


def mnist_table(mnist: dict[float, list[dict]]) -> str:
    lines = ["| model | seeds | active units (of 10) | total correlation (nats) |", "|---|---|---|---|"]
    for beta, runs in sorted(mnist.items()):
        lines.append(f"| {row_name(beta)} | {len(runs)} | {_cell(runs, 'active_units')} | {_cell(runs, 'total_correlation')} |")
    return "\n".join(lines)


def write_report(out: Path, scores: dict[str, list[dict]], sweep: dict, models: dict, mnist: dict,
                 history: dict[str, dict[int, list[dict]]] | None = None) -> Path:
    """history (row -> epochs -> runs' scores): a table and figure over training, when some run was
    scored at more than one epoch count."""
    test = get_dataset("shapes", "test").head(64)
    lines = ["# beta-VAE on generated dSprites (seed 004)", "",
             "Disentanglement suite on encoder means (disentanglement_lib defaults, reference A); mean +- sd over seeds.",
             "Raw pixels get the Higgins metric only (4096-D codes).", "", score_table(scores), "",
             "Higgins metric per fixed factor (eval recall, %): a factor the codes do not carry looks like",
             "any other such factor, and the classifier can name only one of them.", "",
             recall_table(scores, ShapesSpace.factor_names), ""]
    paired = paired_table(scores)
    if paired:
        lines += ["Paired by seed (Higgins in points of %):", "", paired, ""]
    if history and any(len(by_epochs) > 1 for by_epochs in history.values()):
        series = {name: {e: [r["beta_vae_eval"] * 100 for r in runs] for e, runs in by_epochs.items()}
                  for name, by_epochs in history.items()}
        fig = figures.metric_over_epochs(series, out / "higgins_over_epochs.png", metric="Higgins metric (%)")
        lines += ["## Over training", "", "Each run's scores at every epoch count it was scored at (a resumed run "
                  "keeps its earlier scores):", "", training_table(history), "", f"![Higgins over epochs]({fig.name})", ""]
    if sweep:
        fig = figures.metric_vs_normalised_beta(sweep, out / "normalised_beta.png")
        lines += [f"![normalised beta]({fig.name})", "", sweep_table(sweep), ""]
    kl = {}
    for name, model in models.items():
        path = figures.latent_traversals(model, test.pixels(slice(0, 1)), out / traversal_file(name), span=2.5)
        lines += [f"{name} traversals (rows: latent dimensions):", "", f"![{name}]({path.name})", ""]
        run_scores = scores.get(name, [{}])[0]
        if run_scores.get("kl_per_dim"):
            kl[name] = run_scores["kl_per_dim"]
    if kl:
        bars = figures.kl_bars(kl, out / "kl_per_dimension.png")
        lines += [f"![KL per dimension]({bars.name})", ""]
    if mnist:
        lines += ["## MNIST (no ground-truth factors)", "", mnist_table(mnist), ""]
    return save_markdown_report(out, lines)
