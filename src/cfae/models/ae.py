"""Deterministic autoencoder: loss = -log p(x | z), z = E(x)."""

from __future__ import annotations

from torch import Tensor

from cfae.data.base import Batch
from cfae.models.base import BaseModel, ModelConfig, ModelOutput
from cfae.models.registry import register_model


class AEConfig(ModelConfig):
    likelihood: str = "gaussian"


@register_model("ae", "deterministic autoencoder (reconstruction loss only)")
class AE(BaseModel):
    """Plain autoencoder; the code is the encoder output."""

    Config = AEConfig
    stochastic = False

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        return {"loss": recon, "recon": recon}
