"""Prior draws for models without a prior of their own, from encoded codes (N, n) (seed 003 Table 2):

    posterior  rows of the aggregate posterior Q(N)
    hybrid     each dimension from an independent random row (Leeb et al. 2020; reference E): every
               marginal is kept exactly, every dependence between dimensions is broken
    uniform    each dimension uniform between its smallest and largest encoded value
"""

from __future__ import annotations

import torch
from torch import Tensor

from cfae.registry import check_choices

SAMPLING_MODES = ("posterior", "hybrid", "uniform")


def hybrid_codes(codes: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A permutation of each column drawn independently: the same multiset per dimension."""
    n, d = codes.shape
    order = torch.stack([torch.randperm(n, generator=generator) for _ in range(d)], 1).to(codes.device)
    return codes.gather(0, order)


def sample_codes(codes: Tensor, count: int, mode: str, generator: torch.Generator | None = None) -> Tensor:
    """count draws of the given mode from codes (N, n)."""
    check_choices("sampling mode", [mode], SAMPLING_MODES)
    if mode == "uniform":
        low, high = codes.min(0).values, codes.max(0).values
        return low + (high - low) * torch.rand(count, codes.shape[1], generator=generator).to(codes)
    rows = torch.randint(len(codes), (count, codes.shape[1] if mode == "hybrid" else 1), generator=generator)
    rows = rows.expand(count, codes.shape[1]).to(codes.device)
    return codes.gather(0, rows)


def swapped_codes(base: Tensor, first: Tensor, second: Tensor) -> Tensor:
    """(n, n, D): entry [i, j] is base with dimension i from first and dimension j from second; the
    diagonal [i, i] takes dimension i from first only (seed 003 Figure 35; its diagonal is Figure 34's
    hybridisation of base with first)."""
    n = base.shape[0]
    codes = base.repeat(n, n, 1)
    idx = torch.arange(n)
    codes[:, idx, idx] = second[idx].expand(n, n)
    codes[idx, :, idx] = first[idx][:, None].expand(n, n)
    return codes


@torch.no_grad()
def double_interventions(model, base: Tensor, first: Tensor, second: Tensor, on: str = "noise") -> Tensor:
    """Decoded (n, n, C, H, W) double interventions on one code (D,) with values from two others:
    on "noise" the codes are swapped (an XBlock then recomputes every cause), on "causes" the cause
    units are set by do() (links from their parents cut; models with `cause_names` only)."""
    n = base.shape[0]
    if on == "noise":
        images = model.decode(swapped_codes(base, first, second).view(n * n, n))
        return images.view(n, n, *images.shape[1:])
    if on != "causes" or not hasattr(model, "cause_names"):
        raise ValueError(f"double interventions act on 'noise', or on 'causes' of a model with cause units; got {on!r}")
    units = lambda codes: model.causes(codes[None]).view(n, -1)  # noqa: E731
    z1, z2, names = units(first), units(second), model.cause_names
    rows = [torch.cat([model.intervene(base[None], {names[j]: z2[j], names[i]: z1[i]}) for j in range(n)]) for i in range(n)]
    return torch.stack(rows)
