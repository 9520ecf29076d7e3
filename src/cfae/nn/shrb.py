"""Shallow Randomized Backpropagation (ShRB) ensemble, vectorised (seed 000, sections 4.1-4.2).

For each latent dimension k there are B shallow learners (one hidden layer, no pooling). Learner
(k, b) sees a fixed random subset of floor(F * fraction) of the F input features and outputs
p = sigmoid(.), read as a percentile; Phi^{-1}(p) = sqrt(2) erfinv(2p - 1) turns it into a z-score
(eqs. 11-12). All K x B learners run as one batched matrix product over gathered feature
subsets (bmm), never a Python loop over modules. Learner index l = k * B + b throughout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PROBIT_EPS = 1e-6


def probit(p: Tensor) -> Tensor:
    """Phi^{-1}(p) = sqrt(2) erfinv(2p - 1), p clamped to [1e-6, 1 - 1e-6] to stay finite."""
    p = p.clamp(PROBIT_EPS, 1 - PROBIT_EPS)
    return math.sqrt(2.0) * torch.erfinv(2 * p - 1)


def normal_cdf(z: Tensor) -> Tensor:
    """Phi(z) = (1 + erf(z / sqrt 2)) / 2."""
    return 0.5 * (1 + torch.erf(z / math.sqrt(2.0)))


def batch_percentiles(z: Tensor) -> Tensor:
    """Empirical CDF of each column within the batch: (rank + 0.5) / N, in (0, 1)."""
    ranks = z.argsort(0).argsort(0).to(z.dtype)
    return (ranks + 0.5) / z.shape[0]


def bootstrap_counts(learners: int, n: int, device=None, generator: torch.Generator | None = None) -> Tensor:
    """How often each of n examples appears in each learner's bootstrap resample, shape (L, n).

    Weighting example i by its count is the same as training on the resample itself.
    """
    draws = torch.randint(n, (learners, n), device=device, generator=generator)
    return torch.zeros(learners, n, device=device).scatter_add_(1, draws, torch.ones(learners, n, device=device))


def feature_subsets(features: int, learners: int, fraction: float, seed: int) -> Tensor:
    """(L, floor(F * fraction)) indices: each learner's fixed random subset of distinct features."""
    chosen = max(1, math.floor(features * fraction))
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(features, generator=gen)[:chosen].sort().values for _ in range(learners)])


class ShRBEnsemble(nn.Module):
    """K x B one-hidden-layer learners, each on its own feature subset; returns logits (N, K, B)."""

    def __init__(self, in_features: int, latent_dim: int, learners: int = 10, hidden: int = 16,
                 feature_fraction: float = 1 / 3, seed: int = 0):
        super().__init__()
        self.in_features, self.latent_dim, self.learners, self.hidden = in_features, latent_dim, learners, hidden
        total = latent_dim * learners
        self.register_buffer("feature_index", feature_subsets(in_features, total, feature_fraction, seed))
        fan_in = self.feature_index.shape[1]
        gen = torch.Generator().manual_seed(seed + 1)
        bound1, bound2 = 1 / math.sqrt(fan_in), 1 / math.sqrt(hidden)
        self.w1 = nn.Parameter((torch.rand(total, fan_in, hidden, generator=gen) * 2 - 1) * bound1)
        self.b1 = nn.Parameter((torch.rand(total, hidden, generator=gen) * 2 - 1) * bound1)
        self.w2 = nn.Parameter((torch.rand(total, hidden, generator=gen) * 2 - 1) * bound2)
        self.b2 = nn.Parameter((torch.rand(total, generator=gen) * 2 - 1) * bound2)

    @property
    def total(self) -> int:
        return self.latent_dim * self.learners

    @property
    def feature_mask(self) -> Tensor:
        """(L, F) 0/1 view of which features each learner sees."""
        mask = torch.zeros(self.total, self.in_features, device=self.feature_index.device)
        return mask.scatter_(1, self.feature_index, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        """x (N, F) -> logits (N, K, B): gather each learner's features, then two batched products."""
        inputs = x.T[self.feature_index].transpose(1, 2)  # (L, N, F_sub)
        h = F.relu(torch.bmm(inputs, self.w1) + self.b1[:, None, :])  # (L, N, H)
        logits = (h * self.w2[:, None, :]).sum(-1) + self.b2[:, None]  # (L, N)
        return logits.T.reshape(x.shape[0], self.latent_dim, self.learners)

    def fit_loss(self, x: Tensor, target_p: Tensor, counts: Tensor | None = None) -> Tensor:
        """Sum over learners of each learner's mean BCE to its target percentiles (N, K) on its resample."""
        logits = self(x)
        target = target_p[:, :, None].expand_as(logits)
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none").reshape(x.shape[0], self.total)
        if counts is None:
            return loss.mean(0).sum()
        return (loss * counts.T).sum(0).div(x.shape[0]).sum()

    def gaussian(self, x: Tensor, aggregation: str = "z", min_scale: float = 1e-2) -> tuple[Tensor, Tensor]:
        """Per-dimension (mu_T, sigma_T), each (N, K), from the learners' spread.

        z: mean and std over b of Phi^{-1}(p_b); p: mu = Phi^{-1}(mean_b p_b) and the delta-method
        std(p) / phi(mu). sigma_T is floored at min_scale.
        """
        p = torch.sigmoid(self(x))
        if aggregation == "z":
            z = probit(p)
            mean, std = z.mean(-1), z.std(-1, unbiased=False)
        elif aggregation == "p":
            mean = probit(p.mean(-1))
            density = torch.exp(-0.5 * mean.square()) / math.sqrt(2 * math.pi)
            std = p.std(-1, unbiased=False) / density
        else:
            raise ValueError(f"unknown aggregation {aggregation!r}; valid choices: p, z")
        return mean, std.clamp_min(min_scale)
