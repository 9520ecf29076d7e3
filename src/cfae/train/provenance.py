"""What ran: the code, the libraries and the machine, recorded beside a run's settings.

A seed fixes a CPU run's numbers only on one processor, one torch build and one choice of kernels:
the same seed-0 VAE trained on an Intel Xeon, on this AMD EPYC, and before and after the fused Adam
kernel gives three different first-epoch losses (docs/results.md, "What a seed fixes"). So every
training session writes `provenance()` into its run folder (run.py: RUN/provenance.jsonl), every
saved classifier or regressor into its predictor.json, and every record of scores carries the code
and machine that computed it under SCORED_BY (`stamped`): a score cached by an earlier command is
reused, so without it a report could not tell which code measured what it shows.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

import cfae

SOURCE = Path(cfae.__file__).resolve().parent  # the package directory, inside a checkout or not
# settings read from the environment that change a computation's floats or speed
ENVIRONMENT = ("CFAE_FLUSH_DENORMALS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG")
SCORED_BY = "scored_by"  # the key of a record of scores that names what computed them
SCORER_KEYS = ("cfae", "git", "torch", "processor", "gpu", "device", "threads")  # of provenance(), kept in a stamp


def _git(tree: Path, *args: str) -> str | None:
    """stdout of `git -C tree ARGS`, stripped; None when git is missing, fails or hangs."""
    try:
        done = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def git_state(tree: Path = SOURCE) -> dict | None:
    """{"commit", "dirty"} of the git work tree whose tracked files include `tree`/__init__.py; dirty
    when a file under `tree` differs from the commit or is not in it (ignored files aside). None for
    an installed copy (even one inside an ignored folder of a checkout, such as .venv) and without git."""
    if _git(tree, "ls-files", "--error-unmatch", "__init__.py") is None:
        return None
    commit = _git(tree, "rev-parse", "HEAD")
    if commit is None:
        return None
    changes = _git(tree, "status", "--porcelain", "--", ".")
    return {"commit": commit, "dirty": None if changes is None else bool(changes)}


def processor() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(device: str = "cpu") -> dict:
    """The code (cfae's version, its git commit), the libraries and the machine a computation on
    `device` runs with; JSON-serialisable."""
    record = {"cfae": cfae.__version__, "git": git_state(), "python": platform.python_version(),
              "torch": torch.__version__, "platform": platform.platform(), "processor": processor(),
              "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "device": device,
              "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ}, "argv": sys.argv}
    if device.startswith("cuda") and torch.cuda.is_available():
        record["cuda"] = torch.version.cuda
        record["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return record


def code_label(record: dict) -> str:
    """A provenance record's code in a few words: cfae's version and the commit's first 9 digits,
    "with changes" when the package differed from it, or "an installed copy"."""
    git = record.get("git")
    code = "an installed copy" if git is None else git["commit"][:9] + (" with changes" if git.get("dirty") else "")
    return f"cfae {record['cfae']}, {code}"


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def scorer(model: torch.nn.Module | None = None) -> dict:
    """A stamp for scores computed now: the time and the SCORER_KEYS of provenance() on the device of
    the model scored (else the CPU)."""
    record = provenance("cpu" if model is None else str(next(model.parameters()).device))
    return {"scored": utc_now(), **{k: record[k] for k in SCORER_KEYS if k in record}}


def stamped(scores: dict, model: torch.nn.Module | None = None) -> dict:
    """scores plus, under SCORED_BY, what computed them (scorer); a stamp already there is replaced."""
    return {**scores, SCORED_BY: scorer(model)}


def stamps_in(value) -> list[dict]:
    """Every SCORED_BY stamp in a JSON value, at any depth, in document order."""
    if isinstance(value, dict):
        own = [value[SCORED_BY]] if isinstance(value.get(SCORED_BY), dict) else []
        return own + [s for k, v in value.items() if k != SCORED_BY for s in stamps_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in stamps_in(v)]
    return []


def scorer_labels(stamps: list[dict]) -> set[str]:
    """The code labels of score stamps (stamps_in), or {"not recorded"} when there are none."""
    return {code_label(stamp) for stamp in stamps} or {"not recorded"}


def stamps_in_file(path: Path) -> list[dict] | None:
    """stamps_in of a JSON file's content; None when the file cannot be read or is not valid JSON."""
    try:
        return stamps_in(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return None


def unstamped(value):
    """A JSON value with every SCORED_BY stamp taken out, at any depth (to compare two records' scores)."""
    if isinstance(value, dict):
        return {k: unstamped(v) for k, v in value.items() if k != SCORED_BY}
    if isinstance(value, list):
        return [unstamped(v) for v in value]
    return value
