"""VAE and beta-VAE (Kingma & Welling 2014; Higgins et al. 2017; Burgess et al. 2018).

loss = -log p(x|z) + beta KL(q(z|x) || p(z))       (beta = 1: the negative ELBO; p(z) = N(0, I) here)
with capacity annealing: -log p(x|z) + gamma |KL - C(t)|, C rising linearly to capacity_max.
"""

from __future__ import annotations

from pydantic import Field
from torch import Tensor

from cfae.data.base import Batch
from cfae.models.base import BaseModel, ModelConfig, ModelOutput
from cfae.models.registry import register_model
from cfae.nn.schedules import linear_ramp


class VAEConfig(ModelConfig):
    beta: float = Field(1.0, ge=0)
    capacity_max: float | None = Field(None, ge=0, description="Burgess C_max in nats; None disables")
    capacity_steps: int = Field(100_000, ge=1, description="steps over which C rises from 0 to C_max")
    capacity_gamma: float = Field(1000.0, ge=0)


@register_model("vae", "VAE / beta-VAE (beta, Burgess capacity annealing), Bernoulli or Gaussian p(x|z)")
class VAE(BaseModel):
    """Gaussian encoder, N(0, I) prior; beta-VAE is this model with beta != 1."""

    Config = VAEConfig

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        c: VAEConfig = self.config
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        kl = self.kl(out).mean()
        if c.capacity_max is not None:
            capacity = linear_ramp(self.step, 0.0, c.capacity_max, c.capacity_steps)
            loss = recon + c.capacity_gamma * (kl - capacity).abs()
        else:
            loss = recon + c.beta * kl
        return {"loss": loss, "recon": recon, "kl": kl}
