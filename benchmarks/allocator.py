"""Training-step time with glibc's default allocator against cfae.train.allocator.keep_freed_memory.

Each case runs in a fresh process (the mallopt setting cannot be undone), alternating the two
settings `--rounds` times so that a load elsewhere on the machine hits both alike. A case is one
seed 003 network at the consistency study's `cpu` preset size (depth 3, 32 filters, batch 128):
the XAE on 64 x 64 shapes and on 28 x 28 MNIST. Prints one JSON line per case with seconds per
step (median over rounds), system seconds, and the ratio default / kept.

    OMP_NUM_THREADS=1 python benchmarks/allocator.py [--steps 10 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEP = """
import resource, sys, time, torch
from cfae.models import build_model
from cfae.train.allocator import keep_freed_memory
applied = keep_freed_memory()
side, steps = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
model = build_model("ae", input_shape=(1, side, side), latent_dim=6, network="pooled", hidden=(32, 32, 32), xblock=True)
opt = torch.optim.Adam(model.parameters(), 1e-3)
x = (torch.rand(128, 1, side, side) > 0.5).float()
def step():
    opt.zero_grad()
    model(x).terms["loss"].backward()
    opt.step()
step(); step()
usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range(steps):
    step()
after = resource.getrusage(resource.RUSAGE_SELF)
print(applied, (time.perf_counter() - start) / steps, (after.ru_stime - usage.ru_stime) / steps)
"""


def measure(side: int, steps: int, keep: bool) -> tuple[float, float]:
    env = {**os.environ, "CFAE_KEEP_FREED_MEMORY": "1" if keep else "0"}
    out = subprocess.run([sys.executable, "-c", STEP, str(side), str(steps)], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    if (out[0] == "True") != keep:
        raise RuntimeError(f"keep_freed_memory() returned {out[0]} with CFAE_KEEP_FREED_MEMORY={int(keep)}")
    return float(out[1]), float(out[2])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps({"device": "cpu", "threads": os.environ.get("OMP_NUM_THREADS", "default"), "cpus": os.cpu_count()}))
    for name, side in (("XAE shapes 64x64", 64), ("XAE MNIST 28x28", 28)):
        times = {True: [], False: []}
        for _ in range(args.rounds):
            for keep in (False, True):
                times[keep].append(measure(side, args.steps, keep))
        row = {"case": name, "batch": 128, "steps": args.steps, "rounds": args.rounds}
        for keep, label in ((False, "default"), (True, "kept")):
            row[f"{label}_s_per_step"] = statistics.median(t for t, _ in times[keep])
            row[f"{label}_sys_s_per_step"] = statistics.median(s for _, s in times[keep])
        row["speedup"] = row["default_s_per_step"] / row["kept_s_per_step"]
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
