"""Constant values of the checker: type names, casts, constant folding and template values.

A constant is a Python ``bool``, ``int`` (int64 range), ``float``, ``str`` or ``tuple`` (an array
literal of constants); a not-yet-filled ``{name}`` placeholder is a :class:`Tmpl`. Type names
follow the Go ``schemapb.DataType`` names the server prints in its messages.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from typing import Any

from pymilvus import DataType

from gpu_milvus.filter.exc import FilterError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

INT_TYPES = frozenset({"Int8", "Int16", "Int32", "Int64"})
FLOAT_TYPES = frozenset({"Float", "Double"})
STRING_TYPES = frozenset({"VarChar", "String"})
ARITH_TYPES = INT_TYPES | FLOAT_TYPES

DTYPE_NAMES: dict[DataType, str] = {
    DataType.BOOL: "Bool",
    DataType.INT8: "Int8",
    DataType.INT16: "Int16",
    DataType.INT32: "Int32",
    DataType.INT64: "Int64",
    DataType.FLOAT: "Float",
    DataType.DOUBLE: "Double",
    DataType.VARCHAR: "VarChar",
    DataType.JSON: "JSON",
    DataType.ARRAY: "Array",
    DataType.FLOAT_VECTOR: "FloatVector",
    DataType.SPARSE_FLOAT_VECTOR: "SparseFloatVector",
}


@dataclass(frozen=True, slots=True)
class Tmpl:
    """An unfilled ``{name}`` template placeholder."""

    name: str


def dtype_name(dtype: DataType | None) -> str:
    if dtype is None:
        return "None"
    return DTYPE_NAMES.get(dtype, dtype.name.title().replace("_", ""))


def type_of(v: Any) -> str:
    """Checker type of a constant: Bool, Int64, Double, VarChar or Array."""
    if isinstance(v, bool):
        return "Bool"
    if isinstance(v, int):
        return "Int64"
    if isinstance(v, float):
        return "Double"
    if isinstance(v, str):
        return "VarChar"
    if isinstance(v, tuple):
        return "Array"
    return "None"


def array_elem_type(items: tuple[Any, ...]) -> str:
    """Element type of an array literal: the shared type, else ``None`` (also when empty)."""
    if not items:
        return "None"
    first = type_of(items[0])
    return first if all(type_of(x) == first for x in items[1:]) else "None"


def show(v: Any) -> str:
    """A value as the server prints a GenericValue proto."""
    if isinstance(v, bool):
        return f"bool_val:{str(v).lower()}"
    if isinstance(v, int):
        return f"int64_val:{v}"
    if isinstance(v, float):
        return f"float_val:{v:g}"
    if isinstance(v, str):
        return f"string_val:{json.dumps(v, ensure_ascii=False)}"
    if isinstance(v, tuple):
        return "array_val:{" + " ".join(f"array:{{{show(x)}}}" for x in v) + "}"
    return repr(v)


def wrap64(i: int) -> int:
    """Two's-complement wrap to int64, like Go integer arithmetic."""
    return ((i - INT64_MIN) % 2**64) + INT64_MIN


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# -- casts -------------------------------------------------------------------------------


def cast_value(dtype: str, v: Any) -> Any:
    """``castValue``: a constant converted to a column type, or an error."""
    if dtype == "JSON":
        return v
    if dtype == "Array" and isinstance(v, tuple):
        return v
    if dtype in STRING_TYPES and isinstance(v, str):
        return v
    if dtype == "Bool" and isinstance(v, bool):
        return v
    if dtype in FLOAT_TYPES and is_number(v):
        return float(v)
    if dtype in INT_TYPES and isinstance(v, int) and not isinstance(v, bool):
        return v
    raise FilterError(f"cannot cast value to {dtype}, value: {show(v)}")


def cast_range_value(dtype: str, v: Any) -> Any:
    """``castRangeValue``: range bounds must match the column type (bool never)."""
    if dtype in STRING_TYPES and not isinstance(v, str):
        raise FilterError("invalid range operations")
    if dtype == "Bool":
        raise FilterError("invalid range operations on boolean expr")
    if dtype in INT_TYPES and not (isinstance(v, int) and not isinstance(v, bool)):
        raise FilterError("invalid range operations")
    if dtype in FLOAT_TYPES:
        if not is_number(v):
            raise FilterError("invalid range operations")
        return float(v)
    return v


# -- constant folding --------------------------------------------------------------------

_ARITH_NAMES = {"ADD": "add", "SUB": "subtract", "MUL": "multiply", "DIV": "divide"}


def _go_pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ValueError:
        return math.nan
    except OverflowError:
        return math.inf if a > 0 or (float(b).is_integer() and int(b) % 2 == 0) else -math.inf


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_mod(a: int, b: int) -> int:
    return a - trunc_div(a, b) * b


def fold_arith(op: str, a: Any, b: Any) -> Any:
    """Fold ``a op b`` for two constants (ADD SUB MUL DIV MOD POW)."""
    if op == "MOD":
        if not (type_of(a) == "Int64" and type_of(b) == "Int64"):
            raise FilterError("modulo can only apply on integer")
        if b == 0:
            raise FilterError("cannot modulo by zero")
        return wrap64(c_mod(a, b))
    for v in (a, b):
        if not is_number(v):
            kind = "bool" if isinstance(v, bool) else "string" if isinstance(v, str) else "array"
            name = _ARITH_NAMES.get(op, "power")
            raise FilterError(f"{name} cannot apply on {kind} field")
    both_int = isinstance(a, int) and isinstance(b, int)
    if op == "ADD":
        return wrap64(a + b) if both_int else float(a) + float(b)
    if op == "SUB":
        return wrap64(a - b) if both_int else float(a) - float(b)
    if op == "MUL":
        return wrap64(a * b) if both_int else float(a) * float(b)
    if op == "DIV":
        if b == 0:
            raise FilterError("cannot divide by zero")
        return wrap64(trunc_div(a, b)) if both_int else float(a) / float(b)
    if op == "POW":
        if both_int and b >= 0 and (abs(a) <= 1 or b < 64):
            r = a**b
            if INT64_MIN <= r <= INT64_MAX:
                return r
        return _go_pow(float(a), float(b))
    raise FilterError(f"unexpected op: {op}")


def fold_compare(op: str, a: Any, b: Any) -> bool | None:
    """Fold a comparison of two constants; None when the types are incompatible."""
    if isinstance(a, str) and isinstance(b, str):
        pass
    elif is_number(a) and is_number(b):
        if isinstance(a, float) or isinstance(b, float):
            a, b = float(a), float(b)
    elif isinstance(a, bool) and isinstance(b, bool) and op in ("EQ", "NE"):
        pass
    else:
        return None
    if op == "EQ":
        return bool(a == b)
    if op == "NE":
        return bool(a != b)
    if op == "LT":
        return bool(a < b)
    if op == "LE":
        return bool(a <= b)
    if op == "GT":
        return bool(a > b)
    return bool(a >= b)


def fold_logical(op: str, a: Any, b: Any) -> bool:
    if not (isinstance(a, bool) and isinstance(b, bool)):
        raise FilterError(f"{op.lower()} can only apply on boolean")
    return (a and b) if op == "AND" else (a or b)


def fold_unary(op: str, v: Any) -> Any:
    if op == "ADD":
        return v
    if op == "SUB":
        if isinstance(v, bool) or not is_number(v):
            raise FilterError(f"unary minus cannot apply on {type_of(v)} value")
        return wrap64(-v) if isinstance(v, int) else -v
    if op == "NOT":
        if not isinstance(v, bool):
            raise FilterError("not can only apply on boolean")
        return not v
    raise FilterError("unexpected op: ~")


# -- template values (pymilvus ``filter_params`` as the server receives them) --------------


def _json_number(text: str) -> Any:
    try:
        i = int(text)
    except ValueError:
        return float(text)
    return i if INT64_MIN <= i <= INT64_MAX else float(text)


def _from_json(v: Any) -> Any:
    if isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return _json_number(json.dumps(v))
    if isinstance(v, list):
        return tuple(_from_json(x) for x in v)
    raise FilterError(f"{v!r} is of unknown type", parse=False)


def _param_array(items: list[Any]) -> tuple[Any, ...]:
    if not items:
        return ()
    head = type(items[0])
    if all(isinstance(x, head) for x in items):
        return tuple(from_param(x) for x in items)
    try:
        return tuple(_from_json(json.loads(json.dumps(x))) for x in items)
    except (TypeError, ValueError):
        raise FilterError("template array element cannot be encoded as JSON", parse=False) from None


def from_param(v: Any) -> Any:
    """One ``filter_params`` value as the server sees it after pymilvus encodes it."""
    if isinstance(v, bool):
        return v
    if isinstance(v, numbers.Integral):
        i = int(v)
        if not INT64_MIN <= i <= INT64_MAX:
            raise FilterError(f"template value {i} is out of int64 range", parse=False)
        return i
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, str):
        return v
    if hasattr(v, "tolist") and not isinstance(v, (bytes, bytearray)):
        v = v.tolist()
        if not isinstance(v, list):
            return from_param(v)
    if isinstance(v, (list, tuple)):
        return _param_array(list(v))
    if isinstance(v, (bytes, bytearray)):
        raise FilterError("bytes template values are not supported", parse=False)
    raise FilterError(f"Unsupported element type: {type(v).__name__}", parse=False)
