"""Batched streams against the same streams one at a time (LoSoCs, issue acceptance: CPU >= 20x,
GPU 1000 streams >= 100x).

    CFAE_DATA=../shared/data python benchmarks/stream_speed.py --run reports/losocs/runs/vae \
        --model reports/losocs/predictors/classifier --streams 100 --device cpu

Same autoencoder, classifier, inputs, targets, settings and stopping rule; the one-at-a-time loop
calls the same `stream` function with one row. Both sides are timed in the same process; the
one-at-a-time side may be timed on the first --sequential streams only and scaled (said in the
output). Also checks that both give the same number of steps per stream. Appends a JSON line to
benchmarks/results/stream_speed.jsonl with the machine's description.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import cfae
from cfae.counterfactual.streams import StreamSettings, stream
from cfae.experiments.losocs import cohort_inputs
from cfae.train.classifier import load_predictor
from cfae.train.provenance import processor
from cfae.train.run import read_run_config


def step_cost_ms(vae, classifier, rows: int, device: str, repeats: int = 20) -> float:
    """Milliseconds of one stream step's work (decode, classify, gradient to z) for `rows` codes."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    z = torch.randn(rows, vae.config.latent_dim, device=device, requires_grad=True)
    for p in [*vae.parameters(), *classifier.parameters()]:
        p.requires_grad_(False)
    for k in range(repeats + 3):
        if k == 3:
            sync()
            started = time.perf_counter()
        torch.autograd.grad(classifier.logits(vae.decode(z))[:, 0].sum(), z)
    sync()
    return (time.perf_counter() - started) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--sequential", type=int, default=None, help="time only the first N streams one at a time")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()
    device = args.device
    vae = cfae.load(args.run, device=device)
    classifier, _ = load_predictor(args.model, device)
    test = read_run_config(args.run).load_split("test")
    index, targets = cohort_inputs(test, args.streams, None, None, seed=1)
    batch = test.batch(index).to(device)
    targets = targets.to(device)
    settings = StreamSettings(lr=args.lr, keep_frames=False)
    stream(vae, classifier, batch.select(slice(0, 4)), targets[:4], settings)  # warm-up
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    started = time.perf_counter()
    batched = stream(vae, classifier, batch, targets, settings)
    sync()
    batched_s = time.perf_counter() - started
    sequential_n = min(args.sequential or args.streams, args.streams)
    started = time.perf_counter()
    lengths = []
    for i in range(sequential_n):
        lengths.append(int(stream(vae, classifier, batch.select(slice(i, i + 1)), targets[i : i + 1], settings).lengths[0]))
    sync()
    sequential_s = (time.perf_counter() - started) * args.streams / sequential_n
    same = sum(int(a == b) for a, b in zip(lengths, batched.lengths[:sequential_n].tolist()))
    record = {
        "benchmark": "stream_speed", "device": device, "machine": processor(),
        "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
        "threads": torch.get_num_threads(), "streams": args.streams, "sequential_timed": sequential_n,
        "steps_total": int(batched.steps.sum()), "max_steps": int(batched.steps.max()),
        "batched_s": round(batched_s, 3), "sequential_s": round(sequential_s, 3),
        "speedup": round(sequential_s / batched_s, 1), "same_steps": f"{same}/{sequential_n}",
        "success_rate": float(batched.success.float().mean()), "settings": {"lr": args.lr, "step_rule": settings.step_rule},
        "step_ms_1_row": round(step_cost_ms(vae, classifier, 1, device), 2),
        f"step_ms_{args.streams}_rows": round(step_cost_ms(vae, classifier, args.streams, device), 2),
        "run": str(args.run),
    }
    print(json.dumps(record))
    out = Path(__file__).parent / "results" / "stream_speed.jsonl"
    with out.open("a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
