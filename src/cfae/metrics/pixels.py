"""Pixel-space distances between two image tensors of one shape."""

from __future__ import annotations

from torch import Tensor


def mean_abs(a: Tensor, b: Tensor) -> Tensor:
    """Per-row mean absolute pixel difference, mean_i |a_i - b_i| over each row's pixels."""
    return (a - b).abs().flatten(1).mean(1)


def mean_squared_error(a: Tensor, b: Tensor) -> float:
    """Mean squared pixel difference over every row and pixel, mean (a - b)^2."""
    return float((a - b).square().mean())
