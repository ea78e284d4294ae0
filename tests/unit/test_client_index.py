"""Partitions, indexes and load state through MilvusClient on a local uri."""

from __future__ import annotations

import pytest
from pymilvus import DataType, MilvusException
from pymilvus.client.types import LoadState
from pymilvus.exceptions import ParamError

from gpu_milvus import MilvusClient


def _two_partitions(client: MilvusClient, h) -> None:
    """Quick collection 'c' with ids 0..9 in _default, 100..104 in p1, 200..202 in p2."""
    h.quick(client, n=10)
    client.create_partition("c", "p1")
    client.create_partition("c", "p2")
    client.insert("c", h.rows(h.vectors(5, seed=1), start=100), partition_name="p1")
    client.insert("c", h.rows(h.vectors(3, seed=2), start=200), partition_name="p2")


def _ids(rows) -> list:
    return sorted(r["id"] for r in rows)


# ---------------------------------------------------------------------------- partitions
def test_partition_lifecycle(client: MilvusClient, h) -> None:
    h.quick(client, n=0)
    assert client.list_partitions("c") == ["_default"]
    assert client.has_partition("c", "_default") is True
    client.create_partition("c", "p1")
    client.create_partition("c", "p1")  # duplicate create is a no-op
    assert client.list_partitions("c") == ["_default", "p1"]
    assert client.has_partition("c", "p1") is True
    assert client.has_partition("c", "p9") is False
    assert client.get_load_state("c", partition_name="p1") == {"state": LoadState.Loaded}
    client.release_partitions("c", "p1")
    client.drop_partition("c", "p1")
    assert client.list_partitions("c") == ["_default"]
    assert client.has_partition("c", "p1") is False
    with pytest.raises(MilvusException) as exc:
        client.list_partitions("nope")
    assert exc.value.code == 100


def test_partition_stats_and_dropping_a_partition_drops_its_rows(client: MilvusClient, h) -> None:
    _two_partitions(client, h)
    assert client.get_partition_stats("c", "_default") == {"row_count": 10}
    assert client.get_partition_stats("c", "p1") == {"row_count": 5}
    assert client.get_partition_stats("c", "p2") == {"row_count": 3}
    with pytest.raises(TypeError):
        client.get_partition_stats("c", ["p1"])
    with pytest.raises(MilvusException):
        client.get_partition_stats("c", "p9")
    with pytest.raises(MilvusException):  # loaded partitions cannot be dropped
        client.drop_partition("c", "p1")
    client.release_partitions("c", ["p1"])
    client.drop_partition("c", "p1")
    assert client.get_collection_stats("c") == {"row_count": 13}
    assert client.query("c", "id >= 0", output_fields=["count(*)"]) == [{"count(*)": 13}]
    with pytest.raises(MilvusException):
        client.drop_partition("c", "_default")


def test_insert_into_missing_partition(client: MilvusClient, h) -> None:
    h.quick(client, n=1)
    with pytest.raises(MilvusException) as exc:
        client.insert("c", h.rows(h.vectors(1), start=5), partition_name="nope")
    assert exc.value.code == 200
    assert client.get_collection_stats("c") == {"row_count": 1}


def test_load_and_release_partitions(client: MilvusClient, h) -> None:
    _two_partitions(client, h)
    client.release_collection("c")
    assert client.get_load_state("c") == {"state": LoadState.NotLoad}
    client.load_partitions("c", ["p1"])
    assert client.get_load_state("c", partition_name="p1") == {"state": LoadState.Loaded}
    assert client.get_load_state("c", partition_name="p2") == {"state": LoadState.NotLoad}
    rows = client.query("c", "id >= 0", output_fields=["id"])
    assert _ids(rows) == list(range(100, 105))
    hits = client.search("c", [[0.5, 0.1, 0.2, 0.3]], limit=50)[0]
    assert sorted(hit.id for hit in hits) == list(range(100, 105))
    with pytest.raises(MilvusException):
        client.search("c", [[0.5, 0.1, 0.2, 0.3]], partition_names=["p2"])
    client.load_partitions("c", "p2")
    assert _ids(client.query("c", "id >= 0", output_fields=["id"])) == [
        *range(100, 105), *range(200, 203)
    ]  # fmt: skip
    client.release_partitions("c", "p1")
    assert client.get_load_state("c", partition_name="p1") == {"state": LoadState.NotLoad}
    assert _ids(client.query("c", "id >= 0", output_fields=["id"])) == list(range(200, 203))
    client.load_collection("c")
    assert client.query("c", "", output_fields=["count(*)"]) == [{"count(*)": 18}]


def test_partition_names_restrict_reads(client: MilvusClient, h) -> None:
    _two_partitions(client, h)
    q = [[0.5, 0.1, 0.2, 0.3]]
    hits = client.search("c", q, limit=50, partition_names=["p1", "p2"])[0]
    assert sorted(hit.id for hit in hits) == [*range(100, 105), *range(200, 203)]
    rows = client.query("c", "id >= 0", output_fields=["id"], partition_names=["p2"])
    assert _ids(rows) == [200, 201, 202]
    assert client.query("c", "", output_fields=["count(*)"], partition_names=["_default"]) == [
        {"count(*)": 10}
    ]
    assert client.get("c", ids=[0, 100, 200], partition_names=["p1"])[0]["id"] == 100
    with pytest.raises(MilvusException):
        client.search("c", q, partition_names=["nope"])


# ---------------------------------------------------------------------------- load state
def test_release_then_search_fails_with_101_and_reload_works(client: MilvusClient, h) -> None:
    h.quick(client, n=5)
    client.release_collection("c")
    assert client.get_load_state("c") == {"state": LoadState.NotLoad}
    assert str(client.get_load_state("c")["state"]) == "NotLoad"
    for call in (
        lambda: client.search("c", [[0.1, 0.2, 0.3, 0.4]]),
        lambda: client.query("c", "id > 0"),
        lambda: client.get("c", ids=[1]),
    ):
        with pytest.raises(MilvusException) as exc:
            call()
        assert exc.value.code == 101
        assert "collection not loaded" in exc.value.message
    # writes are allowed while released
    client.insert("c", h.rows(h.vectors(1), start=50))
    client.delete("c", ids=[0])
    client.load_collection("c")
    client.load_collection("c")  # no-op when loaded
    assert client.get_load_state("c") == {"state": LoadState.Loaded}
    assert client.query("c", "", output_fields=["count(*)"]) == [{"count(*)": 5}]


def test_load_release_missing_collection(client: MilvusClient) -> None:
    for call in (client.load_collection, client.release_collection):
        with pytest.raises(MilvusException) as exc:
            call("x")
        assert exc.value.code == 100
        assert exc.value.message == "collection not found[database=default][collection=x]"


def test_load_without_vector_index_fails_with_700(client: MilvusClient, h) -> None:
    client.create_collection("s", schema=h.scalar_schema(client))
    with pytest.raises(MilvusException) as exc:
        client.load_collection("s")
    assert exc.value.code == 700
    assert (
        "there is no vector index on field: [vector], please create index firstly"
        in exc.value.message
    )
    assert client.get_load_state("s") == {"state": LoadState.NotLoad}
    client.create_index("s", h.index(client))
    client.load_collection("s")
    assert client.get_load_state("s") == {"state": LoadState.Loaded}


# ---------------------------------------------------------------------------- indexes
def _two_vector_schema(client: MilvusClient):
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("title", DataType.VARCHAR, max_length=20)
    return schema


@pytest.mark.parametrize(
    "index_type, metric, params",
    [
        ("AUTOINDEX", "COSINE", {}),
        ("FLAT", "L2", {}),
        ("HNSW", "IP", {"M": 16, "efConstruction": 64}),
        ("IVF_FLAT", "L2", {"nlist": 128}),
        ("IVF_SQ8", "COSINE", {"nlist": 64}),
        ("IVF_PQ", "L2", {"nlist": 64, "m": 4}),
    ],
)
def test_dense_index_types(client: MilvusClient, index_type: str, metric: str, params) -> None:
    client.create_collection("s", schema=_two_vector_schema(client))
    ip = client.prepare_index_params()
    ip.add_index("dense", index_type=index_type, metric_type=metric, params=params)
    client.create_index("s", ip)
    assert client.list_indexes("s") == ["dense"]
    desc = client.describe_index("s", "dense")
    expected = {k: str(v) for k, v in params.items()}
    expected.update(index_type=index_type, metric_type=metric, field_name="dense",
                    index_name="dense", state="Finished")  # fmt: skip
    assert {k: desc[k] for k in expected} == expected
    assert all(isinstance(desc[k], str) for k in params)
    assert {type(desc[k]) for k in ("total_rows", "indexed_rows", "pending_index_rows")} == {int}


@pytest.mark.parametrize("index_type", ["SPARSE_INVERTED_INDEX", "AUTOINDEX"])
def test_sparse_and_scalar_indexes(client: MilvusClient, index_type: str) -> None:
    client.create_collection("s", schema=_two_vector_schema(client))
    ip = client.prepare_index_params()
    ip.add_index("sparse", index_type=index_type, metric_type="IP", index_name="sp_idx")
    ip.add_index("dense", index_type="FLAT", metric_type="L2")
    ip.add_index("title", index_type="AUTOINDEX")
    client.create_index("s", ip)
    assert client.list_indexes("s") == ["sp_idx", "dense", "title"]
    assert client.list_indexes("s", field_name="sparse") == ["sp_idx"]
    sp = client.describe_index("s", "sp_idx")
    assert (sp["index_type"], sp["metric_type"], sp["field_name"]) == (index_type, "IP", "sparse")
    assert client.describe_index("s", "title")["index_type"] == "AUTOINDEX"
    client.load_collection("s")
    assert client.get_load_state("s") == {"state": LoadState.Loaded}


def test_index_errors(client: MilvusClient) -> None:
    client.create_collection("s", schema=_two_vector_schema(client))
    bad = [
        ("dense", {"index_type": "NOT_AN_INDEX", "metric_type": "L2"}),
        ("dense", {"index_type": "HNSW", "metric_type": "HAMMING"}),
        ("sparse", {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "L2"}),
        ("sparse", {"index_type": "HNSW", "metric_type": "IP"}),
        ("nope", {"index_type": "FLAT", "metric_type": "L2"}),
    ]
    for field, kw in bad:
        ip = client.prepare_index_params()
        ip.add_index(field, **kw)
        with pytest.raises(MilvusException):
            client.create_index("s", ip)
    assert client.list_indexes("s") == []
    with pytest.raises(ParamError, match="IndexParams is empty, no index can be created"):
        client.create_index("s", client.prepare_index_params())


def test_same_index_twice_ok_different_index_on_field_rejected(client: MilvusClient) -> None:
    client.create_collection("s", schema=_two_vector_schema(client))
    ip = client.prepare_index_params()
    ip.add_index("dense", index_type="HNSW", metric_type="L2", params={"M": 8})
    client.create_index("s", ip)
    client.create_index("s", ip)
    other = client.prepare_index_params()
    other.add_index("dense", index_type="FLAT", metric_type="IP")
    with pytest.raises(MilvusException):
        client.create_index("s", other)
    assert client.describe_index("s", "dense")["index_type"] == "HNSW"


def test_drop_index_and_describe_missing(client: MilvusClient, h) -> None:
    h.quick(client, n=3)
    with pytest.raises(MilvusException):  # vector index of a loaded collection
        client.drop_index("c", "vector")
    client.release_collection("c")
    client.drop_index("c", "vector")
    assert client.list_indexes("c") == []
    assert client.describe_index("c", "vector") is None
    assert client.describe_index("c", "nothing") is None
    with pytest.raises(MilvusException) as exc:
        client.load_collection("c")
    assert exc.value.code == 700
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="FLAT", metric_type="IP")
    client.create_index("c", ip)
    client.load_collection("c")
    assert client.describe_index("c", "vector")["metric_type"] == "IP"
    hits = client.search("c", [[1.0, 0.0, 0.0, 0.0]], limit=3)[0]
    assert len(hits) == 3


def test_index_rows_count_follow_inserts(client: MilvusClient, h) -> None:
    h.quick(client, n=4)
    desc = client.describe_index("c", "vector")
    assert desc["total_rows"] == 4 and desc["pending_index_rows"] == 0


def test_index_properties_need_a_released_collection(client: MilvusClient, h) -> None:
    """alter_index_properties / drop_index_properties: the proxy's configurable keys, the
    loaded-collection refusal (code 104), datacoord's boolean check, and describe_index
    showing what the request sent (pymilvus sends str(True), 'True')."""
    h.quick(client, n=3)
    with pytest.raises(MilvusException, match="release the collection first") as exc:
        client.alter_index_properties("c", "vector", {"mmap.enabled": True})
    assert exc.value.code == 104
    client.release_collection("c")
    client.alter_index_properties("c", "vector", {"mmap.enabled": True, "warmup": "sync"})
    desc = client.describe_index("c", "vector")
    assert (desc["mmap.enabled"], desc["warmup"]) == ("True", "sync")
    client.drop_index_properties("c", "vector", ["warmup"])
    assert "warmup" not in client.describe_index("c", "vector")
    for props, message in (
        ({"nlist": 8}, "nlist is not configable index param"),
        ({"mmap.enabled": "maybe"}, "invalid mmap.enabled value"),
    ):
        with pytest.raises(MilvusException, match=message):
            client.alter_index_properties("c", "vector", props)
    with pytest.raises(MilvusException, match="is not configable") as exc:
        client.drop_index_properties("c", "vector", ["metric_type"])
    assert exc.value.code == 1100
    with pytest.raises(MilvusException, match=r"index not found\[indexName=nope\]") as exc:
        client.alter_index_properties("c", "nope", {"mmap.enabled": False})
    assert exc.value.code == 700
    client.load_collection("c")
    assert len(client.search("c", [[1.0, 0.0, 0.0, 0.0]], limit=2)[0]) == 2
    assert client.describe_index("c", "vector")["mmap.enabled"] == "True"
