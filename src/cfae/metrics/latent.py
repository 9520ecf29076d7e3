"""Latent-space statistics: KL per dimension, active units (encoder and decoder side), aggregate
posterior vs N(0, I), kNN accuracy."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from cfae.metrics.encode import Encoded
from cfae.nn.divergences import aggregate_log_densities, kl_normal, mmd, pairwise_log_density


def kl_per_dimension(encoded: Encoded) -> list[float]:
    """Mean over examples of KL(q(z_d|x) || p(z_d)) for each latent dimension d, under the model's
    prior when encode_dataset recorded it, else N(0, 1)."""
    if encoded.kl is not None:
        return encoded.kl.mean(0).tolist()
    if encoded.scale is None:
        return []
    return kl_normal(encoded.mean, encoded.scale).mean(0).tolist()


def active_mask(encoded: Encoded, threshold: float = 0.01) -> torch.Tensor:
    """Burda et al. (2016): dimension d is active when Cov_x(E_q[z_d | x]) > threshold."""
    return encoded.mean.var(0) > threshold


def active_units(encoded: Encoded, threshold: float = 0.01) -> int:
    """How many dimensions are active (active_mask)."""
    return int(active_mask(encoded, threshold).sum())


@torch.no_grad()
def decoder_sensitivity(model, encoded: Encoded, n: int = 500, low: float = 0.05, high: float = 0.95, seed: int = 0,
                        chunk: int = 4096) -> Tensor:
    """How far the decoder's output moves when one code dimension sweeps its data range, per dimension d:

        s_d = E_x mean_p [dec(z[d <- q_high,d]) - dec(z[d <- q_low,d])]_p^2 / (2 mean_p Var_x dec(z)_p)

    z the posterior means of n seeded examples, q the low / high quantiles of each dimension's means
    over all of encoded. The denominator is the mean squared distance between two random
    reconstructions, so s_d = 1 means the sweep changes an image as much as swapping it for another.
    Burda's active_mask reads the encoder alone; a dimension whose means vary but that the decoder
    ignores has s_d near 0."""
    model.eval()
    device = next(model.parameters()).device
    idx = torch.randperm(len(encoded.mean), generator=torch.Generator().manual_seed(seed))[:n]
    z = encoded.mean[idx]
    ends = torch.quantile(encoded.mean.double(), torch.tensor([low, high], dtype=torch.float64), dim=0).float()

    def decode(codes: Tensor) -> Tensor:
        return torch.cat([model.decode(part.to(device)).float().cpu().flatten(1) for part in codes.split(chunk)])

    spread = 2 * decode(z).var(0).mean()
    if spread == 0:
        return torch.zeros(z.shape[1])
    m, moves = len(z), []
    for d in range(z.shape[1]):
        swept = z.repeat(2, 1)
        swept[:m, d], swept[m:, d] = ends[0, d], ends[1, d]
        images = decode(swept)
        moves.append((images[m:] - images[:m]).square().mean())
    return torch.stack(moves) / spread


def used_mask(model, encoded: Encoded, threshold: float = 0.02, **options) -> Tensor:
    """Dimensions the decoder uses: decoder_sensitivity above threshold."""
    return decoder_sensitivity(model, encoded, **options) > threshold


def aggregate_posterior_vs_prior(encoded: Encoded, n: int = 2000, seed: int = 0, kernel: str = "gaussian") -> dict:
    """MMD^2 between n aggregate-posterior draws and n N(0, I) draws, and per-dimension KS statistics."""
    gen = torch.Generator().manual_seed(seed)
    z = encoded.sample(gen)
    idx = torch.randperm(len(z), generator=gen)[:n]
    z = z[idx]
    prior = torch.randn(z.shape, generator=gen)
    ks = [float(stats.kstest(z[:, d].numpy(), "norm").statistic) for d in range(z.shape[1])]
    return {"mmd": float(mmd(z, prior, kernel)), "ks_per_dim": ks, "ks_max": max(ks)}


def knn_accuracy(train: Encoded, test: Encoded, label: str = "label", k: int = 5, max_train: int = 10000,
                 seed: int = 0) -> float:
    """Accuracy of a k-nearest-neighbour classifier on posterior means (train -> test).

    The reference set is a seeded random subset of max_train training codes, never the first
    ones: some files (the shared Fashion-MNIST npz) are sorted by class.
    """
    from sklearn.neighbors import KNeighborsClassifier

    if label not in train.labels:
        raise KeyError(f"no label {label!r}; available: {', '.join(sorted(train.labels))}")
    idx = torch.randperm(len(train.mean), generator=torch.Generator().manual_seed(seed))[:max_train]
    clf = KNeighborsClassifier(n_neighbors=k).fit(train.mean[idx].numpy(), train.labels[label][idx].numpy())
    return float(np.mean(clf.predict(test.mean.numpy()) == test.labels[label].numpy()))


def silhouette(encoded: Encoded, label: str = "label", n: int = 5000, seed: int = 0) -> float:
    """Silhouette score of the posterior means grouped by class (sklearn, Euclidean), on n points."""
    from sklearn.metrics import silhouette_score

    idx = torch.randperm(len(encoded.mean), generator=torch.Generator().manual_seed(seed))[:n]
    return float(silhouette_score(encoded.mean[idx].numpy(), encoded.labels[label][idx].numpy()))


def dimension_correlation(encoded: Encoded) -> float:
    """Largest absolute Pearson correlation between two latent dimensions of the posterior means."""
    if encoded.mean.shape[1] < 2:
        return 0.0
    corr = torch.corrcoef(encoded.mean.T).abs()
    corr.fill_diagonal_(0)
    return float(corr.max())


def total_correlation(encoded: Encoded, n: int = 2000, seed: int = 0, chunk: int = 256) -> float:
    """TC = KL(q(z) || prod_d q(z_d)) of the aggregate posterior over n examples, in nats: one draw
    z_i ~ q(z|x_i) per example, then `sampled_total_correlation` (Chen et al. 2018)."""
    if encoded.scale is None:
        raise ValueError("total correlation needs a stochastic encoder (posterior scales)")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(encoded.mean), generator=gen)[:n]
    mean, scale = encoded.mean[idx].double(), encoded.scale[idx].double()
    z = mean + scale * torch.randn(mean.shape, generator=gen, dtype=torch.float64)
    return sampled_total_correlation(z, mean, scale, chunk)


def gaussian_total_correlation(encoded: Encoded) -> float:
    """TC of the Gaussian with the aggregate posterior's covariance, (sum_d log S_dd - log det S) / 2 in
    nats, S = Cov_x(E[z|x]) + E_x[diag Var(z|x)]: the linear dependence between dimensions alone, the
    part of the TC a smooth density sees (the mixture's exact TC also counts how far apart its
    posteriors lie)."""
    mean = encoded.mean.double()
    cov = torch.cov(mean.T).reshape(mean.shape[1], mean.shape[1])
    if encoded.scale is not None:
        cov = cov + torch.diag(encoded.scale.double().square().mean(0))
    return float(0.5 * (cov.diagonal().log().sum() - torch.logdet(cov)))


def sampled_total_correlation(z: Tensor, mean: Tensor, scale: Tensor, chunk: int = 256) -> float:
    """mean_i [log q(z_i) - sum_d log q(z_i,d)] for draws z (n, D) with q(z) = mean_j N(z; mean_j, scale_j^2):
    log q(z_i) = logsumexp_j log q(z_i|x_j) - log n, and likewise per dimension d."""
    tc = 0.0
    for part in z.split(chunk):
        joint, marginals = aggregate_log_densities(pairwise_log_density(part, mean, scale), -math.log(len(z)))
        tc += float((joint - marginals).sum())
    return tc / len(z)
