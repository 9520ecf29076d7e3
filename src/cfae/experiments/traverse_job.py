"""`cfae counterfactual traverse`: a grid of latent traversals for a trained run, plus its JSON record."""

from __future__ import annotations

from pathlib import Path

import torch

import cfae
from cfae.counterfactual.traverse import data_values, latent_width, part_of, prior_values, traverse
from cfae.experiments.report import save_scores
from cfae.metrics.encode import encode_dataset
from cfae.train.run import read_run_config
from cfae.viz.grid import save_image_grid

RANGES = ("auto", "prior", "data")


@torch.no_grad()
def write_traversals(run: Path, dims: list[int], n: int, steps: int, span: float, value_range: str, out: Path,
                     seed: int = 0, say=print) -> Path:
    """For each dimension: n test inputs (rows) with z_d swept over `steps` values (columns), a blank
    row between two dimensions' blocks. The
    range is the prior's (+-span; 0..1 for Bernoulli bits) or the data's (1-99% of the codes of the
    first 5000 training images); auto takes the data's for models without a prior."""
    if value_range not in RANGES:
        raise ValueError(f"--range {value_range!r} is not one of the valid choices: {', '.join(RANGES)}")
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose another --out")
    config = read_run_config(run)
    model = cfae.load(run).eval()
    dims = dims or list(range(latent_width(model)))
    for d in dims:
        part_of(model, d)
    if value_range == "auto":
        value_range = "prior" if model.stochastic else "data"
    codes = encode_dataset(model, config.load_split("train").head(5000)).mean if value_range == "data" else None
    test = config.load_split("test")
    index = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n]
    batch = test.batch(index)
    values, blocks = {}, []
    for d in dims:
        values[d] = prior_values(model, d, steps, span) if codes is None else data_values(codes, d, steps)
        blocks.append(traverse(model, batch, d, values[d]).counterfactuals.flatten(0, 1))
    gap = torch.ones_like(blocks[0][:steps])  # the grid's white padding, one row of images high
    path = save_image_grid(out, torch.cat([part for block in blocks for part in (gap, block)][1:]), nrow=steps)
    save_scores(out.with_suffix(".json"), {
        "run": str(run), "method": "traverse", "range": value_range, "test_indices": index.tolist(),
        "layout": f"{len(dims)} blocks of {len(index)} rows (one block a dimension, one row an input) x {steps} values, "
                  "one blank row between blocks",
        "values": {str(d): v.tolist() for d, v in values.items()}}, model)
    say(f"traversals of dimensions {', '.join(map(str, dims))} ({value_range} range) written to {path}")
    return path
