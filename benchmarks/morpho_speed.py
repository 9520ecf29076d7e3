"""Morpho-MNIST measurement speed and the MNIST test-set statistics it gives.

    CFAE_DATA=../shared/data python benchmarks/morpho_speed.py --n 1000
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from cfae.data import get_dataset
from cfae.data.morpho import MEASURES, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    images = get_dataset("mnist", "test").pixels(slice(0, args.n))
    started = time.perf_counter()
    values = measure(images)
    seconds = time.perf_counter() - started
    record = {"images": args.n, "seconds": round(seconds, 2), "threads": torch.get_num_threads(),
              **{f"{k}_mean": round(float(values[k].mean()), 3) for k in MEASURES},
              **{f"{k}_sd": round(float(values[k].std()), 3) for k in MEASURES}}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
