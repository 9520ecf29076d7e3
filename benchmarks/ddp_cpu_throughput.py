"""Training throughput on this machine's CPUs: one process against several (torchrun, gloo).

    CFAE_DATA=../shared/data python benchmarks/ddp_cpu_throughput.py --epochs 2 --out runs/ddp-bench

Trains the same run (VAE, MNIST, global batch 128) as: 1 process with all threads; 1 process with
1 thread; N processes with 1 thread each. Images per second are taken from the epochs after the
first (log.jsonl time_s covers the training steps only, not evaluation). Results are printed as
JSON lines and appended to benchmarks/results/ddp_cpu.jsonl with the machine's description.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cfae.train.provenance import processor


def train(out: Path, nproc: int, threads: int, args) -> float:
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "cfae.cli", "train", "vae", "--dataset", "mnist", "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--latent-dim", "16", "--network", args.network, "--out", str(out),
               "--quiet", "--nproc", str(nproc)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    timed = records[1:] or records
    return 60000 * len(timed) / sum(r["time_s"] for r in timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/ddp-bench"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--network", default="mlp")
    parser.add_argument("--nproc", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    settings = [("1 process, all threads", 1, cores), ("1 process, 1 thread", 1, 1),
                (f"{args.nproc} processes, 1 thread each", args.nproc, 1)]
    results = {}
    for label, nproc, threads in settings:
        results[label] = train(args.out / f"p{nproc}-t{threads}", nproc, threads, args)
    base = results["1 process, all threads"]
    machine = f"{processor()}, {cores} cores"
    lines = [{"setting": label, "images_per_s": round(v, 1), "ratio_to_1_process_all_threads": round(v / base, 3),
              "network": args.network, "batch": args.batch_size, "machine": machine} for label, v in results.items()]
    path = Path(__file__).parent / "results" / "ddp_cpu.jsonl"
    with open(path, "a") as f:
        for line in lines:
            print(json.dumps(line))
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
