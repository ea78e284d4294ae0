"""Property tests for the filter compiler and evaluator.

* Robustness: any string (and any soup of filter tokens) either compiles and evaluates, or
  raises MilvusException; nothing else escapes.
* Differential: random valid expressions over random data agree with ``ref_eval``, a slow
  row-by-row interpreter of the same IR written independently of the vectorised evaluator.
* Laws: Kleene/De Morgan identities, ``in`` as a disjunction, ranges as conjunctions.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pymilvus import CollectionSchema, DataType, FieldSchema
from pymilvus.exceptions import MilvusException

from gpu_milvus.filter import compile_filter, ir, likepat
from gpu_milvus.schema import META_FIELD, spec_from_schema

EXAMPLES = int(os.environ.get("FILTER_PROP_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

FIELDS = [
    FieldSchema("id", DataType.INT64, is_primary=True),
    FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
    FieldSchema("i8", DataType.INT8, nullable=True),
    FieldSchema("i64", DataType.INT64),
    FieldSchema("f", DataType.FLOAT),
    FieldSchema("d", DataType.DOUBLE, nullable=True),
    FieldSchema("b", DataType.BOOL, nullable=True),
    FieldSchema("s", DataType.VARCHAR, max_length=32, nullable=True),
    FieldSchema("js", DataType.JSON, nullable=True),
    FieldSchema("arr", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8),
    FieldSchema("farr", DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=8, nullable=True),
    FieldSchema(
        "sarr", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=8, max_length=8
    ),
]
SPEC = spec_from_schema("p", CollectionSchema(FIELDS, enable_dynamic_field=True))
NAMES = {f.name for f in SPEC.fields}

WORDS = ["", "a", "ab", "a_b", "a%c", "abc", "b", "ba", "中文", "x\ny", "Ab"]
SMALL_INTS = st.integers(-5, 5)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    SMALL_INTS,
    st.sampled_from([-1.5, 0.0, 1.0, 2.0, 2.5]),
    st.sampled_from(WORDS),
)
JSON_VALUES = st.one_of(
    JSON_SCALARS,
    st.lists(JSON_SCALARS, max_size=4),
    st.dictionaries(st.sampled_from(["k", "a"]), JSON_SCALARS, max_size=2),
)
JSON_DOCS = st.dictionaries(st.sampled_from(["a", "b", "c"]), JSON_VALUES, max_size=3)
META_DOCS = st.fixed_dictionaries(
    {},
    optional={
        "color": st.sampled_from(["red", "blue", None, 1]),
        "n": st.one_of(SMALL_INTS, st.sampled_from([1.5, True, "3"])),
        "tags": st.lists(st.sampled_from(["t1", "t2", 1]), max_size=3),
    },
)
F32 = st.sampled_from([-2.5, -1.0, 0.0, 0.1, 1.0, 1.5, 3.0, float("nan")])


@st.composite
def rows(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 12))
    out = []
    for i in range(n):
        out.append(
            {
                "id": i,
                "i8": draw(st.one_of(st.none(), st.integers(-128, 127))),
                "i64": draw(st.integers(-20, 20)),
                "f": draw(F32),
                "d": draw(st.one_of(st.none(), F32)),
                "b": draw(st.one_of(st.none(), st.booleans())),
                "s": draw(st.one_of(st.none(), st.sampled_from(WORDS))),
                "js": draw(st.one_of(st.none(), JSON_DOCS)),
                "arr": draw(st.lists(SMALL_INTS, max_size=4)),
                "farr": draw(st.one_of(st.none(), st.lists(F32, max_size=3))),
                "sarr": draw(st.lists(st.sampled_from(WORDS[:6]), max_size=3)),
                META_FIELD: draw(META_DOCS),
            }
        )
    return out


def table_of(data: list[dict[str, Any]]) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for f in SPEC.scalar_fields:
        vals = [r[f.name] for r in data]
        if f.dtype == DataType.JSON:
            vals = [None if v is None else json.dumps(v) for v in vals]
        cols[f.name] = pa.array(vals, type=f.arrow_type)
    cols[META_FIELD] = pa.array([json.dumps(r[META_FIELD]) for r in data], pa.string())
    return pa.table(cols, schema=SPEC.arrow_schema())


# -- the reference interpreter --------------------------------------------------------------

ABSENT = object()  # missing JSON key, JSON type mismatch, or array index out of range
JSON_NULL = object()  # a JSON null value (present, but of no comparable type)


def _get(col: ir.Col, row: dict[str, Any]) -> Any:
    v = row[col.name]
    if v is None:
        return None
    if col.kind == ir.ELEM:
        return v[col.index] if col.index < len(v) else ABSENT
    if col.kind != ir.JSON:
        return v
    doc = json.loads(v)
    for key in col.path:
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif isinstance(doc, list) and re.fullmatch(r"0|[1-9][0-9]*", key) and int(key) < len(doc):
            doc = doc[int(key)]
        else:
            return ABSENT
    return JSON_NULL if doc is None else doc


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _json_eq(x: Any, v: Any) -> bool:
    """Element equality of contains / array literals: an int literal matches only integers."""
    if isinstance(v, bool) or isinstance(x, bool):
        return isinstance(v, bool) and isinstance(x, bool) and x == v
    if isinstance(v, int):
        return isinstance(x, int) and x == v
    if isinstance(v, float):
        return _num(x) and x == v
    if isinstance(v, str):
        return isinstance(x, str) and x == v
    if isinstance(v, (tuple, list)):
        return (
            isinstance(x, list)
            and len(x) == len(v)
            and all(_json_eq(a, b) for a, b in zip(x, v, strict=True))
        )
    return False


def _cmp(op: str, a: Any, b: Any) -> bool:
    return {"EQ": a == b, "NE": a != b, "LT": a < b, "LE": a <= b, "GT": a > b, "GE": a >= b}[op]


def _typed(col: ir.Col, x: Any, v: Any) -> tuple[Any, Any] | None:
    """(x, v) in the column's comparison domain, or None when the JSON types differ."""
    if col.kind != ir.JSON:
        if col.value_type == "Float":
            return np.float32(x), np.float32(v)
        return x, v
    if isinstance(v, bool):
        return (x, v) if isinstance(x, bool) else None
    if _num(v):
        return (x, v) if _num(x) else None
    if isinstance(v, str):
        return (x, v) if isinstance(x, str) else None
    return None


def _compare(col: ir.Col, op: str, x: Any, v: Any) -> bool | None:
    if x is None:
        return None
    if x is ABSENT:
        return op == "NE" and col.kind == ir.JSON
    if isinstance(v, tuple):
        eq = (
            _json_eq(x, v)
            if col.kind == ir.JSON
            else (
                len(x) == len(v)
                and all(_cmp("EQ", *_typed(col, a, b)) for a, b in zip(x, v, strict=True))
            )
        )
        return eq if op == "EQ" else not eq
    pair = _typed(col, x, v)
    if pair is None:
        return op == "NE"
    return bool(_cmp(op, *pair))


def _arith(col: ir.Col, aop: str, x: Any, o: Any) -> Any:
    if isinstance(x, int) and isinstance(o, int):
        if aop == "DIV":
            q = abs(x) // abs(o)
            return q if (x < 0) == (o < 0) else -q
        if aop == "MOD":
            return int(math.fmod(x, o))
        r = {"ADD": x + o, "SUB": x - o, "MUL": x * o}[aop]
        return (r + 2**63) % 2**64 - 2**63
    t = np.float32 if col.value_type == "Float" else np.float64
    a, b = t(x), t(o)
    with np.errstate(all="ignore"):
        return {"ADD": a + b, "SUB": a - b, "MUL": a * b, "DIV": a / b, "MOD": np.fmod(a, b)}[aop]


def _like(x: str, canon: str) -> bool:
    to_bytes = str.encode
    pattern = likepat.to_regex(to_bytes(canon, "utf-8").decode("latin-1"))
    return re.fullmatch(pattern, to_bytes(x, "utf-8").decode("latin-1")) is not None


def _non_empty(v: Any) -> bool:
    if v is None or v is ABSENT or v is JSON_NULL:
        return False
    if isinstance(v, dict):
        return any(_non_empty(x) for x in v.values())
    if isinstance(v, list):
        return any(_non_empty(x) for x in v)
    return True


def ref_eval(node: ir.Pred, row: dict[str, Any]) -> bool | None:
    """Kleene value of ``node`` on one row: True, False or None (UNKNOWN)."""
    if isinstance(node, ir.Const):
        return node.value
    if isinstance(node, ir.Not):
        v = ref_eval(node.item, row)
        return None if v is None else not v
    if isinstance(node, (ir.And, ir.Or)):
        vals = [ref_eval(x, row) for x in node.items]
        decisive = isinstance(node, ir.Or)
        if decisive in vals:
            return decisive
        return None if None in vals else not decisive
    if isinstance(node, ir.IsNull):
        return (row[node.col.name] is None) != node.negate
    if isinstance(node, ir.Exists):
        return _non_empty(_get(node.col, row)) if row[node.col.name] is not None else False
    if isinstance(node, ir.ColCmp):
        a, b = row[node.left.name], row[node.right.name]
        if a is None or b is None:
            return None
        if isinstance(a, float) or isinstance(b, float):
            a, b = float(a), float(b)
        return bool(_cmp(node.op, a, b))
    col = node.col  # type: ignore[attr-defined]
    x = _get(col, row)
    if x is None:
        return None
    if isinstance(node, ir.Cmp):
        return _compare(col, node.op, x, node.value)
    if isinstance(node, ir.Range):
        lo = _compare(col, "GE" if node.lower_inclusive else "GT", x, node.lower)
        hi = _compare(col, "LE" if node.upper_inclusive else "LT", x, node.upper)
        return bool(lo and hi)
    if isinstance(node, ir.In):
        if x is ABSENT:
            return False
        return any(_compare(col, "EQ", x, v) for v in node.values)
    if isinstance(node, ir.Like):
        if not isinstance(x, str):
            return False
        kind, operand = node.kind, node.operand
        if kind == likepat.MATCH:
            return _like(x, operand)
        return {
            "EQ": x == operand,
            "PREFIX": x.startswith(operand),
            "POSTFIX": x.endswith(operand),
            "INNER": operand in x,
        }[kind]
    if isinstance(node, ir.ArithCmp):
        if not _num(x):
            return node.op == "NE" and col.kind == ir.JSON
        o, v = node.operand, node.value
        if col.kind == ir.JSON and not (isinstance(x, int) and isinstance(o, int)):
            x, o, v = float(x), float(o), float(v)
        r = _arith(col, node.aop, x, o)
        if isinstance(r, np.floating):
            v = type(r)(v)
        return bool(_cmp(node.op, r, v))
    if isinstance(node, ir.LenCmp):
        return _cmp(node.op, len(x) if isinstance(x, list) else 0, node.value)
    if isinstance(node, ir.Contains):
        if not isinstance(x, list):
            return False

        def has(e: Any) -> bool:
            return (
                any(_compare(col, "EQ", y, e) is True for y in x)
                if col.kind != ir.JSON
                else any(_json_eq(y, e) for y in x)
            )

        if col.kind == ir.ARRAY and col.elem == "Float":
            x = [np.float32(y) for y in x]
        hits = [has(e) for e in node.elements]
        return all(hits) if node.mode == "ALL" else any(hits)
    raise AssertionError(f"unexpected node {node!r}")


# -- expression generators ------------------------------------------------------------------

OPS = ["==", "!=", "<", "<=", ">", ">="]
INT_LIT = st.integers(-25, 25).map(str)
NUM_LIT = st.one_of(INT_LIT, st.sampled_from(["0.1", "1.5", "-2.5", "3.0", "1e1"]))
STR_LIT = st.sampled_from(WORDS).map(lambda w: json.dumps(w, ensure_ascii=False))
PATTERNS = st.sampled_from(["a%", "%b", "%b%", "a_b", "_", "%", "a\\\\_b", "%中%", "", "a%c"])
JSON_PATHS = st.sampled_from(
    [
        'js["a"]',
        'js["b"]',
        'js["c"]',
        'js["a"]["k"]',
        'js["c"][0]',
        "color",
        "n",
        "tags",
        '$meta["tags"][1]',
    ]
)
JSON_LIT = st.one_of(NUM_LIT, STR_LIT, st.sampled_from(["true", "false", "[1, 2]", "[]"]))


def _list(elems: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(elems, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]")


ATOMS = st.one_of(
    st.tuples(st.sampled_from(["i8", "i64"]), st.sampled_from(OPS), INT_LIT).map(" ".join),
    st.tuples(INT_LIT, st.sampled_from(OPS), st.sampled_from(["i8", "i64"])).map(" ".join),
    st.tuples(st.sampled_from(["f", "d"]), st.sampled_from(OPS), NUM_LIT).map(" ".join),
    st.tuples(st.sampled_from(["s", "sarr[0]"]), st.sampled_from(OPS), STR_LIT).map(" ".join),
    st.tuples(st.sampled_from(["s", "sarr[1]", 'js["b"]', "color"]), PATTERNS).map(
        lambda t: f'{t[0]} like "{t[1]}"'
    ),
    st.tuples(
        st.sampled_from(["i8", "i64", "arr[0]", "arr[2]"]),
        st.sampled_from(["in", "not in"]),
        _list(INT_LIT),
    ).map(" ".join),
    st.tuples(
        st.sampled_from(["s", "sarr[0]"]), st.sampled_from(["in", "not in"]), _list(STR_LIT)
    ).map(" ".join),
    st.tuples(JSON_PATHS, st.sampled_from(["in", "not in"]), _list(JSON_LIT)).map(" ".join),
    st.tuples(JSON_PATHS, st.sampled_from(OPS), JSON_LIT)
    .filter(lambda t: "[" not in t[2] or t[1] in ("==", "!="))
    .map(" ".join),
    st.tuples(
        INT_LIT,
        st.sampled_from(["<", "<="]),
        st.sampled_from(["i64", "i8", "arr[1]", "n"]),
        st.sampled_from(["<", "<="]),
        INT_LIT,
    ).map(" ".join),
    st.tuples(
        NUM_LIT,
        st.sampled_from([">", ">="]),
        st.sampled_from(["f", "d", 'js["a"]']),
        st.sampled_from([">", ">="]),
        NUM_LIT,
    ).map(" ".join),
    st.tuples(
        st.sampled_from(["i8", "i64", "d", "s", "b", "js", "arr", "farr", "color", 'js["a"]']),
        st.sampled_from(["is null", "is not null", "IS NULL"]),
    ).map(" ".join),
    st.tuples(
        st.sampled_from(["b"]), st.sampled_from(["==", "!="]), st.sampled_from(["true", "false"])
    ).map(" ".join),
    st.tuples(
        st.sampled_from(["i64", "i8", "arr[0]", 'js["a"]', "n"]),
        st.sampled_from(["+", "-", "*", "/", "%"]),
        st.integers(1, 4).map(str),
        st.sampled_from(OPS),
        INT_LIT,
    ).map(lambda t: f"{t[0]} {t[1]} {t[2]} {t[3]} {t[4]}"),
    st.tuples(
        st.sampled_from(["f", "d"]),
        st.sampled_from(["+", "-", "*", "/"]),
        st.sampled_from(["2", "0.5"]),
        st.sampled_from(OPS),
        NUM_LIT,
    ).map(" ".join),
    st.tuples(
        st.sampled_from(["arr", "farr", "sarr", 'js["c"]', "tags"]),
        st.sampled_from(OPS),
        st.integers(0, 3).map(str),
    ).map(lambda t: f"array_length({t[0]}) {t[1]} {t[2]}"),
    st.tuples(
        st.sampled_from(["array_contains", "json_contains"]),
        st.sampled_from(["arr", 'js["c"]', "tags"]),
        st.one_of(INT_LIT, st.sampled_from(["1.0", "2.0", '"t1"', "[]", "[1]"])),
    ).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    st.tuples(
        st.sampled_from(
            ["array_contains_all", "array_contains_any", "json_contains_any", "json_contains_all"]
        ),
        st.sampled_from(["arr", 'js["c"]', "tags", '$meta["tags"]']),
        _list(st.one_of(INT_LIT, st.sampled_from(['"t1"', "1.0", "2.5", "[1, 2]", "true"]))),
    ).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    st.tuples(
        st.sampled_from(["arr", "farr"]),
        st.sampled_from(["==", "!="]),
        st.lists(st.integers(-5, 5), min_size=1, max_size=3),
    ).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
    st.sampled_from(
        [
            'exists js["a"]',
            "exists color",
            'exists js["c"][0]',
            "i64 > i8",
            "f <= d",
            "i8 != i64",
            "id in [0, 3]",
        ]
    ),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(["and", "or", "&&", "||", "AND"]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        children.map(lambda c: f"not ({c})"),
    )


EXPRS = st.recursive(ATOMS, _combine, max_leaves=6)


def _mask(expr: str, table: pa.Table) -> np.ndarray:
    plan = compile_filter(expr, SPEC)
    return plan.evaluate(table.select(sorted(plan.columns)) if plan.columns else table)


@SETTINGS
@given(rows(), EXPRS)
def test_vectorised_evaluator_matches_row_interpreter(
    data: list[dict[str, Any]], expr: str
) -> None:
    try:
        plan = compile_filter(expr, SPEC)
    except MilvusException:  # e.g. an empty range or an element type mismatch
        assume(False)
        return
    table = table_of(data)
    got = plan.evaluate(table)
    want = np.asarray([ref_eval(plan.root, r) is True for r in table.to_pylist()], dtype=bool)
    assert got.tolist() == want.tolist(), (expr, plan.root)
    halves = pa.concat_tables([table.slice(0, len(data) // 2), table.slice(len(data) // 2)])
    assert plan.evaluate(halves).tolist() == want.tolist()


@SETTINGS
@given(rows(), EXPRS, EXPRS)
def test_kleene_and_de_morgan(data: list[dict[str, Any]], p: str, q: str) -> None:
    table = table_of(data)
    try:
        mp, mq = _mask(p, table), _mask(q, table)
    except MilvusException:
        assume(False)
    m = {
        e: _mask(e, table)
        for e in (
            f"not (({p}) and ({q}))",
            f"(not ({p})) or (not ({q}))",
            f"not (({p}) or ({q}))",
            f"(not ({p})) and (not ({q}))",
            f"not (not ({p}))",
            f"({p}) and ({q})",
            f"({p}) or ({q})",
            f"not ({p})",
        )
    }
    assert (m[f"not (({p}) and ({q}))"] == m[f"(not ({p})) or (not ({q}))"]).all()
    assert (m[f"not (({p}) or ({q}))"] == m[f"(not ({p})) and (not ({q}))"]).all()
    assert (m[f"not (not ({p}))"] == mp).all()
    assert (m[f"({p}) and ({q})"] == (mp & mq)).all()
    assert (m[f"({p}) or ({q})"] == (mp | mq)).all()
    assert not (m[f"not ({p})"] & mp).any()  # TRUE and NOT-TRUE never overlap


@SETTINGS
@given(
    rows(),
    st.sampled_from(["i8", "i64", "arr[1]", 'js["a"]', "n"]),
    st.lists(st.integers(-6, 6), min_size=1, max_size=4),
    st.integers(-6, 6),
    st.integers(0, 6),
)
def test_in_and_range_identities(
    data: list[dict[str, Any]], col: str, values: list[int], lo: int, width: int
) -> None:
    table = table_of(data)
    ors = " or ".join(f"{col} == {v}" for v in values)
    assert (_mask(f"{col} in {values}", table) == _mask(ors, table)).all()
    hi = lo + width + 1
    both = _mask(f"{col} > {lo} and {col} < {hi}", table)
    assert (_mask(f"{lo} < {col} < {hi}", table) == both).all()
    assert (_mask(f"{hi} > {col} > {lo}", table) == both).all()


TOKENS = [
    "i64",
    "s",
    "js",
    "arr",
    "color",
    "$meta",
    "vec",
    "id",
    'js["a"]',
    "arr[0]",
    "{x}",
    "{y}",
    "and",
    "or",
    "not",
    "AND",
    "in",
    "not in",
    "like",
    "LIKE",
    "is null",
    "is not null",
    "exists",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "<<",
    "&",
    "|",
    "(",
    ")",
    "[",
    "]",
    "[]",
    ",",
    "1",
    "0",
    "-1",
    "1.5",
    "9223372036854775808",
    '"a"',
    "'b'",
    '"a%"',
    "true",
    "False",
    "null",
    "json_contains(",
    "array_length(",
    "array_contains_all(",
    "random_sample(",
    "text_match(",
    "f(",
    "=",
    "!",
    "~",
    "1e400",
    "0x1F",
    '"\\x"',
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=10), st.sampled_from([" ", ""]))
def test_token_soup_only_raises_milvus_exception(tokens: list[str], sep: str) -> None:
    expr = sep.join(tokens)
    try:
        plan = compile_filter(expr, SPEC, {"x": 1, "y": [1, "a"]})
    except MilvusException:
        return
    plan.evaluate(table_of([]))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_random_text_only_raises_milvus_exception(expr: str) -> None:
    with contextlib.suppress(MilvusException):
        compile_filter(expr, SPEC)


DEEP = {
    "parens": "(" * 5000 + "i64 > 1" + ")" * 5000,
    "nots": "not " * 5000 + "(i64 > 1)",
    "sum": " + ".join(["1"] * 5000) + " < i64",
    "minuses": "-" * 3000 + "1 < i64",
    "ors": " or ".join(f"i64 == {i}" for i in range(5000)),
    "long_in": "i64 in [" + ",".join(map(str, range(20000))) + "]",
    "ands": "i64 > 1 and " * 3000 + "i64 > 1",
    "terms": "i64 in [1]" + " in [1]" * 3000,
    "arrays": "[" * 3000 + "1" + "]" * 3000 + " == js",
}


@pytest.mark.parametrize("expr", list(DEEP.values()), ids=list(DEEP))
def test_deep_or_long_expressions_never_overflow_the_stack(expr: str) -> None:
    try:
        plan = compile_filter(expr, SPEC)
    except MilvusException:
        return
    plan.evaluate(table_of([]))


def test_deep_parentheses_within_the_limit_compile() -> None:
    plan = compile_filter("(" * 150 + "i64 > 1" + ")" * 150, SPEC)
    assert plan.columns == frozenset({"i64"})
