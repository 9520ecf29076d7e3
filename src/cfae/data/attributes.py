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
from cfae.data.shapes import FACTOR_SIZES, factor_values

SHAPES_ATTRIBUTES = ("is_heart", "large", "tilted", "left")
MORPHO_ATTRIBUTES = {"thick": "thickness", "slanted": "slant", "wide": "width"}


def with_attributes(data: ImageDataset, names: list[str], columns: Tensor) -> ImageDataset:
    """The dataset with labels["attributes"] = columns (N, k) and their names."""
    labels = {**data.labels, "attributes": columns.float()}
    return dataclasses.replace(data, name=f"{data.name}-attributes", labels=labels, attribute_names=list(names))


def shapes_attributes(data: ImageDataset) -> ImageDataset:
    """is_heart, large, tilted, left from the shapes factors."""
    f = data.labels
    theta = factor_values(torch.stack([f[k] for k in ("shape", "scale", "orientation", "pos_x", "pos_y")], 1))["orientation"]
    columns = torch.stack([
        f["shape"] == 2,
        f["scale"] >= FACTOR_SIZES[1] // 2,
        torch.sin(2 * theta).abs() > math.sin(math.pi / 4),
        f["pos_x"] < FACTOR_SIZES[3] // 2,
    ], 1)
    return with_attributes(data, list(SHAPES_ATTRIBUTES), columns)


def morpho_thresholds(train: ImageDataset) -> dict[str, float]:
    """The median of each thresholded measurement over a (Morpho-MNIST labelled) training split."""
    return {name: float(train.labels[measure].float().median()) for name, measure in MORPHO_ATTRIBUTES.items()}


def morpho_attributes(data: ImageDataset, thresholds: dict[str, float]) -> ImageDataset:
    """thick, slanted, wide: measurement > threshold (the training split's median)."""
    columns = torch.stack([data.labels[m].float() > thresholds[a] for a, m in MORPHO_ATTRIBUTES.items()], 1)
    return with_attributes(data, list(MORPHO_ATTRIBUTES), columns)
