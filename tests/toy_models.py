"""Three small models that use the contract the way the seed models will: labels into a conditional
prior, three networks with their own optimisers and alternating updates, and a two-layer
hierarchical prior. They are built directly (not registered), so the model registry stays as shipped."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from cfae.data.base import Batch
from cfae.models.base import BaseModel, ModelConfig, ModelOutput, Network, latent_layout, pixel_mse
from cfae.nn.distributions import Chain, DiagonalGaussian, Product
from cfae.nn.mlp import mlp


class ConditionalPriorVAE(BaseModel):
    """p(z | y) = N(e_y, I) with a learned embedding e per class label: labels reach the prior,
    the KL and sample(n, labels)."""

    class Config(ModelConfig):
        classes: int = Field(4, ge=1)

    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.classes, config.latent_dim)

    def prior(self, n: int, labels: dict[str, Tensor] | None = None):
        if labels is None or "label" not in labels:
            raise ValueError("this model's prior is conditional: pass labels={'label': ...}")
        mean = self.embed(labels["label"].long())
        return DiagonalGaussian(mean, torch.ones_like(mean))

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        kl = self.kl(out).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl}


class AdversarialAE(BaseModel):
    """Encoder, decoder and a discriminator on images, each with its own RMSProp; even steps update
    the discriminator only, odd steps the autoencoder (so the logged terms differ between steps)."""

    stochastic = False

    class Config(ModelConfig):
        likelihood: str = "gaussian"
        adversarial_weight: float = 0.1

    def __init__(self, config):
        super().__init__(config)
        self.discriminator = mlp([int(torch.tensor(config.input_shape).prod()), 16, 1])

    def networks(self) -> dict[str, Network]:
        return {"encoder": Network(list(self.encoder.parameters()), "rmsprop", 3e-4),
                "decoder": Network(list(self.decoder.parameters()), "rmsprop", 3e-4),
                "discriminator": Network(list(self.discriminator.parameters()), "rmsprop", 3e-5)}

    def critic(self, images: Tensor) -> Tensor:
        return self.discriminator(images.flatten(1)).squeeze(1)

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        return {"loss": recon, "recon": recon}

    def training_step(self, batch: Batch, optimizers) -> dict[str, Tensor]:
        x = batch.x
        if self.step % 2 == 0:
            with self.autocast():
                fake = self.decode(self.encode(x).mean).detach()
                real_logit, fake_logit = self.critic(x), self.critic(fake)
                disc = F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit)) + \
                    F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
            self.update(disc, optimizers["discriminator"])
            return {"disc": disc.detach()}
        with self.autocast():
            logits = self.decode_logits(self.encode(x).mean)
            recon = self.reconstruction_nll(logits, x).mean()
            fake_logit = self.critic(torch.sigmoid(logits))
            gen = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
            loss = recon + self.config.adversarial_weight * gen
        self.update(loss, optimizers["encoder"], optimizers["decoder"])
        return {"loss": loss.detach(), "recon": recon.detach(), "gen": gen.detach(), "mse": pixel_mse(logits, x)}


class TwoLayerPriorVAE(BaseModel):
    """z = [z1, z2]: prior p(z2) p(z1 | z2) with p(z2) = N(0, I) and p(z1 | z2) = N(W z2 + b,
    softplus(s)^2); mean-field Gaussian posterior. KL has no closed form, so the loss uses the
    one-sample estimate; sample() draws top-down."""

    class Config(ModelConfig):
        latent_dim: int = 4

    def __init__(self, config):
        super().__init__(config)
        half = config.latent_dim // 2
        self.sizes = (config.latent_dim - half, half)
        self.top_down = nn.Linear(self.sizes[1], self.sizes[0])
        self.raw_scale = nn.Parameter(torch.zeros(self.sizes[0]))

    @property
    def latent_spec(self):
        return latent_layout(("z1", "layer 1", self.sizes[0]), ("z2", "layer 2", self.sizes[1]))

    def encode(self, batch) -> Product:
        q = super().encode(batch)
        z1, z2 = (DiagonalGaussian(m, s) for m, s in zip(q.mean.split(self.sizes, 1), q.scale.split(self.sizes, 1)))
        return Product({"z1": z1, "z2": z2})

    def conditional_z1(self, z2: Tensor) -> DiagonalGaussian:
        mean = self.top_down(z2)
        return DiagonalGaussian(mean, F.softplus(self.raw_scale).expand_as(mean) + 1e-3)

    def prior(self, n: int, labels=None) -> Chain:
        device = self.raw_scale.device
        top = DiagonalGaussian.standard(n, self.sizes[1], device)
        return Chain([("z1", self.sizes[0]), ("z2", self.sizes[1])],
                     [("z2", lambda parts: top), ("z1", lambda parts: self.conditional_z1(parts["z2"]))])

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        kl = self.kl(out).mean()
        return {"loss": recon + kl, "recon": recon, "kl": kl}


def build(cls, **options):
    return cls(cls.Config(name=cls.__name__, **options))
