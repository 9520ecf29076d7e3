"""Counterfactuals against the simulator's truth on a renderable factor space (seed 003, generated shapes).

For an image x = render(f) and the same scene with one factor changed, x* = render(f'), a model
that has the factor in one latent dimension can reach x* by intervening on that dimension alone:

    m*     = the dimension whose code moves most, |E(x*)_m - E(x)_m| / sd_m
    x_cf   = D(E(x) with dimension m* set to E(x*)_m*)
    error  = mean over pixels of (x_cf - x*)^2,   floor = that of D(E(x*))   (full re-encoding)

A model whose factor is spread over several dimensions, or whose decoder does not carry the
intervention through, pays in `error` what `floor` does not.
"""

from __future__ import annotations

import numpy as np
import torch

from cfae.metrics.consistency import EPS


@torch.no_grad()
def counterfactual_batch(model, space, n: int = 500, seed: int = 0) -> dict:
    """n scenes x, each with one random factor changed to a different value (target = its true
    render), the model's single-dimension counterfactual of x, D(E(target)), the chosen dimensions
    and which factor changed (the formulas above)."""
    rng = np.random.default_rng(seed)
    factors = space.sample_factors(n, rng)
    changed = factors.copy()
    which = rng.integers(0, len(space.factor_sizes), n)
    for k in range(n):
        size = space.factor_sizes[which[k]]
        changed[k, which[k]] = (factors[k, which[k]] + rng.integers(1, size)) % size  # a different value
    device = next(model.parameters()).device
    model.eval()
    x, target = space.render(factors).to(device), space.render(changed).to(device)
    codes, codes_target = model.encode(x).mean, model.encode(target).mean
    spread = torch.cat([codes, codes_target]).std(0).clamp_min(EPS)
    chosen = ((codes_target - codes).abs() / spread).argmax(1)
    rows = torch.arange(n, device=device)
    intervened = codes.clone()
    intervened[rows, chosen] = codes_target[rows, chosen]
    return {"x": x, "target": target, "counterfactual": model.decode(intervened), "reencoded": model.decode(codes_target),
            "chosen": chosen.cpu(), "factor": torch.as_tensor(which)}


def single_dimension_counterfactuals(model, space, n: int = 500, seed: int = 0) -> dict[str, float]:
    """Mean counterfactual error, its floor, and the share of changes whose chosen dimension is the
    same for every change of that factor (its most frequent dimension's share, averaged over factors)."""
    batch = counterfactual_batch(model, space, n, seed)
    error = (batch["counterfactual"] - batch["target"]).square().flatten(1).mean(1)
    floor = (batch["reencoded"] - batch["target"]).square().flatten(1).mean(1)
    agreement = []
    for f in range(len(space.factor_sizes)):
        picked = batch["chosen"][batch["factor"] == f]
        if len(picked):
            agreement.append(float(torch.bincount(picked).max()) / len(picked))
    return {"error": float(error.mean()), "floor": float(floor.mean()), "dimension_agreement": float(np.mean(agreement))}
