"""Does a seed fix a run's numbers here? The same `cfae train` command, run again and at other thread
counts, compared weight for weight.

Each run trains in a fresh process with OMP_NUM_THREADS set to its thread count, into its own folder
under --work. With --source, the command also runs from other source trees (a clone at another
commit: its src/ goes first on PYTHONPATH). The first run is the reference; each other run reports
whether its final weights and optimiser state are bit-identical to it, the largest absolute weight
difference, and its first and last training loss. One JSON line per run, so rows from several
machines can be put side by side (every run folder also holds provenance.jsonl: commit, torch,
processor).

    python benchmarks/repeatability.py --threads 1,2 --repeats 2 --work /tmp/rep -- \\
        vae -d shapes --latent-dim 10 --network mlp -o hidden=[1200,1200] --epochs 1 --limit 10000
    git clone -q . /tmp/old && git -C /tmp/old checkout -q 01557a0
    python benchmarks/repeatability.py --threads 1 --repeats 1 --source /tmp/old --work /tmp/rep -- ...
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from cfae.train.provenance import git_state

# the cfae command of whichever source tree is first on the path (older trees have no cfae/__main__.py)
LAUNCH = "import sys; from cfae.cli import app; sys.argv[0] = 'cfae'; app(prog_name='cfae')"


def final_tensors(run: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the run's newest checkpoint (weights and optimiser state), keyed file/name."""
    newest = max((run / "checkpoints").glob("epoch-*"))
    return {f"{f.name}/{k}": v for f in sorted(newest.glob("*.safetensors")) for k, v in load_file(f).items()}


def compare(reference: dict[str, torch.Tensor], other: dict[str, torch.Tensor]) -> dict:
    """Bitwise equality over all tensors and the largest absolute difference among the weights."""
    identical = reference.keys() == other.keys() and all(torch.equal(reference[k], other[k]) for k in reference)
    weights = [k for k in reference if k.startswith("model.")]
    gap = max((reference[k].double() - other[k].double()).abs().max().item() for k in weights)
    return {"bit_identical": identical, "max_abs_weight_difference": gap}


def train(args: list[str], out: Path, threads: int, source: Path | None = None) -> dict:
    """One `cfae train ARGS --out OUT` in a fresh process at `threads` threads, from the source tree
    `source` (else the installed cfae); its first and last epoch records."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source.resolve() / "src"), env.get("PYTHONPATH")]))
    subprocess.run([sys.executable, "-c", LAUNCH, "train", *args, "--out", str(out), "--quiet"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {"first_train_loss": log[0]["train/loss"], "last_train_loss": log[-1]["train/loss"],
            "seconds": sum(r["time_s"] for r in log)}


def trained_commit(run: Path, source: Path | None) -> str | None:
    """The commit the run was trained at: from its provenance.jsonl, else (code older than that
    record) the source tree's HEAD."""
    record = run / "provenance.jsonl"
    if record.is_file():
        return (json.loads(record.read_text().splitlines()[0]).get("git") or {}).get("commit")
    if source is None:
        return None
    return (git_state(source.resolve() / "src" / "cfae") or {}).get("commit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated; the first is the reference")
    parser.add_argument("--repeats", type=int, default=2, help="runs at each thread count")
    parser.add_argument("--work", type=Path, required=True, help="folder for the run folders (replaced)")
    parser.add_argument("--source", type=Path, action="append", default=[],
                        help="also run from this source tree (a clone at another commit); repeatable")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the arguments of `cfae train`, without --out")
    options = parser.parse_args()
    train_args = [a for a in options.train_args if a != "--"]
    if not train_args or "--out" in train_args:
        parser.error("give the arguments of `cfae train` after --, without --out")
    for source in options.source:
        if not (source / "src" / "cfae" / "__init__.py").is_file():
            parser.error(f"--source {source}: no src/cfae/__init__.py there")
    reference = None
    for number, source in enumerate([None, *options.source]):
        for threads in (int(t) for t in options.threads.split(",")):
            for repeat in range(options.repeats):
                run = options.work / f"src{number}-t{threads}-r{repeat}"
                row = {"source": str(source or "installed"), "threads": threads, "repeat": repeat,
                       "command": ["cfae", "train", *train_args], **train(train_args, run, threads, source)}
                row["commit"] = trained_commit(run, source)
                tensors = final_tensors(run)
                if reference is None:
                    reference, row["reference"] = tensors, True
                else:
                    row.update(compare(reference, tensors))
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
