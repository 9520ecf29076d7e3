"""Scores of latent interpolation paths (cfae.counterfactual.interpolate), per path of T frames:

    norm dip       min_t |z_t| / min(|z_0|, |z_{T-1}|): 1 when no code on the path is shorter than the
                   shorter end; 1/sqrt(2) at the linear midpoint of two orthogonal codes of one length (in
                   D dimensions prior draws have norm near sqrt(D), so a dip leaves the prior's typical shell)
    neither share  share of the T frames a classifier puts in neither the start input's class nor the
                   end input's (seed 002 Fig. 1: the middle frames as one image laid over the other)
    switch point   the first t at which p(end class) exceeds p(start class); NaN if it never does
Smoothness is the streams' continuity, CV of mean |x_{t+1} - x_t| (cfae.metrics.streams).
"""

from __future__ import annotations

import torch
from torch import Tensor


def norm_dip(codes: Tensor) -> Tensor:
    """(N,) norm dip of paths codes (N, T, D)."""
    norms = codes.norm(dim=2)
    return norms.min(1).values / torch.minimum(norms[:, 0], norms[:, -1])


def neither_share(labels: Tensor, start_labels: Tensor, end_labels: Tensor) -> Tensor:
    """(N,) share of frames whose label (N, T) is neither start_labels (N,) nor end_labels (N,)."""
    neither = (labels != start_labels.unsqueeze(1)) & (labels != end_labels.unsqueeze(1))
    return neither.float().mean(1)


def switch_point(p_start: Tensor, p_end: Tensor, t: Tensor) -> Tensor:
    """(N,) first t (T,) at which p_end (N, T) exceeds p_start (N, T); NaN where it never does."""
    ahead = p_end > p_start
    first = ahead.float().argmax(1)
    return torch.where(ahead.any(1), t.to(p_start)[first], torch.full_like(first, float("nan"), dtype=p_start.dtype))
