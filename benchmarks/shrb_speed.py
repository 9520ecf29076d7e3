"""Speed of the vectorised ShRB ensemble against a loop over one nn.Module per learner.

Both sides hold the same weights and do the same work per training step of phase 2: forward
on a batch, bootstrap-weighted BCE to the target percentiles, backward. Batch 128, F = 784
pixels, hidden 16. Prints one JSON line per (K, B) with milliseconds per step and the ratio.

    python benchmarks/shrb_speed.py [--repeats 5] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from cfae.nn.shrb import ShRBEnsemble, bootstrap_counts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_counterfactual_ae import reference_loop  # noqa: E402  (the loop the equality test checks against)


def loop_step(modules, subsets, x, target, counts, learners_per_dim):
    loss = 0
    for l, (module, subset) in enumerate(zip(modules, subsets)):
        resample = torch.repeat_interleave(torch.arange(len(x), device=x.device), counts[l].long())
        pred = module(x[resample][:, subset])[:, 0]
        loss = loss + nn.functional.binary_cross_entropy_with_logits(pred, target[resample, l // learners_per_dim])
    loss.backward()


def vector_step(ensemble, x, target, counts):
    ensemble.fit_loss(x, target, counts).backward()


def timed(fn, repeats: int, device: str) -> float:
    synchronise = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    fn()  # warm-up (allocations, first-call dispatch)
    fn()
    synchronise()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronise()
    return (time.perf_counter() - start) / repeats * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = args.device
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else None
    print(json.dumps({"device": device, "gpu": gpu, "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
    x = torch.rand(args.batch, 784, device=device)
    for k in (2, 16, 64):
        for b in (10, 50):
            ensemble = ShRBEnsemble(784, k, learners=b, hidden=16).to(device)
            modules, subsets = reference_loop(ensemble)
            modules = [m.to(device) for m in modules]
            target = torch.rand(args.batch, k, device=device)
            counts = bootstrap_counts(k * b, args.batch).to(device)
            loop_reps = max(1, args.repeats // (1 + k * b // 200))
            loop_ms = timed(lambda: loop_step(modules, subsets, x, target, counts, b), loop_reps, device)
            vec_ms = timed(lambda: vector_step(ensemble, x, target, counts), args.repeats, device)
            print(json.dumps({"K": k, "B": b, "learners": k * b, "loop_ms": round(loop_ms, 2),
                              "vectorised_ms": round(vec_ms, 2), "speedup": round(loop_ms / vec_ms, 1)}), flush=True)


if __name__ == "__main__":
    main()
