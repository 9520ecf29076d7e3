"""Scores of attribute counterfactuals against an independent attribute classifier (seed 001 Table 3)
and the axioms of Monteiro et al. 2023 (reference counterfactual-evaluation section 3).

For each attribute a and test image x with labels y, the counterfactual x' sets a to 1 - y_a:
    effectiveness_a  = P(classifier_a(x') = 1 - y_a)                       (seed Table 3)
    preservation_a   = P(classifier_b(x') = y_b), averaged over b != a
    reversibility_a  = mean |f(x', a -> y_a) - recon(x)| per pixel           (flip and flip back)
    composition_m    = mean |f^m(x) - x| per pixel, f the null flip (a -> y_a), m = 1 and 10
    minimality_a     = CLD = log(0.8 e^P1 + 0.2 e^P2) in [0, 1], lower is better (Melistas et al. 2024):
                       in a feature space, div = d(x', x); P1 = P(d(r, x) <= div) over real r with the
                       counterfactual value of a (x' should stay nearer x than they are), P2 =
                       P(d(r, x) >= div) over real r with x's own value (x' should move as far as they do)
    truth_error      = mean_i min_t |x'_i - t| per pixel over the true counterfactuals t of row i, where
                       the data's mechanism renders them (generated shapes: data.attributes.shapes_true_flips)
    oracle error     = mean_i min_t |R(t) - t|, R the method's null flip of the truth itself: the nearest a
                       counterfactual through this decoder gets to the truth by reconstructing it
    truth gap closed = (E_unchanged - E_flip) / (E_unchanged - E_oracle) of those means, E_unchanged the
                       reconstruction's truth_error: 0 changes nothing, 1 reaches the oracle, < 0 moves away
`method(batch, attribute, value)` is any attribute counterfactual returning a CounterfactualResult
(cfae.counterfactual.flip.counterfactual bound to a model).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from cfae.counterfactual.result import CounterfactualResult
from cfae.data.base import Batch
from cfae.metrics.pixels import mean_abs

Method = Callable[[Batch, str, Tensor], CounterfactualResult]


def relabelled(images: Tensor, batch: Batch, column: int, values: Tensor) -> Batch:
    """A batch of new images whose attribute labels are the old ones with column set to values."""
    attributes = batch.labels["attributes"].clone()
    attributes[:, column] = values
    return Batch(images, {**batch.labels, "attributes": attributes})


@torch.no_grad()
def attribute_scores(method: Method, batch: Batch, names: list[str], attribute: str, classifier) -> dict[str, Tensor]:
    """Per-row effectiveness, preservation and reversibility of flipping `attribute`, plus the
    counterfactual images and the reconstructions (the null flip) they are compared with."""
    a = names.index(attribute)
    y = batch.labels["attributes"].float()
    target = 1 - y[:, a]
    result = method(batch, attribute, target)
    predicted = (classifier.logits(result.counterfactuals) > 0).float()
    others = [b for b in range(len(names)) if b != a]
    back = method(relabelled(result.counterfactuals, batch, a, target), attribute, y[:, a])
    reconstruction = method(batch, attribute, y[:, a]).counterfactuals
    return {
        "effectiveness": (predicted[:, a] == target).float(),
        "preservation": (predicted[:, others] == y[:, others]).float().mean(1) if others else torch.ones(len(y)),
        "reversibility": mean_abs(back.counterfactuals, reconstruction),
        "counterfactuals": result.counterfactuals,
        "reconstructions": reconstruction,
    }


@torch.no_grad()
def composition(method: Method, batch: Batch, attribute: str, names: list[str], times: int) -> Tensor:
    """Per-row mean |f^m(x) - x| for the null flip f (attribute set to its own label) applied m times."""
    a = names.index(attribute)
    current = batch
    for _ in range(times):
        images = method(current, attribute, batch.labels["attributes"][:, a].float()).counterfactuals
        current = Batch(images, batch.labels)
    return mean_abs(current.x, batch.x)


def minimality(factual: Tensor, counterfactual: Tensor, pool: Tensor, pool_values: Tensor, factual_values: Tensor,
               counterfactual_values: Tensor, weight: float = 0.8) -> dict[str, Tensor]:
    """Per-row counterfactual latent divergence (module docstring) from features: factual and
    counterfactual (N, F), the real pool (M, F) with its attribute values (M,); distances are mean
    |difference| per feature. A row with no pool member of a needed value gets NaN."""
    div = (counterfactual - factual).abs().mean(1)
    distance = torch.cdist(factual.double(), pool.double(), p=1).float() / factual.shape[1]  # (N, M)
    with_cf_value = pool_values[None, :] == counterfactual_values[:, None]
    with_own_value = pool_values[None, :] == factual_values[:, None]
    p1 = ((distance <= div[:, None]) & with_cf_value).sum(1) / with_cf_value.sum(1)
    p2 = ((distance >= div[:, None]) & with_own_value).sum(1) / with_own_value.sum(1)
    return {"minimality": divergence_of(p1, p2, weight), "p1": p1, "p2": p2}


def divergence_of(p1, p2, weight: float = 0.8):
    """CLD = log(w e^P1 + (1 - w) e^P2) (module docstring); the input returned unchanged has P1 = 0 and
    P2 = 1, so divergence_of(0, 1) is what a counterfactual that changes nothing scores."""
    p1, p2 = torch.as_tensor(p1), torch.as_tensor(p2)
    return torch.log(weight * p1.exp() + (1 - weight) * p2.exp())


def nearest_truth_error(images: Tensor, truths: Tensor, owner: Tensor) -> Tensor:
    """Per row of images (N, ...), the mean |difference| per pixel to the nearest of its own true
    counterfactuals, truths (M, ...) with owner (M,) naming each one's row (module docstring); inf for
    a row with none."""
    return row_minimum(mean_abs(images[owner], truths), owner, len(images))


def row_minimum(values: Tensor, owner: Tensor, rows: int) -> Tensor:
    """Per row r < rows, the smallest of values (M,) whose owner (M,) is r; inf for a row with none."""
    return torch.full((rows,), float("inf"), dtype=values.dtype).scatter_reduce(0, owner, values, "amin")


def oracle_truth_error(reconstructed_truths: Tensor, truths: Tensor, owner: Tensor, rows: int) -> Tensor:
    """Per row, min over its truths t of mean |R(t) - t| per pixel (module docstring: the oracle error)."""
    return row_minimum(mean_abs(reconstructed_truths, truths), owner, rows)


def truth_gap_closed(flip: float, unchanged: float, oracle: float) -> float:
    """(unchanged - flip) / (unchanged - oracle), mean errors (module docstring); nan where the oracle is
    no nearer the truth than changing nothing, so that no gap exists to close."""
    gap = unchanged - oracle
    return (unchanged - flip) / gap if gap > 0 else float("nan")
