"""Operators over a :class:`~gpu_milvus.filter.json_eval.JsonView` (server JSON semantics).

Numbers compare numerically across int and double (ints exactly when both are ints), bool is
never a number, strings only match strings, arrays compare element-wise. A missing key or a
type mismatch is FALSE (TRUE for ``!=``); a NULL JSON row is UNKNOWN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gpu_milvus.filter import kernels
from gpu_milvus.filter.json_eval import JsonView, json_match, literal_key
from gpu_milvus.filter.kernels import NP_CMP, PC_CMP, Tri


def _typed_compare(view: JsonView, op: str, v: Any) -> tuple[np.ndarray, np.ndarray]:
    """(ok, res): rows whose value has a type comparable with ``v``, and the comparison."""
    cmp = NP_CMP[op]
    if isinstance(v, bool):
        return view.is_bool, cmp(view.bools.astype(np.int8), np.int8(v))
    if isinstance(v, int):
        with np.errstate(invalid="ignore"):
            res = np.where(view.is_int, cmp(view.ints, np.int64(v)), cmp(view.nums, float(v)))
        return view.is_num, res
    if isinstance(v, float):
        with np.errstate(invalid="ignore"):
            return view.is_num, cmp(view.nums, v)
    if isinstance(v, str):
        res = kernels.to_np_bool(PC_CMP[op](view.strs, pa.scalar(v, pa.string())))
        return view.is_str, res
    res = np.zeros(view.n, bool)
    for i in np.flatnonzero(view.is_list):
        res[i] = json_match(view.values[i], v)
    if op == "NE":
        res = ~res
    return view.is_list, res


def compare(view: JsonView, op: str, v: Any) -> Tri:
    ok, res = _typed_compare(view, op, v)
    return kernels.finish(ok, res, ~view.row_null, op, absent_true=True)


def between(view: JsonView, lo: Any, lo_incl: bool, hi: Any, hi_incl: bool) -> Tri:
    ok1, r1 = _typed_compare(view, "GE" if lo_incl else "GT", lo)
    ok2, r2 = _typed_compare(view, "LE" if hi_incl else "LT", hi)
    return kernels.finish(ok1 & ok2, r1 & r2, ~view.row_null, "GE", absent_true=False)


def member(view: JsonView, values: tuple[Any, ...]) -> Tri:
    """``in``: an int set also matches integral doubles; mixed sets compare by JSON equality."""
    res = np.zeros(view.n, bool)
    ints = [v for v in values if type(v) is int]
    floats = [v for v in values if type(v) is float]
    if ints or floats:
        every = np.asarray([float(v) for v in ints + floats], dtype=np.float64)
        res |= view.is_int & np.isin(view.ints, np.asarray(ints, dtype=np.int64))
        if floats:
            res |= view.is_int & np.isin(view.ints.astype(np.float64), np.asarray(floats))
        res |= view.is_num & ~view.is_int & np.isin(view.nums, every)
    strs = [v for v in values if isinstance(v, str)]
    if strs:
        hit = pc.is_in(view.strs, value_set=pa.array(strs, pa.string()))
        res |= kernels.to_np_bool(hit)
    bools = [v for v in values if isinstance(v, bool)]
    if bools:
        res |= view.is_bool & np.isin(view.bools, np.asarray(bools, dtype=bool))
    arrays = [v for v in values if isinstance(v, tuple)]
    if arrays:
        for i in np.flatnonzero(view.is_list):
            res[i] = any(json_match(view.values[i], a) for a in arrays)
    valid = ~view.row_null
    return res & valid, ~res & valid


def like(view: JsonView, kind: str, operand: str) -> Tri:
    res = kernels.to_np_bool(kernels.like(view.strs, kind, operand))
    return kernels.finish(view.is_str, res, ~view.row_null, "EQ", absent_true=False)


def arith(view: JsonView, aop: str, operand: Any, op: str, value: Any) -> Tri:
    """``(path aop operand) op value``: int64 math for int values when the operand is an int."""
    cmp = NP_CMP[op]
    with np.errstate(all="ignore"):
        as_float = kernels.float_arith(view.nums, aop, float(operand))
        res = cmp(as_float, float(value))
        if isinstance(operand, int) and isinstance(value, int):
            as_int = kernels.int_arith(view.ints, aop, operand)
            res = np.where(view.is_int, cmp(as_int, np.int64(value)), res)
    return kernels.finish(view.is_num, res, ~view.row_null, op, absent_true=True)


def length(view: JsonView, op: str, value: int) -> Tri:
    res = NP_CMP[op](view.lengths(), np.int64(value))
    valid = ~view.row_null
    return res & valid, ~res & valid


def contains(view: JsonView, mode: str, elements: tuple[Any, ...]) -> Tri:
    """json_contains*: scalar elements by hashed keys, array elements element-wise."""
    scalars = [literal_key(e) for e in elements if not isinstance(e, tuple)]
    arrays = [e for e in elements if isinstance(e, tuple)]
    res = np.zeros(view.n, bool)
    for i, keys in enumerate(view.element_keys()):
        if keys is None:
            continue
        hits = [k in keys for k in scalars]
        if arrays:
            row = view.values[i]
            hits += [any(json_match(x, a) for x in row) for a in arrays]
        res[i] = all(hits) if mode == "ALL" else any(hits)
    valid = ~view.row_null
    return res & valid, ~res & valid


def exists(view: JsonView) -> Tri:
    t = view.exists()
    return t, ~t
