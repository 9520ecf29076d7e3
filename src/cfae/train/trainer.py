"""One training loop for every model (models with several optimisers override training_step).

The dataset sits on the device as one tensor; batches are drawn by index. Loss terms stay on the
device and are fetched once every `sync_every` steps: that one transfer updates the progress bar
and checks every term of every step for NaN/inf.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import torch
from torch import Tensor

from cfae.data.base import ImageDataset
from cfae.models.base import BaseModel
from cfae.train.checkpoint import resolve_checkpoint, restore_training, save_checkpoint
from cfae.train.config import TrainConfig, resolve_device
from cfae.train.progress import TrainingProgress


class NonFiniteLossError(RuntimeError):
    """Training produced NaN/inf; the message names the loss term and the step."""


class Trainer:
    def __init__(self, model: BaseModel, config: TrainConfig, train_data: ImageDataset,
                 eval_data: ImageDataset | None = None, out_dir: str | Path | None = None):
        self.config = config
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        if self.device.startswith("cuda"):
            torch.backends.cudnn.benchmark = True
        self.model = model.to(self.device)
        self.train_data = train_data.to(self.device)
        self.eval_data = eval_data.to(self.device) if eval_data is not None else None
        self.out_dir = Path(out_dir) if out_dir else None
        self.optimizers = model.configure_optimizers(config.lr)
        self.schedulers = [self._scheduler(opt) for opt in self.optimizers.values()]
        self.epoch = 0
        self.step = 0
        self.history: list[dict] = []

    def _scheduler(self, opt: torch.optim.Optimizer):
        c = self.config
        if c.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.epochs)
        if c.lr_schedule == "step":
            return torch.optim.lr_scheduler.StepLR(opt, step_size=c.lr_step_epochs, gamma=0.5)
        return None

    @property
    def checkpoint_dir(self) -> Path | None:
        return self.out_dir / "checkpoints" if self.out_dir else None

    def _autocast(self):
        if self.config.bf16 and self.device.startswith("cuda"):
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def resume(self) -> None:
        """Continue from the run folder's newest checkpoint (weights, optimisers, RNG, schedules)."""
        if self.checkpoint_dir is None:
            raise ValueError("resume needs an output folder")
        state = restore_training(resolve_checkpoint(self.checkpoint_dir), self.model, self.optimizers)
        self.epoch, self.step = state["epoch"], state["step"]
        for sched, sched_state in zip(self.schedulers, state.get("schedulers", [])):
            if sched is not None:
                sched.load_state_dict(sched_state)
        log = self.out_dir / "log.jsonl"
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        self.history = [r for r in records if r["epoch"] <= self.epoch]
        self._rewrite_log()

    def fit(self) -> list[dict]:
        """Train up to config.epochs; returns the per-epoch records (also appended to log.jsonl)."""
        progress = TrainingProgress(self.config.progress, self.config.epochs, self._steps_per_epoch())
        progress.start_at(self.epoch * self._steps_per_epoch())
        with progress:
            while self.epoch < self.config.epochs:
                record = self._train_epoch(progress)
                if self.eval_data is not None:
                    record.update({f"eval/{k}": v for k, v in self.evaluate(self.eval_data).items()})
                self.epoch += 1
                record.update(epoch=self.epoch, step=self.step, lr=self._lr())
                for sched in self.schedulers:
                    if sched is not None:
                        sched.step()
                self.history.append(record)
                self._append_log(record)
                if self.checkpoint_dir:
                    save_checkpoint(self.checkpoint_dir, f"epoch-{self.epoch:04d}", self.model, self.optimizers,
                                    self._trainer_state())
                progress.end_epoch(record)
        return self.history

    def _trainer_state(self) -> dict:
        schedulers = [s.state_dict() if s is not None else None for s in self.schedulers]
        return {"epoch": self.epoch, "step": self.step, "train": self.config.model_dump(), "schedulers": schedulers}

    def _steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_data) / self.config.batch_size)

    def _lr(self) -> float:
        return next(iter(self.optimizers.values())).param_groups[0]["lr"]

    def _train_epoch(self, progress: TrainingProgress) -> dict:
        self.model.train()
        start = time.perf_counter()
        names: list[str] | None = None
        pending: list[Tensor] = []
        totals: Tensor | None = None
        first_step = self.step
        for index in self.train_data.index_batches(self.config.batch_size):
            x = self.train_data.batch(index)
            self.model.step = self.step
            with self._autocast():
                terms = self.model.training_step(x, self.optimizers)
            names = names or list(terms)
            pending.append(torch.stack([terms[k].float() for k in names]))
            self.step += 1
            if len(pending) == self.config.sync_every:
                totals = self._flush(pending, names, totals, progress)
                pending = []
        if pending:
            totals = self._flush(pending, names, totals, progress)
        count = self.step - first_step
        record = {f"train/{k}": float(totals[i]) / count for i, k in enumerate(names)}
        record["time_s"] = round(time.perf_counter() - start, 3)
        return record

    def _flush(self, pending: list[Tensor], names: list[str], totals: Tensor | None, progress: TrainingProgress) -> Tensor:
        """One host sync: check every pending step's terms for NaN/inf, then update the bar."""
        values = torch.stack(pending).cpu()
        bad = ~torch.isfinite(values)
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            step = self.step - len(pending) + row
            kept = f"; the last good checkpoint in {self.checkpoint_dir} is intact" if self.checkpoint_dir else ""
            raise NonFiniteLossError(
                f"loss term {names[col]!r} became {values[row, col].item()} at step {step} "
                f"(epoch {self.epoch + 1}); training stopped{kept}"
            )
        batch_sum = values.sum(0)
        totals = batch_sum if totals is None else totals + batch_sum
        progress.advance(len(pending), dict(zip(names, values[-1].tolist())))
        return totals

    @torch.no_grad()
    def evaluate(self, data: ImageDataset) -> dict[str, float]:
        """Mean of every loss term over `data` (posterior mean codes, eval mode)."""
        self.model.eval()
        sums: dict[str, Tensor] = {}
        for index in data.index_batches(self.config.eval_batch_size, shuffle=False):
            with self._autocast():
                out = self.model(data.batch(index))
            for k, v in out.terms.items():
                sums[k] = sums.get(k, 0) + v.float() * len(index)
        self.model.train()
        return {k: float(v) / len(data) for k, v in sums.items()}

    def _append_log(self, record: dict) -> None:
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    def _rewrite_log(self) -> None:
        if self.out_dir:
            (self.out_dir / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in self.history))
