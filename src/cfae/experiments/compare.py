"""`cfae compare RUN...`: the scores `cfae evaluate` wrote for several runs, side by side only where
they compare.

A score file's protocol is what its numbers depend on besides the model: the dataset and how many
examples were scored, the kind of likelihood, the number of importance samples. Runs are put in one
table only when their protocols are equal; otherwise each protocol gets its own table. The closing
section names the code that computed each file (provenance.SCORED_BY), and says so when it differs
between runs, since a metric changed between two versions of cfae does not compare either.
"""

from __future__ import annotations

import json
from pathlib import Path

from cfae.experiments.report import markdown_table, metrics_table
from cfae.train.provenance import scorer_labels, stamps_in

# score file (a glob in the run folder) -> the keys of its protocol; metrics.json keeps each kind of
# likelihood in a table of its own (report.metrics_table)
PROTOCOLS = {
    "metrics.json": ("dataset", "test_examples", "train_examples"),
    "likelihood-iw*.json": ("what", "dataset", "examples", "importance_samples"),
    "disentanglement.json": ("dataset", "samples"),
    "latent.json": ("dataset", "test_examples", "train_examples", "classifier"),
}


def read_scores(run: Path) -> list[tuple[str, dict]]:
    """(PROTOCOLS pattern, record) of every score file of a run folder, by file name; an error names a
    folder without any and a file that is not valid JSON."""
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder")
    files = sorted((path, pattern) for pattern in PROTOCOLS for path in run.glob(pattern))
    if not files:
        raise FileNotFoundError(f"{run}: no score files ({', '.join(PROTOCOLS)}); run `cfae evaluate {run}` first")
    scores = []
    for path, pattern in files:
        try:
            scores.append((pattern, json.loads(path.read_text())))
        except ValueError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
    return scores


def run_names(runs: list[Path]) -> list[str]:
    """Each run's folder name, or its path as given where two runs share a name."""
    names = [run.name for run in runs]
    return [name if names.count(name) == 1 else str(run) for name, run in zip(names, runs)]


def protocol_of(pattern: str, record: dict) -> tuple:
    """(key, value) for each protocol key of the pattern's files, in one score record."""
    return tuple((key, record.get(key)) for key in PROTOCOLS[pattern])


def scalar_keys(records: list[dict], protocol: tuple) -> list[str]:
    """The keys holding a number in any record, in first-seen order, protocol keys aside."""
    skip = {key for key, _ in protocol}
    keys = [k for r in records for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return [k for k in dict.fromkeys(keys) if k not in skip]


def comparison(runs: list[Path]) -> str:
    """The markdown comparison of the runs' score files: a section per file pattern and protocol."""
    names = run_names(runs)
    groups: dict[tuple, dict[str, dict]] = {}
    labels: dict[str, set[str]] = {}
    for name, run in zip(names, runs):
        for pattern, record in read_scores(run):
            protocol = protocol_of(pattern, record)
            groups.setdefault((pattern, protocol), {})[name] = record
            labels.setdefault(name, set()).update(scorer_labels(stamps_in(record)))
    lines = [f"# {len(runs)} runs compared", ""]
    for (pattern, protocol), records in groups.items():
        described = ", ".join(f"{key} {value}" for key, value in protocol if value is not None)
        lines += [f"## {pattern}: {described or 'no protocol recorded'}", ""]
        if pattern == "metrics.json":
            lines += [metrics_table(records, first="run"), ""]
        else:
            lines += [*markdown_table(records, scalar_keys(list(records.values()), protocol), first="run"), ""]
    codes = set().union(*labels.values())
    lines += ["## What computed these scores", "", "| run | code |", "|---|---|",
              *(f"| {name} | {'; '.join(sorted(labels[name]))} |" for name in names if name in labels), ""]
    if len(codes) > 1:
        lines += [f"These scores were computed by {len(codes)} different codes: a metric that changed between "
                  "them does not compare either (`cfae evaluate` again to score every run with one code).", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
