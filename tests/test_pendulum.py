"""Pendulum: the reference drawing and the true-counterfactual renderer (issue 13)."""

import math

import numpy as np
import pytest

from cfae.data.pendulum import (PendulumRenderer, concept_labels, intervened_labels, render_labels, shadow)

# Axes box of a 96 x 96 figure with matplotlib's default subplot parameters (left 0.125, right 0.9,
# bottom 0.11, top 0.88): x in (0, 20) spans 0.775 * 96 = 74.4 px, y in (-1, 21) spans 73.92 px.
PX_PER_X = 0.775 * 96 / 20
SHADOW_ROW = round(96 - (0.11 * 96 + 0.5 * 0.77 * 96 / 22))  # the pixel row of the ground line y = -0.5


def shadow_pixels(image: np.ndarray) -> tuple[float, float]:
    """(length, centre) of the dark run on the shadow's row, in pixels, anti-aliasing counted by coverage."""
    darkness = 1 - image[SHADOW_ROW].astype(float).mean(1) / 255
    cols = np.arange(96) + 0.5
    return darkness.sum(), (darkness * cols).sum() / darkness.sum()


def test_reference_shadow_length_in_pixels_by_hand():
    # theta = 0, j = 120 (phi = 0.6 pi, tan = -3.0777): the pivot (10, 10.5) and the tip (10, 1)
    # project to 10 + 11 / 3.0777 and 10 + 1.5 / 3.0777, so the shadow is 9.5 / 3.0777 = 3.087
    # long around 12.031; drawn with butt ends that is 3.087 * 3.72 = 11.48 px (a Line2D with
    # projecting caps would draw 15.5).
    phi = 120 * math.pi / 200
    length, mid = shadow(0.0, phi)
    assert length == pytest.approx(9.5 / -math.tan(phi)) and length == pytest.approx(3.0867, abs=1e-4)
    assert mid == pytest.approx(10 + 6.25 / -math.tan(phi))
    pixels, centre = shadow_pixels(PendulumRenderer().render(0.0, phi))
    assert pixels == pytest.approx(length * PX_PER_X, abs=1.0)  # agg snaps horizontal edges to whole pixels
    assert centre == pytest.approx(0.125 * 96 + mid * PX_PER_X, abs=1.0)


def test_true_counterfactual_keeps_the_light_and_recomputes_the_shadow():
    labels = np.array([concept_labels(-20, 80), concept_labels(30, 130)])
    moved, simulable = intervened_labels(labels, "pendulum_angle", 10)
    assert simulable and (moved[:, 0] == 10).all() and (moved[:, 1] == labels[:, 1]).all()
    for row in moved:
        assert tuple(row[2:]) == pytest.approx(shadow(10 * math.pi / 200, row[1] * math.pi / 200))
    before, after = render_labels(labels), render_labels(moved)
    sun = lambda im: (im[0] > 0.9) & (im[1] > 0.5) & (im[1] < 0.75) & (im[2] < 0.2)  # orange  # noqa: E731
    for a, b in zip(before, after):
        assert bool((sun(a) == sun(b)).all())  # the light did not move
    for a, b, row in zip(before, after, moved):
        assert shadow_pixels(b.permute(1, 2, 0).numpy() * 255)[1] == pytest.approx(0.125 * 96 + row[3] * PX_PER_X, abs=1.0)
        assert shadow_pixels(a.permute(1, 2, 0).numpy() * 255)[1] != pytest.approx(shadow_pixels(b.permute(1, 2, 0).numpy() * 255)[1], abs=1)


def test_set_shadow_is_drawn_but_not_simulable():
    labels = np.array([concept_labels(0, 90)])
    set_shadow, simulable = intervened_labels(labels, "shadow_length", 8.0)
    assert not simulable and tuple(set_shadow[0, :2]) == (0, 90) and set_shadow[0, 2] == 8.0
    assert set_shadow[0, 3] == labels[0, 3]
    pixels, _ = shadow_pixels(render_labels(set_shadow)[0].permute(1, 2, 0).numpy() * 255)
    assert pixels == pytest.approx(8.0 * PX_PER_X, abs=1.0)


def test_render_labels_of_a_data_scene_equals_the_simulator():
    image = render_labels(np.array([concept_labels(7, 111)]))[0]
    direct = PendulumRenderer().render(7 * math.pi / 200, 111 * math.pi / 200)
    assert np.array_equal((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), direct)


def test_unknown_concept_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid choices: pendulum_angle, light_angle, shadow_length, shadow_position"):
        intervened_labels(np.zeros((1, 4)), "rope", 1.0)
