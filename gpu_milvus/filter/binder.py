"""Bind an AST to a collection schema: resolve columns, type-check, fold constants.

One method per syntax form, in the order and with the messages of the server's Go visitor
(``parser_visitor.go`` / ``utils.go``). The result is a typed IR whose template slots are still
placeholders; :mod:`gpu_milvus.filter.fill` substitutes ``filter_params`` afterwards.
"""

from __future__ import annotations

from typing import Any

from pymilvus import DataType

from gpu_milvus.filter import ast, ir
from gpu_milvus.filter.binder_funcs import FuncMixin
from gpu_milvus.filter.exc import FilterError, clip
from gpu_milvus.filter.lexer import EOF, tokenize
from gpu_milvus.filter.typed import (
    ARITH,
    ARRAYLEN,
    COLUMN,
    PRED,
    TMPL,
    VALUE,
    Typed,
    can_arithmetic,
    can_be_compared,
    check_mod,
    check_not_whole_array,
    pred,
    reverse_op,
    shown_type,
    target_type,
    tmpl,
    value,
)
from gpu_milvus.filter.values import (
    INT64_MAX,
    INT64_MIN,
    cast_value,
    dtype_name,
    fold_arith,
    fold_compare,
    fold_logical,
    fold_unary,
    type_of,
)
from gpu_milvus.schema import META_FIELD, CollectionSpec

_OP_TEXT = {
    "ADD": "+",
    "SUB": "-",
    "MUL": "*",
    "DIV": "/",
    "MOD": "%",
    "EQ": "==",
    "NE": "!=",
    "LT": "<",
    "LE": "<=",
    "GT": ">",
    "GE": ">=",
}
_ARITH_NAMES = {
    "ADD": "add",
    "SUB": "subtract",
    "MUL": "multiply",
    "DIV": "divide",
    "MOD": "modulo",
}
_BIT_NAMES = {"BAND": "BitAnd", "BOR": "BitOr", "BXOR": "BitXor"}


class Binder(FuncMixin):
    """Type-checks one AST against ``spec``."""

    def __init__(self, spec: CollectionSpec, src: str, timezone: str = "UTC") -> None:
        self.spec = spec
        self.src = src
        self.timezone = timezone  # of ISO text without an offset

    def text(self, node: ast.Node) -> str:
        """ANTLR ``GetText()``: the node's tokens joined, so whitespace goes except inside
        string literals."""
        part = self.src[node.span[0] : node.span[1]]
        if "'" not in part and '"' not in part:
            return "".join(part.split())
        try:
            return "".join(tok.text for tok in tokenize(part) if tok.kind != EOF)
        except FilterError:
            return "".join(part.split())

    # -- entry -----------------------------------------------------------------------------
    def bind(self, node: ast.Node) -> ir.Pred:
        t = self.visit(node)
        if t.kind == VALUE and t.executable:
            return ir.Const(bool(t.value))
        if not t.executable or t.pred is None:
            raise FilterError(
                f"predicate is not a boolean expression: {clip(self.src)}, data type: {t.dtype}"
            )
        return t.pred

    def visit(self, node: ast.Node) -> Typed:
        method = getattr(self, "visit_" + type(node).__name__.lower())
        return method(node)  # type: ignore[no-any-return]

    # -- leaves ----------------------------------------------------------------------------
    def visit_lit(self, node: ast.Lit) -> Typed:
        if node.kind == "INT":
            if not INT64_MIN <= node.value <= INT64_MAX:
                raise FilterError(f'strconv.ParseInt: parsing "{node.text}": value out of range')
            return value(node.value, "Int64")
        return value(node.value, type_of(node.value))

    def visit_tmpl(self, node: ast.Tmpl) -> Typed:
        return tmpl(node.name)

    def visit_arraylit(self, node: ast.ArrayLit) -> Typed:
        items = []
        for item in node.items:
            if type(item) is ast.Lit and (
                item.kind != "INT" or INT64_MIN <= item.value <= INT64_MAX
            ):
                items.append(item.value)
                continue
            t = self.visit(item)
            if t.kind != VALUE:
                raise FilterError(
                    f"array element type must be generic value, but got: {self.text(item)}"
                )
            items.append(t.value)
        return value(tuple(items), "Array")

    def column(self, name: str) -> Typed:
        """``translateIdentifier``: a field, or a dynamic key under ``$meta``."""
        spec = self.spec
        field = spec.field(name) if name != META_FIELD else None
        if field is None:
            if not spec.enable_dynamic_field:
                raise FilterError(f"field {name} not exist")
            path = () if name == META_FIELD else (name,)
            col = ir.Col(META_FIELD, ir.JSON, "JSON", path=path)
            return Typed(COLUMN, "JSON", True, col=col)
        if field.is_struct:
            raise FilterError(
                f"struct array field {name} and its sub-fields cannot be used in a filter"
            )
        dtype = dtype_name(field.dtype)
        if field.dtype == DataType.ARRAY:
            kind = ir.ARRAY
        elif field.dtype == DataType.JSON:
            kind = ir.JSON
        else:
            kind = ir.SCALAR
        col = ir.Col(
            field.name,
            kind,
            dtype,
            elem=dtype_name(field.element_type) if field.element_type is not None else "None",
            nullable=field.nullable,
            is_pk=field.is_primary,
        )
        return Typed(COLUMN, dtype, True, col=col)

    def visit_ident(self, node: ast.Ident) -> Typed:
        return self.column(node.name)

    def visit_path(self, node: ast.Path) -> Typed:
        """``getColumnInfoFromJSONIdentifier``."""
        base = self.column(node.base)
        col = base.col
        assert col is not None
        if col.dtype not in ("JSON", "Array"):
            raise FilterError(f"{col.dtype} data type not supported accessed with []")
        keys: list[str] = []
        for is_int, key in node.keys:
            if not is_int:
                if key == "":
                    raise FilterError(f"invalid identifier: {self.text(node)}")
                if col.kind == ir.ARRAY:
                    raise FilterError("can only access array field with integer index")
            keys.append(key)
        if col.kind == ir.ARRAY:
            index = int(keys[0])
            if len(keys) > 1 or index > INT64_MAX:
                raise FilterError(
                    f"multi-level access on array field is not supported: {node.base}"
                )
            elem_col = ir.Col(
                col.name, ir.ELEM, "Array", col.elem, index=index, nullable=col.nullable
            )
            return Typed(COLUMN, "Array", True, col=elem_col)
        json_col = ir.Col(
            col.name, ir.JSON, "JSON", path=col.path + tuple(keys), nullable=col.nullable
        )
        return Typed(COLUMN, "JSON", True, col=json_col)

    def column_token(self, node: ast.Node) -> Typed:
        """``getChildColumnInfo``: an identifier or path token as a column."""
        return self.visit_path(node) if isinstance(node, ast.Path) else self.visit(node)

    # -- prefix operators ------------------------------------------------------------------
    def visit_unary(self, node: ast.Unary) -> Typed:
        operand = node.operand
        if (
            node.op == "SUB"
            and isinstance(operand, ast.Lit)
            and operand.kind == "INT"
            and operand.text == "9223372036854775808"
        ):
            return value(INT64_MIN, "Int64", dependent=True)
        child = self.visit(operand)
        if child.kind == VALUE:
            if node.op == "ADD":
                return child
            v = fold_unary(node.op, child.value)
            return value(v, type_of(v), dependent=False)
        if child.is_sample:
            raise FilterError("random sample expression cannot be used in unary expression")
        check_not_whole_array(child)
        if node.op == "ADD":
            return child
        if node.op == "NOT":
            if not child.executable or child.pred is None:
                raise FilterError("not op can only be applied on boolean expression")
            return pred(ir.Not(child.pred), child.template)
        raise FilterError(f"unexpected op: {'-' if node.op == 'SUB' else '~'}")

    # -- binary operators ------------------------------------------------------------------
    def visit_binary(self, node: ast.Binary) -> Typed:
        op = node.op
        if op in ("SHL", "SHR"):
            raise FilterError(f"shift is not supported: {self.text(node)}")
        if op in _BIT_NAMES:
            raise FilterError(f"{_BIT_NAMES[op]} is not supported: {self.text(node)}")
        if op == "POW":
            left, right = self.visit(node.left), self.visit(node.right)
            if left.kind == VALUE and right.kind == VALUE:
                v = fold_arith("POW", left.value, right.value)
                return value(v, type_of(v), dependent=False)
            raise FilterError(f"power can only apply on constants: {self.text(node)}")
        if op in ("ADD", "SUB", "MUL", "DIV", "MOD"):
            return self.arithmetic(node)
        return self.comparison(node)

    def arithmetic(self, node: ast.Binary) -> Typed:
        op = node.op
        left, right = self.visit(node.left), self.visit(node.right)
        if left.is_value and right.is_value:
            if left.kind == TMPL or right.kind == TMPL:
                raise FilterError(
                    "placeholder was not supported between two constants with operator: "
                    + _OP_TEXT[op]
                )
            v = fold_arith(op, left.value, right.value)
            return value(v, type_of(v), dependent=False)
        reverse = left.is_value
        check_not_whole_array(left)
        check_not_whole_array(right)
        if left.template:
            dtype = right.dtype
        elif right.template:
            dtype = left.dtype
        else:
            ltype = left.elem if left.dtype == "Array" else left.dtype
            rtype = right.elem if right.dtype == "Array" else right.dtype
            if reverse:
                ltype, rtype = rtype, ltype
            if not can_arithmetic(ltype, rtype):
                raise FilterError(
                    f"'{_ARITH_NAMES[op]}' cannot perform arithmetic between {ltype} field "
                    f"and {rtype}"
                )
            check_mod(op, left.dtype, left.elem, right.dtype, right.elem)
            dtype = target_type(ltype, rtype)
        return Typed(
            ARITH, dtype, True, arith=(left, op, right), template=left.template or right.template
        )

    def comparison(self, node: ast.Binary) -> Typed:
        op = node.op
        left, right = self.visit(node.left), self.visit(node.right)
        if left.is_value and right.is_value:
            if left.kind == TMPL or right.kind == TMPL:
                raise FilterError(
                    "placeholder was not supported between two constants with operator: "
                    + _OP_TEXT[op]
                )
            res = fold_compare(op, left.value, right.value)
            if res is None:
                raise FilterError(
                    "comparison operations cannot be applied to two incompatible operands: "
                    + self.text(node)
                )
            return value(res, "Bool", dependent=False)
        if op not in ("EQ", "NE"):
            check_not_whole_array(left)
            check_not_whole_array(right)
        if not left.template and not right.template and not can_be_compared(left, right):
            raise FilterError(
                f"comparisons between {shown_type(left)} and {shown_type(right)} are not supported"
            )
        if left.is_value:
            return self.compare_value(reverse_op(op), right, left)
        if right.is_value:
            return self.compare_value(op, left, right)
        return self.compare_columns(op, left, right)

    def compare_value(self, op: str, left: Typed, right: Typed) -> Typed:
        """``handleCompareRightValue``: ``left op constant``."""
        dtype = left.elem if left.dtype == "Array" and left.nested else left.dtype
        v: Any = right.value
        if not left.template and right.kind != TMPL:
            v = cast_value(dtype, v)
        template = left.template or right.kind == TMPL
        if left.kind in (ARITH, ARRAYLEN):
            return pred(self.arith_compare(op, left, right, v), template)
        if left.kind != COLUMN or left.col is None:
            raise FilterError("not supported to combine multiple fields")
        col = left.col
        if isinstance(v, tuple) and op not in ("EQ", "NE"):
            raise FilterError(f"comparison '{_OP_TEXT[op]}' with an array is not supported")
        if col.kind == ir.ARRAY and right.kind != TMPL and not v:
            raise FilterError(
                f"comparisons between Array[{col.elem}] and Array[None] are not supported"
            )
        return pred(ir.Cmp(col, op, v), template)

    def arith_compare(self, op: str, arith: Typed, right: Typed, v: Any) -> ir.Pred:
        """``handleBinaryArithExpr``: only ``(column op const) cmp const`` shapes."""
        if arith.kind == ARRAYLEN:
            assert arith.col is not None
            return ir.LenCmp(arith.col, op, v)
        assert arith.arith is not None
        left, aop, right_operand = arith.arith
        lcol = left.kind == COLUMN
        rcol = right_operand.kind == COLUMN
        if lcol and rcol:
            raise FilterError("not supported to do arithmetic operations between multiple fields")
        if left.is_value and right_operand.is_value:
            raise FilterError("unexpected, should be optimized already")
        if lcol and right_operand.is_value:
            col, operand = left.col, right_operand
        elif rcol and left.is_value:
            if aop not in ("ADD", "MUL"):
                raise FilterError("module field is not yet supported")
            col, operand = right_operand.col, left
        else:
            raise FilterError("complicated arithmetic operations are not supported")
        assert col is not None
        o: Any = operand.value
        if operand.kind != TMPL:
            o = cast_value(arith.dtype, o)
            if aop in ("DIV", "MOD") and o == 0:
                raise FilterError("division or modulus by zero")
        return ir.ArithCmp(col, aop, o, op, v)

    def compare_columns(self, op: str, left: Typed, right: Typed) -> Typed:
        """``handleCompare``: two plain columns."""
        if left.kind != COLUMN or right.kind != COLUMN or left.col is None or right.col is None:
            raise FilterError("only comparison between two fields is supported")
        if left.dtype == "JSON" or right.dtype == "JSON":
            raise FilterError("two column comparison with JSON type is not supported")
        if left.col.kind != ir.SCALAR or right.col.kind != ir.SCALAR:
            raise FilterError("two column comparison with array type is not supported")
        return pred(ir.ColCmp(left.col, op, right.col))

    # -- logical operators -----------------------------------------------------------------
    def visit_logical(self, node: ast.Logical) -> Typed:
        acc = self.visit(node.items[0])
        for item in node.items[1:]:
            acc = self.logical(node.op, acc, self.visit(item))
        cls = ir.And if node.op == "AND" else ir.Or
        if isinstance(acc.pred, cls):  # flatten the left-nested chain, without recursion
            flat: list[ir.Pred] = []
            stack: list[ir.Pred] = [acc.pred]
            while stack:
                cur = stack.pop()
                if isinstance(cur, cls):
                    stack.extend(reversed(cur.items))
                else:
                    flat.append(cur)
            acc.pred = cls(tuple(flat))
        return acc

    def logical(self, op: str, left: Typed, right: Typed) -> Typed:
        name = op.lower()
        lv, rv = left.constant, right.constant
        if lv is not None and rv is not None:
            return value(fold_logical(op, lv, rv), "Bool", dependent=False)
        if lv is not None or rv is not None:
            raise FilterError(f"'{name}' can only be used between boolean expressions")
        if op == "OR" and (left.is_sample or right.is_sample):
            raise FilterError("random sample expression cannot be used in logical and expression")
        if op == "AND" and left.is_sample:
            raise FilterError(
                "random sample expression can only be the last expression in the logical and "
                "expression"
            )
        if not left.executable or not right.executable or left.pred is None or right.pred is None:
            raise FilterError(f"'{name}' can only be used between boolean expressions")
        template = left.template or right.template
        if op == "AND" and isinstance(right.pred, ir.Sample):
            inner = right.pred.pred
            combined = left.pred if inner is None else ir.And((left.pred, inner))
            return Typed(
                PRED, "Bool", False, pred=ir.Sample(right.pred.factor, combined), template=template
            )
        cls = ir.And if op == "AND" else ir.Or
        return pred(cls((left.pred, right.pred)), template)
