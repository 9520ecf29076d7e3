"""report.md of `cfae reproduce consistency`: seed 003 Tables 1 and 2, Figures 2, 3, 5 and 8, and the
acceptance check (consistency training raises invariance without worsening reconstruction FID by > 10%)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cfae.experiments.cdvae_gan_report import markdown_table, seed_cell
from cfae.experiments.cf_report import mean_sd
from cfae.experiments.report import save_markdown_report
from cfae.viz import consistency as figures

RESPONSIVE = 0.5
SCORES = ("invariance", "equivariance", "hybrid_mmd", "mse", "fid_reconstruction", "fid_hybrid", "fid_traversal")


def responsive_dimensions(inv: list[list[float]]) -> int:
    """Dimensions that answer their own intervention (diagonal INV below RESPONSIVE; seed section 2.1
    calls the rest collapsed)."""
    return int((np.diagonal(np.asarray(inv)) < RESPONSIVE).sum())


def runs(results: dict, size: str, family: str, variant: str) -> list[dict]:
    """Scores of every seed of one model; size: a key from consistency.size_key."""
    prefix = f"{size}/{family}/{variant}/seed-"
    return [value for key, value in results.items() if key.startswith(prefix)]


def acceptance(results: dict, size: str, family: str, variants) -> list[str]:
    """Per consistency-trained variant: invariance against the plain model and the change of
    reconstruction FID, on means over seeds."""
    from cfae.experiments.consistency import block_variant, label

    plain = runs(results, size, family, "plain")
    lines = []
    for variant in (v for v in variants if v.startswith("XC")):
        trained = runs(results, size, family, variant)
        if not plain or not trained:
            continue
        inv0, inv1 = (mean_sd([r["invariance"] for r in group]) for group in (plain, trained))
        fid0, fid1 = (mean_sd([r["fid_reconstruction"] for r in group]) for group in (plain, trained))
        change = 100 * (fid1[0] - fid0[0]) / fid0[0]
        holds = inv1[0] > inv0[0] and change <= 10
        block = runs(results, size, family, block_variant(variant))
        versus_x = ""
        if block:
            fid_x = mean_sd([r["fid_reconstruction"] for r in block])[0]
            versus_x = (f"; against {label(family, block_variant(variant))} (FID {fid_x:.2f}) "
                        f"{100 * (fid1[0] - fid_x) / fid_x:+.1f}%")
        lines.append(f"- {size}, {label(family, variant)} vs {label(family, 'plain')}: invariance "
                     f"{inv0[0]:.3f} +- {inv0[1]:.3f} -> {inv1[0]:.3f} +- {inv1[1]:.3f}, reconstruction FID "
                     f"{fid0[0]:.2f} +- {fid0[1]:.2f} -> {fid1[0]:.2f} +- {fid1[1]:.2f} ({change:+.1f}% in the mean"
                     f"{versus_x}): {'holds' if holds else 'does NOT hold'} ({len(plain)} / {len(trained)} seeds)")
    return lines


def write_report(out: Path, results: dict) -> Path:
    from cfae.experiments.consistency import SEED_TABLE1, SEED_TABLE2, label, size_key

    setup = results["setup"]
    families, variants, unit_dim = setup["families"], setup["variants"], setup.get("unit_dim", 1)
    sizes = {size_key(d, unit_dim): d for d in setup["latent_dims"]}  # key -> latent size
    parts = [f"# Interventional consistency on {setup['dataset']} (seed 003)", "",
             f"Preset {setup['preset']!r}: hidden {setup['hidden']}, {setup['epochs']} epochs, "
             f"{setup['limit'] or 'all'} training images, Adam lr {setup['lr']} (halved every 30 epochs), batch 128, "
             f"beta-VAE beta {setup['beta']}; seeds {setup['seeds']}. Scores: INV / EQV / SCN at {setup['samples']} codes x "
             f"{setup['interventions']} interventions per dimension (codes: one posterior draw of each of up to 5000 "
             "training images); FIDs on "
             f"{setup['eval_size']} test images under {setup['feature_backend']} (not Inception: not comparable with "
             "the seed's Figure 5a)." + (f" XBlock cause units of {unit_dim} dimensions (the seed's S4 is latent 6, "
                                         f"units of 4)." if unit_dim > 1 else ""), ""]
    rows = []
    for d in sizes:
        for family in families:
            for variant in variants:
                group = runs(results, d, family, variant)
                if group:
                    rows.append([d, label(family, variant), str(len(group))] +
                                [seed_cell([r[k] for r in group]) for k in SCORES] +
                                [seed_cell([responsive_dimensions(r["INV"]) for r in group])])
    parts += ["## Scores (mean +- sd over seeds)", "",
              "invariance: mean off-diagonal INV (Figure 5b; 1 = interventions stay in their dimension); equivariance: "
              "mean EQV; hybrid_mmd: IMQ MMD^2 between codes and their hybridised version (Figure 8; 0 = independent "
              "dimensions); mse: reconstruction error per pixel; responsive: dimensions whose response follows at "
              f"least half of their own intervention (INV[i, i] < {RESPONSIVE}). A response that ignores "
              "interventions is invariant for free (the seed's 'collapsed' dimensions), so read invariance beside it.", "",
              markdown_table(["size", "model", "seeds", *SCORES, "responsive"], rows), "", "## Acceptance check", ""]
    for d in sizes:
        for family in families:
            parts += acceptance(results, d, family, variants)
    rows = []
    for d, latent_dim in sizes.items():
        masks = [r["mask"] for f in families for v in variants for r in runs(results, d, f, v) if "mask" in r]
        if masks:
            seed_value = SEED_TABLE1.get(latent_dim) if unit_dim == 1 else None  # the seed gives unit-1 sizes only
            rows.append([d, str(len(masks)), seed_cell([m["edge_percent"] for m in masks]),
                         seed_cell([m["percent_of_n_squared"] for m in masks]),
                         "-" if seed_value is None else f"{seed_value:.2f}"])
    parts += ["", "## Table 1: XBlock mask sparsity", "",
              "edges present (gate logit > 0) as a percentage of the n(n-1)/2 possible ones, and the same count over "
              "all n^2 mask entries. The seed's values equal (n-1)/(2n) exactly, the n^2 reading of a fully "
              "connected mask.", "",
              markdown_table(["size", "X runs", "edges / possible (%)", "edges / n^2 (%)", "seed (%)"], rows)]
    rows = []
    first = next(iter(sizes))
    for mode, seed_values in SEED_TABLE2.items():  # the seed's Table 2 is the AE family at the first size
        for key, sd in (("self_consistency", "code sd"), ("self_consistency_response_scale", "response sd")):
            row = [f"{mode} ({sd})"]
            for variant, seed_value in zip(("plain", "X", "XC-I"), seed_values):
                scored = [r[key][mode] for r in runs(results, first, "ae", variant) if key in r]
                row += [seed_cell(scored), f"{seed_value:.2f}"]
            rows.append(row)
    parts += ["", f"## Table 2: self-consistency of the AE family ({first}), mean over dimensions", "",
              "SCN = 1 - E|R(N) - N| / sd, the sd taken over the drawn codes (cfae's unit, as for INV and EQV) or "
              "over their responses (the seed's wording); a response that inflates the codes scores higher under "
              "the second.", "",
              markdown_table(["sampling", "AE", "seed AE", "XAE", "seed XAE", "XCAE-I", "seed XCAE"], rows), "",
              "Every model (code sd; AVAE is trained for self-consistency and is the reference):", "",
              markdown_table(["size", "model", *SEED_TABLE2],
                             [[d, label(f, v)] + [seed_cell([r["self_consistency"][mode] for r in group])
                                                       for mode in SEED_TABLE2]
                              for d in sizes for f in families for v in variants
                              if (group := runs(results, d, f, v))]), ""]
    parts += ground_truth_section(results, tuple(sizes), families, variants, out)
    parts += figure_section(out, results, first, families, variants)
    return save_markdown_report(out, parts)


def ground_truth_section(results: dict, sizes, families, variants, out: Path | None = None) -> list[str]:
    """On generated shapes: disentanglement and true-counterfactual scores per model, and whether
    invariance goes with them across every run (Spearman rank correlation; with `out`, a scatter of
    each score against invariance, fig_ground_truth.png)."""
    from scipy.stats import spearmanr

    from cfae.experiments.consistency import label

    keys = {"MIG": lambda g: g["mig"], "DCI disentanglement": lambda g: g["dci_disentanglement"],
            "counterfactual error": lambda g: g["counterfactual"]["error"],
            "re-encoding floor": lambda g: g["counterfactual"]["floor"],
            "excess over floor": lambda g: g["counterfactual"]["error"] - g["counterfactual"]["floor"],
            "dimension agreement": lambda g: g["counterfactual"]["dimension_agreement"]}
    every, family_of, rows = [], [], []
    for d in sizes:
        for f in families:
            for v in variants:
                scored = [r for r in runs(results, d, f, v) if "ground_truth" in r]
                if scored:
                    every += scored
                    family_of += [label(f, "plain")] * len(scored)
                    rows.append([d, label(f, v), str(len(scored))]
                                + [seed_cell([get(r["ground_truth"]) for r in scored]) for get in keys.values()])
    if not every:
        return []
    parts = ["## Ground truth (generated shapes)", "",
             "counterfactual error: per-pixel squared error between the true render of a scene with one factor "
             "changed and the model's counterfactual made by intervening on the one latent dimension that moves most "
             "(value from the true render's code); re-encoding floor: the error of decoding the true render's full "
             "code; excess over floor: the difference, what the single-dimension intervention adds to the model's own "
             "reconstruction error (a model that reconstructs worse has a higher error and floor alike); dimension "
             "agreement: how often the same dimension is chosen for a factor.", "",
             markdown_table(["size", "model", "seeds", *keys], rows), "",
             f"Spearman rank correlation with invariance over all {len(every)} runs:", ""]
    invariance = [r["invariance"] for r in every]
    scores = {name: [get(r["ground_truth"]) for r in every] for name, get in keys.items()}
    titles = {}
    invariance_varies = len(set(invariance)) > 1
    for name, values in scores.items():
        if not invariance_varies or len(set(values)) < 2:  # a constant has no ranks to correlate
            parts.append(f"- {name}: rho undefined (one side is the same in every run)")
            titles[name] = f"{name}\nrho undefined"
            continue
        rho, p = spearmanr(invariance, values)
        parts.append(f"- {name}: rho = {rho:.3f} (p = {p:.3g})")
        titles[name] = f"{name}\nrho = {rho:.2f} (p = {p:.2g})"
    if out is not None:
        path = figures.score_scatters(invariance, scores, family_of, out / "fig_ground_truth.png", "invariance", titles)
        parts += ["", f"![ground-truth scores against invariance]({path.name})"]
    return parts + [""]


def figure_section(out: Path, results: dict, size: str, families, variants) -> list[str]:
    """Figures 2, 3, 5b, 8 and the learned masks, from the first seed's runs of the first model size."""
    from cfae.experiments.consistency import label

    parts = ["## Figures", ""]
    summary = {label(f, "plain"): {v: mean_sd([r["invariance"] for r in runs(results, size, f, v)]) or (np.nan, 0)
                                   for v in variants} for f in families}
    parts.append(f"![invariance summary]({figures.grouped_bars(summary, out / 'fig5b_invariance.png', 'mean off-diagonal INV').name})")
    spread = {label(f, v): [r["hybrid_mmd"] for r in runs(results, size, f, v)] for f in families for v in variants}
    parts.append(f"![hybrid MMD]({figures.distributions(spread, out / 'fig8_hybrid_mmd.png', 'IMQ MMD^2 codes vs hybrid').name})")
    for family in families:
        first = {v: runs(results, size, family, v)[0] for v in variants if runs(results, size, family, v)}
        inv = {f"INV {label(family, v)}": np.array(r["INV"]) for v, r in first.items()}
        eqv = {f"EQV {label(family, v)}": np.array(r["EQV"]) for v, r in first.items()}
        path = figures.heatmaps({**inv, **eqv}, out / f"fig3_{family}.png")
        parts.append(f"![INV and EQV, {family}]({path.name})")
        for v, r in first.items():
            walk = r["traversal"]
            path = figures.response_errors(walk["values"], walk["errors"], out / f"fig2_{family}_{v}.png",
                                           title=f"{label(family, v)}: response errors traversing the last dimension")
            parts.append(f"![response errors {label(family, v)}]({path.name})")
        masks = {label(family, v): np.array(r["mask"]["gates"]) for v, r in first.items() if "mask" in r}
        if masks:
            path = figures.heatmaps(masks, out / f"masks_{family}.png", xlabel="parent", ylabel="child")
            parts.append(f"![learned masks {family}]({path.name})")
    first_seed = results["setup"]["seeds"][0]
    images = sorted((out / "figures").glob(f"*_{size.removeprefix('latent-')}_*_seed{first_seed}.png"))
    parts += ["", f"Image figures of seed {first_seed}'s runs (traversals: one row per dimension; samples: inputs, "
              "reconstructions, hybrid samples; hybridisation: base, alternative, one hybrid per dimension; "
              "double_noise / double_causes: references, then base with dimensions i and j from the two "
              "alternatives):", ""]
    return parts + [f"![{p.stem}](figures/{p.name})" for p in images]
