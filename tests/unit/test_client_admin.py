"""Aliases, database and collection properties, truncate and the immediate admin calls, with
Milvus's codes and wording (its Python client test suite, tests/python_client/milvus_client/
test_milvus_client_alias.py, and rootcoord's drop/rename checks). What milvus-lite shares is
compared in tests/congruence/test_admin.py.
"""

from __future__ import annotations

import asyncio
import inspect

import pymilvus
import pytest
from pymilvus import MilvusException

from gpu_milvus import AsyncMilvusClient, MilvusClient
from gpu_milvus.engine.engine import Engine


@pytest.fixture
def c(client: MilvusClient) -> MilvusClient:
    client.create_collection("a", dimension=2)
    client.create_collection("b", dimension=2)
    client.insert("a", [{"id": i, "vector": [1.0, float(i)]} for i in range(5)])
    return client


def _fails(code: int, text: str, fn, *args) -> None:
    with pytest.raises(MilvusException) as exc:
        fn(*args)
    assert exc.value.code == code and text in exc.value.message, exc.value


def test_alias_errors_carry_milvus_codes(c: MilvusClient) -> None:
    c.create_alias("a", "al")
    c.create_alias("a", "al")  # the same alias for the same collection again: no error
    _fails(1602, "al is alias to another collection: a: alias already exist[database=default]"
           "[alias=al]", c.create_alias, "b", "al")  # fmt: skip
    _fails(1601, "alias and collection name conflict[database=default][alias=b]",
           c.create_alias, "a", "b")  # fmt: skip
    _fails(100, "collection not found", c.create_alias, "zz", "al2")
    _fails(1100, "Invalid collection alias: 12-s. the first character of a collection alias "
           "must be an underscore or letter", c.create_alias, "a", "12-s")  # fmt: skip
    _fails(1100, "the length of a collection alias must be less than 255 characters",
           c.create_alias, "a", "x" * 256)  # fmt: skip
    _fails(1601, "collection name [al] conflicts with an existing alias, please choose a unique "
           "name", c.create_collection, "al", 2)  # fmt: skip
    _fails(1600, "alias not found[database=default][alias=nope]", c.alter_alias, "b", "nope")
    _fails(1600, "alias not found[database=default][alias=nope]", c.describe_alias, "nope")
    _fails(1600, "cannot drop the collection via alias = al", c.drop_collection, "al")
    _fails(65535, "unable to drop the collection [a] because it has associated aliases [al], "
           "please remove all aliases before dropping the collection",
           c.drop_collection, "a")  # fmt: skip
    _fails(65535, "cannot rename collection to an existing alias: al",
           c.rename_collection, "b", "al")  # fmt: skip
    assert c.describe_alias("al") == {"alias": "al", "collection_name": "a", "db_name": "default"}
    assert c.has_collection("a") and c.query("al", "", output_fields=["count(*)"])[0][
        "count(*)"] == 5  # fmt: skip


def test_aliases_in_describe_list_and_after_rename(c: MilvusClient) -> None:
    c.create_alias("a", "x1")
    c.create_alias("a", "x2")
    c.create_alias("b", "y")
    assert c.describe_collection("x1")["collection_name"] == "a"
    assert c.describe_collection("a")["aliases"] == ["x1", "x2"]
    assert c.list_aliases() == {"aliases": ["x1", "x2", "y"], "db_name": "default"}
    assert c.list_aliases("b") == {"aliases": ["y"], "collection_name": "b", "db_name": "default"}
    c.rename_collection("a", "a2")  # an alias follows its collection through a rename
    assert c.describe_alias("x1")["collection_name"] == "a2"
    c.drop_alias("x1")
    c.drop_alias("x2")
    c.drop_collection("a2")
    assert c.list_aliases()["aliases"] == ["y"]
    c.create_database("other")
    _fails(65535, "must drop all aliases of collection b before rename",
           c.rename_collection, "b", "b2", "other")  # fmt: skip


def test_aliases_are_per_database(client: MilvusClient) -> None:
    client.create_database("d2")
    client.create_collection("a", dimension=2)
    client.create_alias("a", "al")
    client.use_database("d2")
    assert client.list_aliases()["aliases"] == [] and not client.has_collection("al")
    client.create_collection("a", dimension=2)
    client.create_alias("a", "al")  # the same alias name in another database
    assert client.describe_alias("al")["db_name"] == "d2"


def test_truncate_keeps_schema_indexes_partitions_and_load_state(c: MilvusClient) -> None:
    c.create_partition("a", "p")
    c.insert("a", [{"id": 9, "vector": [0.0, 1.0]}], partition_name="p")
    before = c.describe_collection("a")
    c.truncate_collection("a")
    assert c.query("a", "", output_fields=["count(*)"])[0]["count(*)"] == 0
    assert c.get("a", [0, 9]) == []
    assert c.describe_collection("a") == before and c.list_partitions("a") == ["_default", "p"]
    assert c.get_load_state("a")["state"].name == "Loaded"
    c.insert("a", [{"id": 0, "vector": [1.0, 0.0]}])
    assert [h["id"] for h in c.search("a", [[1.0, 0.0]], limit=5)[0]] == [0]
    assert c.query("b", "", output_fields=["count(*)"])[0]["count(*)"] == 0


def test_properties_are_strings_and_merge(c: MilvusClient) -> None:
    c.alter_collection_properties("a", {"mmap.enabled": True, "collection.ttl.seconds": 5})
    c.alter_collection_properties("a", {"collection.ttl.seconds": 60})
    props = c.describe_collection("a")["properties"]
    assert props == {"mmap.enabled": "True", "collection.ttl.seconds": "60"}
    c.drop_collection_properties("a", ["mmap.enabled", "not.set"])
    assert c.describe_collection("a")["properties"] == {"collection.ttl.seconds": "60"}
    c.create_database("d", properties={"database.replica.number": 1})
    assert c.describe_database("d") == {"name": "d", "database.replica.number": "1"}
    _fails(800, "database not found[database=nope]", c.describe_database, "nope")
    _fails(800, "database not found", c.alter_database_properties, "nope", {"k": 1})


def test_admin_state_survives_a_reopen(uri: str) -> None:
    client = MilvusClient(uri)
    client.create_collection("a", dimension=2)
    client.insert("a", [{"id": 1, "vector": [1.0, 2.0]}])
    client.create_alias("a", "al")
    client.alter_collection_properties("a", {"collection.ttl.seconds": 7})
    client.create_database("d", properties={"k": "v"})
    client.alter_database_properties("default", {"database.max.collections": 3})
    client.close()
    again = MilvusClient(uri)
    try:
        assert again.describe_alias("al")["collection_name"] == "a"
        assert again.get("al", [1])[0]["id"] == 1
        assert again.describe_collection("a")["properties"] == {"collection.ttl.seconds": "7"}
        assert again.describe_database("d") == {"name": "d", "k": "v"}
        assert again.describe_database("default")["database.max.collections"] == "3"
        again.truncate_collection("a")
    finally:
        again.close()
    third = MilvusClient(uri)
    try:
        assert third.query("al", "", output_fields=["count(*)"])[0]["count(*)"] == 0
    finally:
        third.close()


def test_stores_written_before_database_metadata_still_open() -> None:
    engine = Engine(":memory:")
    engine.databases_reset(["default", "old"])  # a manifest's bare database names
    assert engine.list_databases() == ["default", "old"]
    assert engine.describe_database("old") == {"name": "old"}


def test_immediate_admin_calls(c: MilvusClient) -> None:
    assert c.get_compaction_state(c.compact("a")) == "Completed"
    c.refresh_load("a")
    _fails(100, "collection not found", c.refresh_load, "zz")
    c.flush_all()
    assert c.get_flush_all_state() is True


def test_async_client_has_the_admin_calls(uri: str) -> None:
    async def run() -> tuple:
        client = AsyncMilvusClient(uri)
        await client.create_collection("a", dimension=2)
        await client.create_alias("a", "al")
        described = await client.describe_alias("al")
        await client.truncate_collection("al")
        await client.refresh_load("al", partition_names=["_default"])
        await client.close()
        return described

    assert asyncio.run(run())["collection_name"] == "a"


PAIRS = [(MilvusClient, pymilvus.MilvusClient), (AsyncMilvusClient, pymilvus.AsyncMilvusClient)]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_every_pymilvus_method_exists_and_the_rest_fail_with_code_10(ours, theirs, uri) -> None:
    missing = [n for n in dir(theirs) if not n.startswith("_") and not hasattr(ours, n)]
    assert missing == []
    assert inspect.iscoroutinefunction(ours.create_role) == inspect.iscoroutinefunction(
        theirs.create_role
    )
    assert inspect.signature(ours.create_role) == inspect.signature(theirs.create_role)
    client = ours(uri)

    async def call(fn, *args):
        return await fn(*args)

    for method, args in (("create_role", ("r",)), ("list_users", ()), ("create_snapshot", ("s",))):
        fn = getattr(client, method)
        with pytest.raises(MilvusException) as exc:
            asyncio.run(call(fn, *args)) if ours is AsyncMilvusClient else fn(*args)
        assert exc.value.code == 10 and f"{method} is not available" in exc.value.message
    if ours is AsyncMilvusClient:
        asyncio.run(client.close())
    else:
        client.close()


def test_admin_state_is_in_the_log_before_any_checkpoint(uri: str, h) -> None:
    """A process that dies without closing (no checkpoint) still leaves aliases and props."""
    h.exit_without_closing(
        uri,
        "c.create_collection('a', dimension=2)",
        "c.create_alias('a', 'al')",
        "c.create_database('d', properties={'k': 1})",
        "c.alter_collection_properties('a', {'p': 2})",
    )
    client = MilvusClient(uri)
    try:
        assert client.describe_alias("al")["collection_name"] == "a"
        assert client.describe_database("d") == {"name": "d", "k": "1"}
        assert client.describe_collection("a")["properties"] == {"p": "2"}
    finally:
        client.close()


def test_a_refused_log_write_changes_nothing(c: MilvusClient, monkeypatch) -> None:
    """Database and alias changes are logged before they count; a failed log undoes them."""
    engine = c._core.engine

    def refuse(entries) -> None:
        raise OSError(28, "No space left on device")

    c.create_alias("a", "kept")
    monkeypatch.setattr(engine.journal, "log_databases", refuse)
    for call in (
        lambda: c.create_alias("b", "al"),
        lambda: c.alter_alias("b", "kept"),
        lambda: c.drop_alias("kept"),
        lambda: c.create_database("d2"),
        lambda: c.alter_database_properties("default", {"k": 1}),
    ):
        with pytest.raises(MilvusException):
            call()
    monkeypatch.undo()
    assert c.list_aliases()["aliases"] == ["kept"]
    assert c.describe_alias("kept")["collection_name"] == "a"
    assert c.list_databases() == ["default"] and c.describe_database("default") == {
        "name": "default"
    }
