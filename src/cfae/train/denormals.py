"""Flush float32 denormals to zero on the CPU (FTZ/DAZ), where arithmetic on them is many times slower.

Adam's first moment m <- beta1 m + (1 - beta1) g of a weight whose gradient stays zero (a pixel
that is background in every image of a batch, e.g. most of a 64 x 64 shapes image) decays by beta1
each step and passes through the denormal range (|m| < 1.2e-38) for about 150 steps before it
reaches zero. In the 1200-1200 beta-VAE on shapes, 24 % of all of Adam's moments were denormal
after 14 epochs, and an epoch took 76 s instead of 36 s (docs/results.md). Flushed, such values
count as zero; an Adam update they would have made is below the float32 resolution of the weight
anyway. Set CFAE_FLUSH_DENORMALS=0 to keep IEEE gradual underflow.

The flag is per thread, and torch's intra-op threads copy it when they start. Every `cfae` command
sets it at start-up, before the pool exists; Trainer.fit sets it too, which reaches the calling
thread and threads started later, but not a pool already running (call flush_denormals() before
the first torch operation of a script to cover every thread).
"""

from __future__ import annotations

import os

import torch


def flush_denormals() -> bool:
    """Turn FTZ/DAZ on for this thread and the intra-op threads it starts from now on; True when the
    CPU supports it (x86 with SSE3), False there or when CFAE_FLUSH_DENORMALS is 0."""
    if os.environ.get("CFAE_FLUSH_DENORMALS", "1") == "0":
        return False
    return torch.set_flush_denormal(True)
