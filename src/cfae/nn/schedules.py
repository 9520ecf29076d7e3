"""Scalar schedules driven by the global training step (KL warm-up, capacity annealing)."""

from torch import Tensor


def linear_ramp(step, start: float, end: float, steps: int):
    """start at step 0, rising linearly to end at `steps`, constant afterwards; `step` an int or a
    0-d tensor (a model's step buffer), and the result of the same kind."""
    if steps <= 0:
        return end
    t = step / steps
    t = t.clamp(0.0, 1.0) if isinstance(t, Tensor) else min(max(t, 0.0), 1.0)
    return start + (end - start) * t
