"""Reader for the IDX format of MNIST-style files (LeCun et al.), gzipped or raw."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataFileError(ValueError):
    """A data file is corrupt or not in the expected format; the message names the file."""


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file: 2 zero bytes, a type code, the rank, then rank big-endian uint32 sizes."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DataFileError(f"{path}: corrupt gzip stream ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFileError(f"{path}: not an IDX file (wrong magic number {raw[:4].hex() or 'empty'})")
    code, rank = raw[2], raw[3]
    if code not in _DTYPES:
        raise DataFileError(f"{path}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{rank}I", raw[4:header])
    dtype = np.dtype(_DTYPES[code])
    expected = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    if len(raw) - header != expected:
        raise DataFileError(
            f"{path}: truncated or oversized IDX payload: {len(raw) - header} bytes for shape {shape} "
            f"(expected {expected})"
        )
    try:
        values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    except ValueError as err:  # e.g. no values, but sizes whose product numpy cannot index (0 x 4e8 x 4e8)
        raise DataFileError(f"{path}: IDX shape {shape} cannot be an array ({err})") from None
    return values.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an array as raw (or, for a .gz name, gzipped) IDX."""
    codes = {np.dtype(v).newbyteorder(">").str if np.dtype(v).itemsize > 1 else np.dtype(v).str: k for k, v in _DTYPES.items()}
    arr = np.ascontiguousarray(array)
    big = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    code = codes[big.dtype.str]
    payload = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + big.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
