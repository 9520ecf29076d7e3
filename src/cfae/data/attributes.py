"""Binary attributes for attribute-counterfactual models (seed 001), on data that runs offline.

    shapes:  is_heart (shape = heart), large (scale class >= 3 of 0..5), tilted (orientation within
             22.5 degrees of a diagonal: |sin 2 theta| > sin 45 degrees), left (pos_x class < 16 of 0..31)
    MNIST:   thick, slanted, wide: Morpho-MNIST thickness, slant and width above the median of the
             training split (so a counterfactual's effect can be re-measured without any classifier)

Each dataset carries labels["attributes"] (N, k) float in {0, 1} and `attribute_names`.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

from cfae.data.base import ImageDataset
from cfae.data.shapes import FACTOR_NAMES, FACTOR_SIZES, factor_values
from cfae.registry import check_choices

SHAPES_ATTRIBUTES = ("is_heart", "large", "tilted", "left")
SHAPES_ATTRIBUTE_FACTORS = {"is_heart": "shape", "large": "scale", "tilted": "orientation", "left": "pos_x"}
MORPHO_ATTRIBUTES = {"thick": "thickness", "slanted": "slant", "wide": "width"}


def with_attributes(data: ImageDataset, names: list[str], columns: Tensor) -> ImageDataset:
    """The dataset with labels["attributes"] = columns (N, k) and their names."""
    labels = {**data.labels, "attributes": columns.float()}
    return dataclasses.replace(data, name=f"{data.name}-attributes", labels=labels, attribute_names=list(names))


def shapes_attribute_columns(factors: Tensor) -> Tensor:
    """is_heart, large, tilted, left (N, 4) bool of integer shapes factors (N, 5) (module docstring)."""
    theta = factor_values(factors)["orientation"]
    return torch.stack([
        factors[:, 0] == 2,
        factors[:, 1] >= FACTOR_SIZES[1] // 2,
        torch.sin(2 * theta).abs() > math.sin(math.pi / 4),
        factors[:, 3] < FACTOR_SIZES[3] // 2,
    ], 1)


def shapes_attributes(data: ImageDataset) -> ImageDataset:
    """is_heart, large, tilted, left from the shapes factors."""
    factors = torch.stack([data.labels[k] for k in FACTOR_NAMES], 1)
    return with_attributes(data, list(SHAPES_ATTRIBUTES), shapes_attribute_columns(factors))


def shapes_true_flips(factors: Tensor, attribute: str) -> tuple[Tensor, Tensor]:
    """Every true counterfactual of flipping one shapes attribute: the factors (M, 5) that differ from a
    row of `factors` (N, 5) only in that attribute's own factor (SHAPES_ATTRIBUTE_FACTORS) and have the
    attribute flipped, and the row each belongs to (M,). "Not a heart" has two truths (square,
    ellipse), "not large" three scales, "not tilted" about half the orientations: a flip is judged
    against the nearest."""
    check_choices("shapes attribute", [attribute], SHAPES_ATTRIBUTES)
    factor = FACTOR_NAMES.index(SHAPES_ATTRIBUTE_FACTORS[attribute])
    column = SHAPES_ATTRIBUTES.index(attribute)
    classes = FACTOR_SIZES[factor]
    factors = torch.as_tensor(factors).long()
    candidates = factors.repeat_interleave(classes, 0)
    candidates[:, factor] = torch.arange(classes).repeat(len(factors))
    owner = torch.arange(len(factors)).repeat_interleave(classes)
    flipped = shapes_attribute_columns(candidates)[:, column] != shapes_attribute_columns(factors)[owner, column]
    return candidates[flipped], owner[flipped]


def morpho_thresholds(train: ImageDataset) -> dict[str, float]:
    """The median of each thresholded measurement over a (Morpho-MNIST labelled) training split."""
    return {name: float(train.labels[measure].float().median()) for name, measure in MORPHO_ATTRIBUTES.items()}


def morpho_attributes(data: ImageDataset, thresholds: dict[str, float]) -> ImageDataset:
    """thick, slanted, wide: measurement > threshold (the training split's median)."""
    columns = torch.stack([data.labels[m].float() > thresholds[a] for a, m in MORPHO_ATTRIBUTES.items()], 1)
    return with_attributes(data, list(MORPHO_ATTRIBUTES), columns)
