"""Seeded data and filter-expression generators for the congruence tests.

Everything draws from ``numpy.random.Generator``; the base seed is ``GPU_MILVUS_SEED`` (default
``DEFAULT_SEED``) and each stream mixes in a fixed salt, so one seed reproduces a whole run.

The filter generator covers only the dialect where milvus-lite 3.2.2 agrees with Milvus 2.6
(``filter_grammar.md`` §10.6 and the ``agrees == "same"`` cases of ``filter_cases.json``):
int / double / string / bool comparisons with literals of the column's type, ``in`` / ``not in``
on non-null columns, ``like`` over ASCII data, ``(field op const) cmp const`` arithmetic,
field-vs-field comparisons of one kind, ``is [not] null``, ``array_contains*`` / ``array_length``
on non-null arrays, and ``and`` / ``or`` / ``not (...)``. JSON / dynamic-key ``==`` on keys that
every row holds is generated only outside ``not``. Never: chained ranges, ``%``, templates,
JSON ``!=``, ``not in`` on nullable columns, float literals against integer columns.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import numpy as np
from pymilvus import CollectionSchema, DataType, MilvusClient

DEFAULT_SEED = 20260601
WORDS = [
    "apple", "banana", "cherry", "date", "elder", "fig", "grape", "honey", "iris", "jade",
    "kiwi", "lemon", "mango", "nectar", "olive", "peach", "quince", "random", "river", "stone",
    "tiger", "umber", "violet", "walnut", "yarrow", "zest",
]  # fmt: skip
DIM = 8
SPARSE_DIMS = 40


def base_seed() -> int:
    """The run's seed: ``GPU_MILVUS_SEED`` or ``DEFAULT_SEED``."""
    return int(os.environ.get("GPU_MILVUS_SEED", DEFAULT_SEED))


def make_rng(seed: int, salt: str) -> np.random.Generator:
    """A generator for one named stream of one seed."""
    return np.random.default_rng([seed, zlib.crc32(salt.encode())])


# --------------------------------------------------------------------------------------------
# schema


INT_COLS = {"i8": (-5, 6), "i16": (-300, 300), "i32": (0, 20), "i64": (-50, 50)}
NULLABLE = ("ni", "ns", "nd", "nb", "njs", "nai")


def full_schema(
    *,
    pk: str = "int",
    vectors: dict[str, int] | None = None,
    sparse: bool = True,
    dynamic: bool = True,
) -> CollectionSchema:
    """Schema with every scalar type, nullable / default fields, JSON, ARRAY and vectors.

    ``vectors`` maps FLOAT_VECTOR field names to dims (default ``{"vec": DIM}``).
    """
    schema = MilvusClient.create_schema(enable_dynamic_field=dynamic)
    if pk == "int":
        schema.add_field("id", DataType.INT64, is_primary=True)
    else:
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=32)
    schema.add_field("b", DataType.BOOL)
    schema.add_field("i8", DataType.INT8)
    schema.add_field("i16", DataType.INT16)
    schema.add_field("i32", DataType.INT32)
    schema.add_field("i64", DataType.INT64)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("d", DataType.DOUBLE)
    schema.add_field("s", DataType.VARCHAR, max_length=64)
    schema.add_field("js", DataType.JSON)
    schema.add_field("ai", DataType.ARRAY, element_type=DataType.INT64, max_capacity=6)
    schema.add_field(
        "sa", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=16
    )
    schema.add_field("ni", DataType.INT64, nullable=True)
    schema.add_field("ns", DataType.VARCHAR, max_length=32, nullable=True)
    schema.add_field("nd", DataType.DOUBLE, nullable=True)
    schema.add_field("nb", DataType.BOOL, nullable=True)
    schema.add_field("njs", DataType.JSON, nullable=True)
    schema.add_field(
        "nai", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4, nullable=True
    )
    schema.add_field("dflt", DataType.INT32, default_value=7)
    for name, dim in (vectors or {"vec": DIM}).items():
        schema.add_field(name, DataType.FLOAT_VECTOR, dim=dim)
    if sparse:
        schema.add_field("sv", DataType.SPARSE_FLOAT_VECTOR)
    return schema


# --------------------------------------------------------------------------------------------
# rows


def _word(rng: np.random.Generator) -> str:
    return str(rng.choice(WORDS))


def _text(rng: np.random.Generator) -> str:
    if rng.random() < 0.05:
        return ""
    return " ".join(rng.choice(WORDS, int(rng.integers(1, 4))).tolist())


def quarter(rng: np.random.Generator, lo: int = -40, hi: int = 41) -> float:
    """A multiple of 0.25 (exact in float32), so FLOAT comparisons have no rounding edge."""
    return float(rng.integers(lo, hi)) / 4.0


def dense_vector(rng: np.random.Generator, dim: int) -> list[float]:
    """A float32-exact Gaussian vector as a list of Python floats."""
    return rng.standard_normal(dim).astype(np.float32).tolist()


def sparse_vector(rng: np.random.Generator, dims: int = SPARSE_DIMS) -> dict[int, float]:
    """A non-empty sparse row ``{index: weight}`` with positive float32-exact weights."""
    nnz = int(rng.integers(1, 7))
    idx = sorted(rng.choice(dims, nnz, replace=False).tolist())
    vals = rng.uniform(0.05, 1.0, nnz).astype(np.float32).tolist()
    return {int(i): float(v) for i, v in zip(idx, vals, strict=True)}


def make_pk(i: int, pk: str) -> int | str:
    """Primary key number ``i`` as INT64 or as a VARCHAR (``"k00042"``)."""
    return i if pk == "int" else f"k{i:05d}"


def gen_row(
    rng: np.random.Generator,
    pk_value: int | str,
    *,
    vectors: dict[str, int] | None = None,
    sparse: bool = True,
    dynamic: bool = True,
) -> dict[str, Any]:
    """One row for ``full_schema``: nullable fields None or omitted at random, dynamic keys."""
    row: dict[str, Any] = {"id": pk_value, "b": bool(rng.random() < 0.5)}
    for col, (lo, hi) in INT_COLS.items():
        row[col] = int(rng.integers(lo, hi))
    if rng.random() < 0.05:
        row["i64"] = int(rng.integers(-(2**40), 2**40))
    row["f"] = quarter(rng)
    row["d"] = round(float(rng.normal() * 10), 3)
    row["s"] = _text(rng)
    js: dict[str, Any] = {
        "k": int(rng.integers(0, 10)),
        "t": _word(rng),
        "x": quarter(rng),
        "arr": rng.integers(0, 5, int(rng.integers(0, 4))).tolist(),
        "nested": {"y": int(rng.integers(0, 5))},
    }
    if rng.random() < 0.3:
        js["opt"] = _word(rng)
    row["js"] = js
    row["ai"] = rng.integers(0, 10, int(rng.integers(0, 7))).tolist()
    row["sa"] = [_word(rng) for _ in range(int(rng.integers(0, 5)))]
    nullables: dict[str, Any] = {
        "ni": int(rng.integers(-10, 11)),
        "ns": _word(rng),
        "nd": quarter(rng),
        "nb": bool(rng.random() < 0.5),
        "njs": {"k": int(rng.integers(0, 5)), "w": _word(rng)},
        "nai": rng.integers(0, 10, int(rng.integers(0, 5))).tolist(),
    }
    for col, value in nullables.items():
        u = rng.random()
        if u < 0.2:
            row[col] = None
        elif u < 0.3:
            continue  # key omitted: a nullable field becomes NULL
        else:
            row[col] = value
    if rng.random() < 0.5:
        row["dflt"] = int(rng.integers(0, 10))  # otherwise the default (7) applies
    for name, dim in (vectors or {"vec": DIM}).items():
        row[name] = dense_vector(rng, dim)
    if sparse:
        row["sv"] = sparse_vector(rng)
    if dynamic:
        row["dyn_i"] = int(rng.integers(0, 8))
        if rng.random() < 0.6:
            row["dyn_s"] = _word(rng)
        if rng.random() < 0.3:
            row["dyn_f"] = quarter(rng)
    return row


def gen_rows(
    rng: np.random.Generator,
    pks: list[int] | list[str] | range,
    *,
    vectors: dict[str, int] | None = None,
    sparse: bool = True,
    dynamic: bool = True,
    dup_vectors: float = 0.0,
) -> list[dict[str, Any]]:
    """Rows for the given pks; ``dup_vectors`` of them copy an earlier row's dense vectors
    (exact distance ties)."""
    rows = [gen_row(rng, pk, vectors=vectors, sparse=sparse, dynamic=dynamic) for pk in pks]
    names = list((vectors or {"vec": DIM}).keys())
    for i in range(1, len(rows)):
        if rng.random() < dup_vectors:
            j = int(rng.integers(0, i))
            for name in names:
                rows[i][name] = list(rows[j][name])
    return rows


# --------------------------------------------------------------------------------------------
# filters


def _lit(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, float):
        return repr(value)
    return str(value)


class FilterGen:
    """Random filter expressions over ``full_schema`` rows, in the lite3 = Milvus 2.6 subset."""

    CMP = ("==", "!=", "<", "<=", ">", ">=")

    def __init__(self, rng: np.random.Generator, rows: list[dict[str, Any]]) -> None:
        self.rng = rng
        self.pool: dict[str, list[Any]] = {}
        for col in (*INT_COLS, "id", "f", "d", "s", "ni", "ns", "nd", "dflt", "dyn_i"):
            vals = [r[col] for r in rows if r.get(col) is not None]
            self.pool[col] = vals or [0]
        self.pool["js.k"] = [r["js"]["k"] for r in rows]
        self.pool["js.t"] = [r["js"]["t"] for r in rows]
        self.pool["js.y"] = [r["js"]["nested"]["y"] for r in rows]
        self.int_pk = isinstance(rows[0]["id"], int) if rows else True

    # --- helpers
    def _pick(self, seq: Any) -> Any:
        return seq[int(self.rng.integers(0, len(seq)))]

    def _value(self, col: str) -> Any:
        v = self._pick(self.pool[col])
        if isinstance(v, int) and not isinstance(v, bool) and self.rng.random() < 0.3:
            v += int(self.rng.integers(-2, 3))
        elif isinstance(v, float) and self.rng.random() < 0.3:
            v = float(v + self._pick([-0.25, 0.25, 0.1, -0.1]))
        elif isinstance(v, str) and self.rng.random() < 0.2:
            v = _word(self.rng)
        return v

    # --- leaves (safe under ``not``)
    def _int_cmp(self) -> str:
        cols = [*INT_COLS, "dflt", "ni"] + (["id"] if self.int_pk else [])
        col = self._pick(cols)
        return f"{col} {self._pick(self.CMP)} {self._value(col)}"

    def _float_cmp(self) -> str:
        col = self._pick(["f", "d", "nd"])
        v = self._value(col)
        if self.rng.random() < 0.2:
            v = round(v)  # an int literal is accepted for FLOAT / DOUBLE columns
        return f"{col} {self._pick(self.CMP)} {_lit(v)}"

    def _str_cmp(self) -> str:
        col = self._pick(["s", "s", "ns"] + ([] if self.int_pk else ["id"]))
        v = self._value("s" if col == "id" and self.rng.random() < 0.2 else col)
        return f"{col} {self._pick(self.CMP)} {_lit(v)}"

    def _bool_cmp(self) -> str:
        col = self._pick(["b", "nb"])
        op = self._pick(["==", "!="])
        return f"{col} {op} {self._pick(['true', 'false', 'True', 'FALSE'])}"

    def _in(self) -> str:
        col = self._pick(["i8", "i32", "i64", "s", "dflt"] + (["id"] if self.int_pk else []))
        vals = [self._value(col) for _ in range(int(self.rng.integers(0, 6)))]
        if col == "id":
            vals = list(dict.fromkeys(vals))  # lite repeats a row per repeated pk in the list
        op = self._pick(["in", "not in", "IN"])
        return f"{col} {op} [{', '.join(_lit(v) for v in vals)}]"

    def _like(self) -> str:
        col = self._pick(["s", "s", "ns"])
        src = self._pick([v for v in self.pool[col] if v] or ["apple"])
        n = len(src)
        a = int(self.rng.integers(0, n))
        b = int(self.rng.integers(a + 1, n + 1))
        piece = src[a:b]
        shape = int(self.rng.integers(0, 5))
        if shape == 0:
            pat = src[:b] + "%"
        elif shape == 1:
            pat = "%" + src[a:]
        elif shape == 2:
            pat = "%" + piece + "%"
        elif shape == 3:
            i = int(self.rng.integers(0, n))
            pat = src[:i] + "_" + src[i + 1 :]
        else:
            pat = src
        return f'{col} {self._pick(["like", "LIKE"])} "{pat}"'

    def _arith(self) -> str:
        col = self._pick(["i16", "i32", "i64", "f"])
        op = self._pick(["+", "-", "*"])
        c = int(self.rng.integers(1, 5))
        base = self._value(col)
        rhs: Any = base + c if op == "+" else base - c if op == "-" else base * c
        if col == "f":
            rhs = float(rhs)
        return f"{col} {op} {c} {self._pick(self.CMP)} {_lit(rhs)}"

    def _two_cols(self) -> str:
        a, b = self._pick([("i64", "i8"), ("i32", "i16"), ("i64", "ni"), ("f", "d"), ("d", "nd")])
        return f"{a} {self._pick(self.CMP)} {b}"

    def _null(self) -> str:
        col = self._pick(NULLABLE)
        return f"{col} {self._pick(['is null', 'is not null', 'IS NULL', 'IS NOT NULL'])}"

    def _array(self) -> str:
        kind = int(self.rng.integers(0, 5))
        if kind == 0:
            return f"array_contains(ai, {int(self.rng.integers(0, 10))})"
        if kind == 1:
            vals = self.rng.integers(0, 10, int(self.rng.integers(1, 4))).tolist()
            return f"array_contains_any(ai, {vals})"
        if kind == 2:
            vals = self.rng.integers(0, 10, int(self.rng.integers(0, 3))).tolist()
            return f"array_contains_all(ai, {vals})"
        if kind == 3:
            return f"array_length(ai) {self._pick(self.CMP)} {int(self.rng.integers(0, 7))}"
        return f'array_contains(sa, "{_word(self.rng)}")'

    # --- JSON / dynamic (never under ``not``)
    def _json(self) -> str:
        kind = int(self.rng.integers(0, 4))
        if kind == 0:
            return f'js["k"] == {self._value("js.k")}'
        if kind == 1:
            return f'js["t"] == "{self._value("js.t")}"'
        if kind == 2:
            return f'js["nested"]["y"] == {self._value("js.y")}'
        return f"dyn_i == {self._value('dyn_i')}"

    def leaf(self, allow_json: bool = True) -> str:
        """One predicate."""
        makers = [
            self._int_cmp, self._int_cmp, self._float_cmp, self._str_cmp, self._bool_cmp,
            self._in, self._like, self._arith, self._two_cols, self._null, self._array,
        ]  # fmt: skip
        if allow_json:
            makers += [self._json, self._json]
        return self._pick(makers)()

    def expr(self, depth: int = 0, allow_json: bool = True) -> str:
        """A random boolean expression (at most three levels of and/or/not)."""
        return self._node(depth, allow_json)[0]

    def _node(self, depth: int, allow_json: bool) -> tuple[str, bool]:
        """(expression, is_leaf); compound children are always parenthesised, because lite
        parses ``not`` with a lower precedence than the server."""
        if depth >= 3 or self.rng.random() < 0.35 + 0.2 * depth:
            return self.leaf(allow_json), True
        kind = int(self.rng.integers(0, 5))
        if kind == 4:
            inner = self._node(depth + 1, allow_json=False)[0]
            return f"{self._pick(['not ', 'NOT ', '!'])}({inner})", False
        parts = []
        for _ in range(2):
            text, is_leaf = self._node(depth + 1, allow_json)
            parts.append(text if is_leaf else f"({text})")
        word = self._pick(["and", "&&", "AND"] if kind < 2 else ["or", "||", "OR"])
        return f"{parts[0]} {word} {parts[1]}", False
