"""DCI with its factors fitted one after another against side by side in threads, on the codes of a
trained shapes run (every factor combination encoded once, as the suite does), in one run.

    OMP_NUM_THREADS=1 python benchmarks/dci_speed.py RUN/checkpoints/epoch-0040 --workers 2 >> benchmarks/results/dci_speed.jsonl

The two must give the same scores (each factor's random_state comes from the suite's generator);
the script stops with an error if they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from cfae.data.groundtruth import ShapesSpace
from cfae.metrics.code_table import tabulate
from cfae.metrics.disentanglement import SUITE
from cfae.metrics.factor_stats import model_representation
from cfae.metrics.predictive import dci, default_workers
from cfae.train.checkpoint import load_model
from cfae.train.denormals import flush_denormals
from cfae.train.provenance import processor

DCI_INDEX = SUITE.index("dci")  # the suite's metric k draws from default_rng([seed, k])


def timed_dci(space, represent, workers: int) -> tuple[dict, float]:
    start = time.perf_counter()
    scores = dci(space, represent, np.random.default_rng([0, DCI_INDEX]), workers=workers)
    return scores, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint folder of a run trained on the shapes")
    parser.add_argument("--workers", type=int, default=default_workers(len(ShapesSpace.factor_sizes)))
    args = parser.parse_args()
    flush_denormals()
    model = load_model(args.checkpoint).eval()
    space, represent = tabulate(ShapesSpace(), model_representation(model))
    serial, serial_s = timed_dci(space, represent, 1)
    threaded, threaded_s = timed_dci(space, represent, args.workers)
    if threaded != serial:
        raise SystemExit(f"dci_speed: {args.workers} threads gave {threaded}, one thread {serial}")
    print(json.dumps({"checkpoint": args.checkpoint, "cpu": processor(),
                      "cores": os.cpu_count(), "workers": args.workers, "serial_s": round(serial_s, 1),
                      "threaded_s": round(threaded_s, 1), "speedup": round(serial_s / threaded_s, 2), **serial}))


if __name__ == "__main__":
    main()
