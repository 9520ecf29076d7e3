"""One training loop for every model, on one process or several (train/distributed.py).

The dataset sits on the device as one tensor; global batches are drawn by index from a permutation
seeded by (seed, epoch), identical on every rank, and each rank takes its share. Loss terms stay on
the device and are fetched once every `sync_every` steps: that one transfer updates the progress
bar and checks every term of every step for NaN/inf (on every rank at once). Terms may differ
between steps (alternating updates); each is averaged over the steps that logged it. Evaluation
terms are checked too, before anything is written, so the last checkpoint is always a good one.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from pathlib import Path

import torch
from torch import Tensor

from cfae import jsonio
from cfae.data.base import ImageDataset
from cfae.models.base import BaseModel
from cfae.nn.schedules import linear_ramp
from cfae.train import distributed
from cfae.train.allocator import keep_freed_memory
from cfae.train.checkpoint import CheckpointError, restore_newest, save_checkpoint
from cfae.train.config import TrainConfig, resolve_device
from cfae.train.denormals import flush_denormals
from cfae.train.optim import build_optimizers, clip_gradient_norm, set_epoch_lr
from cfae.train.progress import TrainingProgress


class NonFiniteLossError(RuntimeError):
    """Training produced NaN/inf; the message names the loss term and the step."""


class DivergedError(RuntimeError):
    """An epoch's training loss left the best epoch's far behind (TrainConfig.divergence_factor)."""


def diverged(loss: float, best: float, factor: float | None) -> bool:
    """True when loss > best + factor |best|: the divergence test of TrainConfig.divergence_factor."""
    return factor is not None and loss > best + factor * abs(best)


def kl_warmup_weight(step: int, warmup_epochs: int, steps_per_epoch: int) -> float:
    """beta of eq. 26: step / (warmup_epochs * steps_per_epoch), at most 1; 1 without warm-up."""
    return linear_ramp(step, 0.0, 1.0, warmup_epochs * steps_per_epoch) if warmup_epochs else 1.0


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """Seed of the sampling noise of one epoch on one rank (data order uses rank 0's)."""
    return (seed * 1_000_003 + epoch) * 1_009 + rank


class Trainer:
    def __init__(self, model: BaseModel, config: TrainConfig, train_data: ImageDataset,
                 eval_data: ImageDataset | None = None, out_dir: str | Path | None = None,
                 ranks: distributed.Ranks | None = None):
        self.config = config
        device = resolve_device(config.device)
        self.ranks = ranks or distributed.init_ranks(device)
        self.device = distributed.rank_device(device, self.ranks)
        if self.device.startswith("cuda"):
            torch.backends.cudnn.benchmark = True
        if config.kl_warmup_epochs and not model.kl_warmup:
            raise ValueError(f"kl_warmup_epochs={config.kl_warmup_epochs}: model {type(model).__name__} has no KL "
                             "weight to warm up; set it to 0")
        self.model = model.to(self.device)
        distributed.broadcast_state(self.model)
        if config.compile != "off":  # in place: the state dict keeps its names, so checkpoints do not change
            self.model.compile(mode=config.compile, dynamic=False)
        self.model.autocast = self._autocast
        self._share = 1.0
        self._clipped, self._optimizer_steps = torch.zeros((), device=self.device), 0
        self.model.before_step = self._before_step
        self.train_data = train_data.to(self.device)
        self.eval_data = eval_data.to(self.device) if eval_data is not None else None
        self.out_dir = Path(out_dir) if out_dir else None
        self.optimizers = build_optimizers(model.networks(), config)
        self.epoch = 0
        self.step = 0
        self.history: list[dict] = []

    @property
    def checkpoint_dir(self) -> Path | None:
        return self.out_dir / "checkpoints" if self.out_dir else None

    @property
    def writes(self) -> bool:
        """Only rank 0 of a run with an output folder writes."""
        return self.out_dir is not None and self.ranks.is_main

    def _autocast(self):
        """bf16 autocast for forward passes when asked (the model applies it to forward only)."""
        if not self.config.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16)

    def resume(self) -> bool:
        """Continue from the newest readable checkpoint (weights, optimisers, epoch, step); the
        learning rates come from the current config. False when the run holds none yet."""
        if self.checkpoint_dir is None:
            raise ValueError("resume needs an output folder")
        restored = restore_newest(self.checkpoint_dir, self.model, self.optimizers)
        if restored is None:
            warnings.warn(f"{self.checkpoint_dir}: no complete checkpoint yet; starting from epoch 0", stacklevel=2)
            return False
        state, _ = restored
        self.epoch, self.step = state["epoch"], state["step"]
        self.history = [r for r in read_log(self.out_dir / "log.jsonl") if r["epoch"] <= self.epoch]
        if self.writes:
            self._rewrite_log()
        return True

    def fit(self) -> list[dict]:
        """Train up to config.epochs; returns the per-epoch records (also appended to log.jsonl)."""
        keep_freed_memory()
        flush_denormals()
        steps = self._steps_per_epoch()
        progress = TrainingProgress(self.config.progress and self.ranks.is_main, self.config.epochs, steps)
        progress.start_at(self.epoch * steps)
        with progress:
            while self.epoch < self.config.epochs:
                lrs = set_epoch_lr(self.optimizers, self.epoch, self.config)
                record = self._train_epoch(progress)
                self._check_divergence(record)
                if self.eval_data is not None and self._evaluates_after(self.epoch):
                    evaluation = self.evaluate(self.eval_data)
                    self._check_finite(evaluation, f"evaluation after epoch {self.epoch + 1}")
                    record.update({f"eval/{k}": v for k, v in evaluation.items()})
                self.epoch += 1
                record.update(epoch=self.epoch, step=self.step, **{f"lr/{k}": v for k, v in lrs.items()})
                self.history.append(record)
                if self.writes:
                    self._append_log(record)
                    save_checkpoint(self.checkpoint_dir, f"epoch-{self.epoch:04d}", self.model, self.optimizers,
                                    self._trainer_state())
                distributed.barrier()
                progress.end_epoch(record)
        return self.history

    def _evaluates_after(self, epoch: int) -> bool:
        """Whether the test set is scored after 0-based epoch `epoch`: every eval_every-th epoch and the last."""
        return (epoch + 1) % self.config.eval_every == 0 or epoch + 1 == self.config.epochs

    def _before_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Between backward and one optimiser's step: the weighted gradient sum over ranks, then
        clipping to train.grad_clip_norm, counting the steps it clipped (no host sync)."""
        if self.ranks.distributed:
            distributed.weighted_gradient_sum(optimizer, self._share)
        if self.config.grad_clip_norm is not None:
            self._clipped += clip_gradient_norm(optimizer, self.config.grad_clip_norm)
            self._optimizer_steps += 1

    def _trainer_state(self) -> dict:
        return {"epoch": self.epoch, "step": self.step, "train": self.config.model_dump(),
                "world_size": self.ranks.world_size}

    def _steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_data) / self.config.batch_size)

    def _train_epoch(self, progress: TrainingProgress) -> dict:
        self.model.train()
        self.train_data.set_epoch(self.epoch)
        torch.manual_seed(epoch_seed(self.config.seed, self.epoch, self.ranks.rank))
        order = torch.Generator().manual_seed(epoch_seed(self.config.seed, self.epoch))
        start = time.perf_counter()
        pending: list[tuple[tuple[str, ...], Tensor, int]] = []  # (term names, their values, rows) per step
        steps_per_epoch = self._steps_per_epoch()
        sums: dict[str, float] = {}
        self._clipped.zero_()
        self._optimizer_steps = 0
        for index in self.train_data.index_batches(self.config.batch_size, generator=order):
            if len(index) < self.ranks.world_size:
                continue  # a last global batch smaller than the number of ranks is dropped on every rank
            local = self.ranks.shard(index)
            self._share = len(local) / len(index)
            self.model.set_schedule(self.step, kl_warmup_weight(self.step, self.config.kl_warmup_epochs, steps_per_epoch))
            if self.config.compile == "reduce-overhead":
                torch.compiler.cudagraph_mark_step_begin()  # the previous step's graph outputs may be reused
            terms = self.model.training_step(self.train_data.batch(local), self.optimizers)
            names = tuple(terms)
            pending.append((names, torch.stack([terms[k].float() for k in names]), len(local)))
            self.step += 1
            if len(pending) == self.config.sync_every:
                self._flush(pending, sums, progress)
                pending = []
        if pending:
            self._flush(pending, sums, progress)
        names = sorted(k for k in sums if not k.startswith("#"))
        totals = distributed.all_reduce_sum(torch.tensor([[sums[k], sums["#" + k]] for k in names], dtype=torch.float64))
        record = {f"train/{k}": float(total / count) for k, (total, count) in zip(names, totals.tolist())}
        if self._optimizer_steps:  # gradients are equal on every rank after the sum, so is this share
            record["train/grad_clipped"] = self._clipped.item() / self._optimizer_steps
        record["time_s"] = round(time.perf_counter() - start, 3)
        # CPU training repeats bit for bit at one thread count, not across counts (docs/results.md)
        record["threads"] = torch.get_num_threads()
        return record

    def _flush(self, pending: list[tuple[tuple[str, ...], Tensor, int]], sums: dict[str, float],
               progress: TrainingProgress) -> None:
        """One host sync: check every pending step's terms for NaN/inf (on all ranks), then add them
        to the row-weighted sums and update the bar."""
        flat = torch.cat([v for _, v, _ in pending]).cpu().double()
        bad_here = float(not torch.isfinite(flat).all())
        values = flat.split([len(v) for _, v, _ in pending])
        if distributed.all_reduce_sum(torch.tensor([bad_here])).item() > 0:
            self._raise_non_finite(pending, values, bad_here)
        for (names, _, rows), row in zip(pending, values):
            for name, value in zip(names, row.tolist()):
                sums[name] = sums.get(name, 0.0) + value * rows
                sums["#" + name] = sums.get("#" + name, 0.0) + rows
        progress.advance(len(pending), dict(zip(pending[-1][0], values[-1].tolist())))

    @property
    def _kept(self) -> str:
        return f"; the last good checkpoint in {self.checkpoint_dir} is intact" if self.checkpoint_dir else ""

    def _raise_non_finite(self, pending, values: tuple[Tensor, ...], bad_here: float) -> None:
        kept = self._kept
        if not bad_here:
            raise NonFiniteLossError(f"a loss term became non-finite on another rank in epoch {self.epoch + 1}; "
                                     f"training stopped{kept}")
        for k, ((names, _, _), row) in enumerate(zip(pending, values)):
            bad = (~torch.isfinite(row)).nonzero()
            if len(bad):
                col = int(bad[0])
                step = self.step - len(pending) + k
                raise NonFiniteLossError(f"loss term {names[col]!r} became {row[col].item()} at step {step} "
                                         f"(epoch {self.epoch + 1}); training stopped{kept}")

    def _check_divergence(self, record: dict) -> None:
        past = [r["train/loss"] for r in self.history if "train/loss" in r]
        loss = record.get("train/loss")
        if past and loss is not None and diverged(loss, min(past), self.config.divergence_factor):
            raise DivergedError(f"epoch {self.epoch + 1}: training loss {loss:.6g} is past the best epoch's {min(past):.6g} "
                                f"by more than divergence_factor {self.config.divergence_factor:g} times its size; "
                                f"training stopped, nothing was saved for this epoch{self._kept}")

    def _check_finite(self, terms: dict[str, float], where: str) -> None:
        bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
        if bad:
            name, value = next(iter(bad.items()))
            raise NonFiniteLossError(f"{where}: term {name!r} is {value}; nothing was saved for this epoch{self._kept}")

    @torch.no_grad()
    def evaluate(self, data: ImageDataset) -> dict[str, float]:
        """Mean of every loss term over `data` (posterior mean codes, eval mode), sharded over ranks."""
        self.model.eval()
        sums: dict[str, Tensor] = {}
        for index in data.index_batches(self.config.eval_batch_size, shuffle=False):
            local = self.ranks.shard(index)
            if len(local) == 0:
                continue
            out = self.model.forward_pass(data.batch(local))
            for k, v in out.terms.items():
                sums[k] = sums.get(k, 0) + v.float() * len(local)
        self.model.train()
        names = sorted(sums)
        totals = distributed.all_reduce_sum(torch.stack([sums[k] for k in names]).double().cpu()) if names else []
        return {k: float(v) / len(data) for k, v in zip(names, totals)}

    def _append_log(self, record: dict) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "log.jsonl", "a") as f:
            f.write(jsonio.dumps(record) + "\n")

    def _rewrite_log(self) -> None:
        jsonio.write_text_atomic(self.out_dir / "log.jsonl", "".join(jsonio.dumps(r) + "\n" for r in self.history))


def read_log(path: Path) -> list[dict]:
    """The records of log.jsonl; a torn last line (a crash mid-write) is dropped, any other bad line
    is an error naming the file and the line."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number == len(lines):
                warnings.warn(f"{path}: dropped a torn last line ({err})", stacklevel=2)
                break
            raise CheckpointError(f"{path}: line {number} is not valid JSON ({err})") from None
    return records
