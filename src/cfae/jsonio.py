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


def _indented(value: Any, level: int) -> str:
    """JSON text of value (already finite_or_none): objects and lists of containers one item a line,
    indented two spaces a level; a list of plain values stays on one line, however long."""
    pad, close = "  " * (level + 1), "  " * level
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(k if isinstance(k, str) else json.dumps(k))}: {_indented(v, level + 1)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + close + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(pad + _indented(v, level + 1) for v in value) + "\n" + close + "]"
    return json.dumps(value, allow_nan=False)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write text via a temporary file and os.replace: readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write data as indented, strict JSON (lists of numbers on one line), atomically."""
    return write_text_atomic(path, _indented(finite_or_none(data), 0) + "\n")
