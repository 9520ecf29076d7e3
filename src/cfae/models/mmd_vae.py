"""MMD-VAE / InfoVAE (Zhao et al. 2019, reference G): loss = -log p(x|z) + lambda MMD(q(z), N(0, I)).

The aggregate posterior is matched to the prior with a biased kernel MMD between the batch's codes
and prior draws; there is no per-example KL term. As in Zhao's reference code the encoder is
deterministic by default (a stochastic encoder with learnt variance can satisfy the MMD by
collapsing every q(z|x) onto N(0, I)); `stochastic_encoder=True` gives the Gaussian-encoder form.
"""

from __future__ import annotations

from pydantic import Field
from torch import Tensor

from cfae.data.base import Batch
from cfae.models.base import BaseModel, ModelConfig, ModelOutput
from cfae.models.registry import register_model
from cfae.nn.divergences import KERNELS, mmd
from cfae.registry import check_choices


class MMDVAEConfig(ModelConfig):
    mmd_weight: float = Field(1000.0, ge=0, description="lambda; InfoVAE uses 1000 with a summed log-likelihood")
    kernel: str = "gaussian"
    prior_samples: int = Field(200, ge=2)
    stochastic_encoder: bool = False

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        check_choices("kernel", [self.kernel], sorted(KERNELS))


@register_model("mmd-vae", "MMD-VAE / InfoVAE: reconstruction + lambda MMD(q(z), N(0, I)), Gaussian or IMQ kernel")
class MMDVAE(BaseModel):
    Config = MMDVAEConfig

    @property
    def stochastic(self) -> bool:
        return self.config.stochastic_encoder

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        c: MMDVAEConfig = self.config
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        z = out.posterior.rsample()
        prior = self.prior(c.prior_samples).rsample()
        divergence = mmd(z.float(), prior, c.kernel)
        return {"loss": recon + c.mmd_weight * divergence, "recon": recon, "mmd": divergence}
