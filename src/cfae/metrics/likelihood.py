"""Test-set negative ELBO and reconstruction error, in nats per example."""

from __future__ import annotations

import torch

from cfae.data.base import ImageDataset


@torch.no_grad()
def negative_elbo(model, data: ImageDataset, batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """-ELBO = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)), one z sample per example, averaged over data.

    Also reports the reconstruction NLL at the posterior mean and the mean squared error per pixel.
    Deterministic models report only the reconstruction terms.
    """
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    sums = {"neg_elbo": 0.0, "recon_nll": 0.0, "kl": 0.0, "recon_nll_at_mean": 0.0, "mse_per_pixel": 0.0}
    stochastic = True
    for start in range(0, len(data), batch_size):
        x = data.batch(slice(start, start + batch_size)).to(device)
        posterior = model.encode(x)
        at_mean = model.decode_logits(posterior.mean)
        sums["recon_nll_at_mean"] += model.reconstruction_nll(at_mean, x).sum().item()
        sums["mse_per_pixel"] += (model.decode(posterior.mean) - x).square().flatten(1).mean(1).sum().item()
        if posterior.scale is None:
            stochastic = False
            continue
        z = posterior.mean + posterior.scale * torch.randn(posterior.mean.shape, generator=gen, device=device)
        recon = model.reconstruction_nll(model.decode_logits(z), x)
        kl = posterior.kl_standard_normal().sum(1)
        sums["recon_nll"] += recon.sum().item()
        sums["kl"] += kl.sum().item()
        sums["neg_elbo"] += (recon + kl).sum().item()
    result = {k: v / len(data) for k, v in sums.items()}
    if not stochastic:
        for key in ("neg_elbo", "recon_nll", "kl"):
            result.pop(key)
    return result
