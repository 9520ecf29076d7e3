import math

import pytest
import torch

from cfae.counterfactual.result import CounterfactualResult
from cfae.data.base import Batch
from cfae.metrics.attributes import (attribute_scores, composition, divergence_of, minimality, nearest_truth_error,
                                     oracle_truth_error, truth_gap_closed)

NAMES = ["a", "b"]


class _PixelClassifier:
    """Attribute k is 'on' when pixel k of the image is above 0.5."""

    def logits(self, x):
        return x.flatten(1)[:, :2] - 0.5


def _oracle(batch, attribute, value):
    """Writes the requested value into the attribute's pixel and leaves the rest alone."""
    out = batch.x.clone().flatten(1)
    out[:, NAMES.index(attribute)] = value
    images = out.view_as(batch.x)
    return CounterfactualResult(batch.x, images, batch.x.flatten(1), images.flatten(1), "oracle")


def _inert(batch, attribute, value):
    return CounterfactualResult(batch.x, batch.x.clone(), batch.x.flatten(1), batch.x.flatten(1), "inert")


def _batch():
    y = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    x = torch.zeros(3, 1, 2, 2)
    x.view(3, 4)[:, :2] = y
    return Batch(x, {"attributes": y})


def test_an_oracle_flip_is_effective_preserving_and_reversible():
    scores = attribute_scores(_oracle, _batch(), NAMES, "a", _PixelClassifier())
    assert scores["effectiveness"].tolist() == [1, 1, 1]
    assert scores["preservation"].tolist() == [1, 1, 1]
    assert scores["reversibility"].tolist() == [0, 0, 0]
    assert torch.equal(scores["counterfactuals"].view(3, 4)[:, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_a_flip_that_changes_nothing_scores_zero_effectiveness():
    scores = attribute_scores(_inert, _batch(), NAMES, "b", _PixelClassifier())
    assert scores["effectiveness"].tolist() == [0, 0, 0]
    assert scores["preservation"].tolist() == [1, 1, 1]


def test_composition_accumulates_the_drift_of_repeated_null_flips():
    def drifting(batch, attribute, value):
        images = (batch.x + 0.01).clamp(max=1)
        return CounterfactualResult(batch.x, images, batch.x.flatten(1), images.flatten(1), "drift")

    batch = Batch(torch.zeros(2, 1, 2, 2), {"attributes": torch.zeros(2, 2)})
    assert composition(drifting, batch, "a", NAMES, 1).tolist() == pytest.approx([0.01, 0.01])
    assert composition(drifting, batch, "a", NAMES, 10).tolist() == pytest.approx([0.1, 0.1])
    assert composition(_oracle, _batch(), "a", NAMES, 10).tolist() == [0, 0, 0]


def test_minimality_matches_the_counterfactual_latent_divergence_by_hand():
    # one feature; the real pool at 0 and 1 (attribute 0) and 2 and 3 (attribute 1); every factual at 0, attribute 0
    pool, pool_values = torch.tensor([[0.0], [1.0], [2.0], [3.0]]), torch.tensor([0, 0, 1, 1])
    factual = torch.zeros(4, 1)
    counterfactual = torch.tensor([[1.5], [0.0], [5.0], [2.0]])
    scores = minimality(factual, counterfactual, pool, pool_values, torch.zeros(4, dtype=torch.long),
                        torch.ones(4, dtype=torch.long))
    # div 1.5: no attribute-1 image is as near (P1 0), no attribute-0 image as far (P2 0): CLD log 1 = 0.
    # div 0 (no change): P1 0, P2 1. div 5: P1 1, P2 0. div 2: P1 1/2 (the 2), P2 0.
    assert scores["p1"].tolist() == [0.0, 0.0, 1.0, 0.5] and scores["p2"].tolist() == [0.0, 1.0, 0.0, 0.0]
    expected = [0.0, math.log(0.8 + 0.2 * math.e), math.log(0.8 * math.e + 0.2), math.log(0.8 * math.exp(0.5) + 0.2)]
    assert torch.allclose(scores["minimality"], torch.tensor(expected))
    assert float(divergence_of(0.0, 1.0)) == pytest.approx(expected[1])  # the report's no-change reference
    # distances are the mean |difference| per feature: a copied second feature changes nothing
    twice = minimality(factual.repeat(1, 2), counterfactual.repeat(1, 2), pool.repeat(1, 2), pool_values,
                       torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long))
    assert torch.allclose(twice["minimality"], scores["minimality"])
    none_with_value = minimality(factual, counterfactual, pool, pool_values, torch.zeros(4, dtype=torch.long),
                                 torch.full((4,), 2))
    assert none_with_value["minimality"].isnan().all()


def test_nearest_truth_error_takes_each_row_s_nearest_own_truth():
    images = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    truths = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    owner = torch.tensor([0, 0, 1, 1])  # row 0: mean |.| 0.5 and 0 -> 0; row 1: 0 and 1 -> 0; row 2 has none
    error = nearest_truth_error(images, truths, owner)
    assert error[:2].tolist() == [0.0, 0.0] and math.isinf(error[2])
    truths[1] = torch.tensor([0.0, 0.5])  # row 0's nearest is now mean(0, 0.5) = 0.25, below 0.5
    assert nearest_truth_error(images, truths, owner)[0] == pytest.approx(0.25)
    assert nearest_truth_error(images, truths, torch.tensor([1, 1, 0, 0]))[:2].tolist() == [0.0, 0.5]


def test_oracle_truth_error_takes_each_row_s_best_reconstructed_truth():
    truths = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    reconstructed = torch.tensor([[0.5, 0.0], [0.0, 1.0], [1.0, 0.0]])  # errors 0.25, 0.5, 0.5
    error = oracle_truth_error(reconstructed, truths, torch.tensor([0, 0, 1]), 3)
    assert error[:2].tolist() == [0.25, 0.5] and math.isinf(error[2])
    assert oracle_truth_error(reconstructed, truths, torch.tensor([1, 0, 1]), 2).tolist() == [0.5, 0.25]


def test_truth_gap_closed_is_zero_for_doing_nothing_one_at_the_oracle_and_negative_moving_away():
    assert truth_gap_closed(0.04, 0.04, 0.01) == 0.0
    assert truth_gap_closed(0.01, 0.04, 0.01) == 1.0
    assert truth_gap_closed(0.03, 0.04, 0.02) == pytest.approx(0.5)
    assert truth_gap_closed(0.05, 0.04, 0.02) == pytest.approx(-0.5)
    assert math.isnan(truth_gap_closed(0.03, 0.02, 0.02)) and math.isnan(truth_gap_closed(0.03, 0.02, 0.03))
