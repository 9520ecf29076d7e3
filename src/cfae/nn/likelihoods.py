"""Decoder likelihoods p(x|z): negative log-likelihood in nats per example, and the image mean."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cfae.registry import check_choices

LIKELIHOODS = ("bernoulli", "gaussian")


def check_likelihood(kind: str) -> str:
    check_choices("likelihood", [kind], LIKELIHOODS)
    return kind


def image_mean(logits: Tensor) -> Tensor:
    """Decoders output unconstrained values; the image-space mean is sigmoid(.) in [0, 1]."""
    return torch.sigmoid(logits)


def reconstruction_nll(logits: Tensor, x: Tensor, kind: str, std: float = 1.0) -> Tensor:
    """-log p(x|z) summed over pixels, shape (N,).

    bernoulli: binary cross-entropy with logits (x in [0, 1]);
    gaussian: ||x - sigmoid(logits)||^2 / (2 std^2) + D/2 log(2 pi std^2).
    """
    logits = logits.float()
    if kind == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    if kind == "gaussian":
        sq = (x - torch.sigmoid(logits)).square().flatten(1).sum(1)
        return sq / (2 * std**2) + 0.5 * x[0].numel() * math.log(2 * math.pi * std**2)
    raise ValueError(f"unknown likelihood {kind!r}; valid choices: {', '.join(LIKELIHOODS)}")
