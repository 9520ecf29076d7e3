"""Blocks of hierarchical VAEs (seed 004, eqs. 16-25; Sonderby et al. 2016; reference section F).

    d(y)      = MLP(y)                                     two dense layers, optional batch norm (eq. 16)
    mu(y)     = Linear(d(y)),  var(y) = Softplus(Linear(d(y))) + 1e-5                     (eqs. 17-18)
    merge     : var = 1 / (1 / var_t + 1 / var_l),  mu = (mu_t / var_t + mu_l / var_l) var  (eqs. 23-24)

The merge is the normalised product N(mu_t, var_t) N(mu_l, var_l) / Z: the Ladder VAE's posterior
at layer i combines the top-down prior with the bottom-up evidence.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from cfae.nn.distributions import DiagonalGaussian

VARIANCE_FLOOR = 1e-5


def precision_weighted_merge(mean_t: Tensor, var_t: Tensor, mean_l: Tensor, var_l: Tensor) -> tuple[Tensor, Tensor]:
    """(mean, variance) of the normalised product of N(mean_t, var_t) and N(mean_l, var_l) (eqs. 23-24)."""
    precision_t, precision_l = 1.0 / var_t, 1.0 / var_l
    var = 1.0 / (precision_t + precision_l)
    return (mean_t * precision_t + mean_l * precision_l) * var, var


def dense_stack(width_in: int, widths: tuple[int, ...], batch_norm: bool) -> nn.Sequential:
    """Linear -> (BatchNorm) -> LeakyReLU for each width: the deterministic layers d(y) of eq. 16."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(width_in, width), *([nn.BatchNorm1d(width)] if batch_norm else []), nn.LeakyReLU(0.1)]
        width_in = width
    return nn.Sequential(*layers)


class GaussianHead(nn.Module):
    """Mean and variance of a diagonal Gaussian from a deterministic layer (eqs. 17-18, 20-21)."""

    def __init__(self, width_in: int, dims: int):
        super().__init__()
        self.mean, self.raw_var = nn.Linear(width_in, dims), nn.Linear(width_in, dims)

    def forward(self, d: Tensor) -> tuple[Tensor, Tensor]:
        return self.mean(d), F.softplus(self.raw_var(d)) + VARIANCE_FLOOR


def gaussian(mean_var: tuple[Tensor, Tensor]) -> DiagonalGaussian:
    """DiagonalGaussian from (mean, variance)."""
    mean, var = mean_var
    return DiagonalGaussian(mean, var.sqrt())
