"""VAE and beta-VAE (Kingma & Welling 2014; Higgins et al. 2017; Burgess et al. 2018).

loss = -log p(x|z) + beta KL(q(z|x) || p(z))       (beta = 1: the negative ELBO; p(z) = N(0, I) here)
with capacity annealing: -log p(x|z) + gamma |KL - C(t)|, C rising linearly to capacity_max;
with importance_samples K > 1 (IWAE) or iw_gradient dreg(-unshared): -L_K of the weights tempered by beta
(cfae.models.importance).
AVAE (the self-consistency baseline of seed 003) adds the autoencoding term of Cemgil et al. (2020).
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import Tensor

from cfae.data.base import Batch
from cfae.models.base import BaseModel, ModelOutput
from cfae.models.consistency import InterventionalConfig, InterventionalModel
from cfae.models.importance import ImportanceWeightedConfig, importance_weighted_terms
from cfae.models.registry import register_model
from cfae.nn.distributions import DiagonalGaussian
from cfae.nn.schedules import linear_ramp


class VAEConfig(InterventionalConfig, ImportanceWeightedConfig):
    beta: float = Field(1.0, ge=0)
    capacity_max: float | None = Field(None, ge=0, description="Burgess C_max in nats; None disables")
    capacity_steps: int = Field(100_000, ge=1, description="steps over which C rises from 0 to C_max")
    capacity_gamma: float = Field(1000.0, ge=0)

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        if self.capacity_max is not None and self.importance_weighted:
            raise ValueError("capacity_max anneals the ELBO's KL term: it cannot be combined with "
                             "importance_samples > 1 or iw_gradient dreg, dreg-unshared")


@register_model("vae", "VAE / beta-VAE (beta, Burgess capacity annealing), Bernoulli or Gaussian p(x|z)")
class VAE(InterventionalModel, BaseModel):
    """Gaussian encoder, N(0, I) prior; beta-VAE is this model with beta != 1."""

    Config = VAEConfig
    kl_warmup = True

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        c: VAEConfig = self.config
        kl = self.kl(out).mean()
        if c.importance_weighted:
            terms = importance_weighted_terms(self, batch, out.posterior, out.prior, c.importance_samples,
                                              c.beta * self.kl_weight, c.iw_gradient)
            return {**terms, "kl": kl}
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        if c.capacity_max is not None:
            capacity = linear_ramp(self.step, 0.0, c.capacity_max, c.capacity_steps)
            loss = recon + c.capacity_gamma * (kl - capacity).abs()
        else:
            loss = recon + c.beta * self.kl_weight * kl
        return {"loss": loss, "recon": recon, "kl": kl}


class AVAEConfig(VAEConfig):
    rho: float = Field(0.975, gt=0, lt=1, description="correlation of the self-consistency target N(rho z, 1 - rho^2)")


@register_model("avae", "autoencoding VAE: VAE + self-consistency of the encoder on decoded codes (Cemgil et al. 2020)")
class AVAE(VAE):
    """The VAE loss plus, for z ~ q(z|x) and x~ = D(z) (no gradient into the decoder), z~ ~ q(z|x~):
    log q(z~|x~) - log N(z~; rho z, (1 - rho^2) I), a one-sample KL(q(z~|x~) || N(rho z, (1 - rho^2) I))."""

    Config = AVAEConfig

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        terms = super().loss_terms(batch, out)
        rho = self.config.rho
        with torch.no_grad():
            decoded = self.decode(out.z, batch)
        again = self.encode(decoded)
        z_again = again.rsample()
        target = DiagonalGaussian(rho * out.z, torch.full_like(out.z, math.sqrt(1 - rho**2)))
        autoencoding = (again.log_prob(z_again) - target.log_prob(z_again)).mean()
        return {**terms, "loss": terms["loss"] + autoencoding, "autoencoding": autoencoding}
