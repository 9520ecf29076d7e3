"""Encode a whole dataset in batches: posterior means, scales and one sample per example."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cfae.data.base import ImageDataset


@dataclass
class Encoded:
    mean: Tensor  # (N, D)
    scale: Tensor | None  # (N, D) or None for deterministic codes
    labels: dict[str, Tensor]
    kl: Tensor | None = None  # (N, D) closed-form KL(q(z_d|x) || p(z_d)) under the model's prior, if any

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """One draw z ~ q(z|x) per example (the aggregate posterior); the mean if deterministic."""
        if self.scale is None:
            return self.mean
        noise = torch.randn(self.mean.shape, generator=generator)
        return self.mean + self.scale * noise


@torch.no_grad()
def encode_dataset(model, data: ImageDataset, batch_size: int = 1000) -> Encoded:
    """Run model.encode over data (on the model's device); results on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    means, scales, kls = [], [], []
    for batch in data.in_order(batch_size, device):
        posterior = model.encode(batch)
        means.append(posterior.mean.float().cpu())
        if posterior.scale is not None:
            scales.append(posterior.scale.float().cpu())
            kl = posterior.kl(model.prior_of(batch))
            if kl is not None:
                kls.append(kl.float().cpu())
    return Encoded(torch.cat(means), torch.cat(scales) if scales else None, {k: v.cpu() for k, v in data.labels.items()},
                   torch.cat(kls) if kls and len(kls) == len(scales) else None)
