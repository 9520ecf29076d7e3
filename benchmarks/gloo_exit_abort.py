"""How often a 2-process gloo run aborts at exit when the process group is not destroyed.

    python benchmarks/gloo_exit_abort.py --runs 25

Each run is `torchrun --standalone --nproc_per_node 2` of this file's worker: 20 all-reduces and
a barrier, then exit either leaving the group to interpreter shutdown ("keep") or after
cfae.train.distributed.leave_process_group ("destroy"). A run counts as aborted when a worker
printed "terminate called" or died of signal 6. The reason init_ranks registers
leave_process_group at exit (docs/results.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def worker(mode: str) -> None:
    import torch
    import torch.distributed as dist

    from cfae.train.distributed import leave_process_group

    dist.init_process_group("gloo")
    for _ in range(20):
        dist.all_reduce(torch.ones(1000))
    dist.barrier()
    if mode == "destroy":
        leave_process_group()


def aborted(mode: str) -> bool:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__,
               "--worker", mode]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    text = done.stdout + done.stderr
    return "terminate called" in text or "Signal 6" in text or "SIGABRT" in text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--worker", choices=("keep", "destroy"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    for mode in ("keep", "destroy"):
        count = sum(aborted(mode) for _ in range(args.runs))
        print(f"{mode}: {count}/{args.runs} runs aborted at exit")


if __name__ == "__main__":
    main()
