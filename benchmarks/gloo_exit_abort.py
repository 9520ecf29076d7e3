"""How often a 2-process gloo run aborts at exit when the process group outlives the interpreter.

    python benchmarks/gloo_exit_abort.py --runs 25

Each run is `torchrun --standalone --nproc_per_node 2` of this file's worker: 20 all-reduces and
a barrier, then exit in one of four ways:
- keep: the group is left to interpreter shutdown;
- destroy: cfae.train.distributed.leave_process_group before exit;
- late-import: dist.init_process_group, then torch._dynamo imported (as building an optimiser
  does), then leave_process_group, which cannot free the group: torch.distributed.nn.functional
  bound it into its default arguments;
- join: the same with cfae.train.distributed.join_process_group, which imports that module first.
A run counts as aborted when a worker printed "terminate called" or died of signal 6. The reasons
init_ranks registers leave_process_group at exit and joins through join_process_group
(docs/results.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

MODES = ("keep", "destroy", "late-import", "join")


def worker(mode: str) -> None:
    import torch
    import torch.distributed as dist

    from cfae.train.distributed import join_process_group, leave_process_group

    if mode == "join":
        join_process_group("gloo")
    else:
        dist.init_process_group("gloo")
    if mode in ("late-import", "join"):
        import torch._dynamo  # noqa: F401
    for _ in range(20):
        dist.all_reduce(torch.ones(1000))
    dist.barrier()
    if mode != "keep":
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
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    for mode in MODES:
        count = sum(aborted(mode) for _ in range(args.runs))
        print(f"{mode}: {count}/{args.runs} runs aborted at exit")


if __name__ == "__main__":
    main()
