"""MIC / MAS / TIC against minepy's published values (MINE(alpha=0.6, c=15), est mic_approx)."""

import numpy as np
import pytest

from cfae.metrics.mic import clumps, equipartition, mine_statistics


def test_published_example_without_and_with_noise():
    # minepy's documented example: x = 1000 evenly spaced points in [0, 1], y = sin(10 pi x) + x,
    # then y + U(-1, 1) noise from numpy's seed 0.
    x = np.linspace(0, 1, 1000)
    y = np.sin(10 * np.pi * x) + x
    clean = mine_statistics(x, y)
    assert clean["mic"] == pytest.approx(1.0, abs=1e-9)
    assert clean["mas"] == pytest.approx(0.726071574374, abs=1e-9)
    assert clean["tic"] == pytest.approx(67.6612295532, abs=1e-7)
    noisy = mine_statistics(x, y + np.random.RandomState(0).uniform(-1, 1, 1000))
    assert noisy["mic"] == pytest.approx(0.505716693417, abs=1e-9)
    assert noisy["mas"] == pytest.approx(0.365399904262, abs=1e-9)
    assert noisy["tic"] == pytest.approx(28.7498326953, abs=1e-7)


@pytest.mark.parametrize("y_of, mic, mas", [(lambda x: np.zeros_like(x), 0.0, 0.0), (lambda x: x, 1.0, 0.0),
                                            (lambda x: np.sin(8 * np.pi * x), 1.0, 0.875)])
def test_minepy_unit_cases(y_of, mic, mas):
    x = np.linspace(0, 1, 1000)
    stats = mine_statistics(x, y_of(x))
    assert stats["mic"] == pytest.approx(mic, abs=1e-4) and stats["mas"] == pytest.approx(mas, abs=1e-3)


def test_tic_normalised_is_the_mean_cell_and_independence_scores_low():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=500), rng.normal(size=500)
    stats = mine_statistics(x, y)
    assert stats["mic"] < 0.3 and 0 <= stats["tic_norm"] < stats["mic"]
    linear = mine_statistics(x, 3 * x + 1)
    assert linear["tic_norm"] == pytest.approx(1.0, abs=1e-5)  # every cell of a bijection scores about 1


def test_equipartition_never_splits_ties_and_clumps_by_hand():
    # target 2 a bin: the tied 0s fill bin 0 (3); adding 1 would miss the target by more than
    # stopping, so bin 1 starts with target (6 - 3) / 2 = 1.5; adding 2 ties (0.5 vs 0.5), so bin 2
    # starts with target 2 and takes 2 and 3.
    bins, used = equipartition(np.array([0, 0, 0, 1, 2, 3]), 3)
    assert list(bins) == [0, 0, 0, 1, 2, 2] and used == 3
    # rows in x order 0 0 1 1 0, x tied at the last two points with different rows -> own clump
    assert list(clumps(np.array([1.0, 2, 3, 4, 4]), np.array([0, 0, 1, 1, 0]))) == [0, 0, 1, 2, 2]


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="equal length"):
        mine_statistics(np.zeros(5), np.zeros(6))
