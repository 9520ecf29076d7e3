"""Training-step time of a trained run with float32 denormals kept (IEEE) against flushed to zero.

Each measurement runs in a fresh process, because the flag is per thread and because a flushed
step zeroes the denormal optimiser state it would measure: the process restores the run's newest
checkpoint (weights and Adam state), counts the denormal share of Adam's moments, and times
`--steps` training steps on the run's own training data. The two settings alternate `--rounds`
times; the row gives medians and the ratio kept / flushed.

    OMP_NUM_THREADS=1 python benchmarks/denormal_speed.py RUN [--steps 20 --rounds 3] >> benchmarks/results/denormal_speed.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEP = """
import json, sys, time
from pathlib import Path
import torch
import cfae
from cfae.train.checkpoint import restore_newest
from cfae.train.config import TrainConfig
from cfae.train.optim import build_optimizers
from cfae.train.run import read_run_config

flush = sys.argv[2] == "flush"
torch.set_flush_denormal(flush)  # before any torch work, so every intra-op thread has it
run, steps = Path(sys.argv[1]), int(sys.argv[3])
config = read_run_config(run)
model = cfae.load(run).train()
optimizers = build_optimizers(model.networks(), TrainConfig(lr=config.train.lr))
state, _ = restore_newest(run / "checkpoints", model, optimizers)
tiny = torch.finfo(torch.float32).tiny
moments = [s[k] for opt in optimizers.values() for s in opt.state.values() for k in ("exp_avg", "exp_avg_sq") if k in s]
denormal = sum(((m != 0) & (m.abs() < tiny)).sum().item() for m in moments) / sum(m.numel() for m in moments)
data = config.load_split("train")
batches = [data.batch(slice(i * config.train.batch_size, (i + 1) * config.train.batch_size)) for i in range(steps + 1)]
model.training_step(batches[0], optimizers)
start = time.perf_counter()
for batch in batches[1:]:
    model.training_step(batch, optimizers)
print(json.dumps({"s_per_step": (time.perf_counter() - start) / steps, "denormal_share": denormal, "epoch": state["epoch"]}))
"""


def measure(run: str, setting: str, steps: int) -> dict:
    env = {**os.environ, "CFAE_FLUSH_DENORMALS": "1" if setting == "flush" else "0"}
    out = subprocess.run([sys.executable, "-c", STEP, run, setting, str(steps)], capture_output=True, text=True,
                         check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run", help="a run folder with checkpoints (weights and optimiser state)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"keep": [], "flush": []}
    results = []
    for _ in range(args.rounds):
        for setting in times:
            results.append(measure(args.run, setting, args.steps))
            times[setting].append(results[-1]["s_per_step"])
    row = {"run": args.run, "epoch": results[0]["epoch"], "steps": args.steps, "rounds": args.rounds,
           "threads": os.environ.get("OMP_NUM_THREADS", "default"), "cpus": os.cpu_count(),
           "denormal_share_of_adam_moments": round(max(r["denormal_share"] for r in results), 4),
           "kept_s_per_step": round(statistics.median(times["keep"]), 4),
           "flushed_s_per_step": round(statistics.median(times["flush"]), 4)}
    row["speedup"] = round(row["kept_s_per_step"] / row["flushed_s_per_step"], 3)
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
