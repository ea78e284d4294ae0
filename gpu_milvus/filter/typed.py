"""The checker's intermediate result (the Go visitor's ``ExprWithType``) and its type rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpu_milvus.filter import ir
from gpu_milvus.filter.exc import FilterError
from gpu_milvus.filter.values import (
    ARITH_TYPES,
    FLOAT_TYPES,
    INT_TYPES,
    STRING_TYPES,
    Tmpl,
    array_elem_type,
)

VALUE = "value"  # a constant
TMPL = "tmpl"  # a {name} placeholder
COLUMN = "column"  # a column reference
ARITH = "arith"  # column/constant arithmetic, only usable inside a comparison
ARRAYLEN = "arraylen"  # array_length(x), only usable inside a comparison
PRED = "pred"  # an executable or boolean predicate


@dataclass(slots=True)
class Typed:
    """One visited node: what it is, its checker type and whether it can stand alone."""

    kind: str
    dtype: str
    dependent: bool
    value: Any = None
    col: ir.Col | None = None
    pred: ir.Pred | None = None
    arith: tuple[Typed, str, Typed] | None = None
    template: bool = False

    @property
    def is_value(self) -> bool:
        """``getValueExpr != nil``: a constant or a template."""
        return self.kind in (VALUE, TMPL)

    @property
    def constant(self) -> Any:
        """``getGenericValue``: the constant, or None (templates have no value yet)."""
        return self.value if self.kind == VALUE else None

    @property
    def executable(self) -> bool:
        return self.dtype == "Bool" and not self.dependent

    @property
    def is_sample(self) -> bool:
        return isinstance(self.pred, ir.Sample)

    @property
    def elem(self) -> str:
        """``getArrayElementType``: column element type, or an array constant's element type."""
        if self.col is not None and self.kind in (COLUMN, ARRAYLEN):
            return self.col.elem
        if self.kind == VALUE and isinstance(self.value, tuple):
            return array_elem_type(self.value)
        return "None"

    @property
    def nested(self) -> bool:
        """Whether the column has a nested path (a JSON key or an array index)."""
        return self.col is not None and (self.col.kind == ir.ELEM or bool(self.col.path))


def value(v: Any, dtype: str, dependent: bool = True) -> Typed:
    return Typed(VALUE, dtype, dependent, value=v)


def tmpl(name: str) -> Typed:
    return Typed(TMPL, "None", False, value=Tmpl(name), template=True)


def pred(p: ir.Pred, template: bool = False) -> Typed:
    return Typed(PRED, "Bool", False, pred=p, template=template)


def check_not_whole_array(t: Typed) -> None:
    """``checkDirectComparisonBinaryField``."""
    if t.kind == COLUMN and t.col is not None and t.col.kind == ir.ARRAY:
        raise FilterError("can not comparisons array fields directly")


def can_be_compared_types(left: str, right: str) -> bool:
    """``canBeComparedDataType``."""
    if left == "Bool":
        return right in ("Bool", "JSON")
    if left in ARITH_TYPES:
        return right in ARITH_TYPES or right == "JSON"
    if left in STRING_TYPES:
        return right in STRING_TYPES or right == "JSON"
    return left == "JSON"


def can_be_compared(left: Typed, right: Typed) -> bool:
    la, ra = left.dtype == "Array", right.dtype == "Array"
    if not la and not ra:
        return can_be_compared_types(left.dtype, right.dtype)
    if la and ra:
        return can_be_compared_types(left.elem, right.elem)
    if la:
        return can_be_compared_types(left.elem, right.dtype)
    return can_be_compared_types(left.dtype, right.elem)


def shown_type(t: Typed) -> str:
    """``getDataType``: Array types print with their element type."""
    return f"Array[{t.elem}]" if t.dtype == "Array" else t.dtype


def can_arithmetic(left: str, right: str) -> bool:
    """``canArithmeticDataType``."""
    if left in INT_TYPES:
        return right in INT_TYPES or right == "JSON"
    if left in FLOAT_TYPES:
        return right in ARITH_TYPES or right == "JSON"
    if left == "JSON":
        return right in ARITH_TYPES
    return False


def target_type(left: str, right: str) -> str:
    """``getTargetType``: the type arithmetic on (left, right) is computed in."""
    if left == "JSON":
        if right == "JSON":
            return "JSON"
        if right in FLOAT_TYPES:
            return "Double"
        if right in INT_TYPES:
            return "Int64"
    if left in FLOAT_TYPES and (right == "JSON" or right in ARITH_TYPES):
        return "Double"
    if left in INT_TYPES:
        if right in FLOAT_TYPES:
            return "Double"
        if right in INT_TYPES or right == "JSON":
            return "Int64"
    raise FilterError(f"incompatible data type, {left}, {right}")


def integer_like(dtype: str, elem: str) -> bool:
    """``canConvertToIntegerType``."""
    return dtype in INT_TYPES or dtype == "JSON" or (dtype == "Array" and elem in INT_TYPES)


def check_mod(op: str, ltype: str, lelem: str, rtype: str, relem: str) -> None:
    """``checkValidModArith``."""
    if op == "MOD" and not (integer_like(ltype, lelem) and integer_like(rtype, relem)):
        raise FilterError("modulo can only apply on integer types")


def reverse_op(op: str) -> str:
    return {"LT": "GT", "LE": "GE", "GT": "LT", "GE": "LE"}.get(op, op)
