"""The model contract shared by every autoencoder in cfae (DESIGN.md, 'The model contract')."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from pydantic import BaseModel as PydanticModel
from pydantic import ConfigDict, Field
from torch import Tensor, nn

from cfae.nn.divergences import kl_normal
from cfae.nn.likelihoods import check_likelihood, image_mean, reconstruction_nll
from cfae.nn.networks import NETWORKS, build_decoder, build_encoder


class ModelConfig(PydanticModel):
    """Fields every model has; each model's Config adds its own. Serialised to config.json."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str = ""
    input_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = Field(2, ge=1)
    network: str = "mlp"
    hidden: tuple[int, ...] | None = None
    likelihood: str = "bernoulli"
    gaussian_std: float = Field(1.0, gt=0)

    def model_post_init(self, _context) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f"unknown network {self.network!r}; valid choices: {', '.join(NETWORKS)}")
        check_likelihood(self.likelihood)


@dataclass
class Posterior:
    """q(z|x) = N(mean, scale^2) per dimension; scale None means a deterministic code."""

    mean: Tensor
    scale: Tensor | None = None

    def rsample(self) -> Tensor:
        if self.scale is None:
            return self.mean
        return self.mean + self.scale * torch.randn_like(self.scale)

    def kl_standard_normal(self) -> Tensor:
        """Per-example, per-dimension KL(q(z|x) || N(0, I)), shape (N, D)."""
        if self.scale is None:
            raise ValueError("a deterministic code has no KL to the prior")
        return kl_normal(self.mean, self.scale)


@dataclass
class ModelOutput:
    """What forward returns: the reconstruction logits, the code, and named scalar loss terms."""

    logits: Tensor
    z: Tensor
    posterior: Posterior
    terms: dict[str, Tensor] = field(default_factory=dict)

    @property
    def loss(self) -> Tensor:
        return self.terms["loss"]


@dataclass(frozen=True)
class LatentPart:
    """A named slice of the latent vector and its kind (gaussian, bernoulli, causal, deterministic)."""

    name: str
    kind: str
    dims: int


def pixel_mse(logits: Tensor, x: Tensor) -> Tensor:
    """Mean squared error per pixel of the image-space mean (detached): one reconstruction
    measure comparable across likelihoods, logged for every model."""
    return (image_mean(logits.detach().float()) - x).square().mean()


class BaseModel(nn.Module):
    """An encoder/decoder pair with a likelihood; subclasses define `posterior` use and loss terms.

    `encoder`/`decoder` may be passed in to use custom networks (they are then not rebuilt by
    `cfae.load`, which builds the configured ones). `step` is set by the trainer before each
    training step so that schedules (warm-up, capacity) can read it.
    """

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    stochastic: ClassVar[bool] = True

    def __init__(self, config: ModelConfig, encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        super().__init__()
        self.config = config
        c = config
        enc_out = 2 * c.latent_dim if self.stochastic else c.latent_dim
        self.encoder = encoder or build_encoder(c.network, c.input_shape, enc_out, c.hidden)
        self.decoder = decoder or build_decoder(c.network, c.latent_dim, c.input_shape, c.hidden)
        self.step = 0

    @property
    def latent_spec(self) -> tuple[LatentPart, ...]:
        kind = "gaussian" if self.stochastic else "deterministic"
        return (LatentPart("z", kind, self.config.latent_dim),)

    def encode(self, x: Tensor) -> Posterior:
        h = self.encoder(x)
        if not self.stochastic:
            return Posterior(h)
        mean, log_var = h.float().chunk(2, dim=1)
        return Posterior(mean, torch.exp(0.5 * log_var.clamp(-30.0, 20.0)))

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        """Image-space mean in [0, 1], same shape as x."""
        return image_mean(self.decode_logits(z))

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x).mean)

    def reconstruction_nll(self, logits: Tensor, x: Tensor) -> Tensor:
        """-log p(x|z) per example in nats (bernoulli or gaussian, from the config)."""
        return reconstruction_nll(logits, x, self.config.likelihood, self.config.gaussian_std)

    def loss_terms(self, x: Tensor, out: ModelOutput) -> dict[str, Tensor]:
        raise NotImplementedError

    def forward(self, x: Tensor) -> ModelOutput:
        posterior = self.encode(x)
        z = posterior.rsample() if self.training else posterior.mean
        out = ModelOutput(self.decode_logits(z), z, posterior)
        out.terms = self.loss_terms(x, out)
        out.terms["mse"] = pixel_mse(out.logits, x)
        return out

    def sample(self, n: int, device: torch.device | str | None = None) -> Tensor:
        """Decoded draws from the prior N(0, I)."""
        device = device or next(self.parameters()).device
        return self.decode(torch.randn(n, self.config.latent_dim, device=device))

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """One Adam over all parameters (fused kernels on CUDA); multi-optimiser models override this."""
        fused = next(self.parameters()).is_cuda
        return {"main": torch.optim.Adam(self.parameters(), lr=lr, fused=fused or None)}

    def training_step(self, x: Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        """One update; returns detached loss terms. Multi-phase models override this."""
        out = self(x)
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        return {k: v.detach() for k, v in out.terms.items()}
