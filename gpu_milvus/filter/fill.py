"""Fill ``{name}`` placeholders with ``filter_params`` values (``fill_expression_value.go``).

Each value is cast exactly like a literal in the same position; errors use the server's
template messages, reported without the ``cannot parse expression`` prefix.
"""

from __future__ import annotations

from typing import Any

from gpu_milvus.filter import ir
from gpu_milvus.filter.binder_funcs import (
    check_range,
    check_wkt,
    contains_elements,
    like_pred,
)
from gpu_milvus.filter.exc import FilterError
from gpu_milvus.filter.typed import check_mod, target_type
from gpu_milvus.filter.values import Tmpl, cast_value, from_param, type_of


def _err(msg: str) -> FilterError:
    return FilterError(msg, parse=False)


class Filler:
    def __init__(self, params: dict[str, Any] | None) -> None:
        self.raw = params or {}
        self.converted: dict[str, Any] = {}

    def get(self, t: Tmpl, what: str = "the value of expression template variable name") -> Any:
        if t.name not in self.raw:
            raise _err(f"{what} {{{t.name}}} is not found")
        if t.name not in self.converted:
            self.converted[t.name] = from_param(self.raw[t.name])
        return self.converted[t.name]

    def cast(self, dtype: str, v: Any) -> Any:
        try:
            return cast_value(dtype, v)
        except FilterError as e:
            raise _err(e.detail) from None

    def fill(self, node: ir.Pred) -> ir.Pred:
        if isinstance(node, (ir.And, ir.Or)):
            return type(node)(tuple(self.fill(x) for x in node.items))
        if isinstance(node, ir.Not):
            return ir.Not(self.fill(node.item))
        if isinstance(node, ir.Sample):
            return ir.Sample(node.factor, None if node.pred is None else self.fill(node.pred))
        method = getattr(self, "fill_" + type(node).__name__.lower(), None)
        return node if method is None else method(node)  # type: ignore[no-any-return]

    def fill_elementmatch(self, node: ir.ElementMatch) -> ir.Pred:
        return ir.ElementMatch(node.col, self.fill(node.pred), node.mode, node.count)

    def fill_cmp(self, node: ir.Cmp) -> ir.Pred:
        if not isinstance(node.value, Tmpl):
            return node
        v = self.cast(node.col.value_type, self.get(node.value))
        if isinstance(v, tuple) and node.op not in ("EQ", "NE"):
            raise _err("comparison with an array is only supported for == and !=")
        return ir.Cmp(node.col, node.op, v)

    def fill_like(self, node: ir.Like) -> ir.Pred:
        if not isinstance(node.operand, Tmpl):
            return node
        v = self.get(node.operand)
        if not isinstance(v, str):
            raise _err(
                f"the value of like expression template variable {{{node.operand.name}}} "
                "is not string"
            )
        try:
            return like_pred(node.col, v)
        except FilterError as e:
            raise _err(e.detail) from None

    def fill_in(self, node: ir.In) -> ir.Pred:
        if not isinstance(node.values, Tmpl):
            return node
        v = self.get(node.values)
        if not isinstance(v, tuple):
            raise _err(
                f"the value of term expression template variable {{{node.values.name}}} "
                "is not array"
            )
        dtype = node.col.value_type
        return ir.In(node.col, tuple(self.cast(dtype, e) for e in v))

    def fill_range(self, node: ir.Range) -> ir.Pred:
        lo, hi = node.lower, node.upper
        if not isinstance(lo, Tmpl) and not isinstance(hi, Tmpl):
            return node
        dtype = node.col.value_type
        if isinstance(lo, Tmpl):
            lo = self.cast(
                dtype, self.get(lo, "the lower value of expression template variable name")
            )
        if isinstance(hi, Tmpl):
            hi = self.cast(
                dtype, self.get(hi, "the upper value of expression template variable name")
            )
        if dtype == "Bool" or isinstance(lo, (bool, tuple)) or isinstance(hi, (bool, tuple)):
            raise _err("invalid range operations")
        try:
            lo, hi = check_range(node.col, lo, node.lower_inclusive, hi, node.upper_inclusive)
        except FilterError as e:
            raise _err(e.detail) from None
        return ir.Range(node.col, lo, node.lower_inclusive, hi, node.upper_inclusive)

    def fill_arithcmp(self, node: ir.ArithCmp) -> ir.Pred:
        operand, value = node.operand, node.value
        if not isinstance(operand, Tmpl) and not isinstance(value, Tmpl):
            return node
        col = node.col
        if isinstance(operand, Tmpl):
            operand = self.get(
                operand, "the right operand value of expression template variable name"
            )
        check_mod_err(node.aop, col, operand)
        if isinstance(operand, tuple):
            raise _err("can not comparisons array directly")
        ltype = col.elem if col.kind == ir.ELEM else col.dtype
        try:
            dtype = target_type(ltype, type_of(operand))
        except FilterError as e:
            raise _err(e.detail) from None
        operand = self.cast(dtype, operand)
        if node.aop in ("DIV", "MOD") and operand == 0:
            raise _err("division or modulus by zero")
        if isinstance(value, Tmpl):
            value = self.get(value)
        return ir.ArithCmp(col, node.aop, operand, node.op, self.cast(dtype, value))

    def fill_lencmp(self, node: ir.LenCmp) -> ir.Pred:
        if not isinstance(node.value, Tmpl):
            return node
        return ir.LenCmp(node.col, node.op, self.cast("Int64", self.get(node.value)))

    def fill_contains(self, node: ir.Contains) -> ir.Pred:
        if not isinstance(node.elements, Tmpl):
            return node
        v = self.get(node.elements)
        try:
            elements = contains_elements(node.col, node.mode, v)
        except FilterError as e:
            raise _err(e.detail) from None
        return ir.Contains(node.col, node.mode, elements)

    def fill_textmatch(self, node: ir.TextMatch) -> ir.Pred:
        if not isinstance(node.query, Tmpl):
            return node
        value = self.get(node.query)
        if not isinstance(value, str):
            raise _err(f"the query of text match must be a string, got {value!r}")
        return ir.TextMatch(node.col, value, node.least, node.slop, node.analyzer)

    def fill_spatial(self, node: ir.Spatial) -> ir.Pred:
        if not isinstance(node.wkt, Tmpl):
            return node
        value = self.get(node.wkt)
        if not isinstance(value, str):
            raise _err(f"the value of GIS WKT template variable {{{node.wkt.name}}} is not string")
        check_wkt_err(value, node.op == "st_dwithin")
        return ir.Spatial(node.col, node.op, value, node.distance)


def check_wkt_err(text: str, point: bool) -> None:
    try:
        check_wkt(text, point)
    except FilterError as e:
        raise _err(e.detail) from None


def check_mod_err(aop: str, col: ir.Col, operand: Any) -> None:
    try:
        check_mod(aop, col.dtype, col.elem, type_of(operand), "None")
    except FilterError as e:
        raise _err(e.detail) from None


def fill(node: ir.Pred, params: dict[str, Any] | None) -> ir.Pred:
    """Substitute every placeholder; unused parameters are ignored."""
    return Filler(params).fill(node)
