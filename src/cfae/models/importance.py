"""Importance weights of a latent-variable model, and the importance-weighted (IWAE) objective.

    log w = log p(x|z) + log p(z) - log q(z|x),   z ~ q(z|x)                       (Burda et al. 2016)
    L_K   = E log (1/K) sum_k w_k  <=  log p(x);   L_1 is the ELBO, L_K rises with K

Training on L_K (`importance_samples` K > 1) uses, with a KL weight beta (warm-up, beta-VAE), the
tempered weights log w^beta = log p(x|z) + beta (log p(z) - log q(z|x)); beta = 1 gives L_K itself.
Gradient estimators of L_K for the encoder phi (iw_gradient):
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
weighted by w~ plus the path term weighted by w~^2. That decouples the scores of p and q, which cancel
draw by draw in the plain gradient where q follows p, and the shared networks' gradient gets noisier
(docs/results.md). So a third estimator:
    dreg-unshared  dreg's rule for the parameters only q reads, iwae's for those q shares with p
          (model.posterior_shares): each draw is z_k = a_k + b_k - a_k (values), a_k drawn with the
          shared parameters detached and b_k with the others detached, from one noise; only a_k's
          gradient takes the second weight, and log q is held fixed in q's own parameters only.
          Without shared parameters it is dreg.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from cfae.data.base import Batch
from cfae.models.base import ModelConfig
from cfae.nn.distributions import Chain, DiagonalGaussian, Distribution

class ImportanceWeightedConfig(ModelConfig):
    """The IWAE objective's settings, for models whose training loss is an ELBO."""

    importance_samples: int = Field(1, ge=1, description="K of the importance-weighted bound trained on "
                                    "(Burda et al. 2016); 1: the ELBO with its closed-form KL")
    iw_gradient: Literal["iwae", "dreg", "dreg-unshared"] = Field(
        "iwae", description="encoder gradient of the bound: iwae (reparameterised), dreg (doubly reparameterised, "
        "Tucker et al. 2019) or dreg-unshared (dreg for the parameters only q reads, iwae for those it shares with p)")

    @property
    def importance_weighted(self) -> bool:
        """True when training uses importance_weighted_terms instead of the closed-form ELBO."""
        return self.importance_samples > 1 or self.iw_gradient != "iwae"


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


def shared_with_prior(model, name: str) -> bool:
    """Whether parameter `name` belongs to a submodule q(z|x) shares with the prior (posterior_shares)."""
    return name.split(".")[0] in model.posterior_shares


def _state(model, detached) -> dict[str, Tensor]:
    """The model's parameters for functional_call, those named by detached(name) detached, and copies
    of its buffers (batch norm's running statistics stay as they were)."""
    state = {f"model.{name}": p.detach() if detached(name) else p for name, p in model.named_parameters()}
    state.update({f"model.{name}": b.clone() for name, b in model.named_buffers()})
    return state


def _under(model, state: dict[str, Tensor], function):
    return torch.func.functional_call(_Calling(model), state, (function,))


def held_fixed_log_probs(model, batch: Batch, posterior: Distribution, draws: list[Tensor]) -> Tensor:
    """log q(z_k | x) for each draw, shape (K, N), with q's parameters held fixed (module docstring):
    the gradient reaches the draws only. A diagonal Gaussian detaches its mean and scale; any other
    posterior (a chain of layers) is encoded again from x under the detached parameters and read at
    the draws."""
    if isinstance(posterior, DiagonalGaussian):
        fixed = DiagonalGaussian(posterior.mean.detach(), posterior.scale.detach())
        return torch.stack([fixed.log_prob(z) for z in draws])

    def read_at_draws():
        density = model.encode(batch)
        return torch.stack([density.log_prob(z) for z in draws])

    return _under(model, _state(model, lambda name: True), read_at_draws)


def draws_apart(model, batch: Batch, posterior: Chain, k: int) -> tuple[list[Tensor], list[Tensor], Tensor]:
    """K draws z_k = a_k + b_k - a_k.detach() of a chain posterior (dreg-unshared), each from one noise:
    a_k encoded with the shared parameters detached, b_k with the others detached, so q's own
    parameters get their gradient through a_k and the shared ones through b_k. log q(z_k | x) is read
    in b's graph, where it is held fixed in q's own parameters and live in the shared ones. Returns
    (z, a, log q) with log q of shape (K, N)."""
    n, dims = len(batch), dict(posterior.layout)
    noises = [{name: torch.randn(n, dims[name], device=batch.x.device) for name, _ in posterior.steps}
              for _ in range(k)]

    def draw_own():
        density = model.encode(batch)
        return [density.reparameterised(noise) for noise in noises]

    own = _under(model, _state(model, lambda name: shared_with_prior(model, name)), draw_own)

    def draw_and_read_shared():
        density = model.encode(batch)
        draws = [a + density.reparameterised(noise) - a.detach() for a, noise in zip(own, noises)]
        return draws, torch.stack([density.log_prob(z) for z in draws])

    draws, log_q = _under(model, _state(model, lambda name: not shared_with_prior(model, name)), draw_and_read_shared)
    return draws, own, log_q


def scale_gradients(draws: list[Tensor], factor: Tensor) -> None:
    """The gradient reaching draw z_k is multiplied by factor_k, row by row (dreg's second weight)."""
    for z, scale in zip(draws, factor):
        z.register_hook(lambda grad, scale=scale: grad * scale.unsqueeze(1))


def tracked_batch_norms(model: nn.Module) -> list[nn.Module]:
    """The model's batch-norm layers that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@contextmanager
def running_statistics_kept(model: nn.Module):
    """Batch norm's running statistics (and batch counts) as they were before the block. The K draws
    of an importance-weighted step normalise by their batch statistics, but update the running ones
    (what evaluation uses) only through the step's single-sample pass: otherwise a network on the
    latent path updates them once per draw, so they average over the last step or two instead of
    ~1 / momentum steps."""
    norms = tracked_batch_norms(model)
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in norms]
    try:
        yield
    finally:  # through .data, as batch norm's own update does: the graph saved these tensors, unread in training
        for m, (mean, var, count) in zip(norms, saved):
            m.running_mean.data.copy_(mean)
            m.running_var.data.copy_(var)
            m.num_batches_tracked.data.copy_(count)


@torch.compiler.disable  # run eagerly: dreg's gradient hooks are not traced
def importance_weighted_terms(model, batch: Batch, posterior: Distribution, prior: Distribution, k: int,
                              beta: Tensor | float = 1.0, gradient: str = "iwae") -> dict[str, Tensor]:
    """K fresh draws z_k ~ q(z|x) per row; returns `loss` = -L_K of the tempered weights (module
    docstring), whose gradient is the chosen estimator's, `recon` = the mean of -log p(x|z_k), and
    `neg_iw_bound` = -L_K of the untempered weights (the bound itself), each averaged over rows. Batch
    norm's running statistics are left as the step's single-sample pass set them (running_statistics_kept)."""
    with running_statistics_kept(model):
        return _weighted_terms(model, batch, posterior, prior, k, beta, gradient)


def _weighted_terms(model, batch: Batch, posterior: Distribution, prior: Distribution, k: int,
                    beta: Tensor | float, gradient: str) -> dict[str, Tensor]:
    n = len(batch)
    unshared = gradient == "dreg-unshared" and bool(model.posterior_shares)
    if unshared:
        draws, weighted, log_q = draws_apart(model, batch, posterior, k)
    else:
        draws = weighted = [posterior.rsample() for _ in range(k)]
        log_q = (torch.stack([posterior.log_prob(z) for z in draws]) if gradient == "iwae"
                 else held_fixed_log_probs(model, batch, posterior, draws))
    repeated = batch.select(torch.arange(n, device=batch.x.device).repeat(k))
    log_px = -model.reconstruction_nll(model.decode_logits(torch.cat(draws), repeated), repeated.x).view(k, n)
    log_ratio = torch.stack([prior.log_prob(z) for z in draws]) - log_q
    tempered = log_px + beta * log_ratio
    bound = log_mean_exp(tempered, 0)
    loss = -bound.mean()
    if gradient != "iwae" and loss.requires_grad:  # no surrogate where no gradient is taken (evaluation)
        normalised = torch.softmax(tempered.detach(), 0)
        factor = (1 - beta) + beta * normalised
        scale_gradients(weighted, factor)
        surrogate = -(normalised * tempered).sum(0).mean()
        loss = loss.detach() + surrogate - surrogate.detach()
    with torch.no_grad():
        neg_bound = -log_mean_exp(log_px + log_ratio, 0).mean()
    return {"loss": loss, "recon": -log_px.mean(), "neg_iw_bound": neg_bound}
