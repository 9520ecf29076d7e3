"""`cfae reproduce causalvae`: seed 004's CausalVAE study on Pendulum, or on another dataset with a
known mechanism (morpho-scm: thickness -> intensity; cfae.data.worlds).

Models: CausalVAE, CausalVAE-unsup, beta-VAE (beta 4), a plain VAE (both latent 16) and a Ladder
VAE (layers 8-4-4, BN + KL warm-up). Per (model, seed), on the test split: MIC and TIC between each
concept and its latent (cfae.metrics.causal), the learned graph against the true one (CausalVAE
models; SHD after thresholding |A| > 0.3, NOTEARS' usual threshold), and do(concept = v) scored
against the mechanism's true image and by a concept regressor trained on real images. Runs
resume where they stopped; finished (model, seed) entries are kept in results.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cfae import jsonio
from cfae.data import get_dataset
from cfae.data.worlds import PENDULUM, CausalWorld, causal_world
from cfae.experiments.cached import cached_predictor, trained_run
from cfae.experiments.concept_job import concept_values, write_figure3
from cfae.experiments.report import save_result
from cfae.metrics.causal import concept_handles, concept_information, concept_counterfactuals, structural_hamming_distance
from cfae.models.causal_vae import initial_edge_weights
from cfae.registry import check_choices
from cfae.train.config import TrainConfig
from cfae.train.provenance import stamped
from cfae.train.run import RunConfig

EDGE_THRESHOLD = 0.3
MIC_EXAMPLES = 2000  # MIC's cost grows fast with n; Pendulum's 1,826 test scenes are all kept
UNCHANGED = "unchanged scene"  # the reference row: the original image offered as every counterfactual
# name -> (registered model, options beyond the preset's network)
# CausalVAE-refinit: A starts at the reference's 5 edges (the 4 true ones and pendulum -> light), as
# its DagLayer(initial=True) does; its starting graph is one edge from the truth.
MODELS = {"CausalVAE": ("causalvae", {}), "CausalVAE-refinit": ("causalvae", {"dag_init": "reference"}),
          "CausalVAE-unsup": ("causalvae", {"supervised": False}),
          "beta-VAE": ("vae", {"beta": 4.0, "latent_dim": 16}), "VAE": ("vae", {"latent_dim": 16}),
          "LadderVAE": ("lvae", {"layer_sizes": (8, 4, 4), "batch_norm": True})}
# "paper": the reference's 100 epochs, batch 64, lr 1e-3 and MLP sizes (encoder 900-300);
# "cpu": small conv nets for a 2-core machine; "test": a smoke test.
PRESETS = {
    "paper": {"epochs": 100, "batch": 64, "lr": 1e-3, "network": "mlp", "hidden": (900, 300), "ladder_hidden": (512, 256, 128),
              "warmup": 10, "limit": None, "regressor_epochs": 10, "scenes": 200, "values": 5},
    "cpu": {"epochs": 6, "batch": 64, "lr": 1e-3, "network": "conv", "hidden": (16, 32, 64), "ladder_hidden": (256, 128, 64),
            "warmup": 2, "limit": None, "regressor_epochs": 3, "scenes": 64, "values": 5},
    "test": {"epochs": 1, "batch": 16, "lr": 1e-3, "network": "conv", "hidden": (4, 8), "ladder_hidden": (16, 8, 8),
             "warmup": 1, "limit": 48, "regressor_epochs": 1, "scenes": 4, "values": 2},
}
SLIDES = {"CausalVAE": (96.3, 3.6, 89.0, 2.9), "beta-VAE": (22.6, None, 12.5, None), "LadderVAE": (22.4, None, 12.8, None)}


def evenly_strided(data, limit: int | None):
    """limit examples spread over the whole grid (the first N would all share one pendulum angle)."""
    if limit is None or limit >= len(data):
        return data
    return data.subset(torch.linspace(0, len(data) - 1, limit).long())


def run_config(name: str, seed: int, preset: dict, data_root, progress: bool, dataset: str = "pendulum") -> RunConfig:
    model, options = MODELS[name]
    options = dict(options)
    warmup = 0
    if model == "lvae":
        options["layer_hidden"] = preset["ladder_hidden"]
        warmup = preset["warmup"]
    else:
        options.update(network=preset["network"], hidden=preset["hidden"])
    train = TrainConfig(epochs=preset["epochs"], batch_size=preset["batch"], lr=preset["lr"], seed=seed,
                        progress=progress, kl_warmup_epochs=warmup)
    return RunConfig(model=model, dataset=dataset, data_root=data_root, limit=preset["limit"],
                     model_options=options, train=train)  # a run's limit keeps the first N: smoke tests only


def learned_graph(model, world: CausalWorld = PENDULUM) -> dict | None:
    """A, its edges (|A| > EDGE_THRESHOLD) and their SHD to the world's true graph, and the SHD of A's start."""
    if not hasattr(model, "adjacency"):
        return None
    weights = model.adjacency.detach().cpu().numpy()
    edges = (np.abs(weights) > EDGE_THRESHOLD).astype(int)
    start = (initial_edge_weights(model.config).abs().numpy() > EDGE_THRESHOLD).astype(int)
    truth = world.graph()
    return {"weights": weights.tolist(), "edges": edges.tolist(), "shd": structural_hamming_distance(edges, truth),
            "start_shd": structural_hamming_distance(start, truth)}


def intervention_values(train, preset: dict, world: CausalWorld = PENDULUM) -> dict[str, list[float]]:
    """preset["values"] values per concept, evenly inside its 5-95% training range (ends left out)."""
    return {c: v[1:-1] if len(v) > 2 else v for c, v in concept_values(train, world, preset["values"] + 2).items()}


def score(model, handles, train, test, regressor, preset: dict, seed: int, world: CausalWorld = PENDULUM) -> dict:
    """MIC/TIC (on at most MIC_EXAMPLES evenly strided test examples), the learned graph and the
    true-counterfactual errors of one trained model."""
    values = intervention_values(train, preset, world)
    return {"information": concept_information(model, evenly_strided(test, MIC_EXAMPLES), handles),
            "graph": learned_graph(model, world),
            "counterfactuals": concept_counterfactuals(model, test, world, handles, values, regressor, preset["scenes"], seed),
            "handles": {h.name: {"key": h.key, "dims": h.dims} for h in handles}}


def reproduce(out: str | Path, preset_name: str = "cpu", seeds: tuple[int, ...] = (0, 1, 2),
              models: tuple[str, ...] = tuple(MODELS), data_root: str | None = None, progress: bool = True,
              report_only: bool = False, epochs: int | None = None, dataset: str = "pendulum",
              say: Callable[[str], None] = print) -> Path:
    """Train and score every (model, seed) on a dataset with a known mechanism, writing
    OUT/results.json, figures and OUT/report.md; epochs, when given, replaces the preset's (recorded
    in the setup)."""
    from cfae.experiments.causalvae_report import write_report

    check_choices("model", models, MODELS)
    check_choices("preset", [preset_name], PRESETS)
    world = causal_world(dataset)
    if world is not PENDULUM and "CausalVAE-refinit" in models:
        say("CausalVAE-refinit starts from the pendulum's reference graph; left out on " + dataset)
        models = tuple(m for m in models if m != "CausalVAE-refinit")
    preset = {**PRESETS[preset_name], **({"epochs": epochs} if epochs else {})}
    out = Path(out)
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    recorded = results.get("setup", {}).get("dataset", "pendulum" if results else dataset)  # older results: pendulum
    if recorded != dataset:
        raise ValueError(f"{path} holds a reproduction on {recorded!r}; choose another --out for {dataset!r}")
    results.setdefault("setup", {})["dataset"] = dataset
    # Pendulum's rows are an ordered grid, so a limit is spread over it; other worlds' rows are shuffled
    # digits, drawn through their mechanism only as far as the limit (the first N)
    early = None if world is PENDULUM else preset["limit"]
    train, test = (evenly_strided(get_dataset(dataset, split, data_root, early), preset["limit"]) for split in ("train", "test"))
    regressor = None
    if not report_only:
        say(f"concept regressor (conv, {', '.join(world.concepts)}) on the real images")
        regressor, record = cached_predictor(out / "regressor", "regressor", train, test, "conv", ",".join(world.concepts),
                                             preset["regressor_epochs"])
        results["regressor"] = {"test_mae": record["test_mae"], "epochs": record["epochs"]}
    for seed in () if report_only else seeds:
        for name in models:
            key = f"{name}/seed-{seed}"
            if key in results:
                continue
            say(f"{name}, seed {seed}: training {preset['epochs']} epochs")
            folder = out / "runs" / f"{name}-seed-{seed}"
            model = trained_run(folder, run_config(name, seed, preset, data_root, progress, dataset))
            handles = concept_handles(model, train, list(world.concepts))
            results[key] = stamped(score(model, handles, train, test, regressor, preset, seed, world), model)
            if seed == seeds[0]:
                write_figure3(model, handles, world, test, concept_values(train, world), out / "figures" / name, 0)
            jsonio.write_json(path, results)
        key = f"{UNCHANGED}/seed-{seed}"
        if key not in results:
            save_result(path, results, key, {"counterfactuals": concept_counterfactuals(
                None, test, world, None, intervention_values(train, preset, world), regressor, preset["scenes"], seed)})
    results["setup"] = {"dataset": dataset, "preset": preset_name, **preset, "seeds": list(seeds), "models": list(models),
                        "test_scenes": len(test), "edge_threshold": EDGE_THRESHOLD}
    jsonio.write_json(path, results)
    report = write_report(out, results)
    say(f"report written to {report.resolve()}")
    return report
