"""Where data and generated caches live: --data-root, else CFAE_DATA, else ~/.cache/cfae."""

from __future__ import annotations

import os
from pathlib import Path


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The data root: the explicit argument, else $CFAE_DATA, else ~/.cache/cfae."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("CFAE_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cfae"


def cache_dir() -> Path:
    """Writable folder for generated datasets: $CFAE_CACHE, else ~/.cache/cfae/generated."""
    env = os.environ.get("CFAE_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "cfae" / "generated"
    path.mkdir(parents=True, exist_ok=True)
    return path
