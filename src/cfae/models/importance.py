"""Importance weights of a latent-variable model, and the importance-weighted (IWAE) objective.

    log w = log p(x|z) + log p(z) - log q(z|x),   z ~ q(z|x)                       (Burda et al. 2016)
    L_K   = E log (1/K) sum_k w_k  <=  log p(x);   L_1 is the ELBO, L_K rises with K

Training on L_K (`importance_samples` K > 1) uses, with a KL weight beta (warm-up, beta-VAE), the
tempered weights log w^beta = log p(x|z) + beta (log p(z) - log q(z|x)); beta = 1 gives L_K itself.
Two gradient estimators of L_K for the encoder phi:
    iwae  the reparameterised gradient of L_K: sum_k w~_k d log w_k / d phi, w~ = softmax_k log w
    dreg  doubly reparameterised (Tucker et al. 2019): sum_k w~_k^2 (d log w_k / d z_k) (dz_k / d phi),
          log q taken with its parameters held fixed; unbiased, and its signal-to-noise ratio does
          not vanish as K grows (Rainforth et al. 2018). With tempered weights the factor w~_k^2
          becomes w~_k ((1 - beta) + beta w~_k), by the same identity. K = 1: the "sticking the
          landing" estimator (Roeder et al. 2017), whose gradient is zero at the exact posterior.
The decoder's gradient is sum_k w~_k d log w_k / d theta under both. "Held fixed" means log q_eta(z) with
its explicit dependence on the parameters eta removed and its dependence on z kept (the score-function
term Tucker et al. replace); for a chain q(z_L|x) prod q(z_i|z_i+1, x) that keeps the paths through the
parent z_i+1 into each conditional, and the rule holds for every parameter q reads, also those it
shares with p (the Ladder VAE's top-down networks): their gradient is the explicit d log p / d eta
weighted by w~ plus the path term weighted by w~^2.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from cfae.data.base import Batch
from cfae.models.base import ModelConfig
from cfae.nn.distributions import DiagonalGaussian, Distribution

class ImportanceWeightedConfig(ModelConfig):
    """The IWAE objective's settings, for models whose training loss is an ELBO."""

    importance_samples: int = Field(1, ge=1, description="K of the importance-weighted bound trained on "
                                    "(Burda et al. 2016); 1: the ELBO with its closed-form KL")
    iw_gradient: Literal["iwae", "dreg"] = Field("iwae", description="encoder gradient of the bound: iwae "
                                                 "(reparameterised) or dreg (doubly reparameterised, Tucker et al. 2019)")

    @property
    def importance_weighted(self) -> bool:
        """True when training uses importance_weighted_terms instead of the closed-form ELBO."""
        return self.importance_samples > 1 or self.iw_gradient == "dreg"


def log_mean_exp(values: Tensor, dim: int) -> Tensor:
    """log (1/K) sum_k exp(v_k), stable: max + log mean exp(v - max)."""
    top = values.max(dim, keepdim=True).values
    return (top + (values - top).exp().mean(dim, keepdim=True).log()).squeeze(dim)


def log_weights(model, batch: Batch) -> Tensor:
    """log w = log p(x|z) + log p(z) - log q(z|x) at one z ~ q(z|x) per row, shape (N,)."""
    posterior = model.encode(batch)
    z = posterior.rsample()
    log_px = -model.reconstruction_nll(model.decode_logits(z, batch), batch.x)
    return log_px + model.prior_of(batch).log_prob(z) - posterior.log_prob(z)


class _Calling(nn.Module):
    """Runs a function of `model` under torch.func.functional_call, which swaps the model's state."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, function):
        return function()


def held_fixed_log_probs(model, batch: Batch, posterior: Distribution, draws: list[Tensor]) -> Tensor:
    """log q(z_k | x) for each draw, shape (K, N), with q's parameters held fixed (module docstring):
    the gradient reaches the draws only. A diagonal Gaussian detaches its mean and scale; any other
    posterior (a chain of layers) is encoded again from x with every parameter detached and copies of the
    buffers (batch norm's running statistics stay as they were), and read at the draws."""
    if isinstance(posterior, DiagonalGaussian):
        fixed = DiagonalGaussian(posterior.mean.detach(), posterior.scale.detach())
        return torch.stack([fixed.log_prob(z) for z in draws])
    state = {f"model.{name}": p.detach() for name, p in model.named_parameters()}
    state.update({f"model.{name}": b.clone() for name, b in model.named_buffers()})

    def read_at_draws():
        density = model.encode(batch)
        return torch.stack([density.log_prob(z) for z in draws])

    return torch.func.functional_call(_Calling(model), state, (read_at_draws,))


def scale_gradients(draws: list[Tensor], factor: Tensor) -> None:
    """The gradient reaching draw z_k is multiplied by factor_k, row by row (dreg's second weight)."""
    for z, scale in zip(draws, factor):
        z.register_hook(lambda grad, scale=scale: grad * scale.unsqueeze(1))


@torch.compiler.disable  # run eagerly: dreg's gradient hooks are not traced
def importance_weighted_terms(model, batch: Batch, posterior: Distribution, prior: Distribution, k: int,
                              beta: Tensor | float = 1.0, gradient: str = "iwae") -> dict[str, Tensor]:
    """K fresh draws z_k ~ q(z|x) per row; returns `loss` = -L_K of the tempered weights (module
    docstring), whose gradient is the chosen estimator's, `recon` = the mean of -log p(x|z_k), and
    `neg_iw_bound` = -L_K of the untempered weights (the bound itself), each averaged over rows."""
    n = len(batch)
    draws = [posterior.rsample() for _ in range(k)]
    repeated = batch.select(torch.arange(n, device=batch.x.device).repeat(k))
    log_px = -model.reconstruction_nll(model.decode_logits(torch.cat(draws), repeated), repeated.x).view(k, n)
    log_q = (held_fixed_log_probs(model, batch, posterior, draws) if gradient == "dreg"
             else torch.stack([posterior.log_prob(z) for z in draws]))
    log_ratio = torch.stack([prior.log_prob(z) for z in draws]) - log_q
    tempered = log_px + beta * log_ratio
    bound = log_mean_exp(tempered, 0)
    loss = -bound.mean()
    if gradient == "dreg" and loss.requires_grad:  # no surrogate where no gradient is taken (evaluation)
        normalised = torch.softmax(tempered.detach(), 0)
        factor = (1 - beta) + beta * normalised
        scale_gradients(draws, factor)
        surrogate = -(normalised * tempered).sum(0).mean()
        loss = loss.detach() + surrogate - surrogate.detach()
    with torch.no_grad():
        neg_bound = -log_mean_exp(log_px + log_ratio, 0).mean()
    return {"loss": loss, "recon": -log_px.mean(), "neg_iw_bound": neg_bound}
