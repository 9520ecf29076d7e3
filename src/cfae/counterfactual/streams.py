"""Streams of counterfactuals by latent optimisation (LoSoCs, seed 002 Algorithm 1), many at once.

Start at z0 = E(x) (posterior mean); at each step decode x_t = D(z_t), score it and move z along
-grad L, with
    classifier:  L = -logit_t(x_t)                          stop when softmax_t(x_t) > tau
    regressor:   L = -sign(y* - f(x_0)) f(x_t)              stop when f(x_t) reaches y*
    + proximity    lambda_p ||x_t - x||_1                    (REVISE, Joshi et al. 2019)
    + plausibility lambda_m ||D(E(x_t)) - x_t||^2            ("recon": reconstruction consistency)
               or  lambda_m [-log p(x_t | mu) + KL(q(z|x_t) || p(z))]  ("elbo": the negative ELBO of
                   the frame under the autoencoder, at the posterior mean mu)
               or  lambda_m ||E(x_t) - proto||^2             ("prototype": the target class's
                   prototype seen from x, prototypes.class_prototypes; alibi's CounterfactualProto)
Steps: "sgd" z -= lr g; "adam" per-stream Adam moments; "fixed" z -= lr g / ||g|| (a latent step of
length lr). Every stream stops on its own: a stopped stream is frozen and no longer computed, so a
batch of streams gives the same frames as running them one at a time.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import Tensor

from cfae.counterfactual.interpolate import linear_path
from cfae.counterfactual.result import CounterfactualResult
from cfae.data.base import Batch, as_batch
from cfae.nn.distributions import kl_divergence
from cfae.registry import check_choices

STEP_RULES = ("adam", "sgd", "fixed")
PLAUSIBILITY_TERMS = ("none", "recon", "elbo", "prototype")


@dataclass
class StreamSettings:
    """How streams move and when they stop (recorded with every result)."""

    step_rule: Literal["adam", "sgd", "fixed"] = "adam"
    lr: float = 0.05
    max_steps: int = 500
    tau: float = 0.999
    proximity: float = 0.0
    plausibility: Literal["none", "recon", "elbo"] = "none"
    plausibility_weight: float = 0.0
    keep_frames: bool = True

    def __post_init__(self):
        check_choices("step rule", [self.step_rule], STEP_RULES)
        check_choices("plausibility term", [self.plausibility], PLAUSIBILITY_TERMS)
        if self.plausibility != "none" and not self.plausibility_weight > 0:
            raise ValueError(f"plausibility {self.plausibility!r} needs a positive plausibility_weight "
                             f"(given {self.plausibility_weight:g}); with 0 the term would do nothing")
        if self.plausibility == "none" and self.plausibility_weight:
            raise ValueError(f"plausibility_weight {self.plausibility_weight:g} needs a plausibility term "
                             f"({', '.join(PLAUSIBILITY_TERMS[1:])}); without one it would do nothing")
        if self.proximity < 0:
            raise ValueError(f"proximity must not be negative, got {self.proximity:g}")
        if not 0 < self.tau < 1:
            raise ValueError(f"tau must lie in (0, 1), got {self.tau}")
        if self.lr <= 0 or self.max_steps < 1:
            raise ValueError(f"lr must be positive and max_steps at least 1, got lr={self.lr}, max_steps={self.max_steps}")


@dataclass
class StreamResult(CounterfactualResult):
    """A CounterfactualResult whose codes_after is the whole path (N, T, D) and counterfactuals the
    decoded end points; frames (N, T, C, H, W), scores (N, T) (target logit or regressor output) and
    probabilities (N, T) (softmax of the target; NaN for regressors) are padded after each stream's
    end with its frozen last value; lengths (N,) counts each stream's frames (steps + 1)."""

    frames: Tensor | None = None
    scores: Tensor = field(default_factory=lambda: torch.empty(0))
    probabilities: Tensor = field(default_factory=lambda: torch.empty(0))
    lengths: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    success: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.bool))
    targets: Tensor = field(default_factory=lambda: torch.empty(0))
    seconds: float = 0.0

    @property
    def steps(self) -> Tensor:
        return self.lengths - 1

    def stream(self, i: int) -> tuple[Tensor | None, Tensor, Tensor]:
        """(frames, codes, scores) of stream i, without padding."""
        n = int(self.lengths[i])
        frames = None if self.frames is None else self.frames[i, :n]
        return frames, self.codes_after[i, :n], self.scores[i, :n]

    def straight_path(self, i: int, positions: Tensor) -> Tensor:
        """Codes on the straight line from stream i's first code z_0 to its last z_T at the given frame
        positions t: z_0 + (t / T)(z_T - z_0) (seed 002 Fig. 9, the linear traversal beside the stream)."""
        codes = self.codes_after[i, : int(self.lengths[i])]
        return linear_path(codes[:1], codes[-1:], (positions.to(codes) / (len(codes) - 1)))[0]


def predictor_kind(predictor) -> str:
    """'classifier' for a network with logits(x), 'regressor' for one with predict(x)."""
    if hasattr(predictor, "logits"):
        return "classifier"
    if hasattr(predictor, "predict"):
        return "regressor"
    raise TypeError(f"{type(predictor).__name__} has neither logits(x) (classifier) nor predict(x) (regressor)")


def _penalties(autoencoder, frames: Tensor, x: Tensor, settings: StreamSettings,
               prototypes: Tensor | None = None) -> Tensor:
    """Per-stream proximity and plausibility terms of the loss (prototypes: one per stream, for "prototype")."""
    total = torch.zeros(len(frames), device=frames.device)
    if settings.proximity:
        total = total + settings.proximity * (frames - x).abs().flatten(1).sum(1)
    if settings.plausibility_weight and settings.plausibility == "recon":
        again = autoencoder.decode(autoencoder.encode(frames).mean)
        total = total + settings.plausibility_weight * (again - frames).square().flatten(1).sum(1)
    elif settings.plausibility_weight and settings.plausibility == "elbo":
        posterior = autoencoder.encode(frames)
        mu = posterior.mean
        nll = autoencoder.reconstruction_nll(autoencoder.decode_logits(mu), frames)
        kl = kl_divergence(posterior, autoencoder.prior(len(frames)), mu)
        total = total + settings.plausibility_weight * (nll + kl)
    elif settings.plausibility_weight and settings.plausibility == "prototype":
        total = total + settings.plausibility_weight * (autoencoder.encode(frames).mean - prototypes).square().sum(1)
    return total


class _StepRule:
    """Per-stream update of the latent codes; rows of frozen streams are never touched."""

    def __init__(self, z: Tensor, settings: StreamSettings, betas=(0.9, 0.999), eps: float = 1e-8):
        self.settings, self.betas, self.eps = settings, betas, eps
        self.m, self.v = torch.zeros_like(z), torch.zeros_like(z)
        self.t = torch.zeros(len(z), device=z.device)

    def step(self, z: Tensor, grad: Tensor, rows: Tensor) -> Tensor:
        s = self.settings
        if s.step_rule == "sgd":
            return z - s.lr * grad
        if s.step_rule == "fixed":
            return z - s.lr * grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
        b1, b2 = self.betas
        self.t[rows] += 1
        t = self.t[rows].unsqueeze(1)
        self.m[rows] = m = b1 * self.m[rows] + (1 - b1) * grad
        self.v[rows] = v = b2 * self.v[rows] + (1 - b2) * grad.square()
        return z - s.lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + self.eps)


def _score(predictor, kind: str, frames: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(target score, target probability): the target logit and its softmax, or the output and NaN."""
    if kind == "classifier":
        logits = predictor.logits(frames)
        rows = torch.arange(len(frames), device=frames.device)
        return logits[rows, targets], logits.softmax(1)[rows, targets]
    out = predictor.predict(frames).reshape(len(frames))
    return out, torch.full_like(out, float("nan"))


@contextlib.contextmanager
def _frozen(*modules):
    """Eval mode and no parameter gradients while streams run (only the codes are optimised)."""
    params = [p for m in modules if isinstance(m, torch.nn.Module) for p in m.parameters()]
    wanted = [p.requires_grad for p in params]
    for m in modules:
        if isinstance(m, torch.nn.Module):
            m.eval()
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, w in zip(params, wanted):
            p.requires_grad_(w)


def stream(autoencoder, predictor, x: Batch | Tensor, targets: Tensor | int | float,
           settings: StreamSettings | None = None, *, change: bool = False,
           prototypes: Tensor | None = None) -> StreamResult:
    """Run one stream per row of x towards its target: a class index (classifier) or an output value
    (regressor; with change=True the target is added to each stream's starting output). The
    "prototype" plausibility term needs prototypes (N, D), one per stream (class_prototypes)."""
    settings = settings or StreamSettings()
    kind = predictor_kind(predictor)
    batch = as_batch(x)
    if settings.plausibility == "prototype" and settings.plausibility_weight:
        if prototypes is None:
            raise ValueError("plausibility 'prototype' needs prototypes: one code per stream (class_prototypes)")
        if prototypes.dim() != 2 or len(prototypes) != len(batch):
            raise ValueError(f"prototypes must be one code per stream, shape ({len(batch)}, D); got {tuple(prototypes.shape)}")
        prototypes = prototypes.to(batch.x.device).float()
    with _frozen(autoencoder, predictor):
        return _run_streams(autoencoder, predictor, kind, batch, targets, settings, change, prototypes)


def _run_streams(autoencoder, predictor, kind: str, batch: Batch, targets, settings: StreamSettings,
                 change: bool, prototypes: Tensor | None) -> StreamResult:
    started = time.perf_counter()
    device = batch.x.device
    n = len(batch)
    with torch.no_grad():
        z = autoencoder.encode(batch).mean.float().clone()
    dtype = torch.long if kind == "classifier" else torch.float32
    targets = torch.as_tensor(targets, dtype=dtype, device=device).expand(n).clone()
    rule = _StepRule(z, settings)
    active = torch.ones(n, dtype=torch.bool, device=device)
    success = torch.zeros(n, dtype=torch.bool, device=device)
    lengths = torch.zeros(n, dtype=torch.long, device=device)
    path, frame_log, score_log, prob_log = [], [], [], []
    for t in range(settings.max_steps + 1):
        rows = active.nonzero()[:, 0]  # the one host sync of a step
        if len(rows) == 0:
            break
        za = z[rows].requires_grad_(True)
        with torch.enable_grad():
            frames = autoencoder.decode(za)
            score, prob = _score(predictor, kind, frames, targets[rows])
            if kind == "regressor" and t == 0:
                if change:
                    targets = targets + score.detach()
                direction = torch.sign(targets - score.detach())
            if kind == "classifier":
                done = prob.detach() > settings.tau
                objective = -score
            else:
                done = (score.detach() - targets[rows]) * direction[rows] >= 0
                objective = -direction[rows] * score
            loss = objective + _penalties(autoencoder, frames, batch.x[rows], settings,
                                          None if prototypes is None else prototypes[rows])
            grad = torch.autograd.grad(loss.sum(), za)[0] if t < settings.max_steps else None
        path.append((rows, za.detach().clone()))
        frame_log.append(frames.detach() if settings.keep_frames else None)
        score_log.append(score.detach())
        prob_log.append(prob.detach())
        lengths[rows] = t + 1
        success[rows] = done
        moving = ~done if t < settings.max_steps else torch.zeros_like(done)
        if grad is not None:
            keep = rows[moving]
            z[keep] = rule.step(za.detach()[moving], grad[moving], keep)
        active[rows[~moving]] = False
    result = _assemble(autoencoder, batch, path, frame_log, score_log, prob_log, lengths, success, targets, kind,
                       settings)
    result.seconds = time.perf_counter() - started
    return result


def _padded(rows_per_step: list[Tensor], values: list[Tensor], lengths: Tensor, device=None) -> Tensor:
    """Scatter each step's rows into (n, T, ...) and repeat each stream's last value after its end
    (the live rows of a step are always a subset of the previous step's, so that value sits at
    index lengths - 1)."""
    n, length = len(lengths), len(values)
    first = values[0]
    device = device or first.device
    out = torch.zeros(n, length, *first.shape[1:], dtype=first.dtype, device=device)
    for t, (rows, step_values) in enumerate(zip(rows_per_step, values)):
        out[rows.to(device), t] = step_values.to(device)
    upto = torch.minimum(torch.arange(length, device=device), (lengths.to(device) - 1).unsqueeze(1))
    return out[torch.arange(n, device=device).unsqueeze(1), upto]


def _assemble(autoencoder, batch, path, frame_log, score_log, prob_log, lengths, success, targets, kind,
              settings) -> StreamResult:
    rows_per_step = [rows for rows, _ in path]
    codes = _padded(rows_per_step, [codes for _, codes in path], lengths)
    scores = _padded(rows_per_step, score_log, lengths)
    probs = _padded(rows_per_step, prob_log, lengths)
    frames = _padded(rows_per_step, frame_log, lengths, torch.device("cpu")) if settings.keep_frames else None
    rows = torch.arange(len(lengths), device=lengths.device)
    with torch.no_grad():
        end_frames = autoencoder.decode(codes[rows, lengths - 1])
    info = {**asdict(settings), "predictor": kind}
    return StreamResult(batch.x, end_frames, codes[:, 0], codes, "stream", info,
                        frames=frames, scores=scores, probabilities=probs, lengths=lengths, success=success,
                        targets=targets)
