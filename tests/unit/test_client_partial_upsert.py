"""upsert in merge mode (``partial_update=True``, ``field_ops``), as Milvus 2.6.2+ defines it.

The reference is Milvus's own description (docs "Upsert Entities", merge mode) and its proxy
(``task_upsert.go``: query the stored rows, lay the request over them, delete and insert;
a key not stored is an insert whose missing fields must be nullable or defaulted), and the
ARRAY_APPEND / ARRAY_REMOVE table of the array partial-update design. milvus-lite 3.2.2
refuses ``partial_update`` (see milvus_lite_notes.md), so there is no congruence test.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from pymilvus import DataType, FieldOp, MilvusException
from pymilvus.exceptions import DataNotMatchException, ParamError

from gpu_milvus import AsyncMilvusClient, MilvusClient

BASE = {
    "id": 1, "v": [1.0, 2.0], "title": "Hollow Man", "issue": "vol.19", "extras": {"a": 1, "b": 2},
    "tags": [1, 2, 1], "w": [0.1, 0.2], "author": "John", "year": 2020,
}  # fmt: skip


def _collection(client: MilvusClient, name: str = "c", auto_id: bool = False) -> None:
    s = client.create_schema(enable_dynamic_field=True, auto_id=auto_id)
    s.add_field("id", DataType.INT64, is_primary=True, auto_id=auto_id)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("title", DataType.VARCHAR, max_length=64)
    s.add_field("issue", DataType.VARCHAR, max_length=64, nullable=True)
    s.add_field("extras", DataType.JSON, nullable=True)
    s.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8,
                nullable=True)  # fmt: skip
    s.add_field("w", DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=8, nullable=True)
    s.add_field("rank", DataType.INT32, default_value=7)
    ip = client.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    client.create_collection(name, schema=s, index_params=ip)
    rows = [dict(BASE), {**BASE, "id": 2, "title": "Treasure Hunt", "tags": None}]
    if auto_id:
        rows = [{k: v for k, v in r.items() if k != "id"} for r in rows]
    client.insert(name, rows)


def _row(client: MilvusClient, key: int = 1) -> dict:
    rows = client.get("c", [key])
    assert len(rows) == 1
    return dict(rows[0])


@pytest.fixture
def c(client: MilvusClient) -> MilvusClient:
    _collection(client)
    return client


def test_merge_keeps_the_fields_not_given(c: MilvusClient) -> None:
    before = _row(c)
    res = c.upsert("c", [{"id": 1, "title": "Doraemon", "v": [5.0, 6.0]}], partial_update=True)
    assert res["upsert_count"] == 1 and list(res["ids"]) == [1]
    after = _row(c)
    assert after == {**before, "title": "Doraemon", "v": [5.0, 6.0]}
    assert c.query("c", "", output_fields=["count(*)"])[0]["count(*)"] == 2
    hits = c.search("c", [[5.0, 6.0]], limit=1, output_fields=["title"])[0]
    assert hits[0]["id"] == 1 and hits[0]["distance"] == 0.0 and hits[0]["title"] == "Doraemon"


def test_nullable_field_omitted_is_kept_or_set_null_explicitly(c: MilvusClient) -> None:
    c.upsert("c", [{"id": 1, "title": "t"}], partial_update=True)
    assert _row(c)["issue"] == "vol.19"
    c.upsert("c", [{"id": 1, "issue": None}], partial_update=True)
    assert _row(c)["issue"] is None
    # Override mode (the default) sets an omitted nullable field to null.
    c.upsert("c", [{"id": 2, "v": [0.0, 0.0], "title": "x", "issue": "i"}])
    c.upsert("c", [{"id": 2, "v": [0.0, 0.0], "title": "x"}])
    assert _row(c, 2)["issue"] is None


def test_dynamic_keys_merge_and_json_field_is_replaced_whole(c: MilvusClient) -> None:
    c.upsert("c", [{"id": 1, "author": "Jane", "genre": "fantasy", "extras": {"c": 3}}],
             partial_update=True)  # fmt: skip
    row = _row(c)
    assert (row["author"], row["year"], row["genre"]) == ("Jane", 2020, "fantasy")
    assert row["extras"] == {"c": 3}
    # Override mode replaces the dynamic keys with the request's.
    c.upsert("c", [{"id": 2, "v": [0.0, 0.0], "title": "x", "genre": "poetry"}])
    row2 = _row(c, 2)
    assert row2["genre"] == "poetry" and "author" not in row2 and "year" not in row2


def test_a_key_not_stored_is_inserted_with_nulls_and_defaults(c: MilvusClient) -> None:
    c.upsert("c", [{"id": 9, "v": [3.0, 4.0], "title": "new"}], partial_update=True)
    row = _row(c, 9)
    assert (row["title"], row["issue"], row["tags"], row["rank"]) == ("new", None, None, 7)
    assert _row(c) == {**BASE, "w": _row(c)["w"], "rank": 7}


def test_a_new_key_without_a_required_field_fails_and_writes_nothing(c: MilvusClient) -> None:
    before = [_row(c), _row(c, 2)]
    rows = [{"id": 1, "title": "changed"}, {"id": 9, "title": "new"}]
    with pytest.raises(MilvusException, match='missing required field "v"') as exc:
        c.upsert("c", rows, partial_update=True)
    assert exc.value.code == 1100
    assert [_row(c), _row(c, 2)] == before and c.get("c", [9]) == []


def test_array_append_and_remove_follow_the_operator_table(c: MilvusClient) -> None:
    c.upsert("c", [{"id": 1, "tags": [3, 1]}], field_ops={"tags": FieldOp.array_append()})
    assert _row(c)["tags"] == [1, 2, 1, 3, 1]  # base first, payload after, duplicates kept
    c.upsert("c", [{"id": 1, "tags": [1, 2]}], field_ops={"tags": "array_remove"})
    assert _row(c)["tags"] == [3]  # every match removed, survivors in order
    c.upsert("c", [{"id": 1, "tags": [42]}], field_ops={"tags": "array_remove"})
    assert _row(c)["tags"] == [3]  # no match: unchanged
    # FLOAT arrays compare as float32: 0.1 finds the stored float32(0.1).
    c.upsert("c", [{"id": 1, "w": [0.1]}], field_ops={"w": "array_remove"})
    assert _row(c)["w"] == [np.float32(0.2).item()]
    # A null payload leaves the row; a null stored array takes the payload.
    c.upsert(
        "c", [{"id": 1, "tags": None}, {"id": 2, "tags": [5]}], field_ops={"tags": "array_append"}
    )
    assert _row(c)["tags"] == [3] and _row(c, 2)["tags"] == [5]
    # field_ops alone means merge mode: no vector needed, other fields kept.
    assert _row(c)["title"] == BASE["title"] and _row(c)["v"] == BASE["v"]


def test_array_append_past_max_capacity_fails_and_keeps_the_row(c: MilvusClient) -> None:
    before = _row(c)
    with pytest.raises(MilvusException, match="exceeds max capacity") as exc:
        c.upsert("c", [{"id": 1, "tags": [9] * 6}], field_ops={"tags": "array_append"})
    assert exc.value.code == 1100 and _row(c) == before


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "text"),
    [
        ([{"title": "x"}], {"partial_update": True}, MilvusException,
         "must assign pk when upsert, primary field: id"),
        ([{"id": 1, "title": "x"}, {"id": 2}], {"partial_update": True}, DataNotMatchException,
         "The data fields length is inconsistent"),
        ([{"id": 1, "tags": [1]}], {"field_ops": {"id": "array_append"}}, MilvusException,
         'field "id" is the primary key and cannot carry a partial-update op'),
        ([{"id": 1, "title": "x"}], {"field_ops": {"title": "array_append"}}, MilvusException,
         'op ARRAY_APPEND requires Array field, but field "title" is VarChar'),
        ([{"id": 1, "title": "x"}], {"field_ops": {"tags": "array_remove"}}, MilvusException,
         'partial-update op targets field "tags" not present in fields_data'),
        ([{"id": 1, "tags": 5}], {"field_ops": {"tags": "array_append"}}, DataNotMatchException,
         "tags} field should be a array"),
        ([{"id": None, "title": "x"}], {"partial_update": True}, MilvusException,
         "must assign pk when upsert"),
        ([{"id": 1, "nope": 5}], {"field_ops": {"nope": "array_append"}}, MilvusException,
         "field nope not exist"),
        ([{"id": 1, "tags": [1]}], {"field_ops": {"tags": "bogus"}}, ParamError,
         "unknown field_op alias 'bogus'"),
        (["not a dict"], {"partial_update": True}, DataNotMatchException,
         "The Input data type is inconsistent"),
    ],
)  # fmt: skip
def test_bad_requests_fail_alone_with_milvus_wording(c, data, kwargs, error, text) -> None:
    before = [_row(c), _row(c, 2)]
    with pytest.raises(error, match=text):
        c.upsert("c", data, **kwargs)
    assert [_row(c), _row(c, 2)] == before


def test_a_released_collection_cannot_merge(c: MilvusClient) -> None:
    c.release_collection("c")
    with pytest.raises(MilvusException, match="collection not loaded") as exc:
        c.upsert("c", [{"id": 1, "title": "x"}], partial_update=True)
    assert exc.value.code == 101
    c.load_collection("c")
    assert _row(c)["title"] == BASE["title"]


def test_merge_reads_only_the_target_partition(c: MilvusClient) -> None:
    c.create_partition("c", "p")
    with pytest.raises(MilvusException, match='missing required field "v"'):
        c.upsert("c", [{"id": 1, "title": "x"}], partition_name="p", partial_update=True)
    c.insert("c", [{**BASE, "id": 5}], partition_name="p")
    c.upsert("c", [{"id": 5, "title": "in p"}], partition_name="p", partial_update=True)
    assert c.get("c", [5], partition_names=["p"])[0]["title"] == "in p"


def test_auto_id_merge_gives_a_new_key_and_drops_the_old(client: MilvusClient) -> None:
    _collection(client, auto_id=True)
    old = client.query("c", "title == 'Hollow Man'", output_fields=["id"])[0]["id"]
    res = client.upsert("c", [{"id": old, "issue": "vol.20"}], partial_update=True)
    (new,) = res["ids"]
    assert new != old and client.get("c", [old]) == []
    row = dict(client.get("c", [new])[0])
    assert (row["title"], row["issue"], row["tags"]) == ("Hollow Man", "vol.20", [1, 2, 1])


def test_concurrent_appends_to_one_row_are_not_lost(c: MilvusClient) -> None:
    c.upsert("c", [{"id": 2, "tags": []}], partial_update=True)

    def append(value: int) -> None:
        for _ in range(4):
            c.upsert("c", [{"id": 2, "tags": [value]}], field_ops={"tags": "array_append"})

    threads = [threading.Thread(target=append, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(_row(c, 2)["tags"]) == [1] * 4 + [2] * 4


def test_merged_rows_survive_a_reopen(uri: str) -> None:
    client = MilvusClient(uri)
    _collection(client)
    client.upsert("c", [{"id": 1, "tags": [4]}], field_ops={"tags": "array_append"})
    client.upsert("c", [{"id": 2, "genre": "g"}], partial_update=True)
    client.close()
    again = MilvusClient(uri)
    try:
        assert dict(again.get("c", [1])[0])["tags"] == [1, 2, 1, 4]
        assert dict(again.get("c", [2])[0])["genre"] == "g"
    finally:
        again.close()


def test_async_client_merges(uri: str) -> None:
    async def run() -> dict:
        client = AsyncMilvusClient(uri)
        await client.upsert("c", [{"id": 1, "title": "async"}], partial_update=True)
        rows = await client.get("c", [1])
        await client.close()
        return dict(rows[0])

    sync = MilvusClient(uri)
    _collection(sync)
    row = asyncio.run(run())
    assert row["title"] == "async" and row["tags"] == [1, 2, 1]
    sync.close()
