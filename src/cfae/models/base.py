"""The model contract shared by every autoencoder in cfae (DESIGN.md, 'The model contract').

    encode(batch)            -> posterior q(z | x) (a cfae.nn.distributions Distribution)
    prior(n, labels)         -> p(z), the model's own prior (conditional on labels, learned, hierarchical)
    latent_layer(z, batch)   -> the code the decoder sees (identity unless a model has a latent layer)
    decode_logits / decode   -> image-space logits / mean in [0, 1] of a code, through latent_layer
    forward(batch)           -> ModelOutput: logits, code, posterior, prior and named loss terms
    training_step(batch, optimizers) -> detached loss terms; several networks, phases and terms
                                that differ between steps are allowed; every update goes through
                                `update`, which lets the trainer all-reduce gradients across ranks
    intervene_codes(codes, do) / intervene(codes, do) -> codes / images after do(part = value)
    latent_spec              -> the named latent parts (kind, slice)
    networks()               -> named parameter groups, each with its default optimiser and lr
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import torch
from pydantic import BaseModel as PydanticModel
from pydantic import ConfigDict, Field, field_validator, model_validator
from torch import Tensor, nn

from cfae.data.base import Batch, as_batch
from cfae.nn.distributions import DiagonalGaussian, Distribution, PointMass, kl_divergence
from cfae.nn.likelihoods import check_likelihood, image_mean, reconstruction_nll
from cfae.nn.networks import NETWORKS, build_decoder, build_encoder
from cfae.registry import check_choices


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

    @model_validator(mode="before")
    @classmethod
    def _known_options(cls, values):
        """An option this model does not have is named with the ones it has (not pydantic's bare
        'extra inputs are not permitted')."""
        if isinstance(values, dict):
            model = values.get("name") or cls.__name__
            check_choices(f"{model} option", [k for k in values if k not in cls.model_fields], sorted(cls.model_fields))
        return values

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, hidden):
        if hidden is not None and (len(hidden) == 0 or min(hidden) < 1):
            raise ValueError(f"hidden must list one or more positive layer widths, got {list(hidden)}")
        return hidden

    def model_post_init(self, _context) -> None:
        check_choices("network", [self.network], NETWORKS)
        check_likelihood(self.likelihood)


@dataclass
class ModelOutput:
    """What forward returns: reconstruction logits, the decoded code, q(z|x), p(z) and loss terms."""

    logits: Tensor
    z: Tensor
    posterior: Distribution
    prior: Distribution | None = None
    terms: dict[str, Tensor] = field(default_factory=dict)

    @property
    def loss(self) -> Tensor:
        return self.terms["loss"]


@dataclass(frozen=True)
class LatentPart:
    """A named slice [start, start + dims) of the latent vector and its kind
    (gaussian, bernoulli, causal, deterministic, layer k)."""

    name: str
    kind: str
    dims: int
    start: int = 0

    @property
    def slice(self) -> slice:
        return slice(self.start, self.start + self.dims)


def latent_layout(*parts: tuple[str, str, int]) -> tuple[LatentPart, ...]:
    """LatentParts laid side by side from (name, kind, dims) triples."""
    out, start = [], 0
    for name, kind, dims in parts:
        out.append(LatentPart(name, kind, dims, start))
        start += dims
    return tuple(out)


@dataclass
class Network:
    """A group of parameters updated by one optimiser; optimizer/lr are defaults the run config may override."""

    parameters: list[nn.Parameter]
    optimizer: str = "adam"
    lr: float | None = None  # None: the run's --lr
    betas: tuple[float, float] | None = None  # Adam's (beta1, beta2); None: torch's (0.9, 0.999)


def pixel_mse(logits: Tensor, x: Tensor) -> Tensor:
    """Mean squared error per pixel of the image-space mean (detached): one reconstruction
    measure comparable across likelihoods, logged for every model."""
    return (image_mean(logits.detach().float()) - x).square().mean()


class BaseModel(nn.Module):
    """An encoder/decoder pair with a likelihood and a prior; subclasses add loss terms.

    `encoder`/`decoder` may be passed in to use custom networks (they are then not rebuilt by
    `cfae.load`, which builds the configured ones). The trainer calls `set_schedule` before each
    training step: `step` (schedules read it) and `kl_weight` (the KL warm-up of models whose
    `kl_warmup` is True). It also sets `autocast` (a context factory wrapped around forward passes
    only) and `before_step` (called with each optimiser between backward and its step: the gradient
    sum across ranks and gradient clipping, when either is on).
    """

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    stochastic: ClassVar[bool] = True
    kl_warmup: ClassVar[bool] = False  # True: the loss multiplies its KL term by kl_weight
    posterior_shares: ClassVar[tuple[str, ...]] = ()  # submodules q(z|x) shares with the prior p(z)

    def __init__(self, config: ModelConfig, encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        super().__init__()
        self.config = config
        c = config
        enc_out = 2 * c.latent_dim if self.stochastic else c.latent_dim
        self.encoder = encoder or build_encoder(c.network, c.input_shape, enc_out, c.hidden)
        self.decoder = decoder or build_decoder(c.network, self.decoded_dim(), c.input_shape, c.hidden)
        # Schedules as 0-d float32 buffers (out of the state dict): a compiled forward reads their
        # values instead of guarding on Python numbers, which would recompile it every step.
        self.register_buffer("step", torch.zeros(()), persistent=False)
        self.register_buffer("kl_weight", torch.ones(()), persistent=False)  # eq. 26's beta
        self.autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
        self.before_step: Callable[[torch.optim.Optimizer], None] | None = None

    # --- latent space -------------------------------------------------------------------------
    def decoded_dim(self) -> int:
        """Width of what the decoder takes: the code, or what a latent layer makes of it."""
        return self.config.latent_dim

    @property
    def latent_spec(self) -> tuple[LatentPart, ...]:
        return latent_layout(("z", "gaussian" if self.stochastic else "deterministic", self.config.latent_dim))

    def encode(self, batch: Batch | Tensor) -> Distribution:
        """q(z|x): a diagonal Gaussian from (mean, log variance), or a point for deterministic models."""
        h = self.encoder(as_batch(batch).x)
        if not self.stochastic:
            return PointMass(h)
        mean, log_var = h.float().chunk(2, dim=1)
        return DiagonalGaussian(mean, torch.exp(0.5 * log_var.clamp(-30.0, 20.0)))

    def prior(self, n: int, labels: dict[str, Tensor] | None = None) -> Distribution:
        """p(z) over n rows; N(0, I) unless a model states its own."""
        return DiagonalGaussian.standard(n, self.config.latent_dim, device=self._device())

    def prior_of(self, batch: Batch) -> Distribution:
        """p(z) for the rows of a batch (given its labels, if it has any)."""
        return self.prior(len(batch), batch.labels or None)

    def latent_layer(self, z: Tensor, batch: Batch | None = None) -> Tensor:
        """The code the decoder sees; models with a layer between sampling and decoding override it."""
        return z

    def decode_logits(self, z: Tensor, batch: Batch | None = None) -> Tensor:
        """Decoder output for codes z, after the latent layer."""
        return self.decoder(self.latent_layer(z, batch))

    def decode(self, z: Tensor, batch: Batch | None = None) -> Tensor:
        """Image-space mean in [0, 1], same shape as x."""
        return image_mean(self.decode_logits(z, batch))

    def reconstruct(self, x: Batch | Tensor) -> Tensor:
        batch = as_batch(x)
        return self.decode(self.encode(batch).mean, batch)

    # --- likelihood and loss ------------------------------------------------------------------
    def reconstruction_nll(self, logits: Tensor, x: Tensor) -> Tensor:
        """-log p(x|z) per example in nats (bernoulli or gaussian, from the config)."""
        return reconstruction_nll(logits, x, self.config.likelihood, self.config.gaussian_std)

    def posterior_draw(self, out: ModelOutput) -> Tensor:
        """A draw z ~ q(z|x) for each row of the batch: forward's own in training; a fresh one in eval,
        where out.z is the posterior mean (for losses that estimate q(z) from draws)."""
        return out.z if self.training else out.posterior.rsample()

    def kl(self, out: ModelOutput) -> Tensor:
        """Per-example KL(q(z|x) || p(z)) under the model's own prior (closed form or one-sample estimate)."""
        return kl_divergence(out.posterior, out.prior, out.z)

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        raise NotImplementedError

    def forward(self, batch: Batch | Tensor) -> ModelOutput:
        batch = as_batch(batch)
        posterior = self.encode(batch)
        z = posterior.rsample() if self.training else posterior.mean
        out = ModelOutput(self.decode_logits(z, batch), z, posterior, self.prior_of(batch))
        out.terms = self.loss_terms(batch, out)
        out.terms["mse"] = pixel_mse(out.logits, batch.x)
        return out

    @torch.no_grad()
    def sample(self, n: int, labels: dict[str, Tensor] | None = None, device=None) -> Tensor:
        """Decoded draws from the model's own prior (given labels for a conditional prior)."""
        if n < 1:
            raise ValueError(f"the number of samples must be positive, got {n}")
        return self.decode(self.prior(n, labels).rsample())

    # --- interventions ------------------------------------------------------------------------
    def intervene_codes(self, codes: Tensor, do: dict[str | int, float | Tensor]) -> Tensor:
        """Codes after do(part or index = value): values are replaced; models with structure
        (an SCM layer, an XBlock) override this to propagate the change to the children."""
        parts = {p.name: p for p in self.latent_spec}
        out = codes.clone()
        for key, value in do.items():
            if isinstance(key, str):
                if key not in parts:
                    raise KeyError(f"unknown latent part {key!r}; valid choices: {', '.join(parts)}")
                index = parts[key].slice
            elif 0 <= key < codes.shape[1]:
                index = key
            else:
                raise IndexError(f"latent index {key} out of range for {codes.shape[1]} dimensions")
            out[:, index] = torch.as_tensor(value, dtype=out.dtype, device=out.device)
        return out

    def intervene(self, codes: Tensor, do: dict[str | int, float | Tensor]) -> Tensor:
        """The decoded counterfactual of do(...) applied to codes."""
        return self.decode(self.intervene_codes(codes, do))

    # --- training -----------------------------------------------------------------------------
    def set_schedule(self, step: int, kl_weight: float = 1.0) -> None:
        """Write the global step and the KL warm-up weight into their buffers, in place."""
        self.step.fill_(step)
        self.kl_weight.fill_(kl_weight)

    def networks(self) -> dict[str, Network]:
        """Named parameter groups, one optimiser each; models with several networks override this."""
        return {"main": Network(list(self.parameters()))}

    def forward_pass(self, batch: Batch) -> ModelOutput:
        """self(batch) inside the trainer's autocast context (forward only, never backward)."""
        with self.autocast():
            return self(batch)

    def update(self, loss: Tensor, *optimizers: torch.optim.Optimizer) -> None:
        """zero_grad, one backward of loss, before_step (rank sum, clipping) if set, then a step of each optimiser."""
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer in optimizers:
            if self.before_step is not None:
                self.before_step(optimizer)
            optimizer.step()

    def update_each(self, losses: dict[str, Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Several networks, one loss each: every loss is backpropagated into the parameters of the
        optimiser of the same name only; all gradients are taken before any step (a simultaneous update)."""
        names = list(losses)
        for name in names:
            optimizers[name].zero_grad(set_to_none=True)
        for k, name in enumerate(names):
            params = [p for group in optimizers[name].param_groups for p in group["params"]]
            losses[name].backward(inputs=params, retain_graph=k < len(names) - 1)
        for name in names:
            if self.before_step is not None:
                self.before_step(optimizers[name])
            optimizers[name].step()

    def training_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        """One update; returns detached loss terms. Models with several networks or phases override this."""
        out = self.forward_pass(batch)
        self.update(out.loss, optimizers["main"])
        return {k: v.detach() for k, v in out.terms.items()}

    def _device(self) -> torch.device:
        return next(self.parameters()).device


class CauseInterventions:
    """Mixin for models whose decoder reads causes computed from the codes (the XBlock's Z, CausalVAE's
    concept latents). They define cause_names, causes(codes, do) and decode_from_causes(causes)."""

    def intervene(self, codes: Tensor, do: dict[str | int, float | Tensor]) -> Tensor:
        """Decoded do(): keys naming causes act on the causes (children follow); other keys act on the codes."""
        names = self.cause_names
        on_causes = {names.index(k): v for k, v in do.items() if isinstance(k, str) and k in names}
        on_codes = {k: v for k, v in do.items() if not (isinstance(k, str) and k in names)}
        codes = self.intervene_codes(codes, on_codes) if on_codes else codes
        return self.decode_from_causes(self.causes(codes, on_causes))
