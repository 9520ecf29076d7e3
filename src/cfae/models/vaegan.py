"""VAE-GAN (Larsen et al. 2016) and CDVAE-GAN (seed 001, section 3), with the seed's "VAE" baseline.

Latent code z = (z_G, z_B): Gaussian features z_G ~ N(mu, sigma^2) (latent_dim of them) and, when
`attributes` names k attributes, Bernoulli attribute latents z_B ~ Ber(pi) (eq. 3.1), sampled in
training as relaxed bits sigmoid((logit pi + logistic noise) / tau) and used as hard bits at
counterfactual time. The prior is N(0, I) x Ber(eta) (section 3.1.2).

    L_Div = KL(q(z_G|x) || N(0, I)) + lambda_B BCE(y, pi)                      (eq. 3.5)
    L_Rec = -log p(x | z_G, z_B) (pixels, eq. 3.6) or, as in Larsen et al., a unit-variance
            Gaussian NLL between discriminator features D_l(x) and D_l(x')  ("features")
    L_GAN = log D(x) + log(1 - D(G(z~))) + log(1 - D(G(E(x))))                 (eqs. 3.8-3.10)
Algorithm 1: E minimises L_Div + L_Rec, G minimises gamma L_Rec + L_GAN, D maximises L_GAN, each
with its own RMSProp (lr 3e-4, 3e-4, 3e-5). L_Div and L_Rec are sums in nats per example; the E and
G objectives divide them by the number of pixels P so that gamma = 15 weighs a per-pixel
reconstruction against the per-example GAN loss (E's objective is the ELBO / P: RMSProp is blind to
that scale). G uses the non-saturating -log D(G(.)) unless generator_loss = "minimax".
Equilibrium (Larsen's code, reference H): with `equilibrium` = 0.35, D skips a step when its real or
fake cost is below 0.68 - 0.35 and G drops its GAN term when one is above 0.68 + 0.35.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from cfae.data.base import Batch, as_batch
from cfae.models.base import BaseModel, LatentPart, ModelConfig, ModelOutput, Network, latent_layout, pixel_mse
from cfae.models.registry import register_model
from cfae.nn.distributions import Bernoulli, DiagonalGaussian, Product
from cfae.nn.divergences import kl_normal
from cfae.nn.discriminator import Discriminator
from cfae.nn.likelihoods import image_mean
from cfae.nn.networks import DISCRIMINATORS, build_decoder, build_encoder

EQUILIBRIUM_CENTRE = 0.68


class VAEGANConfig(ModelConfig):
    network: str = "conv"
    latent_dim: int = Field(32, ge=1, description="Gaussian feature dimensions m of z_G")
    attributes: tuple[str, ...] = Field((), description="names of the Bernoulli attribute latents z_B")
    adversarial: bool = True
    reconstruction: Literal["pixels", "features"] = "features"
    attribute_weight: float = Field(1.0, ge=0, description="lambda_B")
    gamma: float = Field(15.0, ge=0)
    temperature: float = Field(0.1, gt=0, description="tau of the relaxed Bernoulli in training")
    prior_bit_probability: float = Field(0.5, gt=0, lt=1, description="eta of p(z_B) = Ber(eta)")
    generator_loss: Literal["non-saturating", "minimax"] = "non-saturating"
    equilibrium: float | None = Field(None, gt=0, description="Larsen's margin around 0.68; None disables")
    lr_encoder: float = Field(3e-4, gt=0)
    lr_generator: float = Field(3e-4, gt=0)
    lr_discriminator: float = Field(3e-5, gt=0)

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        if self.reconstruction == "features" and not self.adversarial:
            raise ValueError("reconstruction='features' needs the discriminator (adversarial=True)")
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"attribute names repeat: {list(self.attributes)}")


class CDVAEGANConfig(VAEGANConfig):
    reconstruction: Literal["pixels", "features"] = "pixels"

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        if not self.attributes:
            raise ValueError("a CDVAE model needs attribute names (they come from an attribute dataset's labels)")


class CDVAEConfig(CDVAEGANConfig):
    adversarial: bool = False


@register_model("vae-gan", "VAE-GAN (Larsen et al. 2016): reconstruction in discriminator features; mean-difference counterfactuals")
class VAEGAN(BaseModel):
    Config = VAEGANConfig
    needs_attributes: ClassVar[bool] = False  # True: a run fills `attributes` from its dataset's names

    def __init__(self, config: VAEGANConfig, encoder=None, decoder=None):
        m, k = config.latent_dim, len(config.attributes)
        encoder = encoder or build_encoder(config.network, config.input_shape, 2 * m + k, config.hidden)
        decoder = decoder or build_decoder(config.network, m + k, config.input_shape, config.hidden)
        super().__init__(config, encoder, decoder)
        if config.adversarial:
            channels, kernel, fc = DISCRIMINATORS[config.network]
            self.discriminator = Discriminator(config.input_shape, channels, kernel, fc)

    # --- latent space -------------------------------------------------------------------------
    @property
    def attribute_names(self) -> tuple[str, ...]:
        return self.config.attributes

    @property
    def latent_spec(self) -> tuple[LatentPart, ...]:
        parts = [("features", "gaussian", self.config.latent_dim)]
        if self.config.attributes:
            parts.append(("attributes", "bernoulli", len(self.config.attributes)))
        return latent_layout(*parts)

    def attribute_index(self, name: str) -> int:
        """Position of an attribute's bit in the latent vector."""
        if name not in self.config.attributes:
            raise KeyError(f"unknown attribute {name!r}; valid choices: {', '.join(self.config.attributes) or 'none'}")
        return self.config.latent_dim + self.config.attributes.index(name)

    def encode(self, batch: Batch | Tensor) -> Product:
        """q(z_G|x) q(z_B|x) = N(mu, sigma^2) x Ber(pi) (eq. 3.1); z_B relaxed at temperature tau."""
        m = self.config.latent_dim
        h = self.encoder(as_batch(batch).x).float()
        mean, log_var, bit_logits = h[:, :m], h[:, m:2 * m], h[:, 2 * m:]
        parts = {"features": DiagonalGaussian(mean, torch.exp(0.5 * log_var.clamp(-30.0, 20.0)))}
        if self.config.attributes:
            parts["attributes"] = Bernoulli(bit_logits, self.config.temperature)
        return Product(parts)

    def prior(self, n: int, labels: dict[str, Tensor] | None = None) -> Product:
        """N(0, I) x Ber(eta), hard bits."""
        device = self._device()
        parts = {"features": DiagonalGaussian.standard(n, self.config.latent_dim, device=device)}
        if self.config.attributes:
            eta = torch.tensor(self.config.prior_bit_probability, device=device)
            parts["attributes"] = Bernoulli(torch.logit(eta).expand(n, len(self.config.attributes)))
        return Product(parts)

    def hard_code(self, posterior: Product) -> Tensor:
        """The counterfactual-time code: the Gaussian mean and hard bits 1[pi > 0.5]."""
        values = [posterior.parts["features"].mean]
        if "attributes" in posterior.parts:
            values.append(posterior.parts["attributes"].hard())
        return torch.cat(values, 1)

    # --- losses -------------------------------------------------------------------------------
    def divergence_terms(self, batch: Batch, posterior: Product) -> dict[str, Tensor]:
        """Per-example KL(q(z_G|x) || N(0, I)) and BCE(y, pi) (eq. 3.5), in nats."""
        g = posterior.parts["features"]
        terms = {"kl": kl_normal(g.mean, g.scale).sum(1)}
        if self.config.attributes:
            if "attributes" not in batch.labels:
                raise ValueError("this model needs attribute labels: train it on an attribute dataset "
                                 "(celeba, mnist-attributes, shapes-attributes)")
            y, bits = batch.labels["attributes"].float(), posterior.parts["attributes"]
            terms["attribute_bce"] = F.binary_cross_entropy_with_logits(bits.logits, y, reduction="none").sum(1)
            terms["attribute_accuracy"] = ((bits.logits > 0).float() == y).float().mean(1)
        return terms

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        """Evaluation terms (nats per example): pixel reconstruction NLL, KL, attribute BCE and accuracy;
        loss = the negative ELBO plus lambda_B BCE."""
        terms = {"recon": self.reconstruction_nll(out.logits, batch.x), **self.divergence_terms(batch, out.posterior)}
        terms = {k: v.mean() for k, v in terms.items()}
        terms["loss"] = terms["recon"] + terms["kl"] + self.config.attribute_weight * terms.get("attribute_bce", 0.0)
        return terms

    def objectives(self, batch: Batch) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Algorithm 1: ({network: the loss it minimises}, detached terms to log) for one batch."""
        c, x = self.config, batch.x
        pixels = x[0].numel()
        with self.autocast():
            posterior = self.encode(batch)
            logits = self.decode_logits(posterior.rsample())
            div = self.divergence_terms(batch, posterior)
            divergence = div["kl"] + c.attribute_weight * div.get("attribute_bce", 0.0)
            terms = {k: v.mean() for k, v in div.items()}
            if not c.adversarial:
                recon = self.reconstruction_nll(logits, x)
                objectives = {"encoder": (recon + divergence).mean() / pixels, "generator": recon.mean() / pixels}
            else:
                objectives, recon, gan_terms = self._adversarial(x, logits, divergence, pixels)
                terms.update(gan_terms)
        # logged under its own name in feature space: eval/recon is always the pixel NLL
        terms["feature_recon" if c.reconstruction == "features" else "recon"] = recon.mean()
        terms["loss"] = objectives["encoder"] * pixels  # the encoder's objective, in nats per example
        terms["mse"] = pixel_mse(logits, x)
        return objectives, {k: v.detach() for k, v in terms.items()}

    def _adversarial(self, x: Tensor, logits: Tensor, divergence: Tensor, pixels: int):
        c = self.config
        prior_images = self.decode(self.prior(len(x)).rsample())
        fakes = torch.cat([image_mean(logits), prior_images])
        real_logit, real_features = self.discriminator(x)
        fake_logit, fake_features = self.discriminator(fakes)
        rec_logit, gen_logit = fake_logit.split(len(x))
        if c.reconstruction == "features":
            recon = 0.5 * (fake_features[: len(x)] - real_features).float().square().sum(1)
        else:
            recon = self.reconstruction_nll(logits, x)
        bce = F.binary_cross_entropy_with_logits
        real_cost = bce(real_logit, torch.ones_like(real_logit))
        fake_cost = bce(rec_logit, torch.zeros_like(rec_logit)) + bce(gen_logit, torch.zeros_like(gen_logit))
        if c.generator_loss == "non-saturating":
            fool = bce(rec_logit, torch.ones_like(rec_logit)) + bce(gen_logit, torch.ones_like(gen_logit))
        else:
            fool = -fake_cost
        d_on, g_on = self._equilibrium(real_cost.detach(), fake_cost.detach() / 2)
        objectives = {"encoder": (recon + divergence).mean() / pixels,
                      "generator": c.gamma * recon.mean() / pixels + g_on * fool,
                      "discriminator": d_on * (real_cost + fake_cost)}
        terms = {"d_real": real_cost, "d_fake": fake_cost / 2, "g_fool": fool,
                 "d_accuracy": torch.cat([real_logit > 0, fake_logit < 0]).float().mean()}
        return objectives, recon, terms

    def _equilibrium(self, real_cost: Tensor, fake_cost: Tensor) -> tuple[Tensor, Tensor]:
        """(1 or 0 for D's step, 1 or 0 for G's GAN term) without a host sync."""
        one = torch.ones((), device=real_cost.device)
        margin = self.config.equilibrium
        if margin is None:
            return one, one
        d_on = ((real_cost > EQUILIBRIUM_CENTRE - margin) & (fake_cost > EQUILIBRIUM_CENTRE - margin)).float()
        g_on = ((real_cost < EQUILIBRIUM_CENTRE + margin) & (fake_cost < EQUILIBRIUM_CENTRE + margin)).float()
        return d_on, g_on

    # --- training -----------------------------------------------------------------------------
    def networks(self) -> dict[str, Network]:
        c = self.config
        nets = {"encoder": Network(list(self.encoder.parameters()), "rmsprop", c.lr_encoder),
                "generator": Network(list(self.decoder.parameters()), "rmsprop", c.lr_generator)}
        if c.adversarial:
            nets["discriminator"] = Network(list(self.discriminator.parameters()), "rmsprop", c.lr_discriminator)
        return nets

    def training_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        objectives, terms = self.objectives(batch)
        self.update_each(objectives, optimizers)
        return terms


@register_model("cdvae-gan", "CDVAE-GAN (seed 001): Gaussian features + Bernoulli attribute latents + GAN; flip attributes")
class CDVAEGAN(VAEGAN):
    Config = CDVAEGANConfig
    needs_attributes = True


@register_model("cdvae", "seed 001's 'VAE' baseline: CDVAE-GAN's encoder and decoder with attribute latents, no GAN")
class CDVAE(VAEGAN):
    Config = CDVAEConfig
    needs_attributes = True
