"""do(latent part or index = value) on encoded inputs, through the model's intervention hook."""

from __future__ import annotations

import torch
from torch import Tensor

from cfae.counterfactual.result import CounterfactualResult
from cfae.data.base import Batch, as_batch


def _jsonable(value):
    return value.tolist() if isinstance(value, Tensor) else value


@torch.no_grad()
def intervene(model, x: Batch | Tensor, do: dict[str | int, float | Tensor]) -> CounterfactualResult:
    """Encode x (posterior mean), apply do() with model.intervene_codes (which propagates the change
    to children in models with causal structure) and decode."""
    batch = as_batch(x)
    model.eval()
    before = model.encode(batch).mean
    after = model.intervene_codes(before, do)
    images = model.decode(after, batch)
    settings = {"do": {str(k): _jsonable(v) for k, v in do.items()}}
    return CounterfactualResult(batch.x, images, before, after, "intervene", settings)
