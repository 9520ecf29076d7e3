import numpy as np
import pytest
import scipy.linalg
import torch

from cfae.metrics.fid import DomainFeatures, fid, frechet_distance, gaussian_statistics
from cfae.nn.classifier import ConvClassifier


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 16.0])
    mean_1, mean_2 = torch.zeros(3), torch.tensor([1.0, 2.0, 0.0])
    # ||m1 - m2||^2 + sum (sqrt a - sqrt b)^2 = 5 + (1 + 1 + 1)
    assert frechet_distance(mean_1, torch.diag(a), mean_2, torch.diag(b)) == pytest.approx(8.0, abs=1e-9)


def test_frechet_distance_matches_the_sqrtm_formula_for_general_covariances():
    g = np.random.default_rng(0)
    a, b = g.normal(size=(6, 6)), g.normal(size=(6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    m1, m2 = g.normal(size=6), g.normal(size=6)
    root = scipy.linalg.sqrtm(s1)
    expected = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(root @ s2 @ root)).real
    got = frechet_distance(*(torch.from_numpy(v) for v in (m1, s1, m2, s2)))
    assert got == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(torch.from_numpy(m1), torch.from_numpy(s1), torch.from_numpy(m1), torch.from_numpy(s1)) == pytest.approx(0, abs=1e-8)


def test_singular_covariances_give_a_finite_real_distance():
    low_rank = torch.ones(4, 4)  # rank 1: sqrtm round-off would go complex
    assert frechet_distance(torch.zeros(4), low_rank, torch.zeros(4), low_rank) == pytest.approx(0, abs=1e-6)


def test_gaussian_statistics_are_unbiased_and_refuse_one_row():
    f = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mean, cov = gaussian_statistics(f)
    assert torch.allclose(mean, torch.tensor([2.0, 4.0], dtype=torch.float64))
    assert torch.allclose(cov, torch.from_numpy(np.cov(f.numpy().T)))
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_statistics(f[:1])


def test_fid_agrees_with_torchmetrics_given_the_same_features():
    tm = pytest.importorskip("torchmetrics.image.fid")
    torch.manual_seed(0)
    backend = DomainFeatures(ConvClassifier((1, 28, 28), 10))
    real, fake = torch.rand(200, 1, 28, 28), torch.rand(200, 1, 28, 28).square()
    metric = tm.FrechetInceptionDistance(feature=backend, normalize=True)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    ours = fid(backend, real, fake)
    assert ours > 0
    assert ours == pytest.approx(float(metric.compute()), rel=1e-4)
