import math

import pytest
import torch
from scipy import stats

from cfae.nn.divergences import kl_normal, mmd
from cfae.nn.likelihoods import reconstruction_nll


def test_kl_of_identical_gaussians_is_zero():
    mean, std = torch.randn(5, 3), torch.rand(5, 3) + 0.1
    assert torch.allclose(kl_normal(mean, std, mean, std), torch.zeros(5, 3), atol=1e-6)


def test_kl_hand_computed_case():
    # KL(N(1, 2^2) || N(0, 1)) = log(1/2) + (4 + 1)/2 - 1/2 = 2 - log 2
    value = kl_normal(torch.tensor([1.0]), torch.tensor([2.0]))
    assert value.item() == pytest.approx(2 - math.log(2), abs=1e-6)
    # KL(N(0, 1) || N(1, 2^2)) = log 2 + (1 + 1)/8 - 1/2
    value = kl_normal(torch.tensor([0.0]), torch.tensor([1.0]), 1.0, 2.0)
    assert value.item() == pytest.approx(math.log(2) + 0.25 - 0.5, abs=1e-6)


@pytest.mark.parametrize("kernel", ["gaussian", "imq"])
def test_mmd_of_sample_with_itself_is_zero_and_shift_is_positive(kernel):
    torch.manual_seed(0)
    x = torch.randn(300, 4)
    assert mmd(x, x, kernel).item() == pytest.approx(0.0, abs=1e-6)
    same_law = mmd(x, torch.randn(300, 4), kernel).item()
    shifted = mmd(x, torch.randn(300, 4) + 2.0, kernel).item()
    assert shifted > 0.05
    assert shifted > 10 * abs(same_law)


def test_mmd_unknown_kernel_lists_choices():
    with pytest.raises(ValueError, match="gaussian, imq"):
        mmd(torch.zeros(2, 2), torch.zeros(2, 2), "rbf")


def test_gaussian_nll_closed_form():
    x = torch.full((1, 1, 2, 2), 0.5)
    logits = torch.zeros(1, 1, 2, 2)  # sigmoid -> 0.5, zero error
    expected = 0.5 * 4 * math.log(2 * math.pi * 0.25)
    assert reconstruction_nll(logits, x, "gaussian", std=0.5).item() == pytest.approx(expected, rel=1e-6)
    # with an error: -log N(x; mu, s^2) per pixel = (x - mu)^2 / (2 s^2) + log(2 pi s^2) / 2, checked by scipy
    x = torch.tensor([[[[0.9, 0.1]]]])
    nll = reconstruction_nll(torch.zeros(1, 1, 1, 2), x, "gaussian", std=0.5).item()
    assert nll == pytest.approx(-stats.norm(0.5, 0.5).logpdf([0.9, 0.1]).sum(), rel=1e-6)


def test_bernoulli_nll_at_half_is_log2_per_pixel():
    x = torch.randint(0, 2, (3, 1, 4, 4)).float()
    nll = reconstruction_nll(torch.zeros_like(x), x, "bernoulli")
    assert torch.allclose(nll, torch.full((3,), 16 * math.log(2)))
