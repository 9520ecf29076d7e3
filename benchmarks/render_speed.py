"""Rendering the generated dSprites: cfae's row gather against a per-pixel gather, in one run.

The baseline indexes the (720, 64, 64) sprite bank with three broadcast index tensors, one index
per pixel (cfae's renderer until 2026-12-01); cfae's `render_shapes` gathers whole 64-pixel rows of
the 2 x 2 tiled bank. Both render the same random factors (with `--check-all`, every combination
first); the row says on how many images they were equal and gives images per second (median of
`--rounds`) and the ratio.

    OMP_NUM_THREADS=1 python benchmarks/render_speed.py [--images 8192 --rounds 5 --check-all] >> benchmarks/results/render_speed.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from cfae.data.shapes import FACTOR_SIZES, SIZE, all_factors, render_shapes, sample_factors, sprite_bank
from cfae.train.provenance import processor


def per_pixel_gather(factors: torch.Tensor) -> torch.Tensor:
    """image[r, c] = bank[sprite, (r - dy) % 64, (c - dx) % 64], one index per pixel."""
    sprite = (factors[:, 0] * FACTOR_SIZES[1] + factors[:, 1]) * FACTOR_SIZES[2] + factors[:, 2]
    pixels = torch.arange(SIZE)
    rows = (pixels[None, :] - (factors[:, 4, None] - 16)) % SIZE
    cols = (pixels[None, :] - (factors[:, 3, None] - 16)) % SIZE
    images = sprite_bank()[sprite[:, None, None], rows[:, :, None], cols[:, None, :]]
    return images.to(torch.uint8).mul_(255).unsqueeze(1)


def images_per_second(render, factors: torch.Tensor, rounds: int) -> float:
    render(factors[:64])  # the banks are built once, outside the timing
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        render(factors)
        times.append(time.perf_counter() - start)
    return len(factors) / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check-all", action="store_true", help="first compare the two on all 737,280 combinations")
    args = parser.parse_args()
    factors = sample_factors(args.images, torch.Generator().manual_seed(0))
    checked = all_factors().split(16384) if args.check_all else [factors]
    if not all(torch.equal(render_shapes(f), per_pixel_gather(f)) for f in checked):
        raise SystemExit("render_speed: the two renderers disagree")
    baseline = images_per_second(per_pixel_gather, factors, args.rounds)
    cfae = images_per_second(render_shapes, factors, args.rounds)
    print(json.dumps({"equal_on": sum(len(f) for f in checked), "images": args.images, "rounds": args.rounds, "threads": torch.get_num_threads(),
                      "processor": processor(), "per_pixel_img_s": round(baseline),
                      "row_gather_img_s": round(cfae), "ratio": round(cfae / baseline, 2)}))


if __name__ == "__main__":
    main()
