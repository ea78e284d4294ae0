"""Rankers applied to search hits: a plain search's boosts and reranker (segcore's
RescoresNode, then the proxy's rerank), and the stored field values a decay reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gpu_milvus.engine.backend import LARGER_IS_BETTER
from gpu_milvus.engine.collection import Collection
from gpu_milvus.filter import CompiledFilter, compile_filter
from gpu_milvus.highlight import Highlight
from gpu_milvus.rankers import Hits, fuse
from gpu_milvus.rerank import Decay, Ranker, SearchRanker

if TYPE_CHECKING:
    from gpu_milvus.engine.reads import SearchHits


def field_values(coll: Collection, field: str, pks: Sequence[Any]) -> dict[Any, Any]:
    """The stored value of ``field`` for each of ``pks`` still present (caller holds a lock)."""
    table = coll.table
    rows = table.rows_for_keys(pks)
    return dict(zip(table.pks[rows].tolist(), table.take_scalars(field, rows), strict=True))


def rank(
    coll: Collection, ranker: Ranker, results: Sequence[Hits], metrics: Sequence[str], window: int
) -> Hits:
    """One query's sub-results ranked by ``ranker`` (a decay reads its field from the store;
    rows deleted since the search drop out). The caller holds a read lock."""
    if not isinstance(ranker, Decay):
        return fuse(ranker, results, metrics, window)
    values = field_values(coll, ranker.field, [pk for hits in results for pk, _ in hits])
    results = [[h for h in hits if h[0] in values] for hits in results]
    return ranker.rerank(results, metrics, values, window)


def highlight_pages(coll: Collection, plan: Highlight, pages: list[SearchHits]) -> None:
    """Each hit's highlight: per field, its fragments (pymilvus's ``{"fragments": [...],
    "scores": [...]}``; a lexical highlight has no scores)."""
    with coll.lock.read():
        for query, page in enumerate(pages):
            texts = {t.name: field_values(coll, t.name, page.ids) for t in plan.tasks}
            page.highlights = [
                {
                    t.name: {
                        "fragments": plan.fragments(t, texts[t.name].get(pk), query),
                        "scores": [],
                    }
                    for t in plan.tasks
                }
                for pk in page.ids
            ]


def rerank_pages(
    coll: Collection,
    ranker: SearchRanker,
    pages: list[SearchHits],
    metric: str,
    window: tuple[int, int],
    timezone: str | None = None,
) -> None:
    """A plain search's ``ranker``, in place on each query's hits: its boosts rescore the
    candidates (fetched without the offset), which are then paged by ``window`` (offset,
    limit); the reranker, if any, reorders the page."""
    offset, limit = window
    zone = timezone or coll.timezone
    plans = [compile_filter(b.filter, coll.spec, None, zone) for b in ranker.boosts]
    with coll.lock.read():
        for page in pages:
            hits = list(zip(page.ids, page.distances, strict=True))
            if ranker.boosts:
                hits = _boosted(coll, ranker, plans, hits, metric)[offset : offset + limit]
            if ranker.ranker is not None:
                hits = rank(coll, ranker.ranker, [hits], [metric], len(hits))
            entity = dict(zip(page.ids, page.entities, strict=True))
            page.ids = [pk for pk, _ in hits]
            page.distances = [score for _, score in hits]
            page.entities = [entity[pk] for pk in page.ids]


def _boosted(
    coll: Collection, ranker: SearchRanker, plans: list[CompiledFilter], hits: Hits, metric: str
) -> Hits:
    """RescoresNode: each boost's filter over the candidates, distances times (or plus) the
    combined boost, then sorted again in the metric's direction."""
    table = coll.table
    rows = table.rows_for_keys([pk for pk, _ in hits])
    where = dict(zip(table.pks[rows].tolist(), range(len(rows)), strict=True))
    hits = [h for h in hits if h[0] in where]
    take = np.array([where[pk] for pk, _ in hits], dtype=np.int64)
    passes = []
    for plan in plans:  # each boost's filter
        if plan.always_true:
            passes.append(np.ones(len(hits), dtype=bool))
            continue
        columns = table.arrow(sorted(plan.columns)).take(rows[take])
        passes.append(plan.evaluate(columns))
    weights = [
        np.float32(b.weight)
        if b.random is None
        else random_scores(_random_keys(table, b.random[1], rows[take]), b.random[0])
        * np.float32(b.weight)
        for b in ranker.boosts
    ]
    hit, value = ranker.boost_factors(passes, weights)
    scores = np.array([d for _, d in hits], dtype=np.float32)
    if ranker.boost_mode == "multiply":
        scores[hit] *= value[hit]
    else:
        scores[hit] += value[hit]
    sign = -1.0 if metric in LARGER_IS_BETTER else 1.0
    out = [(pk, float(score)) for (pk, _), score in zip(hits, scores.tolist(), strict=True)]
    return sorted(out, key=lambda item: (sign * item[1], item[0]))


def _random_keys(table: Any, field: str | None, rows: np.ndarray) -> np.ndarray:
    """What a random boost hashes: the INT64 field's values (a null as 0), or the rows'
    numbers (a server hashes segment offset plus segment ID, which no local store has)."""
    if field is None:
        return rows.astype(np.int64)
    values = table.take_scalars(field, rows)
    return np.array([0 if v is None else v for v in values], dtype=np.int64)


_C1, _C2 = np.uint64(0x87C37B91114253D5), np.uint64(0x4CF5AD432745937F)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _fmix(k: np.ndarray) -> np.ndarray:
    k = k ^ (k >> np.uint64(33))
    k = k * np.uint64(0xFF51AFD7ED558CCD)
    k = k ^ (k >> np.uint64(33))
    k = k * np.uint64(0xC4CEB9FE1A85EC53)
    return k ^ (k >> np.uint64(33))


def random_scores(keys: np.ndarray, seed: int) -> np.ndarray:
    """segcore's random boost value of each key, in [0, 1), float32: MurmurHash3's x64
    128-bit mix of the one 16-byte block (key, seed), started from (key ^ seed, seed) as
    rescores/Murmur3.c's MurmurHash3_x64_64_Special does, its first half's low 52 bits as
    the mantissa of a double in [1, 2), minus 1."""
    key = keys.astype(np.int64).view(np.uint64)
    s = np.full_like(key, np.int64(seed).astype(np.uint64))
    h1, h2 = key ^ s, s.copy()
    h1 ^= _rotl(key * _C1, 31) * _C2
    h1 = (_rotl(h1, 27) + h2) * np.uint64(5) + np.uint64(0x52DCE729)
    h2 ^= _rotl(s * _C2, 33) * _C1
    h2 = (_rotl(h2, 31) + h1) * np.uint64(5) + np.uint64(0x38495AB5)
    h1, h2 = h1 ^ np.uint64(16), h2 ^ np.uint64(16)
    h1 = h1 + h2
    h2 = h2 + h1
    h1 = _fmix(h1) + _fmix(h2)
    bits = (h1 & np.uint64((1 << 52) - 1)) | np.uint64(0x3FF << 52)
    return (bits.view(np.float64) - 1.0).astype(np.float32)
