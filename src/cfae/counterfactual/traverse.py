"""Latent traversals as counterfactuals: do(z_d = v) on each input's code, v swept over a range.

    x'_{n,t} = decode(do(z_d = v_t) applied to E(x_n))      (posterior mean; structured models
                                                            propagate the change, as in intervene)
The values come from the prior (+-span for Gaussian dimensions, 0..1 for Bernoulli ones) or from
the data: evenly spaced between the 1st and 99th percentile of the dimension's codes, the range
the decoder was trained on (the only meaningful one for an autoencoder without a prior).
"""

from __future__ import annotations

import torch
from torch import Tensor

from cfae.counterfactual.result import CounterfactualResult
from cfae.data.base import Batch, as_batch


def latent_width(model) -> int:
    """How many code dimensions the model's latent parts span (model.latent_spec)."""
    return sum(part.dims for part in model.latent_spec)


def part_of(model, dim: int):
    """The latent part (model.latent_spec) holding dimension dim; an out-of-range dim names the range."""
    for part in model.latent_spec:
        if part.start <= dim < part.start + part.dims:
            return part
    raise ValueError(f"latent dimension {dim} does not exist; valid choices: 0..{latent_width(model) - 1}")


def prior_values(model, dim: int, steps: int, span: float = 2.5) -> Tensor:
    """steps values over [0, 1] for a Bernoulli dimension, over [-span, span] otherwise."""
    low, high = (0.0, 1.0) if part_of(model, dim).kind == "bernoulli" else (-span, span)
    return torch.linspace(low, high, steps)


def data_values(codes: Tensor, dim: int, steps: int, low: float = 0.01, high: float = 0.99) -> Tensor:
    """steps values evenly spaced from the low to the high quantile of codes[:, dim]."""
    lo, hi = torch.quantile(codes[:, dim].double(), torch.tensor([low, high], dtype=torch.float64)).tolist()
    return torch.linspace(lo, hi, steps)


@torch.no_grad()
def traverse(model, x: Batch | Tensor, dim: int, values: Tensor) -> CounterfactualResult:
    """One frame per value for every input: counterfactuals (N, T, C, H, W), codes_after (N, T, D)."""
    part_of(model, dim)
    batch = as_batch(x)
    model.eval()
    before = model.encode(batch).mean
    codes, frames = [], []
    for value in values.tolist():
        codes.append(model.intervene_codes(before, {dim: value}))
        frames.append(model.intervene(before, {dim: value}))
    return CounterfactualResult(batch.x, torch.stack(frames, 1), before, torch.stack(codes, 1), "traverse",
                                {"dim": dim, "values": values.tolist()})
