import pytest
import torch

from cfae.counterfactual.result import CounterfactualResult
from cfae.data.base import Batch
from cfae.metrics.attributes import attribute_scores, composition

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
