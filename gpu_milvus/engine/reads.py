"""Read paths of a collection: query, get, search and hybrid search (server semantics).

All reads hold the collection's read lock and need it loaded. Rows visible to a read are
the newest alive copy of each primary key, in the loaded (or named) partitions, matching the
filter. Query results are ordered by primary key, as the server's retrieve reduce does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from pymilvus.exceptions import MilvusException

from gpu_milvus import errors, minhash, structs
from gpu_milvus.engine import binary, bm25
from gpu_milvus.engine.backend import QueryMasks, Valid
from gpu_milvus.engine.bm25 import TextQueries
from gpu_milvus.engine.collection import Collection
from gpu_milvus.engine.output import OutputPlan, materialize, plan_outputs
from gpu_milvus.engine.rescore import rank
from gpu_milvus.filter import compile_filter
from gpu_milvus.index_params import mh_element_bits
from gpu_milvus.rankers import Fusion, Hits
from gpu_milvus.rerank import Ranker
from gpu_milvus.schema import FieldSpec
from gpu_milvus.vectors import query_matrix

MAX_TOPK = 16384


@dataclass(slots=True)
class SearchHits:
    """One query's hits: primary keys, float32 distances and output entities."""

    ids: list[Any]
    distances: list[float]
    entities: list[dict[str, Any]]
    highlights: list[dict[str, Any]] | None = None  # per hit, when a highlighter asks


@dataclass(slots=True)
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
    mh_search_with_jaccard: bool = False  # MHJACCARD: the exact share, not the LSH hit flag
    analyzer_name: str | None = None  # a multi-language text field's analyzer for the query


def check_loaded(coll: Collection, partition_names: Sequence[str] | None) -> list[int]:
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
    timezone: str | None = None,
) -> np.ndarray:
    """Rows a read may see: visible (or, for counts, alive), in ``pids``, passing the filter
    (its ISO text read in ``timezone``, by default the collection's)."""
    table = coll.table
    mask = (table.alive.view if alive_only else table.visible.view).copy()
    if len(pids) != len(coll.partitions):
        mask &= np.isin(table.partition.view, np.asarray(pids, dtype=np.int32))
    plan = compile_filter(expr or "", coll.spec, params, timezone or coll.timezone)
    if not plan.always_true and mask.any():
        mask &= plan.evaluate(table.arrow(sorted(plan.columns)))
    return mask


def _outputs(
    coll: Collection,
    fields: Sequence[str] | None,
    always_pk: bool,
    timezone: str | None,
    time_parts: tuple[str, ...],
) -> OutputPlan:
    """A read's output plan; TIMESTAMPTZ values in ``timezone``, else the collection's."""
    zone = timezone or coll.timezone
    return plan_outputs(
        coll.spec, fields, always_pk=always_pk, timezone=zone, time_parts=time_parts
    )


def _by_pk(coll: Collection, rows: np.ndarray) -> np.ndarray:
    order = np.argsort(coll.table.pks[rows], kind="stable")
    return rows[order]


def count(
    coll: Collection,
    expr: str,
    params: dict[str, Any] | None,
    partitions: Sequence[str] | None,
    timezone: str | None = None,
) -> int:
    """count(*): every alive copy (duplicates included), as the server counts."""
    with coll.lock.read():
        pids = check_loaded(coll, partitions)
        mask = _mask(coll, pids, expr, params, alive_only=True, timezone=timezone)
        return int(mask.sum())


def query(
    coll: Collection,
    expr: str,
    params: dict[str, Any] | None,
    output_fields: Sequence[str] | None,
    ids: Sequence[Any] | None,
    partitions: Sequence[str] | None,
    limit: int | None,
    offset: int,
    wrap_bytes: bool = True,
    timezone: str | None = None,
    time_parts: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Rows matching ``expr`` (or ``ids``) in primary-key order, paged by offset/limit;
    byte vectors wrapped in a list, as pymilvus's query results hold them. TIMESTAMPTZ
    values are text in ``timezone`` (by default the collection's), or ``time_parts``."""
    plan = _outputs(coll, output_fields, True, timezone, time_parts)
    with coll.lock.read():
        pids = check_loaded(coll, partitions)
        mask = _mask(coll, pids, expr, params, timezone=timezone)
        if ids is not None:
            keep = np.zeros_like(mask)
            keep[coll.table.rows_for_keys(ids)] = True
            mask &= keep
        rows = _by_pk(coll, np.flatnonzero(mask))
        if limit is not None:
            rows = rows[offset : offset + limit]
        return materialize(coll.table, rows, plan, wrap_bytes)


def anns_field(coll: Collection, name: str | None) -> FieldSpec:
    vectors = coll.spec.vector_fields
    if not name:
        if len(vectors) > 1:
            raise errors.invalid(
                "multiple anns_fields exist, please specify a anns_field in search_params"
            )
        return vectors[0]
    f = coll.spec.search_field(name)
    if f is None:
        raise errors.invalid(f"failed to get field schema by name: fieldName({name}) not found")
    if not f.is_vector and not f.struct_vector:
        raise errors.invalid(f"field {name} is not a vector field: invalid parameter")
    return f


@dataclass(slots=True)
class SearchItem:
    """One search call's inputs: a request plus its window, outputs and partitions."""

    req: VectorRequest
    offset: int = 0
    output_fields: Sequence[str] | None = None
    partitions: Sequence[str] | None = None
    group_by: GroupBy | None = None
    timezone: str | None = None  # of the filter's ISO text and the TIMESTAMPTZ outputs
    time_parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupBy:
    """search(group_by_field=..., group_size=..., strict_group_size=...)."""

    field: str
    size: int = 1
    strict: bool = False


_GROUPABLE = {"BOOL", "INT8", "INT16", "INT32", "INT64", "VARCHAR"}


@dataclass(slots=True)
class _Prepared:
    at: int
    item: SearchItem
    field: FieldSpec
    metric: str
    mask: np.ndarray | None
    plan: OutputPlan
    data: Any  # the request's vectors, as the field's search takes them


def _prepare(
    coll: Collection, at: int, item: SearchItem, masks: dict[Any, Any], shared: dict[Any, Any]
) -> _Prepared:
    """Every per-request check, in the server's order. The checks that depend only on the
    outputs, partitions, field and metric are done once per batch for equal requests, and the
    filter mask is shared by equal filters."""
    req = item.req
    if not 0 < req.limit <= req.limit + item.offset <= MAX_TOPK:
        _check_topk(req.limit, item.offset)  # raises the server's error
    key = _shared_key(item)
    found = shared.get(key) if key is not None else None
    if found is None:  # a failure is not kept: each caller gets its own exception
        found = _field_checks(coll, item)
        if key is not None:
            shared[key] = found
    plan, pids, f, metric = found
    data = req.data
    if f.is_binary and f.is_function_output and isinstance(data, TextQueries):
        fn = coll.spec.function_for(f.name)  # a MINHASH output: the texts' signatures
        params = fn.minhash_params(f.dim or 0)  # type: ignore[union-attr]
        data = minhash.signatures(list(data), params, coll.spec.function_analyzer(f.name))
    elif f.is_dense or f.is_binary:  # a matrix of the field's type
        data = query_matrix(f.name, f.dtype, f.dim or 0, data)
    elif f.struct_vector:  # a struct array's vectors: embedding lists
        data = structs.queries(data, f.dim or 0)
    elif f.is_function_output != isinstance(req.data, TextQueries):
        raise errors.invalid(
            f"search data for field {f.name} must be text: it is a BM25 function's output"
            if f.is_function_output
            else f"text search data needs a BM25 function output field, not {f.name}"
        )
    elif f.is_sparse and not f.is_function_output and not sp.issparse(req.data):
        raise errors.invalid(f"search data for sparse field {f.name} must be sparse vectors")
    # Requests share a mask only when they pass the very same filter_params object (or none).
    params_id = id(req.filter_params) if req.filter_params else None
    nullable = f.name if f.nullable else None  # a search skips the rows without a vector
    mask_key = (pids, req.filter, params_id, nullable, item.timezone)
    if mask_key not in masks:
        mask = _mask(coll, pids, req.filter, req.filter_params, timezone=item.timezone)
        if nullable is not None:
            mask &= coll.table.present(nullable)  # type: ignore[operator]
        masks[mask_key] = None if mask.all() else mask
    return _Prepared(at, item, f, metric, masks[mask_key], plan, data)


_SEQUENCES = (list, tuple, type(None))


def _shared_key(item: SearchItem) -> tuple[Any, ...] | None:
    """What ``_field_checks`` depends on, or None when it is not hashable."""
    outputs, parts = item.output_fields, item.partitions
    if type(outputs) not in _SEQUENCES or type(parts) not in _SEQUENCES:
        return None  # e.g. a generator, which a key would consume
    try:
        key = (
            outputs if outputs is None else tuple(outputs),
            parts if parts is None else tuple(parts),
            item.req.anns_field,
            item.req.metric_type,
            item.timezone,
            item.time_parts,
        )
        hash(key)
    except TypeError:
        return None
    return key


def _field_checks(
    coll: Collection, item: SearchItem
) -> tuple[OutputPlan, tuple[int, ...], FieldSpec, str]:
    """Output plan, loaded partitions, vector field and metric of a request."""
    plan = _outputs(coll, item.output_fields, False, item.timezone, item.time_parts)
    pids = check_loaded(coll, item.partitions)
    f = anns_field(coll, item.req.anns_field)
    index = coll.index_for_field(f.name)
    if index is None:  # a vector field added to the loaded collection, not indexed yet
        raise errors.no_vector_index(f.name)
    metric = index.metric_type or "COSINE"
    if item.req.metric_type and item.req.metric_type.upper() != metric:
        raise errors.metric_mismatch(metric, item.req.metric_type.upper())
    return plan, tuple(pids), f, metric


def _backend_call(
    coll: Collection, group: list[_Prepared], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """One backend call for requests on the same field and bounds; per-query masks."""
    first = group[0]
    sizes = [p.data.shape[0] for p in group]
    masks = [p.mask for p in group]
    valid: Valid
    if all(m is None for m in masks):
        valid = None
    elif all(m is masks[0] for m in masks):
        valid = masks[0]
    else:  # each distinct mask once (equal filters share theirs), and each query's own
        distinct = {id(m): m for m in masks}
        slot = {key: i for i, key in enumerate(distinct)}
        every = np.ones(coll.table.num_rows, dtype=bool)
        table = np.stack([every if m is None else m for m in distinct.values()])
        valid = QueryMasks(table, np.repeat([slot[id(m)] for m in masks], sizes))
    bounds = (first.item.req.radius, first.item.req.range_filter)
    if first.field.struct_vector:
        parent, sub = structs.split_name(first.field.name) or ("", "")
        if bounds != (None, None):
            raise errors.invalid(
                "range search is not supported for vector array (embedding list) fields, "
                f"fieldName: {first.field.name}"
            )
        lists = [q for p in group for q in p.data]
        per_query = valid if not isinstance(valid, QueryMasks) else valid[np.arange(len(lists)), :]
        return structs.search(
            coll.table.column(parent), sub, first.field.dim or 0, lists, first.metric, k,
            per_query,
        )  # fmt: skip
    if first.metric == "BM25":
        index = coll.index_for_field(first.field.name)
        return bm25.search(
            coll.table.sparse[first.field.name], coll.table.alive.view,
            [t for p in group for t in p.data], k, valid, bounds,
            index.params if index is not None else {},
            _query_analyzer(coll, first),
        )  # fmt: skip
    if first.field.is_binary:
        codes = np.vstack([p.data for p in group])
        mh = _minhash_search(coll, first) if first.metric == "MHJACCARD" else None
        return binary.search(
            coll.table.column(first.field.name), codes, first.metric, k, valid, bounds, mh
        )
    if first.field.is_sparse:
        parts = [p.data for p in group]
        width = max(m.shape[1] for m in parts)
        queries = sp.vstack(
            [
                sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], width))
                for m in parts
            ],
            format="csr",
        )
        return coll.backend.search_sparse(
            coll.table.sparse[first.field.name], queries, k, valid, bounds
        )
    queries = np.vstack([p.data for p in group])
    return coll.backend.search_dense(
        coll.table.dense[first.field.name], queries, first.metric, k, valid, bounds
    )


def _query_analyzer(coll: Collection, p: _Prepared) -> Any:
    """The analyzer of a text query: the source field's, or for a multi-language field the
    one the search's ``analyzer_name`` names (else its default)."""
    return coll.spec.function_source(p.field.name).analyzer_named(p.item.req.analyzer_name)


def _minhash_search(coll: Collection, p: _Prepared) -> binary.MinHashSearch:
    """An MHJACCARD search's reading of the signatures: its index's hash width and bands,
    and the request's ``mh_search_with_jaccard``."""
    index = coll.index_for_field(p.field.name)
    params = index.params if index is not None else {}
    return binary.MinHashSearch(
        mh_element_bits(p.field, params) // 8, int(params.get("mh_lsh_band", 1)),
        p.item.req.mh_search_with_jaccard,
    )  # fmt: skip


def _run_group(coll: Collection, group: list[_Prepared]) -> list[list[SearchHits]]:
    """Batched requests: one backend call, then each request's own window and outputs
    (collected in one pass when they all ask for the same window and outputs)."""
    rows, dist = _backend_call(coll, group, max(p.item.req.limit + p.item.offset for p in group))
    first = group[0]
    lo, hi = first.item.offset, first.item.offset + first.item.req.limit
    sizes = [p.data.shape[0] for p in group]
    if all(
        p.plan is first.plan and p.item.offset == lo and p.item.req.limit == first.item.req.limit
        for p in group
    ):
        hits = _collect(coll, rows[:, lo:hi], dist[:, lo:hi], first.plan)
        ends = itertools.accumulate(sizes)
        return [hits[end - n : end] for n, end in zip(sizes, ends, strict=True)]
    out, at = [], 0
    for p, n in zip(group, sizes, strict=True):
        lo, hi = p.item.offset, p.item.offset + p.item.req.limit
        out.append(_collect(coll, rows[at : at + n, lo:hi], dist[at : at + n, lo:hi], p.plan))
        at += n
    return out


def search_batch(
    coll: Collection, items: Sequence[SearchItem]
) -> list[tuple[list[SearchHits], str] | MilvusException]:
    """Many search calls on one collection with as few backend calls as possible.

    Requests on the same vector field (and range bounds) share one matrix product; each keeps
    its own filter (a per-query mask), limit, offset and output fields. A request that fails
    its checks gets its own exception and does not disturb the others.
    """
    results: list[Any] = [None] * len(items)
    groups: dict[Any, list[_Prepared]] = {}
    masks: dict[Any, Any] = {}
    shared: dict[Any, Any] = {}
    with coll.lock.read():
        for at, item in enumerate(items):
            try:
                p = _prepare(coll, at, item, masks, shared)
            except MilvusException as exc:
                results[at] = exc
                continue
            if item.group_by is not None:
                try:
                    results[at] = (_grouped(coll, p, item.group_by), p.metric)
                except MilvusException as exc:
                    results[at] = exc
                continue
            req = item.req
            key = (p.field.name, p.metric, req.radius, req.range_filter,
                   req.mh_search_with_jaccard, req.analyzer_name)  # fmt: skip
            groups.setdefault(key, []).append(p)
        for group in groups.values():
            for p, hits in zip(group, _run_group(coll, group), strict=True):
                results[p.at] = (hits, p.metric)
    return results


def _grouped(coll: Collection, p: _Prepared, group_by: GroupBy) -> list[SearchHits]:
    """Grouping search: the best hits per distinct value of a scalar field, groups ordered by
    their best hit (group-major), ``offset``/``limit`` counting groups. Exact: the candidate
    list grows until enough groups are complete or every row has been ranked."""
    f = coll.spec.field(group_by.field)
    if f is None:
        raise errors.field_not_exist(group_by.field)
    if f.dtype.name not in _GROUPABLE:
        raise errors.invalid(
            f"group by field {f.name} has type {f.dtype.name} which is not supported for "
            "group_by: invalid parameter"
        )
    if not isinstance(group_by.size, int) or not 1 <= group_by.size <= 1024:
        raise errors.invalid(f"group_size must be in [1, 1024], got {group_by.size}")
    req, wanted = p.item.req, p.item.offset + p.item.req.limit
    total = coll.table.num_rows
    valid = p.mask
    k = min(total, max(wanted * group_by.size * 4, 64))
    while True:
        single = _Prepared(
            p.at, SearchItem(req, 0, None, None), p.field, p.metric, valid, p.plan, p.data
        )
        rows, dist = _backend_call(coll, [single], k)
        out = []
        complete = True
        for r, d in zip(rows, dist, strict=True):
            keep = r >= 0
            picked = _pick_groups(coll, f.name, r[keep], d[keep], group_by, wanted)
            full = len(picked[0]) >= wanted and all(len(g) == group_by.size for g in picked[0])
            complete &= full or keep.sum() < k
            out.append(picked)
        if complete or k >= total:
            break
        k = min(total, k * 4)
    hits = []
    for rows_q, dist_q in out:
        kept = rows_q[p.item.offset :]
        dist_q = [x for g in dist_q[p.item.offset :] for x in g]
        flat = np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)
        entities = materialize(coll.table, flat, p.plan)
        hits.append(SearchHits(coll.table.pks[flat].tolist(), dist_q, entities))
    return hits


def _pick_groups(
    coll: Collection, field: str, rows: np.ndarray, dist: np.ndarray, gb: GroupBy, wanted: int
) -> tuple[list[np.ndarray], list[list[float]]]:
    """Rows and distances of the first ``wanted`` groups, in best-hit order."""
    values = coll.table.take_scalars(field, rows)
    members: dict[Any, list[int]] = {}
    for i, value in enumerate(values):
        group = members.setdefault(value, [])
        if len(group) < gb.size:
            group.append(i)
    chosen = [g for g in members.values() if not gb.strict or len(g) == gb.size][:wanted]
    return [rows[g] for g in chosen], [dist[g].tolist() for g in chosen]


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
    result = search_batch(coll, [SearchItem(req, offset, output_fields, partitions)])[0]
    if isinstance(result, MilvusException):
        raise result
    return result[0]


def _collect(
    coll: Collection, rows: np.ndarray, dist: np.ndarray, plan: OutputPlan
) -> list[SearchHits]:
    """Per query: the primary keys, distances and entities of its rows (-1 = no hit)."""
    pks = coll.table.pks
    valid = rows >= 0
    if valid.all():  # every query has its full window: two conversions for the whole batch
        ids, dists = pks[rows].tolist(), dist.tolist()
        entities = materialize(coll.table, rows.ravel(), plan)
        k = rows.shape[1]
        return [
            SearchHits(i, d, entities[q * k : (q + 1) * k])
            for q, (i, d) in enumerate(zip(ids, dists, strict=True))
        ]
    entities = materialize(coll.table, rows[valid], plan)
    out, at = [], 0
    for r, d, keep in zip(rows, dist, valid, strict=True):
        n = int(keep.sum())
        out.append(SearchHits(pks[r[keep]].tolist(), d[keep].tolist(), entities[at : at + n]))
        at += n
    return out


def check_hybrid(reqs: Sequence[VectorRequest], limit: int, offset: int) -> None:
    """hybrid_search's own checks: the final window, each topk, equal nq."""
    if limit + offset > MAX_TOPK or limit < 1:
        raise errors.query_window_out_of_range(limit + offset)
    for req in reqs:
        _check_topk(req.limit, 0)
    if len({req.data.shape[0] for req in reqs}) != 1:
        raise errors.invalid("the nq of all ann search requests should be the same")


def fuse_and_fetch(
    coll: Collection,
    sub_results: Sequence[tuple[list[SearchHits], str]],
    fusion: Ranker,
    limit: int,
    offset: int,
    output_fields: Sequence[str] | None,
    timezone: str | None = None,
    time_parts: tuple[str, ...] = (),
) -> list[SearchHits]:
    """Fuse each query's sub-results, keep [offset:offset+limit], then fetch the outputs."""
    plan = _outputs(coll, output_fields, False, timezone, time_parts)
    metrics = [metric for _, metric in sub_results]
    nq = len(sub_results[0][0])
    out = []
    with coll.lock.read():
        for qi in range(nq):
            lists: list[Hits] = []
            for hits, _ in sub_results:
                h = hits[qi]
                lists.append(list(zip(h.ids, h.distances, strict=True)))
            fused = rank(coll, fusion, lists, metrics, offset + limit)[offset:]
            fused = [(pk, s) for pk, s in fused if coll.table.has_key(pk)]
            rows = coll.table.rows_for_keys([pk for pk, _ in fused])
            entities = materialize(coll.table, rows, plan)
            out.append(SearchHits([pk for pk, _ in fused], [s for _, s in fused], entities))
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
    check_hybrid(reqs, limit, offset)
    results = search_batch(coll, [SearchItem(r, 0, None, partitions) for r in reqs])
    for r in results:
        if isinstance(r, MilvusException):
            raise r
    return fuse_and_fetch(coll, results, fusion, limit, offset, output_fields)  # type: ignore[arg-type]
