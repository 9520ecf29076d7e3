"""Keep freed tensor memory in the process on Linux (glibc), where CPU training would otherwise pay
for page faults on every large activation.

glibc serves blocks above M_MMAP_THRESHOLD (128 KiB to 32 MiB, adapting) with a fresh mmap and
returns them on free, so every step of a conv net at 64 x 64 maps, zero-fills and unmaps its
activations again. Raising M_MMAP_THRESHOLD and M_TRIM_THRESHOLD keeps that memory on the heap for
the next step. Measured on the CPU box with benchmarks/allocator.py (one thread, batch 128): a step
of the 64 x 64 XAE went from 2.01 s, 0.42 s of it system time, to 1.43 s (1.41x); a 28 x 28 step
gained 1.18x. docs/results.md has the figures.

Set CFAE_KEEP_FREED_MEMORY=0 to leave the allocator as it is. The cost is that up to `limit` bytes of
freed memory stay with the process instead of going back to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc malloc.h)
LIMIT = 1 << 30


def keep_freed_memory(limit: int = LIMIT) -> bool:
    """Raise glibc's mmap and trim thresholds to `limit` bytes; True when both were set. A no-op
    (False) off Linux, without glibc, or when CFAE_KEEP_FREED_MEMORY is 0."""
    if os.environ.get("CFAE_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, limit))
