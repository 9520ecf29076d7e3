"""Test-set ELBO and the importance-weighted likelihood bound, in nats per example, each named for
what it is (a likelihood of binary data, a density of grey levels, or a cross-entropy that is
neither): numbers of different kinds must never share a column."""

from __future__ import annotations

import torch

from cfae.data.base import ImageDataset
from cfae.models.importance import log_mean_exp, log_weights
from cfae.nn.distributions import kl_divergence
from cfae.rng import seeded


def is_binary(data: ImageDataset, rows: int = 2000) -> bool:
    """True when every pixel (of the first rows) is exactly 0 or 1."""
    x = data.pixels(slice(0, rows))
    return bool(((x == 0) | (x == 1)).all())


def bernoulli_entropy_floor(data: ImageDataset, batch_size: int = 1000) -> float:
    """The least Bernoulli cross-entropy any decoder can reach on grey levels x in [0, 1]: the
    entropy sum_pixels -x log x - (1 - x) log(1 - x), averaged over images (0 on binary data)."""
    total = 0.0
    for batch in data.in_order(batch_size):
        x = batch.x.double()
        total += (-torch.special.xlogy(x, x) - torch.special.xlogy(1 - x, 1 - x)).flatten(1).sum(1).sum().item()
    return total / len(data)


def likelihood_kind(likelihood: str, binary_data: bool) -> str:
    """What -log p(x|z) measures for this decoder on this data."""
    if likelihood == "bernoulli":
        return "log-likelihood (Bernoulli, binary data)" if binary_data else \
            "Bernoulli cross-entropy on grey levels (not a likelihood)"
    return "log-density (Gaussian, continuous pixels; not comparable with discrete likelihoods)"


@torch.no_grad()
def negative_elbo(model, data: ImageDataset, batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """-ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z)) under the model's own prior, one z sample per
    example, averaged over data (KL in closed form where one exists, else the one-sample estimate).

    Also reports the reconstruction NLL at the posterior mean and the mean squared error per pixel.
    Deterministic models report only the reconstruction terms.
    """
    model.eval()
    device = next(model.parameters()).device
    sums = {"neg_elbo": 0.0, "recon_nll": 0.0, "kl": 0.0, "recon_nll_at_mean": 0.0, "mse_per_pixel": 0.0}
    stochastic = model.stochastic
    with seeded(seed, device):
        for batch in data.in_order(batch_size, device):
            x, posterior = batch.x, model.encode(batch)
            at_mean = model.decode_logits(posterior.mean, batch)
            sums["recon_nll_at_mean"] += model.reconstruction_nll(at_mean, x).sum().item()
            sums["mse_per_pixel"] += (torch.sigmoid(at_mean) - x).square().flatten(1).mean(1).sum().item()
            if not stochastic:
                continue
            z = posterior.rsample()
            recon = model.reconstruction_nll(model.decode_logits(z, batch), x)
            kl = kl_divergence(posterior, model.prior_of(batch), z)
            sums["recon_nll"] += recon.sum().item()
            sums["kl"] += kl.sum().item()
            sums["neg_elbo"] += (recon + kl).sum().item()
    result = {k: v / len(data) for k, v in sums.items()}
    if not stochastic:
        for key in ("neg_elbo", "recon_nll", "kl"):
            result.pop(key)
    return result


@torch.no_grad()
def importance_weighted_bound(model, data: ImageDataset, k: int, rows_per_pass: int = 50_000, seed: int = 0,
                              progress=None) -> dict[str, float]:
    """Burda et al. (2016): log p(x) >= E log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x),
    under the model's own prior, per example, averaged over data (nats). K draws are taken in
    chunks of about rows_per_pass rows (examples x draws), each example repeated; K = 1 is the
    single-sample ELBO estimate with log p(z) - log q(z|x) in place of the closed-form KL."""
    if k < 1:
        raise ValueError(f"the number of importance samples must be positive, got {k}")
    if not model.stochastic:
        raise ValueError("a deterministic autoencoder defines no density: the likelihood bound needs a stochastic model")
    model.eval()
    device = next(model.parameters()).device
    draws = max(1, min(k, rows_per_pass))
    examples = max(1, rows_per_pass // draws)
    total = 0.0
    with seeded(seed, device):
        for batch in data.in_order(examples, device):
            logs = []
            for start in range(0, k, draws):
                take = min(draws, k - start)
                repeated = batch.select(torch.arange(len(batch), device=device).repeat(take))
                logs.append(log_weights(model, repeated).view(take, len(batch)))
            total += log_mean_exp(torch.cat(logs).double(), 0).sum().item()
            if progress is not None:
                progress(len(batch))
    return {"log_likelihood_bound": total / len(data), "importance_samples": k}
