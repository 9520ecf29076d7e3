"""One CPU training step of cfae models: Adam as a per-tensor loop (foreach) against the fused kernel,
in fp32 and under bf16 autocast (AMX where the CPU has it).

A step is the model's own `training_step` (forward, loss, backward, optimiser step), the code path of
the Trainer. Cases: Higgins et al.'s 1200-1200 MLP VAE on 64 x 64 shapes (the beta-VAE study),
the MNIST conv VAE, and the 5-layer Ladder VAE with batch norm (64-32-16-8-4, MNIST). The settings alternate
`--rounds` times in one process, so a load elsewhere on the machine hits all of them alike; each
row gives the median seconds per step and the ratio to the foreach fp32 step.

    OMP_NUM_THREADS=1 python benchmarks/cpu_optimizer.py [--steps 20 --rounds 3] >> benchmarks/results/cpu_optimizer.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time

import torch

from cfae.data.base import Batch
from cfae.models import build_model
from cfae.train.provenance import processor

CASES = {
    "betavae-mlp": ("beta-VAE MLP 1200-1200, shapes 64x64", "vae", (1, 64, 64), {"latent_dim": 10, "network": "mlp",
                                                                   "hidden": (1200, 1200), "beta": 4.0}),
    "vae-conv": ("VAE conv, MNIST 28x28", "vae", (1, 28, 28), {"latent_dim": 16, "network": "conv"}),
    "lvae-bn": ("Ladder VAE 5 layers + BN, MNIST 28x28", "lvae", (1, 28, 28), {"batch_norm": True}),
}
SETTINGS = {"foreach fp32": (False, False), "fused fp32": (True, False), "fused bf16": (True, True)}


def seconds_per_step(model, optimizer, batch: Batch, steps: int, bf16: bool) -> float:
    model.autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    model.training_step(batch, {"main": optimizer})  # warm-up: allocations, oneDNN primitives
    start = time.perf_counter()
    for _ in range(steps):
        model.training_step(batch, {"main": optimizer})
    return (time.perf_counter() - start) / steps


def run_case(name: str, steps: int, rounds: int) -> dict:
    description, model_name, shape, options = CASES[name]
    torch.manual_seed(0)
    model = build_model(model_name, input_shape=shape, **options).train()
    batch = Batch((torch.rand(128, *shape) > 0.7).float(), {})
    optimizers = {label: torch.optim.Adam(model.parameters(), lr=1e-4, **({"fused": True} if fused else {"foreach": True}))
                  for label, (fused, _) in SETTINGS.items()}
    times: dict[str, list[float]] = {label: [] for label in SETTINGS}
    for _ in range(rounds):
        for label, (_, bf16) in SETTINGS.items():
            times[label].append(seconds_per_step(model, optimizers[label], batch, steps, bf16))
    row = {"case": name, "what": description, "batch": 128, "steps": steps, "rounds": rounds,
           "parameters": sum(p.numel() for p in model.parameters())}
    base = statistics.median(times["foreach fp32"])
    for label in SETTINGS:
        row[f"{label} s/step"] = round(statistics.median(times[label]), 5)
        row[f"{label} speed-up"] = round(base / statistics.median(times[label]), 3)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    args = parser.parse_args()
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; valid choices: {', '.join(CASES)}")
    print(json.dumps({"device": "cpu", "processor": processor(), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                      "amx_bf16": "amx_bf16" in open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else None}))
    for name in names:
        print(json.dumps(run_case(name, args.steps, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
