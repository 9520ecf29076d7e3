"""Counterfactual Autoencoder (seed 000, sections 4-4.3): a Gaussian encoder whose codes are
re-estimated by a ShRB ensemble and pulled towards that "counterfactual Gaussian" version.

Per minibatch, three phases (seed section 4, "The network trains in three steps"):
  1. reconstruction: encoder + decoder minimise -log p(x|z) (L2 by default) with Adam;
  2. ShRB: the learners fit the detached targets (batch percentiles of z_C, each learner on its
     own bootstrap resample of the minibatch);
  3. counterfactual: the encoder minimises sum_k KL(N(mu_C,k, s_C,k^2) || N(mu_T,k, s_T,k^2))
     with the ShRB estimate z_T detached (option: the squared difference of eq. 13).
There is no KL to N(0, I); samples are drawn from N(0, I). docs/models/counterfactual_ae.md gives
the seed sentence behind each choice.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from cfae.data.base import Batch
from cfae.models.base import BaseModel, ModelConfig, ModelOutput, Network, pixel_mse
from cfae.models.registry import register_model
from cfae.nn.divergences import kl_normal
from cfae.nn.shrb import ShRBEnsemble, batch_percentiles, bootstrap_counts, normal_cdf


class CounterfactualAEConfig(ModelConfig):
    likelihood: str = "gaussian"
    shrb_learners: int = Field(10, ge=2, description="B learners per latent dimension")
    shrb_hidden: int = Field(16, ge=1)
    shrb_feature_fraction: float = Field(1 / 3, gt=0, le=1, description="each learner sees floor(F * this) features")
    shrb_features: Literal["pixels", "encoder"] = "pixels"
    shrb_target: Literal["percentile", "standardised"] = "percentile"
    shrb_aggregation: Literal["z", "p"] = "z"
    shrb_bootstrap: bool = True
    shrb_lr: float = Field(1e-3, gt=0)
    shrb_seed: int = 0
    z_c: Literal["mean", "sample"] = "mean"
    counterfactual_loss: Literal["kl", "squared"] = "kl"
    min_target_scale: float = Field(0.01, gt=0, description="floor on sigma_T")


@register_model("counterfactual-ae", "Counterfactual Autoencoder: ShRB ensembles + counterfactual loss (seed 000)")
class CounterfactualAE(BaseModel):
    Config = CounterfactualAEConfig

    def __init__(self, config: CounterfactualAEConfig, encoder=None, decoder=None):
        super().__init__(config, encoder, decoder)
        probe = torch.zeros(2, *config.input_shape)
        with torch.no_grad():
            in_features = self.shrb_inputs(probe).shape[1]
        self.shrb = ShRBEnsemble(in_features, config.latent_dim, config.shrb_learners, config.shrb_hidden,
                                 config.shrb_feature_fraction, config.shrb_seed)

    def shrb_inputs(self, x: Tensor) -> Tensor:
        """What the learners see: flattened pixels, or the encoder's last hidden layer (detached)."""
        if self.config.shrb_features == "pixels":
            return x.flatten(1)
        return self.encoder.hidden_features(x).detach()

    def shrb_targets(self, z_c: Tensor) -> Tensor:
        """Target percentiles: batch empirical CDF of z_C, or Phi of the batch-standardised z_C."""
        if self.config.shrb_target == "percentile":
            return batch_percentiles(z_c)
        return normal_cdf((z_c - z_c.mean(0)) / z_c.std(0).clamp_min(1e-6))

    def counterfactual_loss(self, posterior, x: Tensor) -> Tensor:
        """Phase 3: sum_k KL(q_C,k || N(mu_T,k, s_T,k^2)) (or (mu_C - mu_T)^2), batch mean; z_T detached."""
        c = self.config
        with torch.no_grad():
            mu_t, sigma_t = self.shrb.gaussian(self.shrb_inputs(x), c.shrb_aggregation, c.min_target_scale)
        if c.counterfactual_loss == "squared" or posterior.scale is None:
            return (posterior.mean - mu_t).square().sum(1).mean()
        return kl_normal(posterior.mean, posterior.scale, mu_t, sigma_t).sum(1).mean()

    def code(self, posterior) -> Tensor:
        return posterior.mean if self.config.z_c == "mean" else posterior.rsample()

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        x = batch.x
        recon = self.reconstruction_nll(out.logits, x).mean()
        inputs = self.shrb_inputs(x)
        shrb = self.shrb.fit_loss(inputs, self.shrb_targets(self.code(out.posterior).detach()))
        counterfactual = self.counterfactual_loss(out.posterior, x)
        return {"loss": recon + counterfactual, "recon": recon, "shrb": shrb, "counterfactual": counterfactual}

    def networks(self) -> dict[str, Network]:
        ae = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {"autoencoder": Network(ae), "shrb": Network(list(self.shrb.parameters()), lr=self.config.shrb_lr),
                "encoder": Network(list(self.encoder.parameters()))}

    def training_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        x = batch.x
        # Phase 1: reconstruction.
        with self.autocast():
            posterior = self.encode(x)
            logits = self.decode_logits(posterior.rsample())
            recon = self.reconstruction_nll(logits, x).mean()
        self.update(recon, optimizers["autoencoder"])
        # Phase 2: fit the ShRB learners to the detached targets, each on its bootstrap resample.
        with torch.no_grad(), self.autocast():
            z_c = self.code(self.encode(x))
            inputs = self.shrb_inputs(x)
        counts = bootstrap_counts(self.shrb.total, len(x), x.device) if self.config.shrb_bootstrap else None
        with self.autocast():
            shrb = self.shrb.fit_loss(inputs, self.shrb_targets(z_c), counts)
        self.update(shrb, optimizers["shrb"])
        # Phase 3: pull the encoder towards the counterfactual Gaussian.
        with self.autocast():
            counterfactual = self.counterfactual_loss(self.encode(x), x)
        self.update(counterfactual, optimizers["encoder"])
        terms = {"recon": recon, "shrb": shrb, "counterfactual": counterfactual}
        terms = {"loss": (recon + counterfactual).detach(), **{k: v.detach() for k, v in terms.items()}}
        return {**terms, "mse": pixel_mse(logits, x)}
