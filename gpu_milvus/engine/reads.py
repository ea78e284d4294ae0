"""Read paths of a collection: query, get, search and hybrid search (server semantics).

All reads hold the collection's read lock and need it loaded. Rows visible to a read are
the newest alive copy of each primary key, in the loaded (or named) partitions, matching the
filter. Query results are ordered by primary key, as the server's retrieve reduce does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus import errors
from gpu_milvus.engine.collection import Collection
from gpu_milvus.engine.output import OutputPlan, materialize, plan_outputs
from gpu_milvus.filter import compile_filter
from gpu_milvus.rankers import Fusion, Hits, fuse
from gpu_milvus.schema import FieldSpec

MAX_TOPK = 16384


@dataclass
class SearchHits:
    """One query's hits: primary keys, float32 distances and output entities."""

    ids: list[Any]
    distances: list[float]
    entities: list[dict[str, Any]]


@dataclass
class VectorRequest:
    """One ANN request, already normalised by the client layer."""

    anns_field: str | None
    data: np.ndarray | sp.csr_matrix
    limit: int
    filter: str = ""
    filter_params: dict[str, Any] | None = None
    metric_type: str | None = None
    radius: float | None = None
    range_filter: float | None = None


def _check_loaded(coll: Collection, partition_names: Sequence[str] | None) -> list[int]:
    """Partition ids a read covers; raises when the collection or a partition is not loaded."""
    if not coll.loaded:
        raise errors.collection_not_loaded(coll.name)
    if not partition_names:
        return sorted(coll.loaded_partitions)
    pids = []
    for name in partition_names:
        pid = coll.partitions.get(name)
        if pid is None:
            raise errors.invalid(f"partition name {name} not found")
        if pid not in coll.loaded_partitions:
            raise errors.server(201, f"partition not loaded[partition={name}]")
        pids.append(pid)
    return pids


def _mask(
    coll: Collection,
    pids: Sequence[int],
    expr: str,
    params: dict[str, Any] | None,
    *,
    alive_only: bool = False,
) -> np.ndarray:
    """Rows a read may see: visible (or, for counts, alive), in ``pids``, passing the filter."""
    table = coll.table
    mask = (table.alive.view if alive_only else table.visible.view).copy()
    if len(pids) != len(coll.partitions):
        mask &= np.isin(table.partition.view, np.asarray(pids, dtype=np.int32))
    plan = compile_filter(expr or "", coll.spec, params)
    if not plan.always_true and mask.any():
        mask &= plan.evaluate(table.arrow(sorted(plan.columns)))
    return mask


def _by_pk(coll: Collection, rows: np.ndarray) -> np.ndarray:
    order = np.argsort(coll.table.pks[rows], kind="stable")
    return rows[order]


def count(
    coll: Collection, expr: str, params: dict[str, Any] | None, partitions: Sequence[str] | None
) -> int:
    """count(*): every alive copy (duplicates included), as the server counts."""
    with coll.lock.read():
        pids = _check_loaded(coll, partitions)
        return int(_mask(coll, pids, expr, params, alive_only=True).sum())


def query(
    coll: Collection,
    expr: str,
    params: dict[str, Any] | None,
    output_fields: Sequence[str] | None,
    ids: Sequence[Any] | None,
    partitions: Sequence[str] | None,
    limit: int | None,
    offset: int,
) -> list[dict[str, Any]]:
    """Rows matching ``expr`` (or ``ids``) in primary-key order, paged by offset/limit."""
    plan = plan_outputs(coll.spec, output_fields, always_pk=True)
    with coll.lock.read():
        pids = _check_loaded(coll, partitions)
        mask = _mask(coll, pids, expr, params)
        if ids is not None:
            keep = np.zeros_like(mask)
            keep[coll.table.rows_for_keys(ids)] = True
            mask &= keep
        rows = _by_pk(coll, np.flatnonzero(mask))
        if limit is not None:
            rows = rows[offset : offset + limit]
        return materialize(coll.table, rows, plan)


def _anns_field(coll: Collection, name: str | None) -> FieldSpec:
    vectors = coll.spec.vector_fields
    if not name:
        if len(vectors) > 1:
            raise errors.invalid(
                "multiple anns_fields exist, please specify a anns_field in search_params"
            )
        return vectors[0]
    f = coll.spec.field(name)
    if f is None:
        raise errors.invalid(f"failed to get field schema by name: fieldName({name}) not found")
    if not f.is_vector:
        raise errors.invalid(f"field {name} is not a vector field: invalid parameter")
    return f


def _search_one(
    coll: Collection, req: VectorRequest, pids: Sequence[int], k: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """Row numbers and distances (nq x <=k) for one request, plus the metric used."""
    f = _anns_field(coll, req.anns_field)
    index = coll.index_for_field(f.name)
    metric = index.metric_type if index is not None and index.metric_type else "COSINE"
    if req.metric_type and req.metric_type.upper() != metric:
        raise errors.metric_mismatch(metric, req.metric_type.upper())
    mask = _mask(coll, pids, req.filter, req.filter_params)
    valid = None if mask.all() else mask
    bounds = (req.radius, req.range_filter)
    backend = coll.backend
    if f.is_sparse:
        if not sp.issparse(req.data):
            raise errors.invalid(f"search data for sparse field {f.name} must be sparse vectors")
        rows, dist = backend.search_sparse(coll.table.sparse[f.name], req.data, k, valid, bounds)
    else:
        data = req.data
        if sp.issparse(data) or not isinstance(data, np.ndarray) or data.ndim != 2:
            raise errors.invalid(f"search data for field {f.name} must be float vectors")
        if data.shape[1] != f.dim:
            raise errors.search_dim_mismatch(f.dim or 0, data.shape[1])
        rows, dist = backend.search_dense(coll.table.dense[f.name], data, metric, k, valid, bounds)
    return rows, dist, metric


def _check_topk(limit: int, offset: int) -> None:
    if limit > MAX_TOPK or limit < 1:
        raise errors.topk_out_of_range(limit)
    if limit + offset > MAX_TOPK:
        raise errors.topk_out_of_range(limit + offset)


def search(
    coll: Collection,
    req: VectorRequest,
    offset: int,
    output_fields: Sequence[str] | None,
    partitions: Sequence[str] | None,
) -> list[SearchHits]:
    """Exact top-(offset+limit) per query, then the [offset:] window with entities."""
    _check_topk(req.limit, offset)
    plan = plan_outputs(coll.spec, output_fields, always_pk=False)
    with coll.lock.read():
        pids = _check_loaded(coll, partitions)
        rows, dist, _ = _search_one(coll, req, pids, req.limit + offset)
        return _collect(coll, rows[:, offset:], dist[:, offset:], plan)


def _collect(
    coll: Collection, rows: np.ndarray, dist: np.ndarray, plan: OutputPlan
) -> list[SearchHits]:
    pks = coll.table.pks
    flat = rows[rows >= 0]
    entities = materialize(coll.table, flat, plan)
    out, at = [], 0
    for r, d in zip(rows, dist, strict=True):
        keep = r >= 0
        n = int(keep.sum())
        out.append(SearchHits(pks[r[keep]].tolist(), d[keep].tolist(), entities[at : at + n]))
        at += n
    return out


def hybrid_search(
    coll: Collection,
    reqs: Sequence[VectorRequest],
    fusion: Fusion,
    limit: int,
    offset: int,
    output_fields: Sequence[str] | None,
    partitions: Sequence[str] | None,
) -> list[SearchHits]:
    """Run each request with its own filter and limit, fuse per query, then page."""
    if limit + offset > MAX_TOPK or limit < 1:
        raise errors.query_window_out_of_range(limit + offset)
    for req in reqs:
        _check_topk(req.limit, 0)
    nqs = {req.data.shape[0] for req in reqs}
    if len(nqs) != 1:
        raise errors.invalid("the nq of all ann search requests should be the same")
    plan = plan_outputs(coll.spec, output_fields, always_pk=False)
    with coll.lock.read():
        pids = _check_loaded(coll, partitions)
        per_req: list[list[Hits]] = []
        metrics: list[str] = []
        pks = coll.table.pks
        for req in reqs:
            rows, dist, metric = _search_one(coll, req, pids, req.limit)
            metrics.append(metric)
            per_req.append(
                [
                    list(zip(pks[r[r >= 0]].tolist(), d[r >= 0].tolist(), strict=True))
                    for r, d in zip(rows, dist, strict=True)
                ]
            )
        out = []
        for qi in range(nqs.pop()):
            fused = fuse(fusion, [res[qi] for res in per_req], metrics, offset + limit)[offset:]
            keys = [pk for pk, _ in fused]
            rows = coll.table.rows_for_keys(keys)
            entities = materialize(coll.table, rows, plan)
            out.append(SearchHits(keys, [s for _, s in fused], entities))
        return out
