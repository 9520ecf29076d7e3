"""Issue 14's long run: beta-VAE on the generated dSprites, one process per (seed, beta), one report.

    python benchmarks/betavae_shards.py ROOT --epochs 100 [--jobs N] [--deadline S --score-seconds T]

Each (seed, beta) trains and is scored by `cfae reproduce betavae-dsprites` in its own folder
ROOT/shards/s<seed>-b<beta>, `--jobs` at a time (default: all at once), one thread each. When
every shard has finished, ROOT/all links their runs together and writes the report and figures
without training again, and ROOT/betavae.tar.gz packs everything but the checkpoints. Run it again
with the same ROOT to resume.

With `--deadline S` the shards stop S seconds after the start (the report then waits for a later
call). When all shards run at once it also fits the epochs to the time: it times every shard's
epochs after its first (one at least, over 10 s at least), and if `--epochs` would not finish S - T seconds after the start (T =
`--score-seconds`, the time the suite needs), it stops the shards and resumes them all at the most
epochs that do. Every model gets the same count, and the JSON lines printed say which.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from cfae.experiments.betavae_dsprites import run_folder

EXPERIMENT, LATENT_DIM = "betavae-dsprites", 10  # reproduce's folder and its default latent size


def say(**record) -> None:
    print(json.dumps(record), flush=True)


class Shard:
    """One (seed, beta) reproduction in its own folder and process group."""

    def __init__(self, root: Path, seed: int, beta: str, extra: list[str]):
        self.seed, self.beta, self.extra = seed, beta, extra
        self.name = f"s{seed}-b{beta}"
        self.out = root / "shards" / self.name
        self.run = run_folder(self.out / EXPERIMENT, float(beta), LATENT_DIM, seed)
        self.log = self.run / "log.jsonl"
        self.process: subprocess.Popen | None = None
        self.started, self.rc = 0.0, None

    def epochs_done(self) -> int:
        return sum(1 for line in self.log.read_text().splitlines() if line.strip()) if self.log.is_file() else 0

    def start(self, epochs: int) -> None:
        command = [sys.executable, "-m", "cfae.cli", "reproduce", EXPERIMENT, "--out", str(self.out),
                   "--seeds", str(self.seed), "--betas", self.beta, "--epochs", str(epochs), "--sweep-latent-dims", "",
                   "--mnist-epochs", "0", "--no-baselines", "--quiet", *self.extra]
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out.with_suffix(".log"), "a") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, "OMP_NUM_THREADS": "1"})
        self.started = time.monotonic()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait()


def fit_epochs(shards: list[Shard], asked: int, train_until: float, span: float = 10.0) -> tuple[int, float | None]:
    """(epochs, seconds an epoch): the most epochs every shard finishes by train_until (monotonic
    clock), at most `asked`. Each shard is timed from the end of its first epoch of this call over
    at least one more epoch and `span` seconds; the slowest shard sets the pace."""
    first = {s.name: s.epochs_done() for s in shards}
    marks: dict[str, tuple[float, int]] = {}  # shard -> (time, epochs done) at the end of its first new epoch
    pace: dict[str, float] = {}
    while len(pace) < len(shards):
        if any(s.process.poll() is not None for s in shards):
            return asked, None  # a shard ended (done or failed) before it could be timed
        now = time.monotonic()
        for s in shards:
            done = s.epochs_done() - first[s.name]
            if done >= 1 and s.name not in marks:
                marks[s.name] = (now, done)
            elif s.name in marks and done > marks[s.name][1] and now - marks[s.name][0] >= span:
                pace[s.name] = (now - marks[s.name][0]) / (done - marks[s.name][1])
        time.sleep(0.5)
    epoch = max(pace.values())
    reached = max(s.epochs_done() for s in shards)
    return min(asked, reached + int((train_until - time.monotonic()) / epoch)), epoch


def run_shards(shards: list[Shard], epochs: int, jobs: int, deadline: float, score_seconds: float) -> int:
    """Run every shard to its end or the deadline (seconds after now; 0: none), fitting the epochs
    first when a deadline is set and all run at once; sets each shard's rc; the epochs they ran to."""
    begin = time.monotonic()
    waiting, running = list(shards), []
    fitting = deadline > 0 and jobs >= len(shards)
    while waiting or running:
        while waiting and len(running) < jobs:
            running.append(waiting.pop(0))
            running[-1].start(epochs)
        if fitting:
            fitting = False
            restart = 30  # seconds to stop and start every shard again
            fitted, epoch = fit_epochs(running, epochs, begin + deadline - score_seconds - restart)
            asked = epochs
            if fitted < epochs:
                for s in running:
                    s.stop()
                epochs = max(fitted, 1, *(s.epochs_done() for s in running))  # no run may be past what is scored
                for s in running:
                    s.start(epochs)
            say(epochs_asked=asked, epoch_seconds=epoch and round(epoch, 2), epochs=epochs)
        late = deadline > 0 and time.monotonic() - begin > deadline
        for s in list(running):
            if s.process.poll() is None:
                if not late:
                    continue
                s.stop()
                s.rc = 124
            else:
                s.rc = s.process.returncode
            running.remove(s)
            say(shard=s.name, rc=s.rc, epochs=epochs, seconds=round(time.monotonic() - s.started))
        time.sleep(0.5)
    return epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--betas", default="1,4,16")
    parser.add_argument("--jobs", type=int, default=0, help="shards at a time (default: all)")
    parser.add_argument("--deadline", type=float, default=0, help="seconds after the start at which shards stop")
    parser.add_argument("--score-seconds", type=float, default=300, help="seconds the suite takes a model")
    parser.add_argument("--extra", default="", help="options for every reproduce call, e.g. '--limit 256 --fast'")
    args = parser.parse_args()
    extra = shlex.split(args.extra)
    shards = [Shard(args.root, int(s), b, extra) for s in args.seeds.split(",") for b in args.betas.split(",")]
    epochs = run_shards(shards, args.epochs, args.jobs or len(shards), args.deadline, args.score_seconds)
    failed = [s.name for s in shards if s.rc != 0]
    bundle, rc = ["shards"], 1
    if not failed:
        rc = report(args, shards, epochs, extra)
        bundle += ["all", "all.log"]
    with tarfile.open(args.root / "betavae.tar.gz", "w:gz") as tar:
        for name in bundle:
            tar.add(args.root / name, arcname=name, filter=lambda info: None if "/checkpoints" in info.name else info)
    if failed:
        say(report="waits", shards_failed=failed)
    sys.exit(rc)


def report(args, shards: list[Shard], epochs: int, extra: list[str]) -> int:
    """Link every shard's runs into ROOT/all (anew) and write the report there; its exit status."""
    start = time.monotonic()
    runs = args.root / "all" / EXPERIMENT / "runs"
    shutil.rmtree(runs, ignore_errors=True)  # links only: the runs live in the shards
    runs.mkdir(parents=True)
    for s in shards:
        subprocess.run(["cp", "-al", str(s.run), str(runs)], check=True)
    command = [sys.executable, "-m", "cfae.cli", "reproduce", EXPERIMENT, "--out", str(args.root / "all"),
               "--seeds", args.seeds, "--betas", args.betas, "--epochs", str(epochs), "--sweep-latent-dims", str(LATENT_DIM),
               "--sweep-betas", args.betas, "--mnist-epochs", "0", "--no-baselines", "--quiet", *extra]
    with open(args.root / "all.log", "w") as log:
        rc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    say(report=str(args.root / "all" / "betavae-dsprites" / "report.md"), rc=rc, epochs=epochs,
        seconds=round(time.monotonic() - start))
    return rc


if __name__ == "__main__":
    main()
