"""Score trained runs the way `cfae reproduce causalvae` does, without its concept regressor.

For each run folder (any model trained on a dataset with a known mechanism, pendulum or morpho-scm,
e.g. a CausalVAE trained longer than a preset with `cfae train causalvae -d pendulum ...`), prints
the learned graph (A, edges at |A| > 0.3, SHD to the true graph), mean MIC/TIC and the mean pixel
MSE of do() against the true image, with the given preset's intervention values and test examples,
so the figures sit beside the preset's table. --heatmap draws each run's A beside the true graph.

    python benchmarks/causal_graph_of_runs.py RUN [RUN ...] [--preset cpu] [--seed 0] [--heatmap A.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import cfae
from cfae.data import get_dataset
from cfae.data.worlds import causal_world
from cfae.experiments.causalvae import PRESETS, score
from cfae.metrics.causal import concept_handles
from cfae.train.run import read_run_config
from cfae.viz.consistency import heatmaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--preset", choices=tuple(PRESETS), default="cpu", help="intervention values and scene count")
    parser.add_argument("--seed", type=int, default=0, help="which test scenes are drawn")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--heatmap", default=None, help="PNG of each run's learned A beside the true graph")
    args = parser.parse_args()
    maps = {}
    for run in args.runs:
        dataset = read_run_config(run).dataset
        world = causal_world(dataset)
        train, test = (get_dataset(dataset, split, args.data_root) for split in ("train", "test"))
        model = cfae.load(run)
        handles = concept_handles(model, train, list(world.concepts))
        scores = score(model, handles, train, test, None, PRESETS[args.preset], args.seed, world)
        graph = scores["graph"] or {}
        if args.heatmap and graph:
            maps.setdefault("true graph", world.graph())
            maps[Path(run).name] = np.array(graph["weights"])
        pixel = np.mean([v["pixel_mse"] for v in scores["counterfactuals"].values()])
        print(json.dumps({"run": run, "shd": graph.get("shd"), "edges": graph.get("edges"),
                          "weights": [[round(w, 2) for w in row] for row in graph.get("weights", [])],
                          "mic": round(scores["information"]["mic"], 1), "tic": round(scores["information"]["tic"], 1),
                          "pixel_mse": round(float(pixel), 5)}))
    if maps:
        heatmaps(maps, args.heatmap, xlabel="child", ylabel="parent", vmin=-1.0, vmax=1.0, labels=list(world.concepts),
                 cmap="RdBu_r")


if __name__ == "__main__":
    main()
