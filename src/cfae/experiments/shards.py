"""Merge the results.json of reproductions run side by side into separate folders (shards: other
seeds, families or layer counts of one grid) into one folder's results.json, so that
`cfae reproduce ... --report-only` there reports them together."""

from __future__ import annotations

import json
from pathlib import Path

from cfae import jsonio
from cfae.train.provenance import unstamped

SETUP = "setup"  # each reproduction rewrites its own setup when it reports


def merge_results(target: str | Path, shards: list[str | Path], replace: bool = False) -> list[str]:
    """Add every run key of each shard's results.json to TARGET/results.json (folder and file created
    if missing) and return the keys added. A key already in the target with other scores is refused, naming
    both files, unless `replace` (then the shard's scores win, e.g. over a stub of a run never
    trained). Scores equal but for their stamps (provenance.SCORED_BY) are the same run's. Nothing is
    written when any key is refused."""
    path = Path(target) / "results.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    added = []
    for shard in shards:
        source = Path(shard) / "results.json"
        if not source.exists():
            raise FileNotFoundError(f"{source}: no results.json in this shard")
        for key, scores in json.loads(source.read_text()).items():
            if key == SETUP or unstamped(merged.get(key)) == unstamped(scores):  # the same scores, whoever computed them
                continue
            if key in merged and not replace:
                raise ValueError(f"{source}: run {key} is already in {path} with other scores; "
                                 "pass --replace to take the shard's")
            merged[key] = scores
            added.append(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    jsonio.write_json(path, merged)
    return added
