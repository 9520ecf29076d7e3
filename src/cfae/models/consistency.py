"""X variants and consistency training for autoencoders (seed 003 sections 2.1-2.2, Appendix A.2).

An autoencoder class that mixes in `InterventionalModel` (AE, beta-VAE, SAE) gains two options:
  xblock        the explicit causal latent block between the code N (noise) and the decoder, which
                sees the causes Z = X(N) ("X" variants; cfae.nn.xblock)
  consistency   a penalty weighted by consistency_weight (4 in the seed) on the response map
                R = E o D at codes N of the batch (detached) under one hard intervention per row,
                do(N_m = v) with m uniform and v from the batch's marginal of N_m:
      invariance   L_INV = mean_k (1/n) sum_{i != m} (R(N)_i - R(N_I)_i)^2           ("XC-I", Algorithm 1)
      equivariance L_EQV = mean_k (1/n) sum_i ||X(N_I)_i - X(I(R(N_I)))_i||^2         ("XC-E", Algorithm 2)
    where R(.) is the posterior mean of the encoder on the decoded image and I(.) re-applies the
    intervention. One random (m, v) per row is an unbiased estimate of the seed's average over m.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from cfae.data.base import Batch, as_batch
from cfae.models.base import CauseInterventions, ModelConfig, ModelOutput
from cfae.nn.interventions import intervene_columns, off_dimension_error, random_single_interventions
from cfae.nn.likelihoods import image_mean
from cfae.nn.xblock import XBlock


class InterventionalConfig(ModelConfig):
    xblock: bool = Field(False, description="explicit causal latent block between code and decoder (X variants)")
    unit_dim: int = Field(1, ge=1, description="dimensions of each cause unit of the XBlock")
    xblock_hidden: int = Field(30, ge=1, description="hidden width of each mechanism f_i")
    mask_temperature: float = Field(0.5, gt=0, description="Gumbel-sigmoid temperature of the XBlock gates")
    xblock_residual: bool = Field(False, description="mechanisms Z_i = N_i + f_i(parents, N_i), near the identity at "
                                  "initialisation (the seed's Z_i = f_i(parents, N_i) when false)")
    consistency: Literal["none", "invariance", "equivariance"] = "none"
    consistency_weight: float = Field(4.0, ge=0, description="lambda_INV / lambda_EQV")

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        if self.unit_dim > 1 and not self.xblock:
            raise ValueError("unit_dim > 1 needs xblock: true (cause units live in the XBlock)")
        if self.xblock_residual and not self.xblock:
            raise ValueError("xblock_residual needs xblock: true (it is a form of the XBlock's mechanisms)")


class InterventionalModel(CauseInterventions):
    """Mixin placed before BaseModel: XBlock latent layer, do() on causes, consistency penalty."""

    def __init__(self, config: InterventionalConfig, encoder=None, decoder=None):
        super().__init__(config, encoder, decoder)
        c = config
        self.xblock = (XBlock(c.latent_dim, c.unit_dim, c.xblock_hidden, c.mask_temperature, c.xblock_residual)
                       if c.xblock else None)

    def decoded_dim(self) -> int:
        c = self.config
        return c.latent_dim * c.unit_dim if c.xblock else c.latent_dim

    @property
    def cause_names(self) -> list[str]:
        """Names of the cause units for intervene(): Z0 .. Z{n-1} (the codes themselves without an XBlock)."""
        return [f"Z{i}" for i in range(self.config.latent_dim)]

    def causes(self, codes: Tensor, do: dict[int, Tensor | float] | None = None) -> Tensor:
        """Z = X(N) (the codes when there is no XBlock), with do(Z_i = v) propagated to descendants."""
        if self.xblock is not None:
            return self.xblock(codes, do)
        return self.intervene_codes(codes, do) if do else codes

    def latent_layer(self, z: Tensor, batch: Batch | None = None) -> Tensor:
        return self.causes(z)

    def decode_from_causes(self, causes: Tensor) -> Tensor:
        return image_mean(self.decoder(causes))

    def response(self, codes: Tensor) -> Tensor:
        """R(N) = E(D(X(N))): the encoder's posterior mean of the decoded image."""
        return self.encode(self.decode(codes)).mean

    def consistency_penalty(self, codes: Tensor) -> Tensor:
        """L_INV or L_EQV (module docstring) at the detached codes of a batch."""
        codes = codes.detach()
        intervened, dims, values = random_single_interventions(codes)
        if self.config.consistency == "invariance":
            plain, changed = self.response(torch.cat([codes, intervened])).chunk(2)
            return off_dimension_error(plain, changed, dims).mean()
        target = self.causes(intervened)
        again = intervene_columns(self.response(intervened), dims, values)
        return (target - self.causes(again)).square().sum(1).mean() / codes.shape[1]

    def forward(self, batch: Batch | Tensor) -> ModelOutput:
        batch = as_batch(batch)
        out = super().forward(batch)
        c = self.config
        if c.consistency != "none":
            penalty = self.consistency_penalty(out.z)
            out.terms["consistency"] = penalty
            out.terms["loss"] = out.terms["loss"] + c.consistency_weight * penalty
        return out

