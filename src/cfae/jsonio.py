"""Strict JSON out: NaN and infinities become null (JSON has no such numbers), files are replaced atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def finite_or_none(value: Any) -> Any:
    """The same structure with every non-finite float replaced by None (numpy scalars and tensors as floats)."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(data: Any, **kwargs) -> str:
    """json.dumps that can only write valid JSON."""
    return json.dumps(finite_or_none(data), allow_nan=False, **kwargs)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write text via a temporary file and os.replace: readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write data as indented, strict JSON, atomically."""
    return write_text_atomic(path, dumps(data, indent=2))
