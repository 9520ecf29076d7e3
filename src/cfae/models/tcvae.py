"""beta-TCVAE (Chen et al. 2018): the VAE's KL split into its three sources, each with its own weight,

    loss = -log p(x|z) + alpha I(x; z) + beta KL(q(z) || prod_d q(z_d)) + gamma sum_d KL(q(z_d) || p(z_d))

(eq. 2 and 4), the aggregate posterior q(z) estimated on the minibatch by stratified (mss, default) or
weighted (mws) sampling (cfae.nn.divergences.kl_decomposition). alpha = beta = gamma = 1 is the VAE's
objective with a sampled KL; beta > 1 penalises only the total correlation (TC) between dimensions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor

from cfae.data.base import Batch
from cfae.models.base import BaseModel, ModelOutput
from cfae.models.consistency import InterventionalConfig, InterventionalModel
from cfae.models.registry import register_model
from cfae.nn.divergences import kl_decomposition


class BetaTCVAEConfig(InterventionalConfig):
    alpha: float = Field(1.0, ge=0, description="weight of the index-code mutual information I(x; z)")
    beta: float = Field(6.0, ge=0, description="weight of the total correlation (6: disentangling-vae's batchTC_B)")
    gamma: float = Field(1.0, ge=0, description="weight of the dimension-wise KL to the prior")
    estimator: Literal["mss", "mws"] = Field("mss", description="q(z) from minibatch stratified (mss) or weighted "
                                             "(mws) sampling (Chen et al. 2018, section 4.1 and appendix C.1)")
    dataset_size: int | None = Field(None, ge=1, description="N, the number of training examples the batches "
                                     "are drawn from; `cfae train` fills it in")


@register_model("beta-tcvae", "beta-TCVAE: the KL split into mutual information, total correlation and "
                "dimension-wise KL, each weighted (alpha, beta, gamma)")
class BetaTCVAE(InterventionalModel, BaseModel):
    """Gaussian encoder, N(0, I) prior, the loss of the module docstring; warm-up scales all three terms."""

    Config = BetaTCVAEConfig
    kl_warmup = True
    takes_dataset_size = True

    def loss_terms(self, batch: Batch, out: ModelOutput) -> dict[str, Tensor]:
        c: BetaTCVAEConfig = self.config
        if c.dataset_size is None:
            raise ValueError("beta-tcvae needs dataset_size, the number of training examples (`cfae train` "
                             "sets it; in Python pass dataset_size=len(train) to build_model)")
        posterior = out.posterior
        z = self.posterior_draw(out)
        parts = {name: value.mean() for name, value in
                 kl_decomposition(z.float(), posterior.mean, posterior.scale, c.dataset_size, c.estimator).items()}
        recon = self.reconstruction_nll(out.logits, batch.x).mean()
        weighted = (c.alpha * parts["mutual_information"] + c.beta * parts["total_correlation"]
                    + c.gamma * parts["dimension_kl"])
        return {"loss": recon + self.kl_weight * weighted, "recon": recon, "kl": self.kl(out).mean(), **parts}
