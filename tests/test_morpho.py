"""Morpho-MNIST measurements on images drawn here with known answers, and the perturbations."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from cfae.data.morpho import (distance_transform, measure, set_thickness, skeleton, skeleton_length, thicken, thin,
                              with_morphometry)
from cfae.data.base import ImageDataset


def bar(top, bottom, left, right):
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, top:bottom, left:right] = 1
    return x


def sheared_rectangle(shear: float, width: float = 4.0, rows=(6, 22), centre: float = 12.0) -> torch.Tensor:
    """A rectangle whose columns shift by -shear per row downwards (top to the right), anti-aliased."""
    x = torch.zeros(1, 1, 28, 28)
    middle = (rows[0] + rows[1] - 1) / 2
    for r in range(*rows):
        left = centre + shear * (middle - r)
        for c in range(28):
            x[0, 0, r, c] = max(0.0, min(c + 1, left + width) - max(c, left))
    return x


def test_bars_of_known_width_give_their_thickness():
    m = measure(torch.cat([bar(5, 23, 12, 15), bar(13, 15, 4, 24), bar(4, 24, 10, 15)]))
    assert m["thickness"].tolist() == pytest.approx([3.0, 2.0, 5.0], abs=0.15)
    assert m["area"].tolist() == pytest.approx([54, 40, 100], rel=0.08)
    assert m["slant"].abs().max() < 1e-4


def test_height_and_width_drop_two_percent_each_side():
    m = measure(bar(5, 23, 12, 15))  # 18 rows tall, 3 columns wide
    assert m["height"].item() == pytest.approx(18 * 0.96, abs=0.3)
    assert m["width"].item() == pytest.approx(3 * 0.96, abs=0.3)


def test_sheared_rectangle_gives_its_slant_and_sign():
    right = measure(sheared_rectangle(0.5))
    left = measure(sheared_rectangle(-0.3))
    assert right["slant"].item() == pytest.approx(math.atan(0.5), abs=0.02)
    assert left["slant"].item() == pytest.approx(math.atan(-0.3), abs=0.02)
    # the shear-aligned width is the rectangle's own horizontal width, not its bounding box
    assert right["width"].item() == pytest.approx(4 * 0.96, abs=0.6)


def test_skeleton_length_of_a_long_bar_and_a_diagonal():
    m = measure(bar(13, 15, 4, 24))  # 20 long, 2 wide: the skeleton spans most of its length
    assert 17 <= m["length"].item() <= 20.5
    diag = torch.zeros(1, 12, 12, dtype=torch.bool)
    diag[0, torch.arange(10), torch.arange(10)] = True
    assert skeleton_length(diag).item() == pytest.approx(9 * math.sqrt(2))
    l_shape = torch.zeros(1, 5, 5, dtype=torch.bool)
    l_shape[0, 0, :3] = True
    l_shape[0, :3, 0] = True
    assert skeleton_length(l_shape).item() == pytest.approx(4.0)  # the corner is not counted twice


def test_skeleton_is_thin_and_inside_the_shape():
    mask = torch.zeros(2, 40, 40, dtype=torch.bool)
    mask[0, 10:30, 15:25] = True
    mask[1, 5:35, 5:12] = True
    mask[1, 28:35, 5:30] = True
    skel = skeleton(mask)
    assert (skel & ~mask).sum() == 0
    assert skel[0].sum() < 30 and skel[0].any()
    # no 2x2 block survives thinning
    blocks = skel[:, :-1, :-1] & skel[:, 1:, :-1] & skel[:, :-1, 1:] & skel[:, 1:, 1:]
    assert not blocks.any()


def test_distance_transform_is_exact():
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(3, 37, 29, generator=g) > 0.15
    mask[:, 0] = False
    ours = distance_transform(mask)
    expected = np.stack([distance_transform_edt(m) for m in mask.numpy()])
    assert np.allclose(ours.numpy(), expected, atol=1e-5)


@pytest.fixture
def digits(shared_data):
    from cfae.data import get_dataset

    return get_dataset("mnist", "test", shared_data).pixels(slice(0, 40))


def test_thinning_and_thickening_move_thickness_the_right_way(digits):
    base = measure(digits)["thickness"]
    assert (measure(thin(digits))["thickness"] < base).float().mean() > 0.95
    assert (measure(thicken(digits))["thickness"] > base).float().mean() > 0.95
    assert measure(thicken(digits))["area"].mean() > 1.3 * measure(digits)["area"].mean()


def test_set_thickness_reaches_the_target(digits):
    for target in (1.5, 4.0):
        got = measure(set_thickness(digits, target))["thickness"]
        assert got.mean().item() == pytest.approx(target, abs=0.35)


def test_morphometry_becomes_labels_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("CFAE_CACHE", str(tmp_path))
    images = torch.cat([bar(5, 23, 12, 15), bar(4, 24, 10, 15)])
    data = ImageDataset("bars", images, {"label": torch.tensor([1, 1])})
    labelled = with_morphometry(data, progress=False)
    assert labelled.labels["thickness"].tolist() == pytest.approx([3.0, 5.0], abs=0.15)
    assert len(list(tmp_path.glob("morpho-*.npz"))) == 1
    again = with_morphometry(data, progress=False)
    assert torch.equal(again.labels["slant"], labelled.labels["slant"])
