"""JSON columns (utf8 JSON text; NULL = SQL NULL) and their typed per-path views.

A chunk is decoded with one ``json.loads`` call over the joined rows (per row only when that
fails), and the value at each requested path is classified into NumPy arrays (ints, numbers,
bools, strings, arrays). Both are cached per chunk, keyed by the chunk's buffer addresses; the
cache holds references to those buffers, so a key cannot be reused while it is cached.
Semantics follow the server (``filter_grammar.md`` section 6).
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FIELDS = ("row_null", "is_int", "ints", "is_num", "nums", "is_bool", "bools", "is_str", "is_list")


class _RowLRU:
    """An LRU cache bounded by the total number of rows of its entries."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.rows = 0
        self.data: OrderedDict[Any, tuple[int, Any, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            hit = self.data.get(key)
            if hit is None:
                return None
            self.data.move_to_end(key)
            return hit[2]

    def put(self, key: Any, rows: int, keepalive: Any, value: Any) -> None:
        with self.lock:
            if key in self.data:
                return
            self.data[key] = (rows, keepalive, value)
            self.rows += rows
            while self.rows > self.max_rows and len(self.data) > 1:
                old_rows, _, _ = self.data.popitem(last=False)[1]
                self.rows -= old_rows


_docs = _RowLRU(262_144)  # decoded documents are large; only new paths need them
_views = _RowLRU(4_000_000)  # typed per-path views: ~30 bytes per row


def _chunk_key(chunk: pa.Array) -> tuple[tuple[Any, ...], list[pa.Buffer]]:
    bufs = [b for b in chunk.buffers() if b is not None]
    return (chunk.offset, len(chunk), *(b.address for b in bufs)), bufs


def _decode(chunk: pa.Array, key: Any, bufs: list[pa.Buffer]) -> list[Any]:
    """Documents of one chunk; NULL rows decode as None (masked by ``row_null``)."""
    docs = _docs.get(key)
    if docs is not None:
        return docs  # type: ignore[no-any-return]
    texts = pc.fill_null(chunk, "null").to_pylist() if chunk.null_count else chunk.to_pylist()
    try:
        docs = json.loads("[" + ",".join(texts) + "]")
        if len(docs) != len(texts):
            raise ValueError("row count changed")
    except ValueError:
        docs = []
        for text in texts:
            try:
                docs.append(json.loads(text))
            except ValueError:
                docs.append(MISSING)
    _docs.put(key, len(docs), bufs, docs)
    return docs  # type: ignore[no-any-return]


def _walk(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if isinstance(doc, dict):
            doc = doc.get(key, MISSING)
            if doc is MISSING:
                return MISSING
        elif isinstance(doc, list):
            if not key.isdigit() or (len(key) > 1 and key[0] == "0") or not key.isascii():
                return MISSING
            i = int(key)
            if i >= len(doc):
                return MISSING
            doc = doc[i]
        else:
            return MISSING
    return doc


def non_empty(v: Any) -> bool:
    """The server's ``exists``: present, not null, and not a container of only empty values."""
    if v is None or v is MISSING:
        return False
    if isinstance(v, dict):
        return any(non_empty(x) for x in v.values())
    if isinstance(v, list):
        return any(non_empty(x) for x in v)
    return True


def _to_float(i: int) -> float:
    """float(i), saturating to +-inf for integers beyond the double range."""
    try:
        return float(i)
    except OverflowError:
        return math.inf if i > 0 else -math.inf


def json_match(x: Any, e: Any) -> bool:
    """Server element equality (contains, array literals): an int literal matches only JSON
    integers, a double literal any JSON number, bool never a number, arrays element-wise."""
    if isinstance(e, bool):
        return type(x) is bool and x == e
    if isinstance(e, int):
        return type(x) is int and x == e
    if isinstance(e, float):
        return type(x) in (int, float) and float(x) == e
    if isinstance(e, str):
        return type(x) is str and x == e
    if isinstance(e, tuple):
        return type(x) is list and len(x) == len(e) and all(map(json_match, x, e))
    return False


def literal_key(e: Any) -> Any:
    """Hash key of a scalar literal for :meth:`JsonView.element_keys` lookups."""
    if isinstance(e, bool):
        return ("b", e)
    if isinstance(e, int):
        return ("i", e)
    if isinstance(e, float):
        return ("n", e)
    return ("s", e)


def _element_keys(items: list[Any]) -> frozenset[Any]:
    keys: set[Any] = set()
    for x in items:
        t = type(x)
        if t is int:
            keys.add(("i", x))
            keys.add(("n", _to_float(x)))
        elif t is float:
            keys.add(("n", x))
        elif t is bool:
            keys.add(("b", x))
        elif t is str:
            keys.add(("s", x))
    return frozenset(keys)


def _classify(values: list[Any], row_null: np.ndarray) -> dict[str, Any]:
    n = len(values)
    out: dict[str, Any] = {name: np.zeros(n, bool) for name in _FIELDS}
    out["row_null"] = row_null
    out["ints"] = np.zeros(n, np.int64)
    out["nums"] = np.zeros(n, np.float64)
    strs: list[str | None] = [None] * n
    is_int, ints, is_num, nums = out["is_int"], out["ints"], out["is_num"], out["nums"]
    is_bool, bools, is_str, is_list = out["is_bool"], out["bools"], out["is_str"], out["is_list"]
    for i, v in enumerate(values):
        t = type(v)
        if t is int:
            is_num[i] = True
            nums[i] = _to_float(v)
            if _INT64_MIN <= v <= _INT64_MAX:
                is_int[i] = True
                ints[i] = v
        elif t is float:
            is_num[i] = True
            nums[i] = v
        elif t is str:
            is_str[i] = True
            strs[i] = v
        elif t is bool:
            is_bool[i] = True
            bools[i] = v
        elif t is list:
            is_list[i] = True
    out["strs"] = pa.array(strs, pa.string())
    out["values"] = values
    return out


def _chunk_view(chunk: pa.Array, path: tuple[str, ...]) -> dict[str, Any]:
    key, bufs = _chunk_key(chunk)
    view = _views.get((key, path))
    if view is not None:
        return view  # type: ignore[no-any-return]
    docs = _decode(chunk, key, bufs)
    row_null = np.zeros(len(chunk), bool)
    if chunk.null_count:
        row_null = np.asarray(pc.is_null(chunk).to_numpy(zero_copy_only=False), dtype=bool)
    values = [_walk(d, path) for d in docs] if path else list(docs)
    for i in np.flatnonzero(row_null):
        values[i] = MISSING
    view = _classify(values, row_null)
    _views.put((key, path), len(chunk), bufs, view)
    return view


class JsonView:
    """The value at one path for every row of a JSON column, with typed NumPy views."""

    def __init__(self, parts: dict[str, Any]) -> None:
        self.values: list[Any] = parts["values"]
        self.n = len(self.values)
        self.row_null: np.ndarray = parts["row_null"]
        self.is_int: np.ndarray = parts["is_int"]
        self.ints: np.ndarray = parts["ints"]
        self.is_num: np.ndarray = parts["is_num"]
        self.nums: np.ndarray = parts["nums"]
        self.is_bool: np.ndarray = parts["is_bool"]
        self.bools: np.ndarray = parts["bools"]
        self.is_str: np.ndarray = parts["is_str"]
        self.strs: pa.Array = parts["strs"]
        self.is_list: np.ndarray = parts["is_list"]
        self._exists: np.ndarray | None = None
        self._keysets: list[frozenset[Any] | None] | None = None

    @classmethod
    def build(cls, column: pa.ChunkedArray, path: tuple[str, ...]) -> JsonView:
        views = [_chunk_view(c, path) for c in column.chunks]
        if len(views) == 1:
            return cls(views[0])
        if not views:
            return cls(_classify([], np.zeros(0, bool)))
        parts: dict[str, Any] = {name: np.concatenate([v[name] for v in views]) for name in _FIELDS}
        parts["ints"] = np.concatenate([v["ints"] for v in views])
        parts["nums"] = np.concatenate([v["nums"] for v in views])
        parts["strs"] = pa.concat_arrays([v["strs"] for v in views])
        parts["values"] = [x for v in views for x in v["values"]]
        return cls(parts)

    def lengths(self) -> np.ndarray:
        """``array_length``: element count, 0 when missing or not an array."""
        out = np.zeros(self.n, np.int64)
        for i in np.flatnonzero(self.is_list):
            out[i] = len(self.values[i])
        return out

    def exists(self) -> np.ndarray:
        if self._exists is None:
            self._exists = np.fromiter((non_empty(v) for v in self.values), bool, self.n)
        return self._exists

    def element_keys(self) -> list[frozenset[Any] | None]:
        """Per row: lookup keys of the scalar elements when the value is an array, else None."""
        if self._keysets is None:
            self._keysets = [_element_keys(v) if type(v) is list else None for v in self.values]
        return self._keysets
