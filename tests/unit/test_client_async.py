"""AsyncMilvusClient on a local uri: coroutine methods, lifecycle, every method end to end, and
data shared with a sync client on the same uri."""

from __future__ import annotations

import asyncio
import inspect

import numpy as np
import pymilvus
import pytest
from pymilvus import AnnSearchRequest, DataType, MilvusException, RRFRanker
from pymilvus.client.search_result import SearchResult
from pymilvus.client.types import HybridExtraList, LoadState
from pymilvus.exceptions import DataTypeNotMatchException, ParamError

from gpu_milvus import AsyncMilvusClient, MilvusClient
from gpu_milvus.client._facade import CLIENT_METHODS

V = [0.1, 0.2, 0.3, 0.4]


def test_methods_are_coroutines_and_helpers_are_sync() -> None:
    for name in (*CLIENT_METHODS, "using_database"):
        assert inspect.iscoroutinefunction(getattr(AsyncMilvusClient, name)), name
        assert not inspect.iscoroutinefunction(getattr(MilvusClient, name)), name
    for name in ("create_schema", "prepare_index_params", "create_field_schema",
                 "get_server_type"):  # fmt: skip
        assert not inspect.iscoroutinefunction(getattr(AsyncMilvusClient, name)), name
    for name in ("search_iterator", "query_iterator", "list_loaded_segments"):
        assert not hasattr(AsyncMilvusClient, name), name


async def test_remote_uri_returns_pymilvus_async_client() -> None:
    c = AsyncMilvusClient("http://localhost:19530")
    assert type(c) is pymilvus.AsyncMilvusClient


async def test_async_with_and_close(uri: str) -> None:
    async with AsyncMilvusClient(uri) as c:
        assert isinstance(c, AsyncMilvusClient)
        await c.create_collection("c", dimension=4)
        assert await c.has_collection("c") is True
    with pytest.raises(MilvusException) as exc:
        await c.has_collection("c")
    assert exc.value.code == 1 and "should create connection first" in exc.value.message
    await c.close()  # idempotent
    with pytest.raises(MilvusException, match="should create connection first"):
        await c.search("c", [V])


async def test_sync_and_async_clients_share_a_uri(uri: str, aclient: AsyncMilvusClient) -> None:
    sync = MilvusClient(uri)
    sync.create_collection("c", dimension=4)
    sync.insert("c", [{"id": i, "vector": V} for i in range(3)])
    assert await aclient.list_collections() == ["c"]
    assert await aclient.query("c", output_fields=["count(*)"]) == [{"count(*)": 3}]
    await aclient.insert("c", {"id": 10, "vector": V, "tag": "async"})
    assert sync.get("c", ids=10, output_fields=["tag"]) == [{"id": 10, "tag": "async"}]
    await aclient.drop_collection("c")
    assert not sync.has_collection("c")
    sync.close()


async def test_collection_ddl(aclient: AsyncMilvusClient, h) -> None:
    c = aclient
    await c.create_collection("qs", dimension=4)
    await c.create_collection("qs", dimension=4)  # identical re-create
    assert await c.has_collection("qs") and not await c.has_collection("zz")
    d = await c.describe_collection("qs")
    assert d["enable_dynamic_field"] is True and d["fields"][1]["params"] == {"dim": 4}
    assert await c.list_indexes("qs") == ["vector"]
    assert (await c.describe_index("qs", "vector"))["metric_type"] == "COSINE"
    assert await c.describe_index("qs", "nope") is None
    assert await c.get_load_state("qs") == {"state": LoadState.Loaded}
    assert await c.get_load_state("zz") == {"state": LoadState.NotExist}
    await c.create_collection("s", schema=h.scalar_schema(c))
    assert await c.get_load_state("s") == {"state": LoadState.NotLoad}
    with pytest.raises(MilvusException) as exc:
        await c.load_collection("s")
    assert exc.value.code == 700
    ip = c.prepare_index_params()
    ip.add_index("vector", index_type="HNSW", metric_type="L2", params={"M": 8})
    await c.create_index("s", ip)
    with pytest.raises(ParamError):
        await c.create_index("s", c.prepare_index_params())
    await c.load_collection("s")
    assert await c.get_load_state("s") == {"state": LoadState.Loaded}
    await c.release_collection("s")
    await c.drop_index("s", "vector")
    assert await c.list_indexes("s") == []
    await c.rename_collection("s", "s2")
    assert sorted(await c.list_collections()) == ["qs", "s2"]
    assert await c.flush("qs") is None
    assert isinstance(await c.compact("qs"), int)
    assert await c.get_collection_stats("qs") == {"row_count": 0}
    await c.drop_collection("s2")
    await c.drop_collection("s2")
    assert await c.list_collections() == ["qs"]


async def test_partitions_and_partition_load_state(aclient: AsyncMilvusClient, h) -> None:
    c = aclient
    await c.create_collection("c", dimension=4)
    await c.create_partition("c", "p1")
    await c.create_partition("c", "p2")
    assert await c.list_partitions("c") == ["_default", "p1", "p2"]
    assert await c.has_partition("c", "p1") is True
    await c.insert("c", [{"id": i, "vector": V} for i in range(4)], partition_name="p1")
    assert await c.get_partition_stats("c", "p1") == {"row_count": 4}
    await c.release_collection("c")
    await c.load_partitions("c", ["p1"])
    assert await c.get_load_state("c", partition_names=["p1"]) == {"state": LoadState.Loaded}
    assert await c.get_load_state("c", partition_names=["p2"]) == {"state": LoadState.NotLoad}
    assert await c.get_load_state("c", partition_names=["p1", "p2"]) == {"state": LoadState.NotLoad}
    await c.release_partitions("c", "p1")
    await c.drop_partition("c", "p2")
    assert await c.list_partitions("c") == ["_default", "p1"]


async def test_data_plane(aclient: AsyncMilvusClient, h) -> None:
    c = aclient
    vecs = h.vectors(20, 4, seed=4)
    await c.create_collection("c", dimension=4, metric_type="IP")
    res = await c.insert("c", h.rows(vecs))
    assert res["insert_count"] == 20 and list(res["ids"]) == list(range(20))
    assert await c.insert("c", []) == {"insert_count": 0, "ids": []}
    with pytest.raises(TypeError):
        await c.insert("c", "x")
    up = await c.upsert("c", {"id": 0, "vector": V, "tag": "u"})
    assert up == {"upsert_count": 1, "cost": 0, "ids": [0]}
    assert await c.get("c", ids=0, output_fields=["tag", "color"]) == [{"id": 0, "tag": "u"}]
    assert await c.delete("c", ids=[1, 2, 3]) == {"delete_count": 3, "cost": 0}
    assert (await c.delete("c", filter="id >= 15"))["delete_count"] == 5
    with pytest.raises(DataTypeNotMatchException):
        await c.delete("c")
    rows = await c.query("c", "id < 6", output_fields=["id"])
    assert isinstance(rows, HybridExtraList) and sorted(r["id"] for r in rows) == [0, 4, 5]
    assert await c.query("c", output_fields=["count(*)"]) == [{"count(*)": 12}]
    assert len(await c.query("c", limit=5)) == 5
    assert await c.get("c", ids=[]) == []

    alive = [0, *range(4, 15)]
    stored = np.array([V, *vecs[4:15]], dtype=np.float32)
    q = h.vectors(2, 4, seed=8)
    found = await c.search("c", q.tolist(), limit=5, output_fields=["color"], filter="id >= 0")
    assert type(found) is SearchResult and len(found) == 2
    for qi, hits in enumerate(found):
        order, ref = h.ranking(q[qi], stored, "IP")
        assert [hit.id for hit in hits] == [alive[i] for i in order[:5]]
        np.testing.assert_allclose([hit.distance for hit in hits], ref[:5], rtol=2e-6, atol=2e-6)
    with pytest.raises(ParamError):
        await c.search("c", V)

    reqs = [AnnSearchRequest(q[:1].tolist(), "vector", {}, limit=3),
            AnnSearchRequest(q[1:].tolist(), "vector", {}, limit=3)]  # fmt: skip
    fused = await c.hybrid_search("c", reqs, RRFRanker(), limit=10)
    subs = [[hit.id for hit in (await c.search("c", r.data, limit=3))[0]] for r in reqs]
    scores: dict[int, float] = {}
    for sub in subs:
        for rank, pk in enumerate(sub, start=1):
            scores[pk] = scores.get(pk, 0.0) + 1 / (60 + rank)
    want = sorted(scores, key=lambda pk: (-np.float32(scores[pk]), pk))
    assert [hit.id for hit in fused[0]] == want


async def test_concurrent_searches(aclient: AsyncMilvusClient, h) -> None:
    vecs = h.vectors(50, 4, seed=2)
    await aclient.create_collection("c", dimension=4, metric_type="L2")
    await aclient.insert("c", h.rows(vecs))
    queries = h.vectors(16, 4, seed=3)
    results = await asyncio.gather(*(aclient.search("c", [q.tolist()], limit=3) for q in queries))
    for q, res in zip(queries, results, strict=True):
        order, _ = h.ranking(q, vecs, "L2")
        assert [hit.id for hit in res[0]] == order[:3].tolist()


async def test_async_errors_are_pymilvus_exceptions(aclient: AsyncMilvusClient) -> None:
    with pytest.raises(MilvusException) as exc:
        await aclient.describe_collection("nope")
    assert exc.value.code == 100
    with pytest.raises(MilvusException) as exc:
        await aclient.create_collection("1a", dimension=4)
    assert exc.value.code == 1100
    schema = aclient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    await aclient.create_collection("c", schema=schema)
    with pytest.raises(MilvusException) as exc:
        await aclient.search("c", [[0.1, 0.2]])
    assert exc.value.code == 101


async def test_async_databases(aclient: AsyncMilvusClient, uri: str) -> None:
    assert isinstance(await aclient.get_server_version(), str)
    await aclient.create_database("db2")
    assert await aclient.list_databases() == ["default", "db2"]
    await aclient.use_database("db2")
    await aclient.create_collection("inner", dimension=4)
    assert await aclient.list_collections() == ["inner"]
    await aclient.using_database("default")
    assert await aclient.list_collections() == []
    with pytest.raises(MilvusException) as exc:
        await aclient.use_database("nodb")
    assert exc.value.code == 800
    with pytest.raises(MilvusException):
        await aclient.drop_database("db2")
    other = MilvusClient(uri, db_name="db2")
    other.drop_collection("inner")
    other.close()
    await aclient.drop_database("db2")
    assert await aclient.list_databases() == ["default"]
