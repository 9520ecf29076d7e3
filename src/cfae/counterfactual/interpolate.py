"""Latent interpolation between two inputs as a sequence of counterfactuals (seed 002 Fig. 1: decoded
points on the path from one image's code to another's).

    x'_{n,t} = decode(path(z_a, z_b, t)),  z = E(x) the posterior mean,  t = 0, 1/(T-1), ..., 1
    linear   path = (1 - t) z_a + t z_b
    slerp    path = sin((1 - t) W) / sin W z_a + sin(t W) / sin W z_b,  cos W = z_a . z_b / (|z_a| |z_b|)
             (White 2016: under a Gaussian prior the linear midpoint's norm falls below that of
             typical codes; slerp keeps the norm between the ends'); linear where W is near 0
"""

from __future__ import annotations

import torch
from torch import Tensor

from cfae.counterfactual.result import CounterfactualResult
from cfae.data.base import Batch, as_batch

PATHS = ("linear", "slerp")


def linear_path(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """(N, T, D) codes (1 - t) a + t b for a, b (N, D) and t (T,)."""
    t = t.to(a).view(1, -1, 1)
    return (1 - t) * a.unsqueeze(1) + t * b.unsqueeze(1)


def slerp_path(a: Tensor, b: Tensor, t: Tensor, eps: float = 1e-6) -> Tensor:
    """(N, T, D) spherical interpolation (module docstring); rows whose angle is below eps, or with a
    zero code, fall back to the linear path."""
    t = t.to(a).view(1, -1, 1)
    norms = a.norm(dim=1) * b.norm(dim=1)
    cosine = ((a * b).sum(1) / norms.clamp_min(1e-30)).clamp(-1.0, 1.0)
    angle = torch.arccos(cosine).view(-1, 1, 1)
    sine = torch.sin(angle)
    safe = sine.clamp_min(eps)
    curved = (torch.sin((1 - t) * angle) / safe) * a.unsqueeze(1) + (torch.sin(t * angle) / safe) * b.unsqueeze(1)
    straight = (angle < eps) | (norms.view(-1, 1, 1) == 0)
    return torch.where(straight, linear_path(a, b, t.view(-1)), curved)


@torch.no_grad()
def interpolate(model, start: Batch | Tensor, end: Batch | Tensor, steps: int = 10, path: str = "linear") -> CounterfactualResult:
    """steps frames from each start input's code to its end input's (t from 0 to 1, ends included):
    counterfactuals (N, T, C, H, W), codes_after (N, T, D); settings hold the path and the t values."""
    if path not in PATHS:
        raise ValueError(f"unknown interpolation path {path!r}; valid choices: {', '.join(PATHS)}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends), got {steps}")
    first, last = as_batch(start), as_batch(end)
    if len(first) != len(last):
        raise ValueError(f"{len(first)} start inputs but {len(last)} end inputs; interpolation pairs them row by row")
    model.eval()
    a, b = model.encode(first).mean, model.encode(last).mean
    t = torch.linspace(0, 1, steps)
    codes = (linear_path if path == "linear" else slerp_path)(a, b, t)
    frames = model.decode(codes.flatten(0, 1)).unflatten(0, (len(a), steps))
    return CounterfactualResult(first.x, frames, a, codes, "interpolate",
                                {"path": path, "t": t.tolist()})
