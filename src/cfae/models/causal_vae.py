"""CausalVAE (Yang et al. 2021; seed 004's slides; reference section D).

The encoder gives exogenous codes eps (k concepts x d dims each); q(eps | x) = N(mu(x), I) (the
reference fixes the posterior variance to one). The causal layers (cfae.nn.dag) turn them into
concept latents:

    z  = (I - A^T)^{-1} mu                    linear SCM, per latent dimension
    z~ = g(A^T z) + mu                        mask layer, one small MLP g_i per concept
    x  ~ Bernoulli(mean_i D_i(z~_i + s))      one decoder per concept, logits averaged; s ~ N(0, lambda I)
                                              in training (lambda = decoder_noise, 0.001 in the reference)

Loss, with u the standardised concept labels, (u_i - loc_i) / scale_i:
    -log p(x | z~) + alpha KL(q(eps|x) || N(0, I)) + beta sum_i KL(N(z_i, I) || N(u_i, I))      (ELBO, eq. 9)
    + sum_i KL(N(z~_i, I) || N(u_i, I)) + ||g_u(A^T u) - u||^2 / k                             (l_m, l_u)
    + 3 h(A) + 0.5 h(A)^2                                                                       (acyclicity)
CausalVAE-unsup (`supervised: false`) has no labels: p(z) = N(0, I) replaces p(z | u) and l_u is dropped.

do(concept i = c) sets z_i = c with its parents cut, recomputes the descendants through the SCM,
and keeps z~_i = c after the mask layer, so the children of i see c and the decoder of i draws c.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from cfae.data.base import Batch, as_batch
from cfae.data.pendulum import CONCEPT_STANDARDISATION, CONCEPTS
from cfae.models.base import BaseModel, CauseInterventions, ModelConfig, ModelOutput, latent_layout, pixel_mse
from cfae.models.registry import register_model
from cfae.nn.dag import ConceptMLPs, dag_constraint, linear_scm, parent_inputs
from cfae.nn.distributions import DiagonalGaussian
from cfae.nn.likelihoods import image_mean
from cfae.nn.networks import build_decoder, build_encoder

# Edges of the reference's optional initialisation (DagLayer initial=True), [parent, child].
REFERENCE_INIT_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3))


class CausalVAEConfig(ModelConfig):
    concepts: tuple[str, ...] = Field(CONCEPTS, min_length=1, description="label names of the causal concepts")
    concept_dim: int = Field(4, ge=1, description="latent dimensions of each concept")
    concept_loc: tuple[float, ...] = Field(tuple(CONCEPT_STANDARDISATION[c][0] for c in CONCEPTS))
    concept_scale: tuple[float, ...] = Field(tuple(CONCEPT_STANDARDISATION[c][1] for c in CONCEPTS))
    supervised: bool = Field(True, description="false: CausalVAE-unsup (no labels, N(0, I) prior, no l_u)")
    alpha: float = Field(0.3, ge=0, description="weight of KL(q(eps|x) || N(0, I))")
    beta: float = Field(1.0, ge=0, description="weight of the conditional-prior KL on z")
    dag_weight: float = Field(3.0, ge=0, description="weight of h(A)")
    dag_square_weight: float = Field(0.5, ge=0, description="weight of h(A)^2")
    decoder_noise: float = Field(0.001, ge=0, description="variance of the noise added to z~ before decoding (training)")
    mask_hidden: int = Field(32, ge=1)
    dag_init: Literal["zeros", "reference"] = Field("zeros", description="A at start: no edges, or the reference's 5")

    @model_validator(mode="before")
    @classmethod
    def _latent_dim_is_concepts_times_dim(cls, values: dict) -> dict:
        k = len(values.get("concepts", CONCEPTS))
        total = k * values.get("concept_dim", 4)
        given = values.get("latent_dim")
        if given is not None and given != total:
            raise ValueError(f"latent_dim {given} must equal concepts x concept_dim ({total}); leave it out")
        return {**values, "latent_dim": total}

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        k = len(self.concepts)
        if len(self.concept_loc) != k or len(self.concept_scale) != k:
            raise ValueError(f"concept_loc and concept_scale need one value per concept ({k}), "
                             f"got {len(self.concept_loc)} and {len(self.concept_scale)}")
        if min(self.concept_scale) <= 0:
            raise ValueError(f"concept_scale must be positive, got {list(self.concept_scale)}")
        if self.dag_init == "reference" and k != 4:
            raise ValueError("dag_init 'reference' is the pendulum's 4-concept start; use 'zeros'")


def initial_edge_weights(config: CausalVAEConfig) -> Tensor:
    """A at the start of training, [parent, child]: zeros, or the reference's 5 edges at 1."""
    k = len(config.concepts)
    start = torch.zeros(k, k)
    if config.dag_init == "reference":
        for parent, child in REFERENCE_INIT_EDGES:
            start[parent, child] = 1.0
    return start


class ConceptDecoders(nn.Module):
    """One decoder per concept from its d latent dimensions; the image logits are their mean."""

    def __init__(self, config: CausalVAEConfig):
        super().__init__()
        c = config
        self.dim = c.concept_dim
        self.decoders = nn.ModuleList(build_decoder(c.network, c.concept_dim, c.input_shape, c.hidden) for _ in c.concepts)

    def forward(self, concept_latents: Tensor) -> Tensor:
        parts = concept_latents.reshape(len(concept_latents), len(self.decoders), self.dim).unbind(1)
        return torch.stack([decoder(part) for decoder, part in zip(self.decoders, parts)]).mean(0)


@register_model("causalvae", "CausalVAE: linear SCM + mask layer over concept latents, label-conditional prior (Yang et al. 2021)")
class CausalVAE(CauseInterventions, BaseModel):
    Config = CausalVAEConfig
    takes_concepts: ClassVar[bool] = True  # a run on a dataset with a known mechanism fills concepts from it

    def __init__(self, config: CausalVAEConfig):
        c = config  # the encoder gives the means only: q(eps | x) has unit variance
        super().__init__(c, build_encoder(c.network, c.input_shape, c.latent_dim, c.hidden), ConceptDecoders(c))
        k = len(config.concepts)
        self.edge_weights = nn.Parameter(initial_edge_weights(config))  # A[parent, child] off the diagonal (see adjacency)
        self.mask = ConceptMLPs(k, config.concept_dim, config.mask_hidden)
        self.label_mask = ConceptMLPs(k, 1, config.mask_hidden)
        self.register_buffer("loc", torch.tensor(config.concept_loc), persistent=False)
        self.register_buffer("scale", torch.tensor(config.concept_scale), persistent=False)
        self.register_buffer("off_diagonal", 1 - torch.eye(k), persistent=False)

    @property
    def adjacency(self) -> Tensor:
        """A[parent, child]: the edge weights with the diagonal held at zero (a DAG has no self-loops,
        and a self-loop would let g_i read concept i itself)."""
        return self.edge_weights * self.off_diagonal

    # --- latents ------------------------------------------------------------------------------
    @property
    def latent_spec(self):
        c = self.config
        return latent_layout(*((f"eps_{name}", "gaussian", c.concept_dim) for name in c.concepts))

    @property
    def cause_names(self) -> list[str]:
        return list(self.config.concepts)

    def _grouped(self, codes: Tensor) -> Tensor:
        return codes.reshape(len(codes), len(self.config.concepts), self.config.concept_dim)

    def encode(self, batch: Batch | Tensor) -> DiagonalGaussian:
        mean = self.encoder(as_batch(batch).x).float()
        return DiagonalGaussian(mean, torch.ones_like(mean))

    def scm(self, codes: Tensor, do: dict[int, Tensor | float] | None = None) -> Tensor:
        """z = (I - A^T)^{-1} eps (N, k, d), with do() on concepts (cfae.nn.dag.linear_scm)."""
        return linear_scm(self._grouped(codes), self.adjacency, do)

    def concept_latents(self, codes: Tensor, do: dict[int, Tensor | float] | None = None) -> tuple[Tensor, Tensor]:
        """(z, z~), both (N, k, d): the SCM's output and the mask layer's z~ = g(A^T z) + eps, where
        intervened concepts keep their value."""
        adjacency = self.adjacency
        z = linear_scm(self._grouped(codes), adjacency, do)
        out = self.mask(parent_inputs(z, adjacency)) + self._grouped(codes)
        for i in do or {}:
            out[:, i] = z[:, i]
        return z, out

    def causes(self, codes: Tensor, do: dict[int, Tensor | float] | None = None) -> Tensor:
        """Concept latents z~ flattened (N, k d), with do() on concepts."""
        return self.concept_latents(codes, do)[1].flatten(1)

    def latent_layer(self, z: Tensor, batch: Batch | None = None) -> Tensor:
        return self.causes(z)

    def decode_from_causes(self, causes: Tensor) -> Tensor:
        return image_mean(self.decoder(causes))

    def standardised_labels(self, batch: Batch) -> Tensor:
        """u (N, k): each concept label (u_i - loc_i) / scale_i."""
        missing = [name for name in self.config.concepts if name not in batch.labels]
        if missing:
            raise ValueError(f"CausalVAE needs the concept labels {', '.join(missing)}; the batch has "
                             f"{', '.join(sorted(batch.labels)) or 'none'} (train it on pendulum or morpho-scm, or set concepts)")
        u = torch.stack([batch.labels[name].float() for name in self.config.concepts], 1)
        return (u - self.loc) / self.scale

    # --- loss ---------------------------------------------------------------------------------
    def label_loss(self, u: Tensor) -> Tensor:
        """l_u = mean ||g_u(A^T u) - u||^2 over concepts: each standardised label from its parents' labels."""
        return self.label_errors(u).mean()

    def label_errors(self, u: Tensor, adjacency: Tensor | None = None) -> Tensor:
        """l_u per concept (k,): the mean over rows of (g_u,i(A_i^T u) - u_i)^2, with the model's A
        unless another adjacency is given (benchmarks/causal_graph_identifiability.py fixes it)."""
        target = u[:, :, None]
        adjacency = self.adjacency if adjacency is None else adjacency
        return (self.label_mask(parent_inputs(target, adjacency)) - target).square().mean((0, 2))

    def acyclicity_penalty(self) -> tuple[Tensor, Tensor]:
        """(h(A), dag_weight h + dag_square_weight h^2): the DAG constraint and its penalty."""
        h = dag_constraint(self.adjacency)
        return h, self.config.dag_weight * h + self.config.dag_square_weight * h * h

    def forward(self, batch: Batch | Tensor) -> ModelOutput:
        batch = as_batch(batch)
        c: CausalVAEConfig = self.config
        posterior = self.encode(batch)
        codes = posterior.mean
        z, concept = self.concept_latents(codes)
        decoded = concept
        if self.training and c.decoder_noise > 0:
            decoded = concept + c.decoder_noise**0.5 * torch.randn_like(concept)
        logits = self.decoder(decoded.flatten(1))
        out = ModelOutput(logits, codes, posterior, self.prior(len(codes)))
        u = self.standardised_labels(batch) if c.supervised else torch.zeros(len(codes), len(c.concepts), device=codes.device)
        target = u[:, :, None]  # p(z_i | u) = N(u_i 1, I)
        recon = self.reconstruction_nll(logits, batch.x).mean()
        kl_eps = self.kl(out).mean()  # KL(N(mu, I) || N(0, I))
        kl_z = 0.5 * (z - target).square().sum((1, 2)).mean()
        mask_kl = 0.5 * (concept - target).square().sum((1, 2)).mean()
        h, penalty = self.acyclicity_penalty()
        terms = {"recon": recon, "kl_eps": kl_eps, "kl_z": kl_z, "mask_kl": mask_kl, "h_A": h,
                 "mse": pixel_mse(logits, batch.x)}
        loss = recon + c.alpha * kl_eps + c.beta * kl_z + mask_kl + penalty
        if c.supervised:
            terms["label_loss"] = self.label_loss(u)
            loss = loss + terms["label_loss"]
        out.terms = {"loss": loss, **terms}
        return out

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        return out.terms
