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
