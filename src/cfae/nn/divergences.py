"""Closed-form KL between diagonal Gaussians, kernel MMD estimates, and the minibatch estimates of
the aggregate posterior q(z) = (1/N) sum_n q(z|x_n) behind the KL decomposition of beta-TCVAE."""

from __future__ import annotations

import math

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


def pairwise_log_density(z: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
    """log N(z_i,d; mean_j,d, scale_j,d^2) for every draw i and every posterior j: shape (M, M', D)."""
    return (-0.5 * ((z[:, None, :] - mean[None]) / scale[None]).square()
            - scale[None].log() - 0.5 * math.log(2 * math.pi))


def aggregate_log_densities(log_density: Tensor, log_weights: Tensor | float) -> tuple[Tensor, Tensor]:
    """(log q(z_i), sum_d log q(z_i,d)) with q(z_i) ~ sum_j r_ij q(z_i|x_j) and likewise per dimension,
    from pairwise_log_density and log r (a scalar, or (M, M') importance weights), each of shape (M,)."""
    weights = torch.as_tensor(log_weights, dtype=log_density.dtype, device=log_density.device)
    joint = torch.logsumexp(log_density.sum(2) + weights, dim=1)
    marginals = torch.logsumexp(log_density + weights.unsqueeze(-1), dim=1)
    return joint, marginals.sum(1)


def stratified_log_weights(m: int, dataset_size: int, device=None) -> Tensor:
    """Minibatch stratified sampling (Chen et al. 2018, appendix C.1), log r of shape (m, m): the draw's
    own example x_i weighs 1/N, its neighbour x_(i+1 mod m) (N - m + 1) / (N (m - 1)), each other one
    1 / (m - 1); every row sums to 1, so q(z_i) is estimated without bias. (The reference code and the
    libraries that copy it stride the matrix by m instead of m + 1 and so weigh column 0, not x_i,
    by 1/N: rtqichen/beta-tcvae pull request 1.)"""
    if dataset_size < m:
        raise ValueError(f"stratified sampling needs a batch ({m}) no larger than dataset_size ({dataset_size})")
    if m == 1:  # a lone draw (an epoch's last batch): its own example is all the batch knows of q(z)
        return torch.zeros(1, 1, device=device)
    n = dataset_size
    weights = torch.full((m, m), math.log(1.0 / (m - 1)), device=device)  # built where it is used: no copy per step
    rows = torch.arange(m, device=device)
    weights[rows, (rows + 1) % m] = math.log((n - m + 1) / (n * (m - 1)))
    weights[rows, rows] = math.log(1.0 / n)
    return weights


def kl_decomposition(z: Tensor, mean: Tensor, scale: Tensor, dataset_size: int, estimator: str = "mss") -> dict[str, Tensor]:
    """Per-row terms of E KL(q(z|x) || N(0, I)) = I(x; z) + TC + dimension-wise KL (Chen et al. 2018,
    eq. 2), from a minibatch of draws z_i ~ q(z|x_i) = N(mean_i, scale_i^2):
        mutual_information  log q(z_i|x_i) - log q(z_i)
        total_correlation   log q(z_i) - sum_d log q(z_i,d)
        dimension_kl        sum_d log q(z_i,d) - log N(z_i; 0, I)
    with q(z_i) from the estimator: mss (stratified_log_weights) or mws, minibatch weighted sampling
    (Chen et al. eq. after 4), log q(z_i) = logsumexp_j log q(z_i|x_j) - log(N M). Their sum is the
    one-sample KL estimate for any estimator; mws's terms carry constant offsets (e.g. TC + (D - 1) log N
    when every posterior is the same), which do not change their gradients."""
    check_choices("TC estimator", [estimator], ["mss", "mws"])
    log_density = pairwise_log_density(z, mean, scale)
    m = len(z)
    weights = stratified_log_weights(m, dataset_size, z.device) if estimator == "mss" else -math.log(dataset_size * m)
    own = log_density.diagonal(dim1=0, dim2=1).sum(0)  # log q(z_i | x_i)
    return weighted_kl_terms(z, own, log_density, weights)


def weighted_kl_terms(z: Tensor, own: Tensor, log_density: Tensor, log_weights: Tensor | float) -> dict[str, Tensor]:
    """kl_decomposition's three terms per draw z_i, given log q(z_i|x_i) (own), the draws' pairwise
    log densities against a set of posteriors and the log weights r_ij that estimate q(z_i) from them."""
    joint, product = aggregate_log_densities(log_density, log_weights)
    prior = (-0.5 * z.square() - 0.5 * math.log(2 * math.pi)).sum(1)
    return {"mutual_information": own - joint, "total_correlation": joint - product, "dimension_kl": product - prior}
