"""Frechet distance between Gaussians fitted to image features (Heusel et al. 2017; seed 001 eq. 4.1).

    d^2 = ||mu_1 - mu_2||^2 + tr(S_1) + tr(S_2) - 2 tr((S_1^{1/2} S_2 S_1^{1/2})^{1/2})

In float64; S_1^{1/2} from a symmetric eigendecomposition with negative round-off eigenvalues set
to 0, so S_1^{1/2} S_2 S_1^{1/2} is symmetric positive semi-definite and the trace of its square
root is the sum of the square roots of its (clamped) eigenvalues: no complex parts, no sqrtm.

Feature backends: any module whose forward(x) gives features (N, F). `DomainFeatures` wraps a classifier
trained by cfae on the dataset (its 128 hidden units); the report names the backend it used.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn


def gaussian_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """(mean (F,), covariance (F, F) with the unbiased 1 / (N - 1)) in float64."""
    f = features.double()
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need at least 2 feature rows (N, F), got shape {tuple(f.shape)}")
    mean = f.mean(0)
    centred = f - mean
    return mean, centred.T @ centred / (len(f) - 1)


def _psd_sqrt(matrix: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(mean_1: Tensor, cov_1: Tensor, mean_2: Tensor, cov_2: Tensor) -> float:
    """d^2 between N(mean_1, cov_1) and N(mean_2, cov_2)."""
    mean_1, cov_1, mean_2, cov_2 = (t.double() for t in (mean_1, cov_1, mean_2, cov_2))
    root = _psd_sqrt(cov_1)
    middle = root @ cov_2 @ root
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mean_1 - mean_2).square().sum() + cov_1.trace() + cov_2.trace() - 2 * cross)


class DomainFeatures(nn.Module):
    """Features from a cfae classifier of the dataset (ConvClassifier.embedding); `num_features`
    lets torchmetrics' FrechetInceptionDistance take it as its feature extractor."""

    def __init__(self, classifier: nn.Module, name: str = "domain classifier"):
        super().__init__()
        self.classifier = classifier.eval()
        self.name = name
        self.num_features = classifier.head[-1].in_features

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return self.classifier.embedding(x.float())


@torch.no_grad()
def features_of(backend: nn.Module, images: Tensor | Iterable[Tensor], batch_size: int = 500) -> Tensor:
    """Backend features (N, F) on the CPU, computed batch by batch on the backend's device."""
    batches = images.split(batch_size) if isinstance(images, Tensor) else images
    device = next(backend.parameters()).device
    return torch.cat([backend(b.to(device)).cpu() for b in batches])


def feature_statistics(backend: nn.Module, images: Tensor | Iterable[Tensor], batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """Mean and covariance of backend features over images (a tensor or an iterable of batches)."""
    return gaussian_statistics(features_of(backend, images, batch_size))


def fid(backend: nn.Module, real: Tensor | Iterable[Tensor], fake: Tensor | Iterable[Tensor],
        real_statistics: tuple[Tensor, Tensor] | None = None) -> float:
    """Frechet distance between the backend's feature Gaussians of real and generated images."""
    mean_r, cov_r = real_statistics or feature_statistics(backend, real)
    mean_f, cov_f = feature_statistics(backend, fake)
    return frechet_distance(mean_r, cov_r, mean_f, cov_f)
