"""Closed-form KL between diagonal Gaussians and kernel MMD estimates."""

from __future__ import annotations

import torch
from torch import Tensor

from cfae.registry import check_choices


def kl_normal(mean_q: Tensor, std_q: Tensor, mean_p: Tensor | float = 0.0, std_p: Tensor | float = 1.0) -> Tensor:
    """Per-dimension KL(N(mean_q, std_q^2) || N(mean_p, std_p^2))
    = log(std_p / std_q) + (std_q^2 + (mean_q - mean_p)^2) / (2 std_p^2) - 1/2."""
    std_p = torch.as_tensor(std_p, dtype=std_q.dtype, device=std_q.device)
    var_ratio = (std_q / std_p).square()
    return 0.5 * (var_ratio + ((mean_q - mean_p) / std_p).square() - 1.0 - var_ratio.log())


def gaussian_kernel(x: Tensor, y: Tensor, bandwidth: float | None = None) -> Tensor:
    """k(x, y) = exp(-||x - y||^2 / D^2), D = latent dimension (InfoVAE, reference G)."""
    d = x.shape[1] if bandwidth is None else bandwidth
    return torch.exp(-torch.cdist(x, y).square() / d**2)


def imq_kernel(x: Tensor, y: Tensor, scale: float | None = None) -> Tensor:
    """Inverse multiquadric k(x, y) = C / (C + ||x - y||^2), C = 2 D (WAE, prior N(0, I))."""
    c = 2.0 * x.shape[1] if scale is None else scale
    return c / (c + torch.cdist(x, y).square())


KERNELS = {"gaussian": gaussian_kernel, "imq": imq_kernel}


def mmd(x: Tensor, y: Tensor, kernel: str = "gaussian") -> Tensor:
    """Biased MMD^2 estimate: mean k(x, x) + mean k(y, y) - 2 mean k(x, y)."""
    check_choices("kernel", [kernel], sorted(KERNELS))
    k = KERNELS[kernel]
    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
