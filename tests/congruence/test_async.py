"""The async leg: the same seeded operations through AsyncMilvusClient on both sides.

milvus-lite's async ``create_index`` fails (AllocTimestamp is unimplemented), so the reference
collection is created through a sync client on the same path; everything else, including 24
searches / hybrid searches / queries gathered concurrently (the subject batches concurrent
searches), goes through ``AsyncMilvusClient``.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

from .compare import compare_counts, compare_rows, compare_search, compare_write_result
from .conftest import LiteAsyncClient, LiteClient, Side, index_params
from .gen import FilterGen, dense_vector, full_schema, gen_rows, make_rng, sparse_vector

pytestmark = pytest.mark.reference

DIM = 8
VECTORS = {"vl2": DIM, "vip": DIM}
SPECS = [("vl2", "FLAT", "L2"), ("vip", "FLAT", "IP"), ("sv", "SPARSE_INVERTED_INDEX", "IP")]
NAME = "aio"
N = 200


async def test_async_leg(tmp_path: Path, seed: int, subject_side: Side) -> None:
    """Writes, reads and concurrent searches through AsyncMilvusClient agree."""
    rng = make_rng(seed, "async")
    ctx = f"[GPU_MILVUS_SEED={seed}] async"
    ref_uri, sub_uri = str(tmp_path / "ref.db"), str(tmp_path / "sub.db")
    ref_sync = LiteClient(ref_uri)
    ref_sync.create_collection(NAME, schema=full_schema(vectors=VECTORS))
    ref_sync.create_index(NAME, index_params(SPECS), sync=False)
    ref_sync.load_collection(NAME)
    ref, sub = LiteAsyncClient(ref_uri), subject_side.aio(sub_uri)
    try:
        if subject_side.is_lite:
            sub_sync = LiteClient(sub_uri)
            sub_sync.create_collection(NAME, schema=full_schema(vectors=VECTORS))
            sub_sync.create_index(NAME, index_params(SPECS), sync=False)
            sub_sync.load_collection(NAME)
        else:
            await sub.create_collection(
                NAME, schema=full_schema(vectors=VECTORS), index_params=index_params(SPECS)
            )
        await _writes_and_reads(ref, sub, rng, ctx)
    finally:
        await ref.close()
        await sub.close()
        ref_sync.close()


async def _both(ref: Any, sub: Any, method: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Await ``method`` on both clients with deep-copied arguments."""
    r = await getattr(ref, method)(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    s = await getattr(sub, method)(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    return r, s


async def _snapshot(ref: Any, sub: Any, ctx: str) -> None:
    r, s = await _both(ref, sub, "query", NAME, filter="id >= 0", output_fields=["*"])
    compare_rows(r, s, f"{ctx} snapshot")
    r, s = await _both(ref, sub, "query", NAME, filter="", output_fields=["count(*)"])
    compare_counts(r, s, f"{ctx} count(*)")


async def _writes_and_reads(ref: Any, sub: Any, rng: Any, ctx: str) -> None:
    rows = gen_rows(rng, list(range(N)), vectors=VECTORS)
    await _both(ref, sub, "create_partition", NAME, "p1")
    r, s = await _both(ref, sub, "insert", NAME, rows[:150])
    compare_write_result(r, s, f"{ctx} insert", "insert_count")
    r, s = await _both(ref, sub, "insert", NAME, rows[150:], partition_name="p1")
    compare_write_result(r, s, f"{ctx} insert p1", "insert_count")
    await _snapshot(ref, sub, f"{ctx} after insert")

    fresh = gen_rows(rng, list(range(0, 40, 2)), vectors=VECTORS)
    for new in fresh:  # lite keeps the old row's dynamic keys on upsert
        for key in ("dyn_s", "dyn_f"):
            if key in rows[new["id"]] and key not in new:
                new[key] = rows[new["id"]][key]
    r, s = await _both(ref, sub, "upsert", NAME, fresh)
    compare_write_result(r, s, f"{ctx} upsert", "upsert_count")
    await _both(ref, sub, "delete", NAME, ids=[1, 3, 5, 7, 999])
    await _both(ref, sub, "delete", NAME, filter="i32 > 17")
    await _snapshot(ref, sub, f"{ctx} after upsert/delete")
    r, s = await _both(ref, sub, "get", NAME, ids=[0, 1, 2, 150, 151, 998], output_fields=["*"])
    compare_rows(r, s, f"{ctx} get")

    fgen = FilterGen(rng, rows)
    calls: list[tuple[str, str, dict[str, Any]]] = []
    for i in range(24):
        kind = i % 4
        if kind == 0:
            field = "vl2" if i % 8 else "vip"
            kw = {
                "data": [dense_vector(rng, DIM) for _ in range(1 + i % 3)],
                "anns_field": field,
                "limit": 5 + i,
                "filter": fgen.expr() if i % 3 else "",
                "output_fields": ["s", "dyn_i"],
            }
            calls.append(("search", f"search {kw}", kw))
        elif kind == 1:
            kw = {
                "data": [sparse_vector(rng)],
                "anns_field": "sv",
                "limit": 7,
                "output_fields": ["sv"],
                "partition_names": ["p1"] if i % 2 else ["_default"],
            }
            calls.append(("search", f"sparse search {kw}", kw))
        elif kind == 2:
            reqs = [
                AnnSearchRequest([dense_vector(rng, DIM)], "vip", {}, 10),
                AnnSearchRequest([sparse_vector(rng)], "sv", {}, 10),
            ]
            ranker = RRFRanker(20) if i % 8 == 2 else WeightedRanker(0.6, 0.4)
            kw = {"reqs": reqs, "ranker": ranker, "limit": 6, "output_fields": ["i32"]}
            calls.append(("hybrid_search", f"hybrid {ranker} {reqs}", kw))
        else:
            kw = {"filter": fgen.expr(), "output_fields": ["id", "s", "ni"]}
            calls.append(("query", f"query {kw}", kw))
    ref_out = [await getattr(ref, m)(NAME, **copy.deepcopy(kw)) for m, _, kw in calls]
    sub_out = await asyncio.gather(
        *(getattr(sub, m)(NAME, **copy.deepcopy(kw)) for m, _, kw in calls)
    )
    for (method, label, _), r, s in zip(calls, ref_out, sub_out, strict=True):
        if method == "query":
            compare_rows(r, s, f"{ctx} concurrent {label}")
        else:
            compare_search(r, s, f"{ctx} concurrent {label}")
