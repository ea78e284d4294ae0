"""MilvusClient DDL on a local uri: lifecycle, collections, describe, stats, rename, flush,
compact."""

from __future__ import annotations

import pytest
from pymilvus import CollectionSchema, DataType, MilvusException
from pymilvus.client.types import LoadState
from pymilvus.exceptions import (
    DescribeCollectionException,
    InvalidConsistencyLevel,
    ParamError,
    PrimaryKeyException,
)
from pymilvus.milvus_client.index import IndexParams

from gpu_milvus import MilvusClient
from gpu_milvus.client import remote

DESCRIBE_KEYS = [
    "collection_name", "auto_id", "num_shards", "description", "fields", "functions",
    "aliases", "collection_id", "consistency_level", "consistency_level_name", "properties",
    "num_partitions", "enable_dynamic_field", "enable_namespace", "schema_version",
]  # fmt: skip


# ---------------------------------------------------------------------------- close
def test_use_after_close_raises_should_create_connection(uri: str) -> None:
    c = MilvusClient(uri)
    c.create_collection("c", dimension=4)
    c.close()
    for call in (
        lambda: c.has_collection("c"),
        lambda: c.list_collections(),
        lambda: c.insert("c", {"id": 1, "vector": [0.1] * 4}),
        lambda: c.search("c", [[0.1] * 4]),
        lambda: c.query("c", "id > 0"),
        lambda: c.get_load_state("c"),
    ):
        with pytest.raises(MilvusException) as exc:
            call()
        assert exc.value.code == 1
        assert "should create connection first" in exc.value.message


def test_close_is_idempotent_and_keeps_data_for_other_clients(uri: str, h) -> None:
    c = MilvusClient(uri)
    h.quick(c, n=5)
    c.close()
    c.close()
    other = MilvusClient(uri)
    assert other.query("c", output_fields=["count(*)"]) == [{"count(*)": 5}]
    other.close()


def test_server_type_and_remote_uri_routing() -> None:
    assert MilvusClient(":memory:").get_server_type() == "milvus"
    # pymilvus's sync client connects in its constructor, so only the routing is checked here.
    for u in ("http://localhost:19530", "https://h:443", "tcp://h:19530", "unix:/tmp/m.sock"):
        assert remote.is_remote(u)
    for u in ("./x.db", "/tmp/x.db", ":memory:"):
        assert not remote.is_remote(u)


def test_static_helpers_return_pymilvus_objects(client: MilvusClient) -> None:
    for owner in (MilvusClient, client):
        schema = owner.create_schema(auto_id=True, enable_dynamic_field=True)
        assert isinstance(schema, CollectionSchema)
        assert schema.fields == [] and schema.auto_id and schema.enable_dynamic_field
        assert schema.add_field("id", DataType.INT64, is_primary=True) is schema
        params = owner.prepare_index_params()
        assert isinstance(params, IndexParams) and len(params) == 0
        assert len(owner.prepare_index_params("vector", index_type="FLAT")) == 1


# ---------------------------------------------------------------------------- quick setup
def test_quick_setup_schema_index_and_load_state(client: MilvusClient) -> None:
    client.create_collection("qs", dimension=5)
    d = client.describe_collection("qs")
    assert list(d) == DESCRIBE_KEYS
    assert d["fields"] == [
        {"field_id": 100, "name": "id", "description": "", "type": DataType.INT64,
         "params": {}, "is_primary": True},
        {"field_id": 101, "name": "vector", "description": "", "type": DataType.FLOAT_VECTOR,
         "params": {"dim": 5}},
    ]  # fmt: skip
    assert [list(f) for f in d["fields"]] == [
        ["field_id", "name", "description", "type", "params", "is_primary"],
        ["field_id", "name", "description", "type", "params"],
    ]
    assert d["collection_name"] == "qs" and d["auto_id"] is False
    assert d["enable_dynamic_field"] is True
    assert (d["consistency_level"], d["consistency_level_name"]) == (2, "Bounded")
    assert d["num_partitions"] == 1 and d["functions"] == [] and d["aliases"] == []
    assert all(f["name"] != "$meta" for f in d["fields"])
    assert client.list_indexes("qs") == ["vector"]
    desc = client.describe_index("qs", "vector")
    assert list(desc) == ["index_type", "metric_type", "field_name", "index_name",
                          "total_rows", "indexed_rows", "pending_index_rows", "state"]  # fmt: skip
    assert desc["index_type"] == "AUTOINDEX" and desc["metric_type"] == "COSINE"
    assert desc["field_name"] == desc["index_name"] == "vector"
    assert desc["state"] == "Finished"
    state = client.get_load_state("qs")
    assert state == {"state": LoadState.Loaded}
    assert str(state) == "{'state': <LoadState: Loaded>}"


def test_quick_setup_custom_names_metric_and_string_id(client: MilvusClient) -> None:
    client.create_collection(
        "s", dimension=3, primary_field_name="pk", id_type="string", vector_field_name="emb",
        metric_type="L2", max_length=16,
    )  # fmt: skip
    d = client.describe_collection("s")
    pk, vec = d["fields"]
    assert (pk["name"], pk["type"], pk["params"]) == ("pk", DataType.VARCHAR, {"max_length": 16})
    assert isinstance(pk["params"]["max_length"], int)
    assert (vec["name"], vec["params"]) == ("emb", {"dim": 3})
    assert client.list_indexes("s") == ["emb"]
    assert client.describe_index("s", "emb")["metric_type"] == "L2"


def test_quick_setup_string_id_needs_max_length(client: MilvusClient) -> None:
    with pytest.raises(MilvusException):
        client.create_collection("s", dimension=3, id_type="string")
    assert not client.has_collection("s")


def test_quick_setup_argument_errors(client: MilvusClient) -> None:
    with pytest.raises(ParamError, match="dimension"):
        client.create_collection("c")
    with pytest.raises(ParamError, match="dimension"):
        client.create_collection("c", dimension="4")
    with pytest.raises(PrimaryKeyException):
        client.create_collection("c", dimension=4, id_type="float")
    assert client.list_collections() == []


def test_quick_setup_auto_id(client: MilvusClient) -> None:
    client.create_collection("a", dimension=4, auto_id=True)
    d = client.describe_collection("a")
    assert d["auto_id"] is True
    assert d["fields"][0]["auto_id"] is True
    assert list(d["fields"][0]) == [
        "field_id", "name", "description", "type", "params", "auto_id", "is_primary",
    ]  # fmt: skip


def test_schema_form_without_index_is_not_loaded(client: MilvusClient, h) -> None:
    client.create_collection("s", schema=h.scalar_schema(client))
    assert client.get_load_state("s") == {"state": LoadState.NotLoad}
    assert client.list_indexes("s") == []
    assert client.describe_collection("s")["enable_dynamic_field"] is False
    with pytest.raises(MilvusException) as exc:
        client.search("s", [[0.1] * 4])
    assert exc.value.code == 101 and "collection not loaded" in exc.value.message
    with pytest.raises(MilvusException) as exc:
        client.query("s", "id > 0")
    assert exc.value.code == 101


def test_schema_form_with_index_params_is_loaded(client: MilvusClient, h) -> None:
    client.create_collection("s", schema=h.scalar_schema(client), index_params=h.index(client))
    assert client.get_load_state("s") == {"state": LoadState.Loaded}
    assert client.list_indexes("s") == ["vector"]


def test_schema_form_describe_fields(client: MilvusClient) -> None:
    schema = client.create_schema(enable_dynamic_field=True, description="docs")
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("age", DataType.INT64, nullable=True)
    schema.add_field("score", DataType.INT64, default_value=7)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR,
                     max_capacity=4, max_length=10)  # fmt: skip
    client.create_collection("s", schema=schema)
    d = client.describe_collection("s")
    assert d["description"] == "docs" and d["enable_dynamic_field"] is True
    fields = {f["name"]: f for f in d["fields"]}
    assert [f["field_id"] for f in d["fields"]] == [100, 101, 102, 103, 104]
    assert "$meta" not in fields
    assert fields["age"]["nullable"] is True and "default_value" not in fields["age"]
    assert fields["score"]["default_value"].long_data == 7
    assert "nullable" not in fields["score"]
    assert fields["tags"]["element_type"] == DataType.VARCHAR
    assert fields["tags"]["params"] == {"max_capacity": 4, "max_length": 10}
    assert list(fields["tags"]) == [
        "field_id", "name", "description", "type", "params", "element_type",
    ]  # fmt: skip


def test_schema_verify_errors(client: MilvusClient) -> None:
    no_pk = client.create_schema()
    no_pk.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    with pytest.raises(MilvusException):
        client.create_collection("s", schema=no_pk)
    float_pk = client.create_schema()
    float_pk.add_field("id", DataType.FLOAT, is_primary=True)
    float_pk.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    with pytest.raises(MilvusException):
        client.create_collection("s", schema=float_pk)
    assert client.list_collections() == []


def test_identical_recreate_is_ok_different_is_an_error(client: MilvusClient, h) -> None:
    h.quick(client, n=3)
    client.create_collection("c", dimension=4)
    assert client.get_collection_stats("c") == {"row_count": 3}
    with pytest.raises(MilvusException) as exc:
        client.create_collection("c", dimension=8)
    assert "create duplicate collection with different parameters, collection: c" in str(
        exc.value.message
    )
    assert client.describe_collection("c")["fields"][1]["params"] == {"dim": 4}


def test_recreate_with_different_metric_is_an_error(client: MilvusClient) -> None:
    client.create_collection("c", dimension=4)
    with pytest.raises(MilvusException):
        client.create_collection("c", dimension=4, metric_type="L2")


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("1a", "the first character of a collection name must be an underscore or letter"),
        ("a-b", "collection name can only contain numbers, letters and underscores"),
        ("", "collection name should not be empty"),
        ("x" * 256, "the length of a collection name must be less than 255 characters"),
    ],
)
def test_invalid_collection_names(client: MilvusClient, name: str, fragment: str) -> None:
    with pytest.raises(MilvusException) as exc:
        client.create_collection(name, dimension=4)
    assert exc.value.code == 1100
    assert fragment in exc.value.message
    assert client.list_collections() == []


# ---------------------------------------------------------------------------- drop / has / list
def test_drop_has_list(client: MilvusClient, h) -> None:
    for name in ("a", "b", "_c"):
        h.quick(client, name, n=2)
    assert sorted(client.list_collections()) == ["_c", "a", "b"]
    assert client.has_collection("a") is True
    client.drop_collection("a")
    client.drop_collection("a")
    client.drop_collection("never_existed")
    assert client.has_collection("a") is False
    assert sorted(client.list_collections()) == ["_c", "b"]
    assert client.get_load_state("a") == {"state": LoadState.NotExist}
    assert repr(client.get_load_state("a")["state"]) == "<LoadState: NotExist>"
    h.quick(client, "a", n=1)
    assert client.get_collection_stats("a") == {"row_count": 1}


def test_describe_missing_collection(client: MilvusClient) -> None:
    with pytest.raises(DescribeCollectionException) as exc:
        client.describe_collection("foo")
    assert exc.value.code == 100
    assert exc.value.message == "can't find collection[database=default][collection=foo]"


# ---------------------------------------------------------------------------- stats, rename, flush
def test_collection_stats(client: MilvusClient, h) -> None:
    h.quick(client, n=7)
    stats = client.get_collection_stats("c")
    assert stats == {"row_count": 7} and type(stats["row_count"]) is int
    client.delete("c", ids=[0, 1])
    assert client.get_collection_stats("c") == {"row_count": 5}
    with pytest.raises(MilvusException) as exc:
        client.get_collection_stats("nope")
    assert exc.value.code == 100


def test_rename_keeps_data_and_drops_old_name(client: MilvusClient, h) -> None:
    h.quick(client, "old", n=6)
    client.rename_collection("old", "new")
    assert not client.has_collection("old")
    assert client.list_collections() == ["new"]
    assert client.describe_collection("new")["collection_name"] == "new"
    assert client.query("new", output_fields=["count(*)"]) == [{"count(*)": 6}]
    assert len(client.search("new", [[0.1, 0.2, 0.3, 0.4]], limit=3)[0]) == 3
    assert client.get_load_state("old") == {"state": LoadState.NotExist}
    with pytest.raises(MilvusException):
        client.rename_collection("old", "x")
    h.quick(client, "other", n=1)
    with pytest.raises(MilvusException):
        client.rename_collection("new", "other")
    with pytest.raises(MilvusException):
        client.rename_collection("new", "1bad")
    assert client.get_collection_stats("new") == {"row_count": 6}


def test_flush_and_compact(client: MilvusClient, h) -> None:
    h.quick(client, n=3)
    assert client.flush("c") is None
    job = client.compact("c")
    assert isinstance(job, int) and not isinstance(job, bool)
    assert client.get_collection_stats("c") == {"row_count": 3}
    with pytest.raises(MilvusException):
        client.flush("missing")
    with pytest.raises(MilvusException):
        client.compact("missing")


@pytest.mark.parametrize(
    "field, kwargs, fragment",
    [
        ("vector", {"datatype": DataType.FLOAT_VECTOR, "dim": 1}, "invalid dimension: 1"),
        ("vector", {"datatype": DataType.FLOAT_VECTOR, "dim": 32769}, "invalid dimension: 32769"),
        ("t", {"datatype": DataType.VARCHAR, "max_length": 65536}, "should be in (0, 65535]"),
        ("a", {"datatype": DataType.ARRAY, "element_type": DataType.INT64, "max_capacity": 4097},
         "should be in (0, 4096]"),
        ("s", {"datatype": DataType.SPARSE_FLOAT_VECTOR, "dim": 4}, "dim should not be specified"),
    ],
)  # fmt: skip
def test_server_schema_rules(client: MilvusClient, field: str, kwargs, fragment: str) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    if field != "vector":
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field(field, **kwargs)
    with pytest.raises(MilvusException) as exc:
        client.create_collection("s", schema=schema)
    assert exc.value.code == 1100 and fragment in exc.value.message
    no_vector = client.create_schema()
    no_vector.add_field("id", DataType.INT64, is_primary=True)
    with pytest.raises(MilvusException, match="schema does not contain vector field"):
        client.create_collection("s", schema=no_vector)
    assert client.list_collections() == []


def test_consistency_level_option(client: MilvusClient) -> None:
    client.create_collection("c", dimension=4, consistency_level="Strong")
    d = client.describe_collection("c")
    assert (d["consistency_level"], d["consistency_level_name"]) == (0, "Strong")
    with pytest.raises(InvalidConsistencyLevel, match="invalid consistency level: Foo"):
        client.create_collection("d", dimension=4, consistency_level="Foo")
    assert not client.has_collection("d")


# ---------------------------------------------------------------------------- databases
def test_databases(client: MilvusClient, uri: str, h) -> None:
    assert client.list_databases() == ["default"]
    assert isinstance(client.get_server_version(), str)
    client.create_database("db2")
    with pytest.raises(MilvusException, match="database already exist: db2"):
        client.create_database("db2")
    assert client.list_databases() == ["default", "db2"]
    h.quick(client, "c", n=3)
    client.rename_collection("c", "moved", target_db="db2")
    assert client.list_collections() == []
    client.use_database("db2")
    assert client.list_collections() == ["moved"]
    assert client.get_collection_stats("moved") == {"row_count": 3}
    other = MilvusClient(uri, db_name="db2")
    assert other.list_collections() == ["moved"]
    other.close()
    with pytest.raises(MilvusException, match="must drop all collections before drop database"):
        client.drop_database("db2")
    with pytest.raises(MilvusException) as exc:
        client.use_database("nodb")
    assert exc.value.code == 800 and exc.value.message == "database not found[database=nodb]"
    with pytest.raises(MilvusException) as exc:
        MilvusClient(uri, db_name="nodb")
    assert exc.value.code == 800
    client.using_database("default")
    assert client.list_collections() == []
    with pytest.raises(MilvusException):
        client.drop_database("default")
    client.use_database("db2")
    client.drop_collection("moved")
    client.use_database("default")
    client.drop_database("db2")
    assert client.list_databases() == ["default"]
