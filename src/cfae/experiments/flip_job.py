"""`cfae counterfactual flip`: seed 001's Figure 7 grid for a trained run, plus flips.json."""

from __future__ import annotations

from pathlib import Path

import torch

import cfae
from cfae.counterfactual.flip import attribute_method, has_attribute_latents
from cfae.experiments.report import save_scores
from cfae.registry import check_choices
from cfae.train.run import read_run_config
from cfae.viz.attributes import flip_grid, flip_rows


@torch.no_grad()
def write_flip_grid(run: Path, attributes: list[str], n: int, out: Path, value: int | None = None, seed: int = 0,
                    say=print) -> Path:
    """Rows: n test inputs, their reconstructions, then each attribute flipped (or set to value)."""
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose another --out")
    config = read_run_config(run)
    model = cfae.load(run)
    test = config.load_split("test")
    names = test.attribute_names
    if not names:
        raise ValueError(f"dataset {config.dataset!r} of {run} has no attributes to flip")
    check_choices("attribute", attributes, names)
    train = None
    if not has_attribute_latents(model):
        say(f"{config.model} has no attribute latents: mean-difference directions from the training split")
        train = config.load_split("train")
    method = attribute_method(model, train)
    index = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n]
    rows = flip_rows(method, test.batch(index), names, attributes, value)
    path = flip_grid(rows, out, title=f"{config.model} on {config.dataset}")
    save_scores(out.with_suffix(".json"), {"run": str(run), "test_indices": index.tolist(), "rows": list(rows),
                                           "value": value, "method": "flip" if train is None else "mean-difference"}, model)
    say(f"grid written to {path}")
    return path
