"""Seconds of each stage of the disentanglement suite on a trained shapes run: encoding every
factor combination once (metrics.code_table), then each metric on the looked-up codes.

    OMP_NUM_THREADS=1 python benchmarks/suite_timing.py RUN/checkpoints/epoch-0020 >> benchmarks/results/suite_timing.jsonl
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from cfae.data.groundtruth import ShapesSpace
from cfae.metrics.code_table import tabulate
from cfae.metrics.disentanglement import SUITE, disentanglement_suite
from cfae.metrics.factor_stats import model_representation
from cfae.train.checkpoint import load_model
from cfae.train.denormals import flush_denormals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint folder of a run trained on the shapes")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    flush_denormals()
    model = load_model(args.checkpoint).to(args.device).eval()
    seconds = {}
    start = time.perf_counter()
    space, represent = tabulate(ShapesSpace(), model_representation(model))
    seconds["encode_all"] = time.perf_counter() - start
    for name in SUITE:
        start = time.perf_counter()
        disentanglement_suite(space, represent, seed=0, only=(name,))
        seconds[name] = time.perf_counter() - start
    print(json.dumps({"checkpoint": args.checkpoint, "device": args.device, "threads": torch.get_num_threads(),
                      **{k: round(v, 1) for k, v in seconds.items()}, "total": round(sum(seconds.values()), 1)}))


if __name__ == "__main__":
    main()
