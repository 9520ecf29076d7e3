"""Scalar schedules driven by the global training step (KL warm-up, capacity annealing)."""


def linear_ramp(step: int, start: float, end: float, steps: int) -> float:
    """start at step 0, rising linearly to end at `steps`, constant afterwards."""
    if steps <= 0:
        return end
    t = min(max(step / steps, 0.0), 1.0)
    return start + (end - start) * t
