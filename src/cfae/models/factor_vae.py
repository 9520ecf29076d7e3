"""FactorVAE (Kim & Mnih 2018): the VAE's objective plus a penalty on the total correlation of the
aggregate posterior, estimated by a discriminator on the codes (cfae.nn.density_ratio),

    loss_VAE = -log p(x|z) + KL(q(z|x) || p(z)) + gamma E_q[t(z)]          (eq. 2, TC ≈ E_q[t(z)])
    loss_D   = (BCE(t(z), 1) + BCE(t(permute_dims(z)), 0)) / 2              (Algorithm 2)

Both networks step together on one batch: the codes the VAE was trained on, detached, are the
discriminator's draws of q(z), and the same codes with each dimension shuffled across the batch its
draws of prod_j q(z_j). (Kim & Mnih shuffle the codes of a second batch; the shuffled rows have the
same law either way.) Each loss reaches only its own network's parameters.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from cfae.data.base import Batch
from cfae.models.base import BaseModel, ModelOutput, Network
from cfae.models.consistency import InterventionalConfig, InterventionalModel
from cfae.models.registry import register_model
from cfae.nn.density_ratio import CodeDiscriminator, density_ratio_loss, joint_and_shuffled_logits

# Kim & Mnih's discriminator optimiser: Adam, lr 1e-4, (beta1, beta2) = (0.5, 0.9)
DISCRIMINATOR_BETAS = (0.5, 0.9)


class FactorVAEConfig(InterventionalConfig):
    gamma: float = Field(35.0, ge=0, description="weight of the total correlation estimate (35: the dSprites "
                         "setting of Kim & Mnih's hyperparameters, as in the 1Konny/FactorVAE reproduction)")
    discriminator_hidden: tuple[int, ...] = Field((1000,) * 6, description="hidden widths of the code "
                                                  "discriminator (Kim & Mnih: six layers of 1000)")
    lr_discriminator: float = Field(1e-4, gt=0, description="the discriminator's Adam learning rate")

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        if not self.discriminator_hidden or min(self.discriminator_hidden) < 1:
            raise ValueError(f"discriminator_hidden must list one or more positive widths, "
                             f"got {list(self.discriminator_hidden)}")


@register_model("factor-vae", "FactorVAE: the VAE plus gamma times a total correlation estimated by a "
                "discriminator on dimension-shuffled codes (Kim & Mnih 2018)")
class FactorVAE(InterventionalModel, BaseModel):
    """Gaussian encoder, N(0, I) prior, a code discriminator; warm-up scales the KL and TC terms."""

    Config = FactorVAEConfig
    kl_warmup = True

    def __init__(self, config: FactorVAEConfig, encoder=None, decoder=None):
        super().__init__(config, encoder, decoder)
        self.discriminator = CodeDiscriminator(config.latent_dim, config.discriminator_hidden)

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        z = self.posterior_draw(out)
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        kl = self.kl(out).mean()
        tc = self.discriminator(z.float()).mean()
        loss = recon + self.kl_weight * (kl + self.config.gamma * tc)
        return {"loss": loss, "recon": recon, "kl": kl, "total_correlation": tc}

    def discriminator_terms(self, z: Tensor) -> dict[str, Tensor]:
        """loss_D on codes z (detached here) and the share of them the discriminator gets right."""
        joint, shuffled = joint_and_shuffled_logits(self.discriminator, z.detach().float())
        accuracy = torch.cat([joint > 0, shuffled < 0]).float().mean()
        return {"d_loss": density_ratio_loss(joint, shuffled), "d_accuracy": accuracy}

    def networks(self) -> dict[str, Network]:
        own = {id(p) for p in self.discriminator.parameters()}
        return {"vae": Network([p for p in self.parameters() if id(p) not in own]),
                "discriminator": Network(list(self.discriminator.parameters()), "adam",
                                         self.config.lr_discriminator, DISCRIMINATOR_BETAS)}

    def training_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        out = self.forward_pass(batch)
        with self.autocast():
            critic = self.discriminator_terms(out.z)
        self.update_each({"vae": out.loss, "discriminator": critic["d_loss"]}, optimizers)
        return {k: v.detach() for k, v in {**out.terms, **critic}.items()}
