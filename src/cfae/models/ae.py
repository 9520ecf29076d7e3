"""Deterministic autoencoder: loss = -log p(x | z), z = E(x)."""

from __future__ import annotations

from torch import Tensor

from cfae.data.base import Batch
from cfae.models.base import BaseModel, ModelOutput
from cfae.models.consistency import InterventionalConfig, InterventionalModel
from cfae.models.registry import register_model


class AEConfig(InterventionalConfig):
    likelihood: str = "gaussian"


@register_model("ae", "deterministic autoencoder (reconstruction loss only)")
class AE(InterventionalModel, BaseModel):
    """Plain autoencoder; the code is the encoder output."""

    Config = AEConfig
    stochastic = False

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        return {"loss": recon, "recon": recon}


class SAEConfig(AEConfig):
    network: str = "structural"


@register_model("sae", "structural autoencoder: AE whose decoder injects latent chunks by AdaIN (Leeb et al. 2020)")
class SAE(AE):
    """The AE objective with the structural decoder (network "structural"); X and XC variants as for AE."""

    Config = SAEConfig
