"""`cfae reproduce ladder-vae`: seed 004's hierarchical VAEs on dynamically binarised MNIST.

The slides' table: VAE, VAE+BN, VAE+BN+WU (bottom-up inference, `hvae`) and LVAE+BN+WU (`lvae`)
with 1 to 5 stochastic layers 64-32-16-8-4, test log-likelihood as an importance-weighted bound
(K stated). Per run, at every snapshot epoch: the per-unit KL (Figure 4) and active units; after
the last epoch: the IW bound, layer-wise KL (Figure 5) and, for 5 layers, PCA of q(z_i) samples
coloured by class (Figure 6). The one-sample test ELBO of every epoch (Figure 2) comes from the
training log. Runs are trained snapshot by snapshot and resume where they stopped; each snapshot's
scores name the code that computed them (snapshots_scored_by), the entry's top level the latest's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from cfae import jsonio
from cfae.data import get_dataset
from cfae.experiments.cached import trained_run
from cfae.metrics.hierarchy import per_layer, unit_statistics
from cfae.metrics.likelihood import importance_weighted_bound
from cfae.registry import check_choices
from cfae.train.config import TrainConfig
from cfae.train.provenance import SCORED_BY, scorer
from cfae.train.run import RunConfig
from cfae.train.trainer import read_log

LAYER_SIZES = (64, 32, 16, 8, 4)
LAYER_HIDDEN = (512, 256, 128, 64, 32)
# column -> (model, batch norm, KL warm-up, importance samples trained on, their encoder gradient); the
# slides leave LVAE with one layer out ("-"). The slides' table has the first four; LVAE+BN+WU+IW10 is
# their MNIST row "LVAE 5-layer + IW=10" (trained on the 10-sample bound, IWAE; without the finetuning).
# The doubly reparameterised gradients (DReG; -unshared: DReG only for q's own networks) cannot run with
# batch norm (cfae.models.hierarchical), so LVAE+WU+IW10 (+DReG, +DReG-unshared) compare the gradients
# without it; all run when asked.
VARIANTS = {"VAE": ("hvae", False, False, 1, "iwae"), "VAE+BN": ("hvae", True, False, 1, "iwae"),
            "VAE+BN+WU": ("hvae", True, True, 1, "iwae"), "LVAE+BN+WU": ("lvae", True, True, 1, "iwae"),
            "LVAE+BN+WU+IW10": ("lvae", True, True, 10, "iwae"), "LVAE+WU+IW10": ("lvae", False, True, 10, "iwae"),
            "LVAE+WU+IW10+DReG": ("lvae", False, True, 10, "dreg"),
            "LVAE+WU+IW10+DReG-unshared": ("lvae", False, True, 10, "dreg-unshared")}
SLIDE_COLUMNS = ("VAE", "VAE+BN", "VAE+BN+WU", "LVAE+BN+WU")
# "paper": 2,000 epochs and warm-up over 200 (reference F) and K = 5000; lr 2e-3 and batch 256 are
# cfae's choice. "cpu": what a 2-core machine affords; "test": a smoke test.
PRESETS = {
    "paper": {"epochs": 2000, "warmup": 200, "lr": 2e-3, "batch": 256, "k": 5000, "limit": None,
              "snapshots": (1, 10, 100, 500, 1000, 2000)},
    "cpu": {"epochs": 10, "warmup": 2, "lr": 2e-3, "batch": 256, "k": 100, "limit": None, "snapshots": (1, 2, 5, 10)},
    "test": {"epochs": 2, "warmup": 1, "lr": 2e-3, "batch": 64, "k": 4, "limit": 256, "snapshots": (1, 2)},
}
SLIDES_MNIST = {"VAE 1-layer + NF": -85.10, "IWAE 2-layer + IW=1": -85.33, "IWAE 2-layer + IW=50": -82.90,
                "VAE 2-layer + VGP": -81.90, "LVAE 5-layer": -82.12, "LVAE 5-layer + finetuning": -81.84,
                "LVAE 5-layer + finetuning + IW=10": -81.74}


def run_config(variant: str, layers: int, seed: int, preset: dict, data_root, progress: bool, epochs: int) -> RunConfig:
    model, batch_norm, warm_up, samples, gradient = VARIANTS[variant]
    options = {"layer_sizes": LAYER_SIZES[:layers], "layer_hidden": LAYER_HIDDEN[:layers], "batch_norm": batch_norm}
    if samples > 1:  # only then: runs of the other columns resume with the settings they recorded
        options["importance_samples"] = samples
    if gradient != "iwae":
        options["iw_gradient"] = gradient
    train = TrainConfig(epochs=epochs, batch_size=preset["batch"], lr=preset["lr"], seed=seed, progress=progress,
                        kl_warmup_epochs=preset["warmup"] if warm_up else 0)
    return RunConfig(model=model, dataset="mnist-binary", data_root=data_root, limit=preset["limit"],
                     model_options=options, train=train)


def runs(variants, layer_counts) -> list[tuple[str, int]]:
    return [(v, n) for n in layer_counts for v in variants if not (VARIANTS[v][0] == "lvae" and n == 1)]


def bounds(model, test, k: int, seed: int) -> dict:
    """The IW bound with k samples and the one-sample ELBO bound (k = 1), nats per test image."""
    return {"log_likelihood": importance_weighted_bound(model, test, k, seed=seed)["log_likelihood_bound"],
            "elbo": importance_weighted_bound(model, test, 1, seed=seed)["log_likelihood_bound"], "k": k}


def reproduce(out: str | Path, preset_name: str = "cpu", seeds: tuple[int, ...] = (0, 1, 2),
              variants: tuple[str, ...] = SLIDE_COLUMNS, layer_counts: tuple[int, ...] = (1, 2, 3, 4, 5),
              epochs: int | None = None, data_root: str | None = None, progress: bool = True, report_only: bool = False,
              say: Callable[[str], None] = print) -> Path:
    """Train and score every (seed, layers, variant), writing OUT/results.json and OUT/report.md."""
    from cfae.experiments.ladder_vae_report import write_report

    check_choices("variant", variants, VARIANTS)
    check_choices("preset", [preset_name], PRESETS)
    check_choices("layer count", layer_counts, range(1, len(LAYER_SIZES) + 1))
    preset = dict(PRESETS[preset_name])
    if epochs:
        preset.update(epochs=epochs, snapshots=tuple(s for s in preset["snapshots"] if s < epochs) + (epochs,))
    out = Path(out)
    test = get_dataset("mnist-binary", "test", data_root, preset["limit"])
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for seed in () if report_only else seeds:
        for variant, layers in runs(variants, layer_counts):
            key = f"{variant}/{layers}/seed-{seed}"
            entry = results.setdefault(key, {"snapshots": {}})
            folder = out / "runs" / f"{variant.replace('+', '_')}-{layers}-seed-{seed}"
            for epoch in preset["snapshots"]:
                if str(epoch) in entry["snapshots"]:
                    continue
                say(f"{variant}, {layers} layer(s), seed {seed}: epoch {epoch} of {preset['epochs']}")
                model = trained_run(folder, run_config(variant, layers, seed, preset, data_root, progress, epoch))
                layer_stats = per_layer(model, unit_statistics(model, test, seed=seed))
                entry["snapshots"][str(epoch)] = layer_stats
                if epoch == preset["epochs"]:
                    entry.update(bounds(model, test, preset["k"], seed), layers=layer_stats, epochs=epoch)
                stamp = scorer(model)  # one stamp: this snapshot's, and the entry's top level holds its scores
                entry.setdefault("snapshots_scored_by", {})[str(epoch)] = {SCORED_BY: stamp}
                entry[SCORED_BY] = stamp
                entry["curve"] = [{"epoch": r["epoch"], "test_neg_elbo": r["eval/neg_elbo"],
                                   "train_neg_elbo": r["train/neg_elbo"]} for r in read_log(folder / "log.jsonl")]
                jsonio.write_json(path, results)
    results["setup"] = {"preset": preset_name, **preset, "seeds": list(seeds), "variants": list(variants),
                        "layer_counts": list(layer_counts), "test_images": len(test)}
    jsonio.write_json(path, results)
    report = write_report(out, results, test, data_root)
    say(f"report written to {report.resolve()}")
    return report
