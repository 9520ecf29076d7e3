"""Latent distributions with one small protocol: rsample, log_prob, mean, kl.

Every posterior q(z|x) and prior p(z) in cfae is one of these, over a latent vector of shape
(N, D): a diagonal Gaussian, a point mass (deterministic codes), a (relaxed) Bernoulli, a product
of named parts laid side by side, or a chain of conditionals (hierarchies, causal orders).
`log_prob` sums over dimensions and returns (N,); `kl(other)` returns the closed form per
dimension (N, D) where one exists and None otherwise, so callers fall back to the Monte-Carlo
estimate log q(z) - log p(z) at a sample (`kl_divergence`).
"""

from __future__ import annotations

import math
from typing import Callable, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from cfae.nn.divergences import kl_normal

LOG_2PI = math.log(2 * math.pi)


class Distribution(Protocol):
    mean: Tensor

    def rsample(self) -> Tensor: ...

    def log_prob(self, z: Tensor) -> Tensor: ...

    def kl(self, other: "Distribution") -> Tensor | None: ...


class DiagonalGaussian:
    """N(mean, diag(scale^2)); log N(z) = -sum_d [(z_d - m_d)^2 / (2 s_d^2) + log s_d + log(2 pi) / 2]."""

    def __init__(self, mean: Tensor, scale: Tensor):
        self.mean, self.scale = mean, scale

    @classmethod
    def standard(cls, n: int, dim: int, device=None) -> "DiagonalGaussian":
        """N(0, I) over n rows of dim dimensions."""
        return cls(torch.zeros(n, dim, device=device), torch.ones(n, dim, device=device))

    def rsample(self) -> Tensor:
        return self.mean + self.scale * torch.randn_like(self.scale)

    def log_prob_dims(self, z: Tensor) -> Tensor:
        return -0.5 * ((z - self.mean) / self.scale).square() - self.scale.log() - 0.5 * LOG_2PI

    def log_prob(self, z: Tensor) -> Tensor:
        return self.log_prob_dims(z).sum(1)

    def kl(self, other) -> Tensor | None:
        if isinstance(other, DiagonalGaussian):
            return kl_normal(self.mean, self.scale, other.mean, other.scale)
        return None


class PointMass:
    """A deterministic code: rsample returns it; it has no density and no KL."""

    scale = None

    def __init__(self, value: Tensor):
        self.mean = value

    def rsample(self) -> Tensor:
        return self.mean

    def log_prob(self, z: Tensor) -> Tensor:
        raise ValueError("a deterministic code has no density")

    def kl(self, other) -> Tensor | None:
        raise ValueError("a deterministic code has no KL to the prior")


class Bernoulli:
    """Independent bits with probabilities sigmoid(logits). With a temperature, rsample draws the
    relaxed (binary Concrete) sample sigmoid((logits + log u - log(1 - u)) / temperature); without
    one, hard bits (not differentiable). `mean` is the probabilities."""

    scale = None

    def __init__(self, logits: Tensor, temperature: float | None = None):
        self.logits, self.temperature = logits, temperature

    @property
    def mean(self) -> Tensor:
        return torch.sigmoid(self.logits)

    def hard(self) -> Tensor:
        return (self.logits > 0).to(self.logits.dtype)

    def rsample(self) -> Tensor:
        u = torch.rand_like(self.logits).clamp(1e-6, 1 - 1e-6)
        noisy = self.logits + u.log() - (-u).log1p()
        if self.temperature is None:
            return (noisy > 0).to(self.logits.dtype)
        return torch.sigmoid(noisy / self.temperature)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = sum_d z_d log pi_d + (1 - z_d) log(1 - pi_d), for z in [0, 1]."""
        return -F.binary_cross_entropy_with_logits(self.logits, z, reduction="none").sum(1)

    def kl(self, other) -> Tensor | None:
        """Per bit: p log(p / q) + (1 - p) log((1 - p) / (1 - q)), from logits for stability."""
        if not isinstance(other, Bernoulli):
            return None
        p = self.mean
        lp, lq = F.logsigmoid(self.logits), F.logsigmoid(other.logits)
        lp1, lq1 = F.logsigmoid(-self.logits), F.logsigmoid(-other.logits)
        return p * (lp - lq) + (1 - p) * (lp1 - lq1)


def _cat(values: list[Tensor | None]) -> Tensor | None:
    return None if any(v is None for v in values) else torch.cat(values, 1)


class Product:
    """Independent named parts laid side by side along dimension 1: q(z) = prod_k q_k(z_k)."""

    def __init__(self, parts: dict[str, Distribution]):
        self.parts = parts

    @property
    def dims(self) -> list[int]:
        return [d.mean.shape[1] for d in self.parts.values()]

    def split(self, z: Tensor) -> dict[str, Tensor]:
        return dict(zip(self.parts, z.split(self.dims, 1)))

    @property
    def mean(self) -> Tensor:
        return torch.cat([d.mean for d in self.parts.values()], 1)

    @property
    def scale(self) -> Tensor | None:
        return _cat([getattr(d, "scale", None) for d in self.parts.values()])

    def rsample(self) -> Tensor:
        return torch.cat([d.rsample() for d in self.parts.values()], 1)

    def log_prob(self, z: Tensor) -> Tensor:
        return sum(d.log_prob(v) for d, v in zip(self.parts.values(), self.split(z).values()))

    def kl(self, other) -> Tensor | None:
        if not isinstance(other, Product) or list(other.parts) != list(self.parts):
            return None
        return _cat([d.kl(o) for d, o in zip(self.parts.values(), other.parts.values())])


Conditional = Callable[[dict[str, Tensor]], Distribution]


class Chain:
    """p(z) = prod_k p(z_k | parts drawn before it): `steps` lists (name, conditional) in sampling
    order (top-down for a hierarchical prior, bottom-up for its inference network); `layout` gives
    (name, dims) in the order the parts are laid out in the latent vector."""

    scale = None

    def __init__(self, layout: list[tuple[str, int]], steps: list[tuple[str, Conditional]]):
        self.layout, self.steps = layout, steps

    def split(self, z: Tensor) -> dict[str, Tensor]:
        return dict(zip([n for n, _ in self.layout], z.split([d for _, d in self.layout], 1)))

    def _join(self, values: dict[str, Tensor]) -> Tensor:
        return torch.cat([values[n] for n, _ in self.layout], 1)

    def walk(self, pick: Callable[[Distribution], Tensor]) -> tuple[Tensor, dict[str, Distribution]]:
        """z drawn part by part in sampling order with `pick` (rsample or mean), and each part's
        conditional distribution on the way."""
        values: dict[str, Tensor] = {}
        conditionals: dict[str, Distribution] = {}
        for name, conditional in self.steps:
            conditionals[name] = conditional(values)
            values[name] = pick(conditionals[name])
        return self._join(values), conditionals

    def rsample(self) -> Tensor:
        return self.walk(lambda d: d.rsample())[0]

    def reparameterised(self, noise: dict[str, Tensor]) -> Tensor:
        """z = mean + scale * noise[part], part by part in sampling order (Gaussian conditionals):
        rsample with the standard-normal noise given, to draw the same z through two graphs."""
        order = iter([name for name, _ in self.steps])  # walk calls pick once a part, in this order
        return self.walk(lambda d: d.mean + d.scale * noise[next(order)])[0]

    @property
    def mean(self) -> Tensor:
        """Each part's conditional mean given the means of the parts before it."""
        return self.walk(lambda d: d.mean)[0]

    def conditionals_at(self, z: Tensor) -> dict[str, Distribution]:
        """Each part's conditional given the parts of z it depends on."""
        values = self.split(z)
        return {name: conditional(values) for name, conditional in self.steps}

    def log_prob_dims(self, z: Tensor, conditionals: dict[str, Distribution] | None = None) -> Tensor:
        """log p per dimension (N, D), laid out like z; each part's conditional taken at z's parts
        (or the given ones, e.g. from `walk`)."""
        values, conditionals = self.split(z), conditionals or self.conditionals_at(z)
        return torch.cat([conditionals[name].log_prob_dims(values[name]) for name, _ in self.layout], 1)

    def log_prob(self, z: Tensor) -> Tensor:
        return self.log_prob_dims(z).sum(1)

    def kl(self, other) -> Tensor | None:
        return None


def chain_kl_dims(q: Chain, p: Chain, z: Tensor, q_conditionals: dict[str, Distribution] | None = None) -> Tensor:
    """Per-dimension KL(q || p) estimate (N, D) at a path z ~ q of two chains over the same parts.
    When both chains sample their parts in the same order, each part's term is the closed-form KL
    of the two conditionals given z's earlier parts, whose sum over parts has expectation KL(q || p)
    (the Ladder VAE's top-down q and p); otherwise log q(z_d | .) - log p(z_d | .) at z."""
    q_conditionals = q_conditionals or q.conditionals_at(z)
    p_conditionals = p.conditionals_at(z)
    if [n for n, _ in q.steps] == [n for n, _ in p.steps]:
        parts = {name: q_conditionals[name].kl(p_conditionals[name]) for name, _ in q.layout}
        if all(part is not None for part in parts.values()):
            return torch.cat([parts[name] for name, _ in q.layout], 1)
    return q.log_prob_dims(z, q_conditionals) - p.log_prob_dims(z, p_conditionals)


def kl_dims(q: Distribution, p: Distribution, z: Tensor) -> Tensor | None:
    """Per-dimension KL(q || p) (N, D) at z ~ q: `chain_kl_dims` for two chains, else the closed
    form, else None (no per-dimension rule)."""
    if isinstance(q, Chain) and isinstance(p, Chain):
        return chain_kl_dims(q, p, z)
    return q.kl(p)


def kl_divergence(q: Distribution, p: Distribution, z: Tensor) -> Tensor:
    """Per-example KL(q || p), shape (N,): `kl_dims` summed where it has a rule, else the
    single-sample estimate log q(z) - log p(z) at z ~ q."""
    per_dimension = kl_dims(q, p, z)
    if per_dimension is not None:
        return per_dimension.sum(1)
    return q.log_prob(z) - p.log_prob(z)
