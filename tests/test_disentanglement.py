import numpy as np
import pytest
import torch

from cfae.data.groundtruth import ShapesSpace
from cfae.metrics.disentanglement import beta_vae_score, factor_vae_score, irs, mig, modularity_explicitness
from cfae.metrics.predictive import dci, dci_from_importance, sap


class FactorSpace:
    """A ground-truth space whose 'observation' is the factor vector itself."""

    factor_names = ("a", "b", "c", "d")
    factor_sizes = (3, 6, 10, 8)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], 1)

    def render(self, factors):
        return torch.from_numpy(np.asarray(factors, dtype=np.float32))


SIZES = np.array(FactorSpace.factor_sizes) - 1.0


def identity(x):
    return x.numpy() / SIZES


def noise(x):
    return np.random.default_rng(int(x.sum()) % 1000).normal(size=x.shape)


def mixed(x):
    codes = identity(x)
    a, b = codes[:, 2].copy(), codes[:, 3].copy()
    codes[:, 2], codes[:, 3] = a + b, a - b
    return codes


def permuted(x):
    return identity(x)[:, [3, 0, 2, 1]]


SPACE = FactorSpace()
RUNS = {
    "beta_vae_eval": lambda rep, seed: beta_vae_score(SPACE, rep, np.random.default_rng(seed), num_train=600, num_eval=300),
    "factor_vae_eval": lambda rep, seed: factor_vae_score(SPACE, rep, np.random.default_rng(seed), num_train=400,
                                                          num_eval=200, num_variance_estimate=2000),
    "mig": lambda rep, seed: mig(SPACE, rep, np.random.default_rng(seed), num_train=3000),
    "dci_disentanglement": lambda rep, seed: dci(SPACE, rep, np.random.default_rng(seed), num_train=1000, num_test=500),
    "modularity": lambda rep, seed: modularity_explicitness(SPACE, rep, np.random.default_rng(seed), num_train=2000, num_test=1000),
    "sap": lambda rep, seed: sap(SPACE, rep, np.random.default_rng(seed), num_train=2000, num_test=1000),
    "irs": lambda rep, seed: irs(SPACE, rep, np.random.default_rng(seed), num_train=3000),
}


def score(name, rep, seed=0):
    return RUNS[name](rep, seed)[name]


@pytest.mark.parametrize("name", ["beta_vae_eval", "factor_vae_eval", "mig", "dci_disentanglement", "modularity"])
def test_identity_representation_scores_near_one(name):
    assert score(name, identity) > 0.85


def test_random_representation_scores_near_chance():
    assert score("beta_vae_eval", noise) < 0.45  # chance is 1/4
    assert score("mig", noise) < 0.05
    assert score("sap", noise) < 0.05


@pytest.mark.parametrize("name, margin", [("mig", 0.1), ("dci_disentanglement", 0.1), ("modularity", 0.05),
                                          ("beta_vae_eval", 0.05), ("sap", 0.03)])
def test_mixing_two_factors_scores_lower(name, margin):
    # SAP is small even for the identity here: one linear SVM on one code separates few of 10 classes
    assert score(name, mixed) < score(name, identity) - margin


@pytest.mark.parametrize("name", list(RUNS))
def test_permuting_codes_changes_no_score(name):
    assert score(name, permuted, seed=3) == pytest.approx(score(name, identity, seed=3), abs=0.02)


def test_dci_from_importance_closed_forms():
    assert dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))
    d, c = dci_from_importance(np.ones((3, 3)))
    assert d == pytest.approx(0.0, abs=1e-9) and c == pytest.approx(0.0, abs=1e-9)


def test_explicitness_and_irs_ranges():
    result = modularity_explicitness(SPACE, identity, np.random.default_rng(0), num_train=2000, num_test=1000)
    assert result["explicitness_test"] > 0.9
    assert irs(SPACE, identity, np.random.default_rng(0), num_train=3000)["irs"] > irs(SPACE, noise, np.random.default_rng(0), num_train=3000)["irs"]


def test_shapes_space_renders_sampled_factors():
    space = ShapesSpace()
    factors = space.sample_factors(7, np.random.default_rng(0))
    images = space.render(factors)
    assert images.shape == (7, 1, 64, 64) and images.dtype == torch.float32 and images.max() == 1.0
