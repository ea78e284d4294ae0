"""Binder methods for LIKE, IN, ranges, EXISTS / IS NULL and the function forms."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pymilvus.exceptions import MilvusException

from gpu_milvus import geometry, timestamptz
from gpu_milvus.filter import ast, ir, likepat
from gpu_milvus.filter.exc import FilterError
from gpu_milvus.filter.typed import (
    ARRAYLEN,
    COLUMN,
    PRED,
    TMPL,
    VALUE,
    Typed,
    can_be_compared_types,
    check_not_whole_array,
    pred,
)
from gpu_milvus.filter.values import (
    STRING_TYPES,
    Tmpl,
    cast_range_value,
    cast_value,
    fold_compare,
    is_number,
    show,
    type_of,
)

# Milvus 3.0's StructArray operators; element_filter is MATCH_ANY
_MATCHES = {"element_filter": "any", "match_any": "any", "match_all": "all",
            "match_least": "least", "match_most": "most", "match_exact": "exact"}  # fmt: skip

if TYPE_CHECKING:
    from gpu_milvus.schema import CollectionSpec

EPSILON = 1e-10
_CONTAINS_MODE = {
    "json_contains": "ONE",
    "array_contains": "ONE",
    "json_contains_all": "ALL",
    "array_contains_all": "ALL",
    "json_contains_any": "ANY",
    "array_contains_any": "ANY",
}
_MODE_NAMES = {"ONE": "Contains", "ALL": "ContainsAll", "ANY": "ContainsAny"}
_MODE_PREFIX = {"ONE": "contains", "ALL": "contains_all", "ANY": "contains_any"}


def like_pred(col: ir.Col, pattern: str) -> ir.Like:
    kind, operand = likepat.translate(pattern)
    return ir.Like(col, kind, operand)


def contains_elements(col: ir.Col, mode: str, v: Any) -> tuple[Any, ...]:
    """``checkContainsElement`` plus the element casts; returns the element tuple."""
    if mode != "ONE" and not isinstance(v, tuple):
        raise FilterError(f"{_MODE_NAMES[mode]} operation element must be an array")
    if col.kind != ir.ARRAY:
        return (v,) if mode == "ONE" else v
    elements = (cast_value(col.elem, v),) if mode == "ONE" else v
    for e in elements:
        if not can_be_compared_types(col.elem, type_of(e)):
            raise FilterError(
                f"{_MODE_NAMES[mode]} operation can't compare between array element type: "
                f"{col.elem} and {type_of(e)}"
            )
    # segcore reads every element as the array's element type (GetValueFromProto asserts)
    return tuple(cast_value(col.elem, e) for e in elements)


def term_values(col: ir.Col, values: tuple[Any, ...], dtype: str) -> tuple[Any, ...]:
    out = []
    for e in values:
        try:
            out.append(cast_value(dtype, e))
        except FilterError:
            raise FilterError(f"value '{show(e)}' in list cannot be casted to {dtype}") from None
    if col.kind == ir.JSON:
        kinds = {type_of(x) for x in out}
        if "Int64" in kinds and "Double" in kinds:
            out = [float(x) if type_of(x) == "Int64" else x for x in out]
    return tuple(out)


class FuncMixin:
    spec: CollectionSpec
    timezone: str

    if TYPE_CHECKING:

        def visit(self, node: ast.Node) -> Typed: ...
        def text(self, node: ast.Node) -> str: ...
        def column(self, name: str) -> Typed: ...
        def column_token(self, node: ast.Node) -> Typed: ...

    # -- LIKE / IN / range -------------------------------------------------------------------
    def visit_like(self, node: ast.Like) -> Typed:
        left = self.visit(node.left)
        if left.kind != COLUMN or left.col is None:
            raise FilterError("like operation on complicated expr is unsupported")
        check_not_whole_array(left)
        col = left.col
        ok = col.dtype in STRING_TYPES or col.dtype == "JSON"
        if not ok and not (col.kind == ir.ELEM and col.elem in STRING_TYPES):
            raise FilterError("like operation on non-string or no-json field is unsupported")
        pat = self.visit(node.pattern)
        if pat.kind == TMPL:
            return pred(ir.Like(col, likepat.MATCH, pat.value), template=True)
        if pat.kind != VALUE or not isinstance(pat.value, str):
            raise FilterError(
                "like pattern should be a string literal or template variable, got: "
                + self.text(node.pattern)
            )
        return pred(like_pred(col, pat.value))

    def visit_term(self, node: ast.Term) -> Typed:
        child = self.visit(node.left)
        if child.kind == VALUE:
            raise FilterError(
                "'term' can only be used on non-const expression, but got: " + self.text(node.left)
            )
        if child.kind != COLUMN or child.col is None:
            raise FilterError(
                "'term' can only be used on single field, but got: " + self.text(node.left)
            )
        col = child.col
        dtype = col.elem if col.kind == ir.ELEM else col.dtype
        term = self.visit(node.right)
        values: Any
        if term.kind == TMPL:
            values = term.value
        elif term.kind != VALUE:
            raise FilterError(
                f"value '{self.text(node.right)}' in list cannot be a non-const expression"
            )
        elif not isinstance(term.value, tuple):
            raise FilterError(
                "the right-hand side of 'in' must be a list, but got: " + self.text(node.right)
            )
        else:
            values = term_values(col, term.value, dtype)
        if col.kind == ir.ARRAY:
            raise FilterError("term operations on a whole array field are not supported")
        p: ir.Pred = ir.In(col, values)
        if node.negate:
            p = ir.Not(p)
        return pred(p, term.kind == TMPL)

    def visit_range(self, node: ast.Range) -> Typed:
        column = self.column_token(node.col)
        check_not_whole_array(column)
        assert column.col is not None
        col = column.col
        lower, upper = self.visit(node.lower), self.visit(node.upper)
        if not lower.is_value:
            raise FilterError(
                "lowerbound cannot be a non-const expression: " + self.text(node.lower)
            )
        if not upper.is_value:
            raise FilterError(
                "upperbound cannot be a non-const expression: " + self.text(node.upper)
            )
        dtype = col.elem if col.kind == ir.ELEM else col.dtype
        lo, hi = lower.value, upper.value
        if lower.kind != TMPL:
            lo = range_bound(dtype, lo)
        if upper.kind != TMPL:
            hi = range_bound(dtype, hi)
        if lower.kind != TMPL and upper.kind != TMPL:
            lo, hi = check_range(col, lo, node.lower_inclusive, hi, node.upper_inclusive)
        p = ir.Range(col, lo, node.lower_inclusive, hi, node.upper_inclusive)
        return pred(p, lower.kind == TMPL or upper.kind == TMPL)

    # -- EXISTS / IS NULL --------------------------------------------------------------------
    def visit_exists(self, node: ast.Exists) -> Typed:
        child = self.visit(node.operand)
        if child.kind != COLUMN or child.col is None:
            raise FilterError(
                "exists operations are only supported on single fields now, got: "
                + self.text(node.operand)
            )
        if child.col.dtype != "JSON":
            raise FilterError(
                f"exists operations are only supportted on json field, got:{child.col.dtype}"
            )
        if not child.col.path:
            raise FilterError("exists operations are only supportted on json key")
        return pred(ir.Exists(child.col))

    def visit_isnull(self, node: ast.IsNull) -> Typed:
        col = self.column_token(node.target).col
        assert col is not None
        if col.dtype in ("FloatVector", "SparseFloatVector"):
            raise FilterError("IsNull/IsNotNull operations are not supported on vector fields")
        if col.kind == ir.ELEM:
            raise FilterError(
                "IsNull/IsNotNull operations are not supported on array element access, got: "
                + self.text(node)
            )
        if col.path:
            exists: ir.Pred = ir.Exists(col)
            return pred(exists if node.negate else ir.Not(exists))
        return pred(ir.IsNull(col, node.negate))

    # -- function forms ----------------------------------------------------------------------
    def visit_func(self, node: ast.Func) -> Typed:
        name = node.name
        if name in _CONTAINS_MODE:
            return self.contains(node, _CONTAINS_MODE[name])
        if name == "array_length":
            col = self.column_token(node.args[0]).col
            assert col is not None
            if col.dtype not in ("JSON", "Array"):
                raise FilterError(
                    "array_length operation are only supported on json or array fields now, "
                    "got: " + self.text(node)
                )
            if col.kind == ir.ELEM:
                raise FilterError("array_length on an array element is not supported")
            return Typed(ARRAYLEN, "Int64", True, col=col)
        if name == "random_sample":
            return self.random_sample(node)
        if name in ("text_match", "phrase_match"):
            return self.text_match(node)
        return self.spatial(node)

    def spatial(self, node: ast.Func) -> Typed:
        """``VisitSpatialBinary`` / ``VisitSTDWithin``: a GEOMETRY field and a WKT literal
        (a POINT for st_dwithin, with a constant distance in metres)."""
        name = node.name
        col = self.column_token(node.args[0]).col
        assert col is not None
        if col.dtype != "Geometry" or col.kind != ir.SCALAR:
            what = "ST_DWITHIN" if name == "st_dwithin" else "spatial"
            raise FilterError(
                f"{what} operation are only supported on geometry fields now, "
                f"got: {self.text(node)}"
            )
        literal = self.visit(node.args[1])
        if literal.kind == VALUE and isinstance(literal.value, str):
            check_wkt(literal.value, point=name == "st_dwithin")
        elif literal.kind != TMPL:
            raise FilterError(f"invalid WKT string: {self.text(node.args[1])}")
        distance = None
        if name == "st_dwithin":
            d = self.visit(node.args[2])
            if d.kind != VALUE:
                raise FilterError(
                    f"distance parameter must be a constant numeric value, got: "
                    f"{self.text(node.args[2])}"
                )
            if isinstance(d.value, bool) or not isinstance(d.value, (int, float)):
                raise FilterError(
                    "distance parameter must be a numeric value (int or float), got: "
                    f"{self.text(node.args[2])}"
                )
            if d.value < 0:
                raise FilterError(f"distance parameter must be non-negative, got: {d.value:f}")
            distance = float(d.value)
        spatial = ir.Spatial(col, name, literal.value, distance)
        return pred(spatial, template=literal.kind == TMPL)

    def contains(self, node: ast.Func, mode: str) -> Typed:
        field = self.visit(node.args[0])
        col = field.col if field.kind == COLUMN else None
        if col is None or col.dtype not in ("JSON", "Array"):
            raise FilterError(
                f"{_MODE_PREFIX[mode]} operation are only supported on json or array fields now, "
                f"got: {self.text(node.args[0])}"
            )
        if col.kind == ir.ELEM:
            raise FilterError(
                f"{_MODE_PREFIX[mode]} operation on an array element is not supported"
            )
        element = self.visit(node.args[1])
        if not element.is_value:
            raise FilterError(
                f"{_MODE_PREFIX[mode]} operation are only supported explicitly specified element, "
                f"got: {self.text(node.args[1])}"
            )
        if element.kind == TMPL:
            return pred(ir.Contains(col, mode, element.value), template=True)
        return pred(ir.Contains(col, mode, contains_elements(col, mode, element.value)))

    def random_sample(self, node: ast.Func) -> Typed:
        arg = node.args[0]
        try:
            factor = self.visit(arg)
        except FilterError as e:
            raise FilterError(
                f"cannot parse expression: {self.text(arg)}, error: {e.detail}"
            ) from None
        if factor.kind != VALUE:
            raise FilterError(
                '"float factor" should be a const float expression: "float factor" passed: '
                + self.text(arg)
            )
        f = factor.value if isinstance(factor.value, float) else 0.0
        if f <= EPSILON or f >= 1 - EPSILON:
            raise FilterError(
                "the sample factor should be between 0 and 1 and not too close to 0 or 1(the "
                f"difference should be larger than 1e-10), but got {self.text(arg)}"
            )
        return Typed(PRED, "Bool", False, pred=ir.Sample(f, None))

    def text_match(self, node: ast.Func) -> Typed:
        target = node.args[0]
        assert isinstance(target, ast.Ident)
        field = self.column(target.name)
        label = "text match" if node.name == "text_match" else "phrase match"
        if field.dtype not in STRING_TYPES:
            raise FilterError(f"{label} operation on non-string is unsupported")
        spec_field = self.spec.field(target.name)
        params = spec_field.params if spec_field is not None else {}
        if str(params.get("enable_match", "")).lower() != "true":
            raise FilterError(f'field "{target.name}" does not enable match')
        query = self.visit(node.args[1])
        if query.kind == TMPL:
            text: Any = query.value
        elif query.kind == VALUE and isinstance(query.value, str):
            text = query.value
        else:
            raise FilterError(f"{label} query must be a string, got: {self.text(node.args[1])}")
        col = field.col
        assert col is not None
        if node.name == "phrase_match":
            slop = self.slop(node.args[2]) if len(node.args) > 2 else 0
            analyzer = spec_field.analyzer if spec_field is not None else None
            return pred(ir.TextMatch(col, text, 1, slop, analyzer), template=query.kind == TMPL)
        least = 1 if node.extra is None else int(node.extra.text, 0)
        if not 1 <= least <= 1000:
            bound = ">= 1" if least < 1 else "<= 1000"
            raise FilterError(f"minimum_should_match should be {bound}, got {least}")
        analyzer = spec_field.analyzer if spec_field is not None else None
        return pred(ir.TextMatch(col, text, least, None, analyzer), template=query.kind == TMPL)

    def slop(self, arg: ast.Node) -> int:
        value = self.visit(arg)
        passed = self.text(arg)
        if value.kind != VALUE or type(value.value) is not int:
            raise FilterError(
                '"slop" should be a const integer expression with "uint32" value. "slop" '
                f"expression passed: {passed}"
            )
        if value.value < 0:
            raise FilterError(f'"slop" should not be a negative interger. "slop" passed: {passed}')
        if value.value > 2**32 - 1:
            raise FilterError(
                f'"slop" exceeds the range of "uint32". "slop" expression passed: {passed}'
            )
        return int(value.value)

    def visit_call(self, node: ast.Call) -> Typed:
        mode = _MATCHES.get(node.name.lower())
        if mode is not None:
            return self._element_match(node, mode)
        for arg in node.args:
            self.visit(arg)
        raise FilterError(f"function {node.name} is not supported")

    def _element_match(self, node: ast.Call, mode: str) -> Typed:
        """``MATCH_*(structs, predicate[, k])``: the predicate over ``$[sub]`` of each
        element of an array of structs (Milvus 3.0's StructArray operators)."""
        counted = mode in ("least", "most", "exact")
        if len(node.args) != 2 + counted:
            raise FilterError(f"{node.name} takes {2 + counted} arguments")
        target = node.args[0]
        field = self.spec.field(target.name) if isinstance(target, ast.Ident) else None
        if field is None or not field.is_struct:
            raise FilterError(f"the first argument of {node.name} must be an array of structs")
        subs = tuple(
            dataclasses.replace(s, name=f"$[{s.name}]")
            for s in field.struct_fields
            if not s.is_vector
        )
        scope = type(self)(
            dataclasses.replace(self.spec, fields=subs, enable_dynamic_field=False),
            self.src, self.timezone,
        )  # fmt: skip
        inner = scope.bind(node.args[1])
        count = 0
        if counted:
            k = self.visit(node.args[2])
            if k.kind != VALUE or type(k.value) is not int or k.value < 0:
                raise FilterError(f"the count of {node.name} must be a non-negative integer")
            count = k.value
        col = ir.Col(field.name, ir.ARRAY, "Array", elem="Struct", nullable=field.nullable)
        return pred(ir.ElementMatch(col, inner, mode, count))

    def visit_tzcompare(self, node: ast.TzCompare) -> Typed:
        """``VisitTimestamptzCompareForward/Reverse``: the ISO text is read in the request's
        time zone; without an INTERVAL it is a plain comparison of microseconds."""
        try:
            col = self.column(node.field).col
        except FilterError:
            raise FilterError(f"can not translate identifier: {node.field}") from None
        assert col is not None
        if col.dtype != "Timestamptz" or col.kind != ir.SCALAR:
            raise FilterError(f"field '{node.field}' is not a timestamptz datatype")
        try:
            micros = timestamptz.parse(node.iso, self.timezone)
            interval = timestamptz.parse_interval(node.interval) if node.shift else None
        except MilvusException as e:
            raise FilterError(e.message.removesuffix(": invalid parameter")) from None
        if interval is None:
            return pred(ir.Cmp(col, node.op, micros))
        sign = 1 if node.shift == "ADD" else -1
        return pred(ir.ShiftCmp(col, sign, interval, node.op, micros))


def check_wkt(text: str, point: bool = False) -> None:
    """A filter's WKT literal must parse (and be a POINT for st_dwithin)."""
    try:
        g = geometry.literal(text)
    except ValueError:
        raise FilterError(f"invalid WKT string: {text}") from None
    if point and g.geom_type != "Point":
        raise FilterError(f"only supports POINT geometry: {text}")


def range_bound(dtype: str, v: Any) -> Any:
    """Range bound cast; JSON bounds must be numbers or strings."""
    if dtype in ("FloatVector", "SparseFloatVector"):
        raise FilterError("invalid range operations")
    if dtype == "JSON" and not (is_number(v) or isinstance(v, str)):
        raise FilterError("invalid range operations")
    return cast_range_value(dtype, v)


def check_range(col: ir.Col, lo: Any, lo_incl: bool, hi: Any, hi_incl: bool) -> tuple[Any, Any]:
    """Normalise JSON numeric bounds to one type and reject an empty range."""
    if isinstance(lo, Tmpl) or isinstance(hi, Tmpl):
        return lo, hi
    if col.kind == ir.JSON:
        if isinstance(lo, str) != isinstance(hi, str):
            raise FilterError("invalid range operations: bounds of different types")
        if isinstance(lo, float) or isinstance(hi, float):
            lo, hi = float(lo), float(hi)
    bad = fold_compare("GE" if not (lo_incl and hi_incl) else "GT", lo, hi)
    if bad:
        raise FilterError("invalid range: lowerbound is greater than upperbound")
    return lo, hi
