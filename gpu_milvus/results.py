"""Engine output as pymilvus's own result classes, so printing and attributes match exactly.

``SearchResult``, ``HybridHits`` and ``HybridExtraList`` are normally built from protobuf
messages; here they are created empty and filled with finished ``Hit`` dicts, which is what
pymilvus holds once it has decoded a response. ``OmitZeroDict`` and ``LoadState`` are used as is.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

from pymilvus.client.search_result import Hit, HybridHits, SearchResult
from pymilvus.client.types import HybridExtraList, LoadState, OmitZeroDict

from gpu_milvus.client._args import rounded
from gpu_milvus.engine.reads import SearchHits

__all__ = ["LoadState", "OmitZeroDict", "query_result", "search_result"]


_new_hit = Hit.__new__
_GC_PAUSE_HITS = 10_000


def _hybrid_hits(hits: SearchHits, pk_name: str) -> HybridHits:
    obj = HybridHits.__new__(HybridHits)
    items = []
    for pk, distance, entity in zip(hits.ids, hits.distances, hits.entities, strict=True):
        hit = _new_hit(Hit)  # what Hit(dict, pk_name=...) builds, in a third of the time
        hit[pk_name] = pk
        hit["distance"] = distance
        hit["entity"] = entity
        hit._pk_name = pk_name
        items.append(hit)
    for hit, highlight in zip(items, hits.highlights or [], strict=False):
        hit["highlight"] = highlight
    list.__init__(obj, items)
    obj.ids = list(hits.ids)
    obj.distances = list(hits.distances)
    obj.lazy_field_data = []
    obj.has_materialized = True
    obj.dynamic_fields = set()
    obj.start = 0
    obj._prefix_sum_cache = {}
    return obj


def search_result(
    per_query: Sequence[SearchHits], pk_name: str, round_decimal: int = -1
) -> SearchResult:
    """A pymilvus SearchResult with one HybridHits per query (distances rounded if asked)."""
    if round_decimal >= 0:
        per_query = [
            SearchHits(h.ids, rounded(h.distances, round_decimal), h.entities, h.highlights)
            for h in per_query
        ]
    result = SearchResult.__new__(SearchResult)
    # Cyclic GC's passes over a million fresh, acyclic Hits cost more than building them
    # (1.25 s -> 0.5 s at nq=1024, k=1000): paused for large results, unless it is off already
    paused = gc.isenabled() and sum([len(h.ids) for h in per_query]) >= _GC_PAUSE_HITS
    if paused:
        gc.disable()
    try:
        list.__init__(result, [_hybrid_hits(h, pk_name) for h in per_query])
    finally:
        if paused:
            gc.enable()
    result.recalls = None
    result.extra = {}
    result._session_ts = 0
    result._search_iterator_v2_results = None
    result.agg_buckets = []
    return result


def query_result(rows: list[dict[str, Any]]) -> HybridExtraList:
    """A pymilvus HybridExtraList of plain row dicts (prints as ``data: [...]``)."""
    return HybridExtraList([], rows, extra={})


def write_result(kind: str, count: int, ids: Sequence[Any] | None = None) -> OmitZeroDict:
    """insert/upsert/delete results: ``{'<kind>_count', 'ids', 'cost'}`` in pymilvus's order."""
    if kind == "insert":
        return OmitZeroDict({"insert_count": count, "ids": list(ids or []), "cost": 0})
    if kind == "upsert":
        return OmitZeroDict({"upsert_count": count, "cost": 0, "ids": list(ids or [])})
    return OmitZeroDict({"delete_count": count, "cost": 0})
