"""Live progress bar (rich) showing the current losses; silent when disabled. Where stderr is not a
terminal (a log file) only the epoch lines are written: a bar drawn once at the end would repeat the
last batch's losses, cut to 80 columns."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainingProgress:
    def __init__(self, enabled: bool, epochs: int, steps_per_epoch: int):
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), console=self.console,
            disable=not (enabled and self.console.is_terminal),
        )
        self.task = self.bar.add_task("train", total=epochs * steps_per_epoch, losses="")
        self.steps_per_epoch = steps_per_epoch

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def advance(self, steps: int, losses: dict[str, float]) -> None:
        text = "  ".join(f"{k} {v:.4g}" for k, v in losses.items())
        self.bar.update(self.task, advance=steps, losses=text)

    def end_epoch(self, record: dict) -> None:
        if self.enabled:
            shown = {k: v for k, v in record.items() if k.startswith(("train/loss", "eval/loss"))}
            text = "  ".join(f"{k} {v:.4f}" for k, v in shown.items())
            self.bar.console.print(f"epoch {record['epoch']}: {text}  ({record['time_s']:.1f}s)")

    def start_at(self, step: int) -> None:
        self.bar.update(self.task, completed=step)
