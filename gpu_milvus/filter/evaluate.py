"""Evaluate a plan IR over an Arrow table into a three-valued mask (pyarrow.compute + NumPy).

Plain scalar columns never go through per-row Python. ARRAY columns are handled on their
flattened values and offsets; JSON columns through cached per-path views (see json_eval).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gpu_milvus import geometry, timestamptz
from gpu_milvus.filter import ir, json_ops, kernels, text_match
from gpu_milvus.filter.json_eval import JsonView
from gpu_milvus.filter.kernels import NP_CMP, PC_CMP, Tri


class Evaluator:
    """Evaluates IR nodes against one table; caches column views for the call."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.n = table.num_rows
        self._json: dict[tuple[str, tuple[str, ...]], JsonView] = {}
        self._lists: dict[str, pa.Array] = {}

    def mask(self, node: ir.Pred) -> np.ndarray:
        t, _ = self.eval(node)
        return t

    def eval(self, node: ir.Pred) -> Tri:
        method = getattr(self, "eval_" + type(node).__name__.lower())
        return method(node)  # type: ignore[no-any-return]

    # -- column access ---------------------------------------------------------------------
    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def json(self, col: ir.Col) -> JsonView:
        key = (col.name, col.path)
        if key not in self._json:
            self._json[key] = JsonView.build(self.column(col.name), col.path)
        return self._json[key]

    def lists(self, name: str) -> pa.Array:
        if name not in self._lists:
            self._lists[name] = kernels.combine(self.column(name))
        return self._lists[name]

    def operand(self, col: ir.Col) -> tuple[pa.Array | pa.ChunkedArray, np.ndarray | None]:
        """Per-row values of a scalar column or ``arr[i]``; out-of-range rows are returned as
        a mask (they are FALSE for every operator) and read as null in the values."""
        if col.kind == ir.SCALAR:
            return self.column(col.name), None
        la = self.lists(col.name)
        lens = pc.fill_null(pc.list_value_length(la), -1).to_numpy(zero_copy_only=False)
        in_range = lens > col.index
        starts = np.asarray(la.offsets, dtype=np.int64)[:-1] + col.index
        idx = pa.array(np.where(in_range, starts, 0), mask=~in_range)
        values = la.values.take(idx)
        oob = ~in_range & (lens >= 0)
        return values, oob

    # -- leaves ----------------------------------------------------------------------------
    def eval_const(self, node: ir.Const) -> Tri:
        return kernels.full(self.n, node.value)

    def eval_cmp(self, node: ir.Cmp) -> Tri:
        col = node.col
        if col.kind == ir.JSON:
            return json_ops.compare(self.json(col), node.op, node.value)
        if col.kind == ir.ARRAY:
            return self.array_equal(col, node.op, node.value)
        arr, oob = self.operand(col)
        return kernels.tri(kernels.compare(arr, node.op, node.value), oob)

    def eval_range(self, node: ir.Range) -> Tri:
        col = node.col
        if col.kind == ir.JSON:
            return json_ops.between(
                self.json(col), node.lower, node.lower_inclusive, node.upper, node.upper_inclusive
            )
        arr, oob = self.operand(col)
        lo = kernels.compare(arr, "GE" if node.lower_inclusive else "GT", node.lower)
        hi = kernels.compare(arr, "LE" if node.upper_inclusive else "LT", node.upper)
        return kernels.tri(pc.and_kleene(lo, hi), oob)

    def eval_in(self, node: ir.In) -> Tri:
        col = node.col
        if col.kind == ir.JSON:
            return json_ops.member(self.json(col), node.values)
        arr, oob = self.operand(col)
        arr = kernels.numeric_operand(arr, list(node.values))
        hit = kernels.to_np_bool(pc.is_in(arr, value_set=kernels.value_set(arr.type, node.values)))
        valid = kernels.valid_mask(arr)
        if valid is None:
            return hit, ~hit
        f = valid & ~hit
        return hit & valid, f if oob is None else f | oob

    def eval_like(self, node: ir.Like) -> Tri:
        col = node.col
        if col.kind == ir.JSON:
            return json_ops.like(self.json(col), node.kind, node.operand)
        arr, oob = self.operand(col)
        return kernels.tri(kernels.like(arr, node.kind, node.operand), oob)

    def eval_textmatch(self, node: ir.TextMatch) -> Tri:
        column = self.column(node.col.name)
        analyzer = node.analyzer or text_match.STANDARD
        if node.slop is None:
            return kernels.tri(text_match.text_match(column, node.query, node.least, analyzer))
        return kernels.tri(text_match.phrase_match(column, node.query, node.slop, analyzer))

    def eval_arithcmp(self, node: ir.ArithCmp) -> Tri:
        col = node.col
        if col.kind == ir.JSON:
            return json_ops.arith(self.json(col), node.aop, node.operand, node.op, node.value)
        arr, oob = self.operand(col)
        arr = kernels.combine(arr)
        valid = kernels.valid_mask(arr)
        if pa.types.is_integer(arr.type):
            a = pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
            out = kernels.int_arith(a, node.aop, int(node.operand))
            value: Any = np.int64(node.value)
        else:
            a = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
            out = kernels.float_arith(a, node.aop, float(node.operand))
            with np.errstate(over="ignore"):
                value = a.dtype.type(node.value)
        with np.errstate(invalid="ignore"):
            res = NP_CMP[node.op](out, value)
        t = res if valid is None else res & valid
        f = ~res if valid is None else ~res & valid
        return t, f if oob is None else f | oob

    def eval_spatial(self, node: ir.Spatial) -> Tri:
        column = self.column(node.col.name)
        hit = geometry.evaluate(column, node.op, node.wkt, node.distance)
        valid = kernels.valid_mask(kernels.combine(column))
        return (hit, ~hit) if valid is None else (hit, ~hit & valid)

    def eval_shiftcmp(self, node: ir.ShiftCmp) -> Tri:
        arr = kernels.combine(self.column(node.col.name))
        valid = kernels.valid_mask(arr)
        micros = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
        res = NP_CMP[node.op](timestamptz.shift(micros, node.interval, node.sign), node.value)
        return (res, ~res) if valid is None else (res & valid, ~res & valid)

    def eval_lencmp(self, node: ir.LenCmp) -> Tri:
        col = node.col
        if col.kind == ir.JSON:
            return json_ops.length(self.json(col), node.op, node.value)
        lens = pc.list_value_length(self.lists(col.name)).cast(pa.int64())
        return kernels.tri(PC_CMP[node.op](lens, pa.scalar(node.value, pa.int64())))

    def eval_contains(self, node: ir.Contains) -> Tri:
        col = node.col
        if col.kind == ir.JSON:
            return json_ops.contains(self.json(col), node.mode, node.elements)
        la = self.lists(col.name)
        flat = pc.list_flatten(la)
        parents = np.asarray(pc.list_parent_indices(la), dtype=np.int64)
        valid = kernels.valid_mask(la)
        elements = tuple(node.elements)
        if node.mode == "ALL":
            res = np.ones(self.n, bool)
            for e in dict.fromkeys(elements):
                res &= self._rows_with(flat, parents, (e,))
        else:
            res = self._rows_with(flat, parents, elements)
        if valid is None:
            return res, ~res
        return res & valid, ~res & valid

    def _rows_with(
        self, flat: pa.Array, parents: np.ndarray, elements: tuple[Any, ...]
    ) -> np.ndarray:
        vs = kernels.value_set(flat.type, elements)
        if len(vs) == 0 or len(flat) == 0:
            return np.zeros(self.n, bool)
        hit = kernels.to_np_bool(pc.is_in(flat, value_set=vs))
        return np.bincount(parents[hit], minlength=self.n)[: self.n] > 0

    def array_equal(self, col: ir.Col, op: str, v: tuple[Any, ...]) -> Tri:
        """Whole-array ``==`` / ``!=`` against an array literal, per element position."""
        la = self.lists(col.name)
        lens = pc.fill_null(pc.list_value_length(la), -1).to_numpy(zero_copy_only=False)
        valid = lens >= 0
        cand = np.flatnonzero(lens == len(v))
        ok = np.ones(len(cand), bool)
        starts = np.asarray(la.offsets, dtype=np.int64)[:-1][cand]
        values = la.values
        for j, x in enumerate(v):
            if not ok.any():
                break
            part = values.take(pa.array(starts + j))
            if pa.types.is_integer(part.type) and not (
                isinstance(x, int) and not isinstance(x, bool)
            ):
                if not (isinstance(x, float) and x.is_integer()):
                    ok[:] = False
                    break
                x = int(x)
            try:
                eq = kernels.to_np_bool(kernels.compare(part, "EQ", x))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                eq = np.zeros(len(cand), bool)
            ok &= eq
        res = np.zeros(self.n, bool)
        res[cand[ok]] = True
        if op == "NE":
            res = ~res
        return res & valid, ~res & valid

    def eval_exists(self, node: ir.Exists) -> Tri:
        return json_ops.exists(self.json(node.col))

    def eval_isnull(self, node: ir.IsNull) -> Tri:
        nulls = kernels.to_np_bool(pc.is_null(self.column(node.col.name)))
        t = ~nulls if node.negate else nulls
        return t, ~t

    def eval_colcmp(self, node: ir.ColCmp) -> Tri:
        a, b = self.column(node.left.name), self.column(node.right.name)
        if pa.types.is_floating(a.type) or pa.types.is_floating(b.type):
            a, b = a.cast(pa.float64()), b.cast(pa.float64())
        elif pa.types.is_integer(a.type) and pa.types.is_integer(b.type):
            a, b = a.cast(pa.int64()), b.cast(pa.int64())
        return kernels.tri(PC_CMP[node.op](a, b))

    # -- logic -----------------------------------------------------------------------------
    def eval_elementmatch(self, node: ir.ElementMatch) -> Tri:
        """Each element through ``pred`` (a table of the elements' ``$[sub]`` columns), then
        per row: MATCH_ANY at least one hit, MATCH_ALL every decided element (an empty or
        null array: true), LEAST / MOST / EXACT the hit count against ``count``."""
        la = self.lists(node.col.name)
        elements = la.flatten()
        rows = pc.list_parent_indices(la).to_numpy(zero_copy_only=False)
        table = pa.table({f"$[{f.name}]": elements.field(f.name) for f in elements.type})
        hit, miss = Evaluator(table).eval(node.pred)
        hits = np.bincount(rows[hit], minlength=self.n)
        decided = np.bincount(rows[hit | miss], minlength=self.n)
        match node.mode:
            case "any":
                t = hits > 0
            case "all":
                t = hits == decided
            case "least":
                t = hits >= node.count
            case "most":
                t = hits <= node.count
            case _:
                t = hits == node.count
        return t, ~t

    def eval_and(self, node: ir.And) -> Tri:
        """Cheap clauses first; a costly clause only runs on rows not already FALSE."""
        items = list(node.items)
        if not any(isinstance(i, ir.Sample) for i in items):
            items.sort(key=_cost)
        t, f = self.eval(items[0])
        for item in items[1:]:
            open_rows = np.flatnonzero(~f)
            if _cost(item) and len(open_rows) < self.n // 2:
                t2, f2 = self._eval_on(item, open_rows)
            else:
                t2, f2 = self.eval(item)
            t, f = t & t2, f | f2
        return t, f

    def _eval_on(self, node: ir.Pred, rows: np.ndarray) -> Tri:
        """``node`` evaluated on ``rows`` only; other rows read as UNKNOWN."""
        t = np.zeros(self.n, dtype=bool)
        f = np.zeros(self.n, dtype=bool)
        if len(rows):
            sub_t, sub_f = Evaluator(self.table.take(pa.array(rows))).eval(node)
            t[rows], f[rows] = sub_t, sub_f
        return t, f

    def eval_or(self, node: ir.Or) -> Tri:
        t, f = self.eval(node.items[0])
        for item in node.items[1:]:
            t2, f2 = self.eval(item)
            t, f = t | t2, f & f2
        return t, f

    def eval_not(self, node: ir.Not) -> Tri:
        t, f = self.eval(node.item)
        return f, t

    def eval_sample(self, node: ir.Sample) -> Tri:
        base = np.ones(self.n, bool) if node.pred is None else self.eval(node.pred)[0]
        idx = np.flatnonzero(base)
        k = int(len(idx) * node.factor)
        t = np.zeros(self.n, bool)
        if k:
            t[np.random.default_rng().choice(idx, size=k, replace=False)] = True
        return t, ~t


_CHEAP = (ir.Cmp, ir.Range, ir.In, ir.IsNull, ir.Const)


def _cost(node: ir.Pred) -> int:
    """0 for plain comparisons on scalar columns; 1 for everything else (LIKE, JSON, arrays)."""
    if isinstance(node, _CHEAP):
        col = getattr(node, "col", None)
        return 0 if col is None or col.kind == ir.SCALAR else 1
    return 1
