"""Interventional consistency of the response map R = E o D (seed 003 section 2.1; Leeb et al. 2021).

For codes N (samples of the aggregate posterior), hard interventions I = do(N_m = v) with v drawn
from Q(N_m), N_I the intervened codes, N' = R(N) and N'_I = R(N_I):

    U_I       = E_N |N_m - v| / s_m                       size of the intervention, in sd units
    e_I,i     = E_N |N'_i - N'_I,i| / (s_i U_I)            response leaking into dimension i
    INV[m, i] = 1 - E_I e_I,i                             (eq. 5; off-diagonal 1 = invariant)
    r_I,i     = E_N ||Z_I,i - Z'_I,i|| / (t_i U_I),  Z_I = X(N_I), Z'_I = X(I(N'_I))
    EQV[m, i] = 1 - E_I r_I,i                             (all entries 1 = equivariant)
    SCN[i]    = 1 - E_N |N'_i - N_i| / s_i                 (no intervention)

s_i is the standard deviation of code dimension i over the sampled N and t_i that of cause unit i
(root of the summed variances of its dimensions). The seed leaves the units of U_I and s_i open and
takes s_i in the response space; cfae measures both in standard deviations of the codes, which makes
every score unit-free and keeps it finite when a response dimension collapses to a constant (its
s_i would be 0): a linear response that leaks a * (N_m - v) into dimension i gives e_I,i = |a| s_m / s_i. X is the model's XBlock (identity without one); models are
read through `encode`, `decode` and, if present, `causes`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cfae.counterfactual.hybrid import hybrid_codes, sample_codes
from cfae.nn.divergences import mmd
from cfae.registry import check_choices

EPS = 1e-8
SCN_SCALES = ("codes", "response")


@torch.no_grad()
def response(model, codes: Tensor, batch_size: int = 500) -> Tensor:
    """R(N): posterior means of the decoded codes, in batches (on the model's device, returned on codes')."""
    device = next(model.parameters()).device
    parts = [model.encode(model.decode(part.to(device))).mean.float().to(codes.device) for part in codes.split(batch_size)]
    return torch.cat(parts)


@torch.no_grad()
def causes_of(model, codes: Tensor, batch_size: int = 500) -> Tensor:
    """Z = X(N) for models with a latent block (their `causes`), else the codes themselves."""
    if not hasattr(model, "causes"):
        return codes
    device = next(model.parameters()).device
    return torch.cat([model.causes(part.to(device)).float().to(codes.device) for part in codes.split(batch_size)])


def unit_norms(values: Tensor, unit_dim: int) -> Tensor:
    """Euclidean norm of each cause unit: (..., n * unit_dim) -> (..., n)."""
    return values.unflatten(-1, (-1, unit_dim)).norm(dim=-1)


def random_rows(codes: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """count distinct rows of codes in random order, as float."""
    return codes[torch.randperm(len(codes), generator=generator)[:count]].float()


def consistency_matrices(model, codes: Tensor, interventions: int = 10, samples: int = 200, seed: int = 0,
                         unit_dim: int = 1) -> dict[str, Tensor]:
    """INV (n, n), EQV (n, n) and SCN (n,) at `samples` rows of codes and `interventions` values per dimension."""
    gen = torch.Generator().manual_seed(seed)
    base = random_rows(codes, samples, gen)
    values = sample_codes(codes.float(), interventions, "hybrid", gen).T  # (n, V): values from each Q(N_m)
    n = base.shape[1]
    plain = response(model, base)
    s = base.std(0).clamp_min(EPS)
    cause_plain = causes_of(model, base)
    t = unit_norms(cause_plain - cause_plain.mean(0), unit_dim).square().mean(0).sqrt().clamp_min(EPS)
    inv, eqv = torch.zeros(n, n), torch.zeros(n, n)
    for m in range(n):
        grid = base.repeat(interventions, 1)  # (V * T, n), block j holds value j
        grid[:, m] = values[m].repeat_interleave(len(base))
        moved = response(model, grid)
        again = moved.clone()
        again[:, m] = grid[:, m]
        size = (grid[:, m] - base[:, m].repeat(interventions)).abs().view(interventions, -1).mean(1) / s[m]
        leak = (moved - plain.repeat(interventions, 1)).abs().view(interventions, -1, n).mean(1) / s
        gap = unit_norms(causes_of(model, grid) - causes_of(model, again), unit_dim)
        gap = gap.view(interventions, -1, n).mean(1) / t
        keep = size > EPS  # a value equal to every sample's own is no intervention
        inv[m] = 1 - (leak[keep] / size[keep, None]).mean(0)
        eqv[m] = 1 - (gap[keep] / size[keep, None]).mean(0)
    scn = 1 - (plain - base).abs().mean(0) / s
    return {"INV": inv, "EQV": eqv, "SCN": scn}


def invariance_summary(inv: Tensor) -> float:
    """Mean off-diagonal invariance (the diagonal measures responsiveness, not invariance)."""
    n = inv.shape[0]
    if n < 2:
        return math.nan
    return float(inv[~torch.eye(n, dtype=torch.bool)].mean())


def self_consistency(model, codes: Tensor, mode: str, count: int = 1000, seed: int = 0,
                     scale: str = "codes") -> Tensor:
    """SCN[i] = 1 - E|R(N)_i - N_i| / sigma_i under prior draws of the given mode (posterior, hybrid
    or uniform) built from codes; sigma_i the sd of the drawn codes (scale "codes", cfae's unit) or of
    the response (scale "response", the seed's reading: a response that inflates codes scores higher)."""
    check_choices("self-consistency scale", [scale], SCN_SCALES)
    return self_consistency_scales(model, codes, mode, count, seed)[scale]


def self_consistency_scales(model, codes: Tensor, mode: str, count: int = 1000, seed: int = 0) -> dict[str, Tensor]:
    """SCN under both scales from one response pass (see self_consistency)."""
    gen = torch.Generator().manual_seed(seed)
    drawn = sample_codes(codes.float(), count, mode, gen)
    answer = response(model, drawn)
    error = (answer - drawn).abs().mean(0)
    return {scale: 1 - error / (drawn if scale == "codes" else answer).std(0).clamp_min(EPS) for scale in SCN_SCALES}


def traversal_response(model, codes: Tensor, dim: int, steps: int = 11, samples: int = 8, seed: int = 0,
                       quantiles: tuple[float, float] = (0.01, 0.99)) -> dict[str, Tensor]:
    """Seed Figure 2: do(N_dim = v) for v over the given quantiles of Q(N_dim), at `samples` rows;
    errors[step, sample, i] = N_I,i - R(N_I)_i (signed), and the traversal values."""
    gen = torch.Generator().manual_seed(seed)
    base = random_rows(codes, samples, gen)
    values = torch.quantile(codes[:, dim].float(), torch.linspace(*quantiles, steps))
    grid = base.repeat(steps, 1)
    grid[:, dim] = values.repeat_interleave(len(base))
    errors = (grid - response(model, grid)).view(steps, len(base), -1)
    return {"values": values, "errors": errors, "codes": grid.view(steps, len(base), -1)}


def latent_response_matrix(model, codes: Tensor, samples: int = 500, seed: int = 0) -> Tensor:
    """Leeb et al. (2021), reference E: row j = root mean square over rows of R(N with column j
    replaced by a shuffled column of codes) - R(N), per response dimension."""
    gen = torch.Generator().manual_seed(seed)
    base = random_rows(codes, samples, gen)
    plain = response(model, base)
    rows = []
    for j in range(base.shape[1]):
        moved = base.clone()
        moved[:, j] = base[torch.randperm(len(base), generator=gen), j]
        rows.append((response(model, moved) - plain).square().mean(0).sqrt())
    return torch.stack(rows)


def hybrid_mmd(codes: Tensor, count: int = 2000, seed: int = 0) -> float:
    """Seed Figure 8: MMD^2 (inverse multiquadric kernel) between codes and their hybridised version;
    0 when the dimensions are independent, growing with their dependence."""
    gen = torch.Generator().manual_seed(seed)
    picked = random_rows(codes, count, gen).double()
    return float(mmd(picked, hybrid_codes(picked, gen), "imq"))


def mask_sparsity(adjacency: Tensor) -> dict[str, float]:
    """Edges of a learned XBlock mask (adjacency [child, parent] in {0, 1}, strictly lower triangle):
    the fraction of the n (n - 1) / 2 possible edges that are present, and the same count over all
    n^2 entries (the reading under which the seed's Table 1 values, (n - 1) / (2 n), are those of a
    fully connected mask)."""
    n = adjacency.shape[0]
    edges = float(torch.tril(adjacency, diagonal=-1).sum())
    possible = n * (n - 1) / 2
    return {"edges": edges, "possible": possible, "edge_percent": 100 * edges / possible if possible else math.nan,
            "percent_of_n_squared": 100 * edges / n**2}
