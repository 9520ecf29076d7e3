"""Seeded draws from torch's global generator that leave the caller's random state untouched."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str | None = None):
    """Within the block the global generators (CPU, and the given CUDA device) start from `seed`;
    afterwards they are back where they were."""
    device = torch.device(device) if device is not None else None
    with torch.random.fork_rng(devices=[device] if device is not None and device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield
