"""Precision, recall, density and coverage of generated images in a feature space (Naeem et al. 2020),
the realism scores beside FID that tell fidelity (are the fakes where real data is?) from diversity
(is all of the real data reached?).

    r_i          distance from real feature i to its k-th nearest other real feature (its ball)
    precision    share of fakes inside at least one real ball
    recall       share of reals inside at least one fake ball (fake balls from the fakes' own k-NN)
    density      (1 / kM) sum_j #{i : fake j in ball i}; about 1 for fakes drawn like the reals
    coverage     share of real balls holding at least one fake
"""

from __future__ import annotations

import torch
from torch import Tensor


def knn_radii(features: Tensor, k: int) -> Tensor:
    """Distance from each row to its k-th nearest other row (Euclidean)."""
    if len(features) <= k:
        raise ValueError(f"k = {k} nearest neighbours need more than {k} feature rows, got {len(features)}")
    distances = torch.cdist(features, features)
    return distances.kthvalue(k + 1, dim=1).values  # the smallest is the row itself, at 0


def precision_recall_density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> dict[str, float]:
    """The four scores of the module docstring for real (N, F) and fake (M, F) features."""
    real, fake = real.double(), fake.double()
    real_radii, fake_radii = knn_radii(real, k), knn_radii(fake, k)
    distance = torch.cdist(real, fake)  # (N, M)
    inside_real = distance <= real_radii[:, None]  # fake j in real ball i
    inside_fake = distance <= fake_radii[None, :]  # real i in fake ball j
    return {"precision": float(inside_real.any(0).double().mean()),
            "recall": float(inside_fake.any(1).double().mean()),
            "density": float(inside_real.sum(0).double().mean() / k),
            "coverage": float(inside_real.any(1).double().mean())}
