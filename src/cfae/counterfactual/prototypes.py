"""Class prototypes in latent space for counterfactual search (Van Looveren and Klaise 2021, the
prototype term of alibi's CounterfactualProto): the prototype of class c seen from an input x is
the mean of the k codes of class c nearest to E(x),

    proto_c(x) = (1 / k) sum_{z in kNN_c(E(x))} z        (Euclidean neighbours among reference codes)

and a stream adds theta ||E(x_t) - proto_t(x)||^2 to its loss, pulling its frames towards what the
target class looks like near the input (streams.py, plausibility "prototype").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from cfae.counterfactual.streams import StreamSettings
    from cfae.metrics.encode import Encoded


def class_prototypes(codes: Tensor, labels: Tensor, start: Tensor, targets: Tensor, k: int = 5) -> Tensor:
    """One prototype per row of start (N, D): the mean of the k reference codes (M, D) of class
    targets[n] nearest to start[n]; all of that class's codes when it has fewer than k."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    codes, start = codes.to(start.device, start.dtype), start.detach()
    labels, targets = labels.to(start.device), targets.to(start.device)
    prototypes = torch.empty_like(start)
    for c in targets.unique().tolist():
        rows = (targets == c).nonzero()[:, 0]
        pool = codes[labels == c]
        if len(pool) == 0:
            raise ValueError(f"no reference code of class {c} to build its prototype from")
        nearest = torch.cdist(start[rows], pool).topk(min(k, len(pool)), dim=1, largest=False).indices
        prototypes[rows] = pool[nearest].mean(1)
    return prototypes


@torch.no_grad()
def prototypes_for(vae, batch, targets: torch.Tensor, settings: StreamSettings, reference: Encoded | None, k: int = 5):
    """The target classes' prototypes seen from each input (class_prototypes of k codes over the
    reference codes) when the settings use the prototype term, else None."""
    if settings.plausibility != "prototype":
        return None
    if reference is None:
        raise ValueError("the prototype term needs reference codes of labelled images")
    return class_prototypes(reference.mean, reference.labels["label"], vae.encode(batch).mean, targets, k)
