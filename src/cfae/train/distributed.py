"""Training on several processes with torch.distributed (launched by torchrun).

Each rank takes its share of every global batch (the same seeded permutation on every rank) and,
after each backward pass, gradients are summed across ranks with each rank's contribution
weighted by its share of the global batch: sum_r (n_r / n) g_r, the gradient of the mean loss
over the whole global batch. This is what DistributedDataParallel computes for equal shares, done
per optimiser step instead of inside one wrapped forward/backward, so models with several
networks and several backward passes per step (adversarial, multi-phase) are reduced correctly.
gloo on CPU, NCCL on CUDA; rank 0 alone writes logs and checkpoints.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    group: bool = False  # a process group is active (torchrun), even with one process

    @property
    def distributed(self) -> bool:
        return self.group or self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, index: Tensor) -> Tensor:
        """This rank's rows of a global batch: a contiguous, nearly equal split."""
        if not self.distributed:
            return index
        return index.tensor_split(self.world_size)[self.rank]


def launched_by_torchrun() -> bool:
    """torchrun (or another launcher) set the rendezvous variables, for one process or more."""
    return all(key in os.environ for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def is_main_process() -> bool:
    """Rank 0, or a process not launched by torchrun: the one that locks folders, writes and reports."""
    return os.environ.get("RANK", "0") == "0"


def init_ranks(device: str) -> Ranks:
    """Join the process group torchrun describes (env RANK, WORLD_SIZE, LOCAL_RANK); one process otherwise."""
    if not launched_by_torchrun() and not dist.is_initialized():
        return Ranks()
    if not dist.is_initialized():
        join_process_group("nccl" if device.startswith("cuda") else "gloo")
        atexit.register(leave_process_group)
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), group=True)


def join_process_group(backend: str, **options) -> None:
    """dist.init_process_group, with torch.distributed.nn.functional imported first. That module's
    functions take `group=group.WORLD` as a default argument, bound when it is imported: imported
    after the group exists (torch._dynamo imports it, and building an optimiser imports
    torch._dynamo), it keeps the group alive past destroy_process_group, gloo's worker threads with
    it, and a worker that drops a finished collective during interpreter shutdown aborts the
    process (SIGABRT, "terminate called without an active exception")."""
    import torch.distributed.nn.functional  # noqa: F401  (before the group: its defaults stay None)

    dist.init_process_group(backend, **options)


def leave_process_group() -> None:
    """Destroy the process group, joining gloo's worker threads, while the interpreter is still
    whole; init_ranks registers this to run at exit. A worker still running at shutdown aborts the
    process when it drops a finished collective's tensors (it cannot take the GIL then)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: str, ranks: Ranks) -> str:
    """On CUDA each local rank takes its own GPU."""
    if ranks.distributed and device == "cuda":
        torch.cuda.set_device(ranks.local_rank)
        return f"cuda:{ranks.local_rank}"
    return device


def weighted_gradient_sum(optimizer: torch.optim.Optimizer, weight: float) -> None:
    """grad <- sum over ranks of weight_r * grad_r, in one flat all-reduce per optimiser step.
    A parameter without a gradient contributes zeros, so every rank sends the same layout."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
    flat.mul_(weight)
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def all_reduce_sum(values: Tensor) -> Tensor:
    """Sum of a tensor over ranks (identity on one process)."""
    if dist.is_initialized():
        home = values.device
        values = values.to("cuda" if dist.get_backend() == "nccl" else home, copy=True)
        dist.all_reduce(values)
        values = values.to(home)
    return values


def broadcast_state(module: torch.nn.Module) -> None:
    """Parameters and buffers (batch-norm statistics) copied from rank 0 to every rank."""
    if dist.is_initialized():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, 0)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
