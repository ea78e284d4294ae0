"""Arguments of the wrong type or shape that the engine trips over fail as pymilvus fails
them, not as internal errors: a call Python cannot bind is the caller's TypeError; a named
argument pymilvus's client checks (pymilvus.client.check: collection and partition names,
partition lists, timeouts, database names, search data) raises its ParamError; other typed
arguments a ParamError too. A seeded stream of misuses never ends in an internal error (code
65535). Errors the engine already reports as pymilvus does are left as they are."""

from __future__ import annotations

import contextlib
import inspect
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import DataType, MilvusException
from pymilvus.exceptions import DataTypeNotMatchException, ParamError

from gpu_milvus import AsyncMilvusClient, MilvusClient


def _client(tmp_path: Path) -> MilvusClient:
    client = MilvusClient(str(tmp_path / "a.db"))
    s = client.create_schema(enable_dynamic_field=True)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("t", DataType.VARCHAR, max_length=50, enable_analyzer=True, enable_match=True)
    s.add_field("n", DataType.INT64, nullable=True)
    ip = client.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    client.create_collection("c", schema=s, index_params=ip)
    rows = [{"id": i, "v": [i, 1, 2, 3], "t": f"word{i}", "n": i} for i in range(20)]
    client.insert("c", rows)
    return client


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("query", {"filter": "id > 1", "output_fields": -1}, "`output_fields` value -1"),
        ("query", {"filter": "id > 1", "partition_names": [[1]]}, "`partition_name_array`"),
        ("search", {"data": [[1, 2, 3, 4]], "search_params": [None]}, "`search_params`"),
        ("create_partition", {"partition_name": None}, "`partition_name` value None"),
        ("has_partition", {"partition_name": {"a": 1}}, "`partition_name`"),
        ("describe_index", {"index_name": ["v"]}, "`index_name`"),
        ("alter_collection_properties", {"properties": [1]}, "`properties` value"),
        ("alter_collection_field", {"field_name": "t", "field_params": None}, "`field_params`"),
        ("rename_collection", {"new_name": "d", "target_db": ["x"]}, "`db_name`"),
        ("hybrid_search", {"reqs": ["v"], "ranker": None}, "list of AnnSearchRequest"),
        ("drop_index_properties", {"index_name": "v", "property_keys": 0}, "`property_keys`"),
        ("search", {"data": [[1, 2, 3, 4]], "offset": np.zeros((2, 2))}, "`offset` value"),
        ("search_iterator", {"data": True}, "`search_data` value True"),
    ],
)  # fmt: skip
def test_bad_arguments_raise_param_errors(
    tmp_path: Path, method: str, kwargs: dict[str, Any], message: str
) -> None:
    client = _client(tmp_path)
    with pytest.raises(ParamError, match=message):
        getattr(client, method)("c", **kwargs)


def test_calls_python_cannot_bind_are_type_errors(tmp_path: Path) -> None:
    client = _client(tmp_path)
    with pytest.raises(TypeError, match="missing a required argument: 'partition_name'"):
        client.create_partition("c")
    with pytest.raises(TypeError, match="multiple values for argument 'filter'"):
        client.query("c", "id > 1", filter="id > 2")
    assert client.query("c", filter="id < 2", output_fields=("id",)) == [{"id": 0}, {"id": 1}]


async def test_the_async_client_checks_the_same(tmp_path: Path) -> None:
    client = AsyncMilvusClient(str(tmp_path / "b.db"))
    await client.create_collection("c", dimension=4)
    with pytest.raises(ParamError, match="`search_params` value"):
        await client.search("c", [[1.0, 0, 0, 0]], search_params=[None])
    with pytest.raises(DataTypeNotMatchException, match="type of expr must be string"):
        await client.delete("c", filter=np.zeros(3))  # pymilvus's query wording
    with pytest.raises(ParamError, match="`collection_name` value"):
        await client.query(["c"], filter="id > 0")
    await client.close()


VALUES = [None, 0, -1, 1.5, "x", "", "c", "v", "id", [], [1], [[1, 2, 3, 4]], {}, {"a": 1},
          True, b"ab", float("nan"), 10**30, ["v"], [None], np.zeros(4), np.zeros((2, 4)),
          "id > 5", 'text_match(t, "word1")', "id >", {"metric_type": "IP"}]  # fmt: skip
METHODS = ["search", "query", "get", "delete", "insert", "upsert", "create_partition",
           "describe_index", "list_indexes", "get_collection_stats", "hybrid_search",
           "query_iterator", "search_iterator", "alter_collection_properties", "create_alias",
           "run_analyzer", "alter_collection_field", "get_load_state", "has_partition",
           "flush", "compact", "alter_index_properties"]  # fmt: skip


def test_misuse_never_becomes_an_internal_error(tmp_path: Path) -> None:
    client = _client(tmp_path)
    rng = random.Random(11)
    internal = []
    for _ in range(1500):
        method = rng.choice(METHODS)
        names = list(inspect.signature(getattr(client, method)).parameters)[1:]
        names = [n for n in names if n not in ("kwargs", "args")]
        kwargs = {n: rng.choice(VALUES) for n in rng.sample(names, min(len(names), 3))}
        try:
            getattr(client, method)("c", **kwargs)
        except MilvusException as e:
            if e.code == 65535:
                internal.append((method, kwargs, e.message))
        except (TypeError, ValueError):  # pymilvus's own type errors, as its client raises
            pass
    assert not internal, internal[:3]


def test_a_partition_name_that_is_not_text_is_refused_before_it_is_stored(tmp_path: Path) -> None:
    """An int partition name used to be stored, after which every checkpoint failed sorting
    the partition names (int against str): the store could no longer compact."""
    client = _client(tmp_path)
    for name in (10**30, 1.5, True, b"ab"):
        with pytest.raises(ParamError, match="`partition_name` value"):
            client.create_partition("c", name)
    client.truncate_collection("c")  # a checkpoint
    client.compact("c")
    assert client.list_partitions("c") == ["_default"]


def test_row_values_past_int64_and_bad_sparse_keys(tmp_path: Path) -> None:
    """Values a row can hold that Arrow cannot: an int past int64 in an integer field is
    out of that field's range (the server's wording), in a FLOAT or DOUBLE field still a
    number; a sparse vector keyed by something that is not an integer is pymilvus's
    'input must be a sparse matrix in supported format'."""
    client = MilvusClient(str(tmp_path / "v.db"))
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    for name, dtype in (("i8", DataType.INT8), ("i64", DataType.INT64),
                        ("f", DataType.FLOAT), ("d", DataType.DOUBLE)):  # fmt: skip
        s.add_field(name, dtype, nullable=True)
    ip = client.prepare_index_params()
    ip.add_index("sp", metric_type="IP")
    client.create_collection("c", schema=s, index_params=ip)
    row = {"id": 1, "sp": {1: 0.5}}
    for field, value, dtype in (("i8", -(2**63) - 1, "INT8"), ("i64", 2**63, "INT64")):
        with pytest.raises(MilvusException, match=f"out of range for {dtype}") as exc:
            client.insert("c", [{**row, field: value}])
        assert exc.value.code == 1100
    client.insert("c", [{**row, "f": 2**63, "d": 2**70}])
    got = client.query("c", "id == 1", output_fields=["f", "d"])[0]
    assert (got["f"], got["d"]) == (pytest.approx(2.0**63), float(2**70))
    for sparse in ({"a": 1.0}, {1.5: 1.0}):
        with pytest.raises(ParamError, match="input must be a sparse matrix"):
            client.insert("c", [{"id": 2, "sp": sparse}])
    client.insert("c", [{"id": 3, "sp": {"7": 0.5}}])  # a string of an integer, as pymilvus
    assert client.query("c", "id == 3", output_fields=["sp"])[0]["sp"] == {7: 0.5}


DDL = ["create_partition", "drop_partition", "create_alias", "alter_alias", "drop_alias",
       "alter_collection_properties", "drop_collection_properties", "alter_collection_field",
       "add_collection_field", "drop_collection_field", "rename_collection",
       "alter_index_properties", "drop_index_properties", "release_collection",
       "load_collection", "create_index", "drop_index"]  # fmt: skip
ODD = [None, 0, -1, 1.5, "x", "", "p1", "al", "n", [], [1], {}, {"a": 1}, {"mmap.enabled": True},
       {"collection.ttl.seconds": 5}, {"max_length": 99}, True, b"ab", 10**30, ["v"],
       np.zeros(4), DataType.INT64, DataType.VARCHAR, {"nullable": True}]  # fmt: skip


def test_ddl_misuse_never_breaks_a_store(tmp_path: Path) -> None:
    """Schema and metadata calls with odd values, each followed by a checkpoint (flush) and
    now and then a compaction, then a reopen: whatever a call accepts, the store keeps
    working (an int partition name once made every later checkpoint fail)."""
    client = _client(tmp_path)
    rng = random.Random(5)
    for step in range(300):
        method = rng.choice(DDL)
        names = [p.name for p in inspect.signature(getattr(client, method)).parameters.values()
                 if p.kind == p.POSITIONAL_OR_KEYWORD][1:]  # fmt: skip
        kwargs = {n: rng.choice(ODD) for n in rng.sample(names, min(len(names), 3))}
        with contextlib.suppress(MilvusException, TypeError, ValueError):
            getattr(client, method)("c", **kwargs)
        for name in client.list_collections():
            client.flush(name)
            if step % 25 == 0:
                client.compact(name)
    names = client.list_collections()
    client.close()
    reopened = MilvusClient(str(tmp_path / "a.db"))
    assert reopened.list_collections() == names
    for name in names:
        reopened.describe_collection(name)
    reopened.close()
