"""Vectorised building blocks: three-valued masks, typed scalars, LIKE and arithmetic kernels.

A three-valued result is a pair ``(t, f)`` of NumPy bool arrays: rows that are definitely TRUE
and rows that are definitely FALSE; rows in neither are UNKNOWN (SQL NULL).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gpu_milvus.filter import likepat

Tri = tuple[np.ndarray, np.ndarray]

PC_CMP = {
    "EQ": pc.equal,
    "NE": pc.not_equal,
    "LT": pc.less,
    "LE": pc.less_equal,
    "GT": pc.greater,
    "GE": pc.greater_equal,
}
NP_CMP = {
    "EQ": np.equal,
    "NE": np.not_equal,
    "LT": np.less,
    "LE": np.less_equal,
    "GT": np.greater,
    "GE": np.greater_equal,
}
_INT_RANGES = {
    pa.int8(): (-(2**7), 2**7 - 1),
    pa.int16(): (-(2**15), 2**15 - 1),
    pa.int32(): (-(2**31), 2**31 - 1),
    pa.int64(): (-(2**63), 2**63 - 1),
}


def combine(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous Array (a copy only when there are several chunks)."""
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 1:
            return arr.chunk(0)
        if arr.num_chunks == 0:
            return pa.array([], type=arr.type)
        return pa.concat_arrays(arr.chunks)
    return arr


def to_np_bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as NumPy, nulls read as False."""
    a = combine(arr)
    if a.null_count:
        a = pc.fill_null(a, False)
    if len(a) == 0:
        return np.zeros(0, bool)
    return np.asarray(a.to_numpy(zero_copy_only=False), dtype=bool)


def valid_mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """Validity as NumPy, or None when the array has no nulls."""
    if arr.null_count == 0:
        return None
    return to_np_bool(pc.is_valid(arr))


def tri(result: pa.Array | pa.ChunkedArray, forced_false: np.ndarray | None = None) -> Tri:
    """Kleene result of an Arrow boolean array; ``forced_false`` rows become definite FALSE."""
    t = to_np_bool(result)
    valid = valid_mask(result)
    f = ~t if valid is None else valid & ~t
    if forced_false is not None:
        f = f | forced_false
    return t, f


def full(n: int, value: bool) -> Tri:
    return np.full(n, value), np.full(n, not value)


def int_fits(typ: pa.DataType, v: int) -> bool:
    lo, hi = _INT_RANGES.get(typ, _INT_RANGES[pa.int64()])
    return lo <= v <= hi


def scalar_for(typ: pa.DataType, v: Any) -> pa.Scalar:
    """A literal as a scalar of the column type (float32 columns compare in float32)."""
    if pa.types.is_floating(typ):
        with np.errstate(over="ignore"):
            return pa.scalar(np.dtype(typ.to_pandas_dtype()).type(v), type=typ)
    return pa.scalar(v, type=typ)


def numeric_operand(
    arr: pa.Array | pa.ChunkedArray, values: list[Any]
) -> pa.Array | pa.ChunkedArray:
    """Widen an integer column to int64 when a literal does not fit its own type."""
    typ = arr.type
    wide = pa.types.is_integer(typ) and typ != pa.int64()
    if wide and any(isinstance(v, int) and not int_fits(typ, v) for v in values):
        return pc.cast(arr, pa.int64())
    return arr


def compare(arr: pa.Array | pa.ChunkedArray, op: str, v: Any) -> pa.Array | pa.ChunkedArray:
    arr = numeric_operand(arr, [v])
    return PC_CMP[op](arr, scalar_for(arr.type, v))


def value_set(typ: pa.DataType, values: tuple[Any, ...]) -> pa.Array:
    """``in`` values as an array of the column type, dropping ones that can never match."""
    if pa.types.is_integer(typ):
        keep = [v for v in values if isinstance(v, int) and int_fits(typ, v)]
        keep += [
            int(v)
            for v in values
            if isinstance(v, float) and v.is_integer() and int_fits(typ, int(v))
        ]
        return pa.array(keep, type=typ)
    if pa.types.is_floating(typ):
        np_type = np.dtype(typ.to_pandas_dtype())
        with np.errstate(over="ignore"):
            return pa.array(np.asarray([float(v) for v in values], dtype=np_type), type=typ)
    if pa.types.is_boolean(typ):
        return pa.array([v for v in values if isinstance(v, bool)], type=typ)
    return pa.array([v for v in values if isinstance(v, str)], type=typ)


def like(arr: pa.Array | pa.ChunkedArray, kind: str, operand: str) -> pa.Array | pa.ChunkedArray:
    """A LIKE shape over a string array (nulls stay null)."""
    if kind == likepat.EQ:
        return pc.equal(arr, pa.scalar(operand, type=arr.type))
    if kind == likepat.PREFIX:
        return pc.starts_with(arr, pattern=operand)
    if kind == likepat.POSTFIX:
        return pc.ends_with(arr, pattern=operand)
    if kind == likepat.INNER:
        return pc.match_substring(arr, pattern=operand)
    binary = pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary()
    return pc.match_like(arr.cast(binary), pattern=operand)


def int_arith(a: np.ndarray, aop: str, b: int) -> np.ndarray:
    """int64 arithmetic with C semantics: wrap-around, truncating ``/``, dividend-signed ``%``."""
    with np.errstate(all="ignore"):
        if aop == "ADD":
            return a + np.int64(b)
        if aop == "SUB":
            return a - np.int64(b)
        if aop == "MUL":
            return a * np.int64(b)
        if aop == "DIV":
            if b == -1:
                return -a
            return (a - np.fmod(a, np.int64(b))) // np.int64(b)
        if b in (1, -1):
            return np.zeros_like(a)
        return np.fmod(a, np.int64(b))


def float_arith(a: np.ndarray, aop: str, b: float) -> np.ndarray:
    """Float arithmetic in the array's own width; ``%`` is C ``fmod``."""
    bb = a.dtype.type(b)
    with np.errstate(all="ignore"):
        if aop == "ADD":
            return a + bb
        if aop == "SUB":
            return a - bb
        if aop == "MUL":
            return a * bb
        if aop == "DIV":
            return a / bb
        return np.fmod(a, bb)


def finish(
    ok: np.ndarray, res: np.ndarray, valid: np.ndarray | None, op: str, absent_true: bool
) -> Tri:
    """Three-valued result where ``ok`` rows have a typed value and ``res`` is its comparison.

    Rows that are valid but not ``ok`` (missing key, wrong type, index out of range) are FALSE,
    or TRUE for ``!=`` when ``absent_true``; rows not ``valid`` are UNKNOWN.
    """
    t = ok & res
    f = ok & ~res
    absent = ~ok if valid is None else valid & ~ok
    if op == "NE" and absent_true:
        t = t | absent
    else:
        f = f | absent
    return t, f
