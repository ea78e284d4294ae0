"""Arrays of Structs (Milvus 2.6.4+): an ARRAY field whose elements are structs of scalar
and FLOAT_VECTOR sub-fields, and the embedding-list search over a vector sub-field.

A row holds a list of dicts (``[{"frame": 1, "emb": [...]}, ...]``), kept as one Arrow
``list<struct<...>>`` column (a vector sub-field a fixed-size list of float32). A vector
sub-field is named ``field[sub]`` in indexes and searches. An embedding-list search
(``data=[EmbeddingList(...)]``, metrics MAX_SIM_COSINE / MAX_SIM_IP / MAX_SIM_L2) scores a
row as knowhere's ``get_sum_max_sim``: for each query vector the best similarity over the
row's element vectors, summed over the query's vectors (for L2: the nearest squared
distances, summed, smaller is better). Rows without elements never match.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pymilvus import DataType

from gpu_milvus import errors
from gpu_milvus.chunk_cache import ChunkCache
from gpu_milvus.engine.cpu import best_by_row

SUB_SCALARS = frozenset(
    {DataType.BOOL, DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64}
    | {DataType.FLOAT, DataType.DOUBLE, DataType.VARCHAR}
)
MAX_SIM_METRICS = ("MAX_SIM_COSINE", "MAX_SIM_IP", "MAX_SIM_L2")
EMB_LIST_INDEXES = frozenset({"AUTOINDEX", "HNSW", "EMB_LIST_HNSW"})
_SUB_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[([A-Za-z_][A-Za-z0-9_]*)\]$")


class EmbeddingLists(tuple):
    """Search data given as pymilvus EmbeddingLists: one float32 (m, dim) matrix a query."""

    @property
    def shape(self) -> tuple[int]:
        return (len(self),)


def split_name(name: str) -> tuple[str, str] | None:
    """``("clips", "emb")`` for ``"clips[emb]"``, else None."""
    m = _SUB_NAME.match(name)
    return (m[1], m[2]) if m else None


def arrow_type(f: Any) -> pa.DataType:
    """A struct array field's Arrow type."""
    members = []
    for sub in f.struct_fields:
        vector = sub.dtype == DataType.FLOAT_VECTOR
        kind = pa.list_(pa.float32(), sub.dim) if vector else sub.arrow_type
        members.append(pa.field(sub.name, kind))
    return pa.list_(pa.struct(members))


def check_sub_field(struct: str, sub: Any) -> None:
    """The types Milvus 2.6 allows inside a struct."""
    if sub.dtype != DataType.FLOAT_VECTOR and sub.dtype not in SUB_SCALARS:
        raise errors.invalid(
            f"field {sub.name} of struct {struct} has type {sub.dtype.name}: a struct holds "
            "BOOL, INT8-64, FLOAT, DOUBLE, VARCHAR and FLOAT_VECTOR fields: invalid parameter"
        )


def column(f: Any, values: list[Any]) -> pa.Array:
    """A batch's values of struct array field ``f`` (lists of dicts; None only if missing,
    or null in a nullable one)."""
    names = [s.name for s in f.struct_fields]
    for v in values:
        if v is None:
            if f.nullable:
                continue
            raise errors.insert_missed_field(f.name)
        if not isinstance(v, (list, tuple)):
            raise mismatch(f.name, v, f"Field '{f.name}': Expected list, got {type(v).__name__}")
        if len(v) > (f.max_capacity or 0):
            raise errors.invalid(
                f"the length ({len(v)}) of struct array field ({f.name}) exceeds max capacity "
                f"({f.max_capacity}): invalid parameter"
            )
        for i, item in enumerate(v):
            if not isinstance(item, dict) or set(item) != set(names):
                missing = set(names) - set(item) if isinstance(item, dict) else set(names)
                raise mismatch(
                    f.name, v, f"Field '{f.name}': Element at index {i} missing required fields: "
                    f"{missing or set(item) - set(names)}",
                )  # fmt: skip
            for sub in f.struct_fields:
                _check_value(f.name, sub, item[sub.name], v)
    try:
        return pa.array(values, type=f.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
        raise errors.invalid(f"invalid value of struct array field {f.name}: {e}") from None


def _check_value(name: str, sub: Any, value: Any, row: Any) -> None:
    if sub.dtype == DataType.FLOAT_VECTOR:
        if not isinstance(value, (list, tuple, np.ndarray)) or len(value) != sub.dim:
            got = len(value) if hasattr(value, "__len__") else 0
            raise errors.invalid(
                f"the dim ({got}) of field data({name}[{sub.name}]) is not equal to schema "
                f"dim ({sub.dim}): invalid parameter"
            )
    elif value is None:
        raise mismatch(name, row, f"Field '{name}': sub-field {sub.name} is None")
    elif sub.dtype == DataType.VARCHAR and len(str(value).encode()) > (sub.max_length or 0):
        raise errors.invalid(
            f"the length ({len(str(value).encode())}) of {name}[{sub.name}] exceeds "
            f"max length ({sub.max_length}): invalid parameter"
        )


def mismatch(name: str, value: Any, detail: str) -> errors.DataNotMatchException:
    """pymilvus's error for a value that is not an array of structs."""
    return errors.DataNotMatchException(
        message="The Input data type is inconsistent with defined schema, "
        f"{{{name}}} field should be a struct array, but got a {{{type(value)}}} instead. "
        f"Detail: {detail}"
    )


def select(rows: list[Any], keys: tuple[str, ...]) -> list[Any]:
    """Rows of a struct array keeping only ``keys`` of each element (``field[sub]`` outputs)."""
    return [None if r is None else [{k: e[k] for k in keys} for e in r] for r in rows]


def describe(f: Any) -> dict[str, Any]:
    """The field as pymilvus's MilvusClient.describe_collection shows a struct array."""
    subs = []
    for s in f.struct_fields:
        entry: dict[str, Any] = {"field_id": s.field_id, "name": s.name, "type": s.dtype,
                                 "description": s.description}  # fmt: skip
        if s.dtype == DataType.FLOAT_VECTOR:
            entry["params"] = {"dim": s.dim}
        elif s.dtype == DataType.VARCHAR:
            entry["params"] = {"max_length": s.max_length}
        subs.append(entry)
    return {
        "field_id": f.field_id, "name": f.name, "description": f.description,
        "type": DataType.ARRAY, "element_type": DataType.STRUCT,
        "params": {"max_capacity": f.max_capacity}, "struct_fields": subs,
        **({"nullable": True} if f.nullable else {}),
    }  # fmt: skip


def vector_field(parent: Any, sub: Any) -> Any:
    """The virtual field ``parent[sub]`` an index and a search name: an array of vectors."""
    return dataclasses.replace(
        sub, name=f"{parent.name}[{sub.name}]", dtype=DataType._ARRAY_OF_VECTOR,
        element_type=DataType.FLOAT_VECTOR, nullable=False,
    )  # fmt: skip


def queries(data: Any, dim: int) -> EmbeddingLists:
    """Embedding-list search data: one (m, dim) float32 matrix per query."""
    if not isinstance(data, EmbeddingLists):
        raise errors.invalid(
            "search data of an array of vectors must be EmbeddingLists: invalid parameter"
        )
    out = []
    for flat in data:
        if flat.size == 0 or flat.size % dim:
            raise errors.invalid(
                f"embedding list of {flat.size} values does not split into vectors of dim "
                f"{dim}: invalid parameter"
            )
        out.append(flat.reshape(-1, dim))
    return EmbeddingLists(out)


class _Elements:
    """One chunk's element vectors of a sub-field (float32, and unit length for cosine),
    each row's range of them, and the rows that hold any."""

    def __init__(self, chunk: pa.Array, sub: str, dim: int) -> None:
        values = chunk.flatten().field(sub).flatten().to_numpy(zero_copy_only=False)
        self.vectors = np.asarray(values, dtype=np.float32).reshape(-1, dim)
        offsets = np.asarray(chunk.offsets, dtype=np.int64)
        self.offsets = offsets - offsets[0]
        counts = np.diff(self.offsets)
        self.rows = np.flatnonzero(counts)  # chunk rows holding elements
        self.starts = self.offsets[:-1][self.rows]
        self._unit: np.ndarray | None = None

    def unit(self) -> np.ndarray:
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norms, np.float32(1e-30))
        return self._unit


_cache: ChunkCache[_Elements] = ChunkCache(max_rows=2_000_000)


def _score(e: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """Similarities (or squared L2 distances) of elements ``e`` to query vectors ``q``."""
    sims = e @ q.T
    if metric == "MAX_SIM_L2":
        sims = (e * e).sum(1)[:, None] - 2 * sims + (q * q).sum(1)[None, :]
    return sims


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)


def _approx(parts: list[_Elements], bases: list[int], n: int, q: np.ndarray, metric: str):
    """Every row's score in float32 (NaN for rows without elements)."""
    out = np.full(n, np.nan, dtype=np.float32)
    qq = _unit(q) if metric == "MAX_SIM_COSINE" else q
    reduce = np.minimum if metric == "MAX_SIM_L2" else np.maximum
    for part, base in zip(parts, bases, strict=True):
        if not len(part.rows):
            continue
        e = part.unit() if metric == "MAX_SIM_COSINE" else part.vectors
        best = reduce.reduceat(_score(e, qq, metric), part.starts, axis=0)
        out[base + part.rows] = best.sum(axis=1)
    return out


def _exact(part: _Elements, row: int, q: np.ndarray, metric: str) -> float:
    """One row's score in float64."""
    e = part.vectors[part.offsets[row] : part.offsets[row + 1]].astype(np.float64)
    q = q.astype(np.float64)
    if metric == "MAX_SIM_COSINE":
        e, q = _unit(e), _unit(q)
    sims = _score(e, q, metric)
    return float((sims.min(0) if metric == "MAX_SIM_L2" else sims.max(0)).sum())


def search(
    column: pa.ChunkedArray, sub: str, dim: int, qs: Sequence[np.ndarray], metric: str,
    k: int, valid: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Top ``k`` rows per query: (rows, scores), -1 / NaN padded, best first, ties by row.
    Every row is scored in float32; the best ``k + 32`` are scored again in float64 and
    ordered by that."""
    parts = [_cache.get(c, (sub, dim), lambda c: _Elements(c, sub, dim)) for c in column.chunks]
    bases = list(np.cumsum([0] + [len(c) for c in column.chunks])[:-1])
    chunk_of = np.repeat(np.arange(len(parts)), [len(c) for c in column.chunks])
    n = len(column)
    sign = 1.0 if metric == "MAX_SIM_L2" else -1.0
    out_rows = np.full((len(qs), k), -1, dtype=np.int64)
    out_dist = np.full((len(qs), k), np.nan, dtype=np.float32)
    for i, q in enumerate(qs):
        approx = _approx(parts, bases, n, q, metric)
        ok = ~np.isnan(approx)
        if valid is not None:
            ok &= valid if valid.ndim == 1 else valid[i]
        cand = np.flatnonzero(ok)
        keep = min(len(cand), k + 32)
        if keep < len(cand):
            cand = cand[np.argpartition(sign * approx[cand], keep - 1)[:keep]]
        where = zip(cand, chunk_of[cand], strict=True)
        exact = np.array([_exact(parts[c], r - bases[c], q, metric) for r, c in where])
        order = best_by_row(-sign * exact, cand, k)
        out_rows[i, : len(order)] = cand[order]
        out_dist[i, : len(order)] = exact[order]
    return out_rows, out_dist
