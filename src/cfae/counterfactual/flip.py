"""Attribute counterfactuals (seed 001, section 3.3 and section 4.1).

    flip: encode x to (z_G mean, hard bits z_B), set bit `attribute` to `value` (default 1 - z_B),
          decode; only that decoder input changes.
    mean difference (the seed's VAE-GAN baseline): delta_a = mean z over training images with
          attribute a - mean z over those without; x' = decode(z + (value - y_a) delta_a), i.e. add
          delta_a to set the attribute, subtract it to remove it, nothing where y_a already = value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from cfae.counterfactual.result import CounterfactualResult
from cfae.data.base import Batch, ImageDataset, as_batch


def _values(value: float | Tensor | None, current: Tensor) -> Tensor:
    """Per-row targets in {0, 1}: 1 - current when value is None, else value (scalar or per row)."""
    if value is None:
        return 1.0 - current
    target = torch.as_tensor(value, dtype=current.dtype, device=current.device).expand_as(current)
    if not ((target == 0) | (target == 1)).all():
        raise ValueError("an attribute value must be 0 or 1")
    return target


def _settings(attribute: str, value) -> dict:
    return {"attribute": attribute, "value": "flip" if value is None else
            (value.tolist() if isinstance(value, Tensor) else value)}


def has_attribute_latents(model) -> bool:
    """Whether the model has Bernoulli attribute latents to flip (else: the mean-difference method)."""
    return bool(getattr(model, "attribute_names", None))


@torch.no_grad()
def flip(model, x: Batch | Tensor, attribute: str, value: float | Tensor | None = None) -> CounterfactualResult:
    """Set the Bernoulli attribute latent `attribute` to value (0/1, one per row, or None = flip)."""
    if not has_attribute_latents(model):
        raise ValueError(f"{type(model).__name__} has no attribute latents; use MeanDifference for plain latents")
    batch = as_batch(x)
    model.eval()
    index = model.attribute_index(attribute)
    before = model.hard_code(model.encode(batch))
    after = before.clone()
    after[:, index] = _values(value, before[:, index])
    return CounterfactualResult(batch.x, model.decode(after), before, after, "flip", _settings(attribute, value))


@dataclass
class MeanDifference:
    """Per-attribute latent directions delta (k, D) measured on labelled data (posterior means)."""

    attribute_names: list[str]
    directions: Tensor

    @classmethod
    @torch.no_grad()
    def fit(cls, model, data: ImageDataset, batch_size: int = 1000) -> "MeanDifference":
        if data.attribute_names is None:
            raise ValueError(f"dataset {data.name!r} has no attribute labels to measure directions on")
        model.eval()
        device = next(model.parameters()).device
        codes = torch.cat([model.encode(b.to(device)).mean for b in data.in_order(batch_size)])
        y = data.labels["attributes"].to(device).float()
        present = y.sum(0)
        if ((present == 0) | (present == len(y))).any():
            empty = [n for n, p in zip(data.attribute_names, present.tolist()) if p in (0, len(y))]
            raise ValueError(f"attributes {empty} are never (or always) present in {data.name!r}; no direction")
        with_mean = (y.T @ codes) / present[:, None]
        without_mean = ((1 - y).T @ codes) / (len(y) - present)[:, None]
        return cls(list(data.attribute_names), with_mean - without_mean)

    @torch.no_grad()
    def flip(self, model, x: Batch, attribute: str, value: float | Tensor | None = None) -> CounterfactualResult:
        """z + (value - y_a) delta_a with y_a from the batch's attribute labels (value None: 1 - y_a)."""
        if attribute not in self.attribute_names:
            raise KeyError(f"unknown attribute {attribute!r}; valid choices: {', '.join(self.attribute_names)}")
        a = self.attribute_names.index(attribute)
        model.eval()
        current = x.label("attributes")[:, a].float()
        target = _values(value, current)
        before = model.encode(x).mean
        after = before + (target - current)[:, None] * self.directions[a].to(before.device)
        settings = _settings(attribute, value)
        return CounterfactualResult(x.x, model.decode(after), before, after, "mean-difference", settings)


def counterfactual(model, x: Batch, attribute: str, value: float | Tensor | None = None,
                   directions: MeanDifference | None = None) -> CounterfactualResult:
    """flip() for a model with attribute latents, else the mean-difference method with `directions`."""
    if has_attribute_latents(model):
        return flip(model, x, attribute, value)
    if directions is None:
        raise ValueError(f"{type(model).__name__} has no attribute latents: pass MeanDifference directions")
    return directions.flip(model, x, attribute, value)


def attribute_method(model, train: ImageDataset | None = None, fit_size: int = 5000):
    """method(batch, attribute, value) -> CounterfactualResult for this model: its flip, or for plain
    latents the mean difference measured on the first fit_size examples of train."""
    if has_attribute_latents(model):
        return partial(flip, model)
    if train is None:
        raise ValueError(f"{type(model).__name__} has no attribute latents: mean-difference directions need training data")
    return partial(MeanDifference.fit(model, train.head(fit_size)).flip, model)
