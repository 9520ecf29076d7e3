"""Latent traversals as counterfactuals (cfae.counterfactual.traverse)."""

from types import SimpleNamespace

import pytest
import torch

from cfae.counterfactual.traverse import data_values, part_of, prior_values, traverse
from cfae.models import build_model
from cfae.models.base import latent_layout
from conftest import tiny_dataset


def test_each_frame_decodes_the_code_with_one_dimension_set():
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=3, hidden=(16,)).eval()
    batch = tiny_dataset(5).batch(slice(0, 5))
    values = torch.tensor([-1.0, 0.0, 2.0])
    result = traverse(model, batch, 1, values)
    assert result.counterfactuals.shape == (5, 3, 1, 28, 28) and result.codes_after.shape == (5, 3, 3)
    codes = model.encode(batch).mean
    for t, v in enumerate(values):
        moved = codes.clone()
        moved[:, 1] = v
        assert torch.allclose(result.codes_after[:, t], moved)
        assert torch.allclose(result.counterfactuals[:, t], model.decode(moved), atol=1e-6)
    assert result.changed_dimensions().sum(0).tolist() == [0, 5, 0]  # the last frame moved z_2 only
    own = traverse(model, batch.x[:1], 1, codes[:1, 1])  # its own value: the reconstruction
    assert torch.allclose(own.counterfactuals[:, 0], model.reconstruct(batch.x[:1]), atol=1e-6)
    assert result.settings == {"dim": 1, "values": [-1.0, 0.0, 2.0]}


def test_ranges_come_from_the_part_kind_or_from_the_data():
    model = SimpleNamespace(latent_spec=latent_layout(("z", "gaussian", 2), ("bits", "bernoulli", 1)))
    assert prior_values(model, 0, 5, span=2.0).tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert prior_values(model, 2, 3).tolist() == [0.0, 0.5, 1.0]
    codes = torch.stack([torch.zeros(101), torch.arange(101.0)], 1)  # 1st and 99th percentiles of column 1: 1 and 99
    assert data_values(codes, 1, 3).tolist() == pytest.approx([1.0, 50.0, 99.0])
    assert part_of(model, 2).name == "bits"
    with pytest.raises(ValueError, match="latent dimension 3 does not exist; valid choices: 0..2"):
        part_of(model, 3)
