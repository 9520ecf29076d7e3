"""The one result type of every counterfactual method (do() on latents, attribute flips, streams...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor


@dataclass
class CounterfactualResult:
    """inputs x (N, C, H, W); counterfactuals x' (N, C, H, W), or (N, T, C, H, W) for methods that
    return a sequence of frames; the codes before (N, D) and after (N, D) or (N, T, D); the method's
    name and the settings it ran with (JSON-serialisable)."""

    inputs: Tensor
    counterfactuals: Tensor
    codes_before: Tensor
    codes_after: Tensor
    method: str
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.inputs)
        for name in ("counterfactuals", "codes_before", "codes_after"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows for {n} inputs")

    def __len__(self) -> int:
        return len(self.inputs)

    def changed_dimensions(self, tolerance: float = 1e-6) -> Tensor:
        """(N, D) mask of latent dimensions the counterfactual moved (last frame for sequences)."""
        after = self.codes_after if self.codes_after.ndim == 2 else self.codes_after[:, -1]
        return (after - self.codes_before).abs() > tolerance
