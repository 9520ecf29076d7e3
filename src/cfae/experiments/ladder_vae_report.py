"""report.md of `cfae reproduce ladder-vae`: the slides' table, the acceptance check and Figures 2, 4-6."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import cfae
from cfae.experiments.cdvae_gan_report import markdown_table, seed_cell
from cfae.experiments.ladder_vae import LAYER_SIZES, SLIDES_MNIST
from cfae.experiments.report import save_markdown_report
from cfae.viz import ladder as figures


def finished(results: dict, variant: str, layers: int) -> list[dict]:
    """The scored runs (every seed) of one table cell."""
    return [r for key, r in results.items() if key.startswith(f"{variant}/{layers}/") and "log_likelihood" in r]


def fell(run: dict) -> tuple[float, int] | None:
    """(best test ELBO, its epoch) of a run that diverged, the last epoch's test ELBO below the first's;
    None for a run that did not (or has no curve). A diverged run's scores are the wreck, not a measurement."""
    curve = run.get("curve") or []
    elbo = [-c["test_neg_elbo"] for c in curve]
    if len(elbo) < 2 or elbo[-1] >= elbo[0]:
        return None
    best = int(np.argmax(elbo))
    return elbo[best], curve[best]["epoch"]


def healthy(runs: list[dict]) -> list[dict]:
    return [r for r in runs if fell(r) is None]


def table_cell(runs: list[dict]) -> str:
    """The log-likelihood cell over the runs that did not diverge, with the seed count; diverged runs
    are counted, never averaged in."""
    falls = [fell(r) for r in runs]
    kept, lost = [r for r, f in zip(runs, falls) if f is None], [f for f in falls if f is not None]
    cell = seed_cell([r["log_likelihood"] for r in kept]) + (f" ({len(kept)})" if kept else "")
    if not lost:
        return cell
    best, epoch = max(lost)
    note = f"{len(lost)} diverged (best ELBO {best:.2f}, epoch {epoch})"
    return note if not kept else f"{cell}; {note}"


def top_active(run: dict) -> int:
    """Active units (KL > 0.01 nats) in the top layer of a run."""
    return list(run["layers"].values())[-1]["active_kl"]


def acceptance(results: dict, layer_counts) -> list[str]:
    """LVAE+BN+WU against each bottom-up VAE column with the same layers: test log-likelihood and
    active units of the top layer (mean over seeds)."""
    lines = []
    for layers in (n for n in layer_counts if n > 1):
        ladder = healthy(finished(results, "LVAE+BN+WU", layers))
        if not ladder:
            continue
        ll, top = np.mean([r["log_likelihood"] for r in ladder]), np.mean([top_active(r) for r in ladder])
        for variant in ("VAE", "VAE+BN", "VAE+BN+WU"):
            runs = finished(results, variant, layers)
            other = healthy(runs)
            if runs and not other:
                lines.append(f"- {layers} layers, LVAE+BN+WU vs {variant}: every {variant} run diverged ({len(runs)}); "
                             "nothing to compare")
            elif other:
                other_ll, other_top = np.mean([r["log_likelihood"] for r in other]), np.mean([top_active(r) for r in other])
                lines.append(f"- {layers} layers, LVAE+BN+WU vs {variant}: log-likelihood {ll:.2f} vs {other_ll:.2f} "
                             f"({'better' if ll > other_ll else 'not better'}); active units in the top layer "
                             f"{top:.1f} vs {other_top:.1f} ({'more' if top > other_top else 'not more'}); "
                             f"{len(ladder)} vs {len(other)} seed(s)")
    return lines


def write_report(out: Path, results: dict, test, data_root) -> Path:
    setup = results["setup"]
    variants, layer_counts, k = setup["variants"], sorted(setup["layer_counts"]), setup["k"]
    rows = []
    for layers in layer_counts:
        cells = []
        for variant in variants:
            cells.append(table_cell(finished(results, variant, layers)))
        rows.append(["-".join(map(str, LAYER_SIZES[:layers])), *cells])
    parts = ["# Hierarchical VAEs on dynamically binarised MNIST (seed 004, Ladder VAE)", "",
             f"Preset {setup['preset']}: {setup['epochs']} epochs, KL warm-up over {setup['warmup']} epochs (WU columns), "
             f"Adam lr {setup['lr']}, batch {setup['batch']}; test set: {setup['test_images']} images, one fixed "
             f"binarisation. Test log-likelihood = importance-weighted bound with K = {k} samples, nats, mean +- sd "
             "over seeds (seed count in brackets). The slides trained for thousands of epochs and used K = 5000: "
             "the numbers below are not theirs to compare cell by cell.", "",
             markdown_table(["layers", *variants], rows), "",
             "The slides' MNIST references (K = 5000 unless stated): "
             + "; ".join(f"{name} {value:.2f}" for name, value in SLIDES_MNIST.items()) + ".", ""]
    best = healthy(finished(results, "LVAE+BN+WU", 5))
    if best:
        mean = float(np.mean([r["log_likelihood"] for r in best]))
        parts += [f"5-layer LVAE+BN+WU here: {mean:.2f} nats after {best[0]['epochs']} epochs with K = {k}, "
                  f"{mean - SLIDES_MNIST['LVAE 5-layer']:+.2f} nats from the slides' -82.12.", ""]
    compared = acceptance(results, layer_counts)
    if compared:  # only where LVAE+BN+WU ran
        parts += ["## Acceptance: LVAE+BN+WU against the VAEs with the same layers", "", *compared, ""]
    parts += active_units_section(results, variants, layer_counts)
    parts += trend_section(results, variants, max(layer_counts), setup["warmup"])
    parts += figure_section(out, results, variants, layer_counts, test)
    return save_markdown_report(out, parts)


def power_law_fit(epochs, values) -> tuple[float, float, float, float]:
    """(a, b, c, sd of a) of the saturating curve y(t) = a - b t^(-c), b, c > 0, fitted by least
    squares; a is where the curve heads as t -> infinity (an extrapolation: its sd, from the fit's
    covariance, says how little a short curve pins it down)."""
    from scipy.optimize import curve_fit

    t, y = np.asarray(epochs, float), np.asarray(values, float)
    guess = (y[-1] + (y[-1] - y[0]), (y[-1] - y[0]) * 2, 1.0)
    (a, b, c), covariance = curve_fit(lambda t, a, b, c: a - b * t ** -c, t, y, p0=guess,
                             bounds=([-np.inf, 0, 1e-3], [np.inf, np.inf, 10]), maxfev=20000)
    return float(a), float(b), float(c), float(np.sqrt(covariance[0, 0]))


def trend_section(results: dict, variants, layers: int, warmup: int) -> list[str]:
    """Where training is heading: per column of `layers` layers, the mean test ELBO's gain per epoch
    over the last 3 epochs and the asymptote of a power-law fit after the warm-up epochs; plus the
    IW bound's margin over the ELBO at the last epoch, which the ELBO asymptote does not include.
    Runs that diverged are left out of a column that has others."""
    rows = []
    for variant in variants:
        runs = [r for r in finished(results, variant, layers) if r.get("curve")]
        runs = healthy(runs) or runs  # the fallen curves only where no run stayed up
        if not runs or len({len(r["curve"]) for r in runs}) != 1 or len(runs[0]["curve"]) < warmup + 4:
            continue
        epochs = [c["epoch"] for c in runs[0]["curve"]]
        elbo = -np.mean([[c["test_neg_elbo"] for c in r["curve"]] for r in runs], axis=0)
        if elbo[-1] > elbo[warmup]:
            a, _, c, sd = power_law_fit(epochs[warmup:], elbo[warmup:])
            heading = f"{a:.1f} +- {sd:.1f} (c = {c:.2f})"
            margin = f"{np.mean([r['log_likelihood'] - r['elbo'] for r in runs]):+.2f}"
        else:  # a saturating rise cannot describe it; best is where the curve stood before it fell
            best = int(np.argmax(elbo))
            heading, margin = f"no fit: the ELBO fell, best {elbo[best]:.2f} at epoch {epochs[best]}", "-"
        rows.append([variant, str(len(runs)), f"{elbo[-1]:.2f}", f"{(elbo[-1] - elbo[-4]) / 3:+.2f}", heading, margin])
    if not rows:
        return []
    return [f"## Where training is heading ({layers} layers)", "",
            f"Mean test ELBO over seeds by epoch; fit y(t) = a - b t^(-c) on the epochs after the {warmup}-epoch warm-up. "
            "The asymptote a is an extrapolation from a short curve, a direction rather than a prediction; the IW "
            "bound sits above the ELBO by the margin in the last column.", "",
            markdown_table(["model", "seeds", "ELBO, last epoch", "gain / epoch, last 3", "fitted asymptote a +- sd",
                            "IW bound - ELBO"], rows), ""]


def active_units_section(results: dict, variants, layer_counts) -> list[str]:
    rows = []
    for layers in layer_counts:
        for variant in variants:
            runs = healthy(finished(results, variant, layers))
            if runs:
                names = list(runs[0]["layers"])
                cells = [f"{np.mean([r['layers'][n]['active_kl'] for r in runs]):.3g}/{runs[0]['layers'][n]['units']}"
                         for n in names]
                rows.append([str(layers), variant, ", ".join(cells), seed_cell([r["elbo"] for r in runs])])
    return ["## Active units per layer (KL > 0.01 nats, mean over seeds; z1 first) and the one-sample bound", "",
            "Runs that diverged are left out here and in the table above.", "",
            markdown_table(["layers", "model", "active units per layer", "ELBO (K = 1)"], rows), ""]


def first_run(results: dict, variant: str, layers: int) -> tuple[str, dict] | None:
    keys = sorted(k for k in results if k.startswith(f"{variant}/{layers}/") and results[k].get("snapshots"))
    return (keys[0], results[keys[0]]) if keys else None


def figure_section(out: Path, results: dict, variants, layer_counts, test) -> list[str]:
    deepest = max(layer_counts)
    picked = {v: first_run(results, v, deepest) for v in variants}
    picked = {v: p for v, p in picked.items() if p is not None}
    if not picked:
        return []
    curves = {v: [(c["epoch"], -c["test_neg_elbo"]) for c in run["curve"]] for v, (_, run) in picked.items()}
    parts = ["## Figures", "", f"Runs with {deepest} layer(s), first seed.", "",
             f"![test ELBO against epochs]({figures.likelihood_curves(curves, out / 'fig2_test_elbo.png').name})"]
    last = {v: max(run["snapshots"], key=int) for v, (_, run) in picked.items()}
    layer_kl = {f"{v} (epoch {last[v]})": [layer["kl"] for layer in run["snapshots"][last[v]].values()]
                for v, (_, run) in picked.items()}
    parts.append(f"![layer-wise KL]({figures.layer_kl_bars(layer_kl, out / 'fig5_layer_kl.png').name})")
    panels = {}
    for v, (_, run) in picked.items():
        epochs = sorted(run["snapshots"], key=int)
        kl = np.array([sum((layer["unit_kl"] for layer in run["snapshots"][e].values()), []) for e in epochs])
        panels[v] = ([int(e) for e in epochs], kl, [layer["units"] for layer in run["snapshots"][epochs[0]].values()])
    parts.append(f"![per-unit KL]({figures.unit_kl_heatmaps(panels, out / 'fig4_unit_kl.png').name})")
    samples = {}
    batch = test.batch(slice(0, 2000))
    for v, (key, _) in picked.items():
        variant, layers, seed = key.split("/")
        folder = out / "runs" / f"{variant.replace('+', '_')}-{layers}-{seed}"
        if (folder / "checkpoints").exists():
            model = cfae.load(folder).eval()
            with torch.no_grad():
                z = model.encode(batch).rsample()
            samples[v] = [z[:, part.slice] for part in model.latent_spec]
    if samples:
        path = figures.pca_panels(samples, batch.labels["label"], out / "fig6_pca.png")
        parts.append(f"![PCA of q(z_i) samples]({path.name})")
    return parts + [""]
