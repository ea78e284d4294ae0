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

SUB_SCALARS = frozenset(
    {DataType.BOOL, DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64}
    | {DataType.FLOAT, DataType.DOUBLE, DataType.VARCHAR}
)
MAX_SIM_METRICS = ("MAX_SIM_COSINE", "MAX_SIM_IP", "MAX_SIM_L2")
EMB_LIST_INDEXES = frozenset({"AUTOINDEX", "HNSW", "EMB_LIST_HNSW"})
_SUB_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[([A-Za-z_][A-Za-z0-9_]*)\]$")
_ARROW = {
    DataType.BOOL: pa.bool_(),
    DataType.INT8: pa.int8(),
    DataType.INT16: pa.int16(),
    DataType.INT32: pa.int32(),
    DataType.INT64: pa.int64(),
    DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
    DataType.VARCHAR: pa.string(),
}


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
        kind = (
            pa.list_(pa.float32(), sub.dim)
            if sub.dtype == DataType.FLOAT_VECTOR
            else _ARROW[sub.dtype]
        )
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
    """A batch's values of struct array field ``f`` (lists of dicts; None only if missing)."""
    names = [s.name for s in f.struct_fields]
    for v in values:
        if v is None:
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


def elements(column: pa.ChunkedArray, sub: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """All element vectors of a struct array column (n_elements, dim) and each one's row."""
    vectors, rows, base = [], [], 0
    for chunk in column.chunks:
        flat = chunk.flatten()
        values = flat.field(sub).flatten().to_numpy(zero_copy_only=False)
        vectors.append(np.asarray(values, dtype=np.float32).reshape(-1, dim))
        parents = np.asarray(chunk.value_parent_indices(), dtype=np.int64)
        rows.append(parents + base)
        base += len(chunk)
    if not vectors:
        return np.zeros((0, dim), np.float32), np.zeros(0, np.int64)
    return np.concatenate(vectors), np.concatenate(rows)


def max_sim(
    vectors: np.ndarray, rows: np.ndarray, n_rows: int, query: np.ndarray, metric: str
) -> np.ndarray:
    """Each row's score for one query (float64; NaN for rows without elements)."""
    e, q = vectors.astype(np.float64), query.astype(np.float64)
    if metric == "MAX_SIM_COSINE":
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-30)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
    sims = e @ q.T  # (n_elements, m)
    if metric == "MAX_SIM_L2":
        sims = (e * e).sum(1)[:, None] - 2 * sims + (q * q).sum(1)[None, :]
    best = np.full((n_rows, q.shape[0]), np.nan)
    if len(rows):
        order = np.argsort(rows, kind="stable")
        rs, s = rows[order], sims[order]
        starts = np.flatnonzero(np.r_[True, rs[1:] != rs[:-1]])
        reduce = np.minimum if metric == "MAX_SIM_L2" else np.maximum
        best[rs[starts]] = reduce.reduceat(s, starts, axis=0)
    return best.sum(axis=1)


def search(
    column: pa.ChunkedArray, sub: str, dim: int, qs: Sequence[np.ndarray], metric: str,
    k: int, valid: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Top ``k`` rows per query: (rows, scores), -1 / NaN padded, best first, ties by row."""
    vectors, rows = elements(column, sub, dim)
    n = len(column)
    out_rows = np.full((len(qs), k), -1, dtype=np.int64)
    out_dist = np.full((len(qs), k), np.nan, dtype=np.float32)
    for i, q in enumerate(qs):
        score = max_sim(vectors, rows, n, q, metric)
        ok = ~np.isnan(score)
        if valid is not None:
            ok &= valid if valid.ndim == 1 else valid[i]
        cand = np.flatnonzero(ok)
        key = score[cand] if metric == "MAX_SIM_L2" else -score[cand]
        top = cand[np.lexsort((cand, key))][:k]
        out_rows[i, : len(top)] = top
        out_dist[i, : len(top)] = score[top]
    return out_rows, out_dist
