"""The density-ratio trick for the total correlation of codes (Kim & Mnih 2018, section 3).

    TC(z) = KL(q(z) || q̄(z)),  q̄(z) = prod_j q(z_j),   TC ≈ E_q[t(z)]

where t is the logit of a classifier trained to tell draws of q(z) (label 1) from draws of q̄(z)
(label 0). Its optimum is t*(z) = log q(z) / q̄(z) (the logit of q / (q + q̄); Sugiyama et al.
2012), whose mean under q is the TC. Draws of q̄ are made by shuffling each dimension of a batch of
codes on its own (Kim & Mnih, Algorithm 1): each column keeps its values, so each marginal q(z_j)
is kept, while the rows lose whatever tied the dimensions together.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cfae.nn.mlp import mlp


def permute_dims(z: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """(N, D) codes with every column reordered by its own uniformly random permutation of the rows."""
    order = torch.rand(z.shape, device=z.device, generator=generator).argsort(dim=0)
    return z.gather(0, order)


class CodeDiscriminator(nn.Module):
    """t(z): fully connected layers with LeakyReLU(0.2) between them and one logit out (Kim & Mnih:
    six hidden layers of 1000 units; their two softmax logits differ by this one)."""

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] = (1000,) * 6):
        super().__init__()
        self.net = mlp([latent_dim, *hidden, 1], partial(nn.LeakyReLU, 0.2))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)[:, 0]


def joint_and_shuffled_logits(critic: nn.Module, z: Tensor, generator: torch.Generator | None = None
                              ) -> tuple[Tensor, Tensor]:
    """The critic's logits t(z) on a batch of codes and t(z~) on the same codes after permute_dims,
    in one forward pass."""
    return critic(torch.cat([z, permute_dims(z, generator)])).chunk(2)


def density_ratio_loss(joint_logits: Tensor, shuffled_logits: Tensor) -> Tensor:
    """The classifier's cross-entropy, (BCE(t(z), 1) + BCE(t(z~), 0)) / 2, z ~ q(z), z~ ~ q̄(z)."""
    joint = F.binary_cross_entropy_with_logits(joint_logits, torch.ones_like(joint_logits))
    shuffled = F.binary_cross_entropy_with_logits(shuffled_logits, torch.zeros_like(shuffled_logits))
    return 0.5 * (joint + shuffled)
