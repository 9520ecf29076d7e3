"""Concept handles, MIC between labels and latents, SHD, and true-counterfactual scoring (issue 13)."""

import numpy as np
import pytest
import torch
from torch import nn

from cfae.data.base import ImageDataset
from cfae.metrics.causal import concept_handles, concept_information, structural_hamming_distance


def test_shd_counts_missing_extra_and_reversed_edges_once():
    truth = np.zeros((4, 4), int)
    truth[0, 2] = truth[0, 3] = truth[1, 2] = truth[1, 3] = 1  # the pendulum graph
    assert structural_hamming_distance(truth, truth) == 0
    learned = truth.copy()
    learned[0, 3] = 0  # missing
    learned[2, 1], learned[1, 2] = 1, 0  # reversed
    learned[2, 3] = 1  # extra
    assert structural_hamming_distance(learned, truth) == 3
    with pytest.raises(ValueError, match="cannot be compared"):
        structural_hamming_distance(np.zeros((3, 3)), truth)


class LinearCodes(nn.Module):
    """A stand-in encoder whose code dimension 2 is 0.5 * label a + 1 and dimension 0 is noise."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.config = type("C", (), {})()

    def encode(self, batch):
        a = batch.x[:, 0, 0, 0]
        codes = torch.stack([batch.x[:, 0, 0, 1], torch.zeros_like(a), 0.5 * a + 1], 1)
        return type("Q", (), {"mean": codes})()


def test_handles_pick_the_most_correlated_dimension_and_fit_its_line():
    rng = np.random.default_rng(0)
    a = rng.uniform(-3, 3, 400)
    images = torch.zeros(400, 1, 1, 2)
    images[:, 0, 0, 0] = torch.as_tensor(a, dtype=torch.float32)
    images[:, 0, 0, 1] = torch.as_tensor(rng.normal(size=400), dtype=torch.float32)
    data = ImageDataset("toy", images, {"a": torch.as_tensor(a, dtype=torch.float32)})
    (handle,) = concept_handles(LinearCodes(), data, ["a"])
    assert handle.key == 2 and handle.dims == [2]
    assert handle.slope[0] == pytest.approx(0.5, abs=1e-5) and handle.intercept[0] == pytest.approx(1.0, abs=1e-5)
    assert float(handle.latent_value(2.0)) == pytest.approx(2.0, abs=1e-5)
    info = concept_information(LinearCodes(), data, [handle])
    assert info["mic"] == pytest.approx(100.0, abs=1e-6)  # a bijection


def test_the_unchanged_scene_is_exact_for_a_null_intervention_and_wrong_otherwise():
    """The reference row offers the original image: setting a concept to the value every scene
    already has costs nothing; moving the pendulum costs pixels and, to a regressor that reads the
    real scenes perfectly, exactly the distance it should have moved."""
    from cfae.data.pendulum import CONCEPTS, concept_labels, render_labels
    from cfae.data.worlds import PENDULUM
    from cfae.metrics.causal import concept_counterfactuals

    labels = np.array([concept_labels(i, 20.0) for i in (10.0, 30.0)])  # both scenes share the light
    images = (render_labels(labels) * 255).round().to(torch.uint8)
    data = ImageDataset("pendulum", images, {c: torch.as_tensor(labels[:, k]) for k, c in enumerate(CONCEPTS)})

    class ReadsRealScenes:
        def predict(self, x):
            real = data.pixels(torch.arange(2))
            return torch.as_tensor(np.stack([labels[next(k for k in range(2) if torch.equal(image, real[k]))]
                                             for image in x]))

    light = float(labels[0, 1])
    values = {c: [light if c == "light_angle" else 0.0] for c in CONCEPTS}
    scores = concept_counterfactuals(None, data, PENDULUM, None, values, ReadsRealScenes(), n=2, seed=0)
    assert scores["light_angle"]["pixel_mse"] < 1e-5 and scores["light_angle"]["simulable"]
    assert scores["light_angle"]["concept_error"] == pytest.approx(0.0, abs=1e-9)
    assert scores["pendulum_angle"]["pixel_mse"] > 1e-3
    assert scores["pendulum_angle"]["concept_error"] == pytest.approx(np.abs(labels[:, 0]).mean(), abs=1e-9)
    assert not scores["shadow_length"]["simulable"]
