"""Metrics of counterfactual streams: the seed's (002 sections 2.2 and 4.2) and the standard ones.

Seed metrics, per stream of frames x_0..x_{T-1} with target scores s_t and codes z_t:
    linearity     R^2 of s_t against t (least-squares line)
    continuity    CV = sd(d) / mean(d) of d_t = mean |x_{t+1} - x_t|   (population sd)
                  (either from x_0 = D(z0), or, with the input image counted as frame 0, from x)
    path R^2      R^2 of z_t[k] against t, per latent dimension k
    convergence   pairwise Euclidean distances among start codes and among end codes (seed Table 2)
    frame change  mean d_t while softmax_target(x_t) is below p (0.99), and once it is at or above p
Standard metrics (reference section 1): success rate, steps and seconds per counterfactual,
proximity L1 = sum |x' - x| and L2 = sqrt(sum (x' - x)^2) (a true Euclidean distance), sparsity =
1 - share of pixels changed by more than a threshold, IM1 / IM2 (Van Looveren and Klaise), yNN, and
the log density of the end code under the prior (model.prior(n).log_prob, in the experiment).
"""

from __future__ import annotations

import torch
from torch import Tensor


def r_squared(y: Tensor) -> Tensor:
    """R^2 of the least-squares line through (t, y_t), t = 0..T-1, over the last axis; NaN where y is
    constant or T < 3 (no line to judge). Equals the squared Pearson correlation of y with t."""
    y = y.double()
    t = torch.arange(y.shape[-1], dtype=torch.float64, device=y.device)
    tc = t - t.mean()
    yc = y - y.mean(-1, keepdim=True)
    sxy = (yc * tc).sum(-1)
    syy = yc.square().sum(-1)
    stt = tc.square().sum()
    out = sxy.square() / (stt * syy)
    bad = (syy <= 1e-20 * y.shape[-1]) | (y.shape[-1] < 3)
    return torch.where(bad, torch.full_like(out, float("nan")), out).float()


def frame_differences(frames: Tensor) -> Tensor:
    """d_t = mean over pixels of |x_{t+1} - x_t|, shape (T - 1,)."""
    return (frames[1:] - frames[:-1]).abs().flatten(1).mean(1)


def coefficient_of_variation(d: Tensor) -> float:
    """sd(d) / mean(d) with the population sd; NaN for fewer than 2 values or a zero mean."""
    if len(d) < 2 or float(d.mean()) == 0.0:
        return float("nan")
    return float(d.std(unbiased=False) / d.mean())


def linearity(result, input_scores: Tensor | None = None) -> Tensor:
    """Per-stream R^2 of the target score against the step index; with input_scores (N,), the score
    of each input image is counted as the stream's first value."""
    series = [result.stream(i)[2].cpu() for i in range(len(result))]
    if input_scores is not None:
        series = [torch.cat([input_scores[i : i + 1].cpu(), s]) for i, s in enumerate(series)]
    return torch.stack([r_squared(s) for s in series])


def continuity(result, include_input: bool = False) -> Tensor:
    """Per-stream CV of consecutive frame differences (needs frames); with include_input the input
    image itself is the first frame, so the first difference is its reconstruction error."""
    values = []
    for i in range(len(result)):
        frames = result.stream(i)[0]
        if include_input:
            frames = torch.cat([result.inputs[i : i + 1].to(frames.device), frames])
        values.append(coefficient_of_variation(frame_differences(frames)))
    return torch.tensor(values)


def path_r_squared(result) -> Tensor:
    """(N, D) R^2 of each latent dimension against the step index."""
    return torch.stack([r_squared(result.stream(i)[1].T.cpu()) for i in range(len(result))])


def pairwise_distances(codes: Tensor) -> Tensor:
    """Euclidean distances between all distinct pairs of rows (upper triangle)."""
    d = torch.cdist(codes.double(), codes.double())
    i, j = torch.triu_indices(len(codes), len(codes), offset=1)
    return d[i, j].float()


def frame_change_means(result, p: float = 0.99) -> tuple[Tensor, Tensor]:
    """Per stream, the mean consecutive-frame difference d_t over steps whose earlier frame had the
    target probability below p, and over those at or above p (NaN where a stream has none)."""
    before, after = [], []
    nan = torch.tensor(float("nan"))
    for i in range(len(result)):
        d = frame_differences(result.stream(i)[0])
        reached = result.probabilities[i, : int(result.lengths[i])].cpu()[:-1] >= p
        before.append(d[~reached].mean() if (~reached).any() else nan)
        after.append(d[reached].mean() if reached.any() else nan)
    return torch.stack(before), torch.stack(after)


def proximity(inputs: Tensor, counterfactuals: Tensor) -> dict[str, Tensor]:
    """Per-row L1 = sum |x' - x| and L2 = sqrt(sum (x' - x)^2) over pixels."""
    delta = (counterfactuals - inputs).flatten(1)
    return {"l1": delta.abs().sum(1), "l2": delta.square().sum(1).sqrt()}


def sparsity(inputs: Tensor, counterfactuals: Tensor, threshold: float = 0.05) -> Tensor:
    """Per-row 1 - share of pixels with |x' - x| > threshold (pixel values in [0, 1])."""
    return 1 - ((counterfactuals - inputs).abs().flatten(1) > threshold).float().mean(1)


def im1(x_cf: Tensor, recon_target: Tensor, recon_original: Tensor, eps: float = 1e-8) -> Tensor:
    """IM1 = ||x' - AE_t(x')||^2 / (||x' - AE_t0(x')||^2 + eps): lower is closer to the target class."""
    num = (x_cf - recon_target).flatten(1).square().sum(1)
    return num / ((x_cf - recon_original).flatten(1).square().sum(1) + eps)


def im2(x_cf: Tensor, recon_target: Tensor, recon_all: Tensor, eps: float = 1e-8) -> Tensor:
    """IM2 = ||AE_t(x') - AE(x')||^2 / (||x'||_1 + eps)."""
    return (recon_target - recon_all).flatten(1).square().sum(1) / (x_cf.flatten(1).abs().sum(1) + eps)


def ynn(x_cf: Tensor, cf_labels: Tensor, reference: Tensor, reference_labels: Tensor, k: int = 5) -> Tensor:
    """Per-row share of the k nearest reference images (pixel space) that the model labels as it
    labels the counterfactual (CARLA's yNN, averaged over the cohort by the caller)."""
    out = []
    flat = reference.flatten(1)
    for start in range(0, len(x_cf), 256):
        d = torch.cdist(x_cf[start : start + 256].flatten(1), flat)
        nearest = d.topk(k, dim=1, largest=False).indices
        out.append((reference_labels[nearest] == cf_labels[start : start + 256, None]).float().mean(1))
    return torch.cat(out)


def summary(values: Tensor) -> dict[str, float]:
    """Mean, population sd and count of the finite values (NaN, say for too-short streams, left out)."""
    v = values.float().cpu()
    v = v[~torch.isnan(v)]
    return {"mean": float(v.mean()) if len(v) else float("nan"),
            "sd": float(v.std(unbiased=False)) if len(v) else float("nan"), "count": int(len(v))}
