"""add_collection_field: a nullable scalar field added to a live collection (Milvus 2.6).

Rows stored before it hold the field's default value, or null; new rows may set it; filters
and output see it; it survives every way the store reopens (sealed segments written before
the field existed, and a log replayed after a crash). Wording from Milvus's client test
suite (test_milvus_client_collection.py, TestMilvusClientAddFieldFeatureInvalid).
"""

from __future__ import annotations

import pytest
from pymilvus import DataType, MilvusException
from pymilvus.exceptions import ParamError, PrimaryKeyException

from gpu_milvus import MilvusClient


def _make(client: MilvusClient) -> None:
    client.create_collection("a", dimension=2)
    client.insert("a", [{"id": i, "vector": [1.0, float(i)], "x": 10 + i} for i in range(3)])


def _xd(client: MilvusClient) -> list[tuple]:
    rows = client.query("a", "id >= 0", output_fields=["x", "d"])
    return sorted((r["id"], r["x"], r["d"]) for r in rows)


def test_old_rows_hold_null_or_default_and_new_rows_set_it(client: MilvusClient) -> None:
    _make(client)
    client.add_collection_field("a", "x", DataType.INT64, nullable=True)
    client.add_collection_field("a", "d", DataType.INT32, nullable=True, default_value=7)
    # The new static field shadows the dynamic key of the same name in the old rows.
    assert _xd(client) == [(0, None, 7), (1, None, 7), (2, None, 7)]
    client.insert("a", [{"id": 5, "vector": [0.0, 1.0], "x": 50, "d": 1}])
    assert client.query("a", "x > 1 or d == 1", output_fields=["x"])[0]["x"] == 50
    assert [r["id"] for r in client.query("a", "x is null", output_fields=["id"])] == [0, 1, 2]
    fields = client.describe_collection("a")["fields"]
    assert [(f["name"], f["field_id"]) for f in fields][-2:] == [("x", 102), ("d", 103)]
    assert fields[-1]["nullable"] is True
    hits = client.search("a", [[1.0, 2.0]], limit=1, output_fields=["d"])[0]
    assert hits[0]["id"] == 2 and hits[0]["entity"]["d"] == 7


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"field_name": "x", "data_type": DataType.INT64}, MilvusException,
         "added field must be nullable, please check it, field name = x: invalid parameter"),
        ({"field_name": "id", "data_type": DataType.INT64, "nullable": True}, MilvusException,
         "duplicated field name id: invalid parameter"),
        ({"field_name": "p", "data_type": DataType.INT64, "nullable": True,
          "is_partition_key": True}, MilvusException,
         "not support to add partition key field, field name  = p: invalid parameter"),
        ({"field_name": "q", "data_type": DataType.INT64, "nullable": True, "auto_id": True},
         PrimaryKeyException, "The auto_id can only be specified on the primary key field"),
        ({"field_name": "s", "data_type": DataType.VARCHAR, "nullable": True, "max_length": 65536},
         MilvusException, "should be in (0, 65535], but got 65536 instead"),
        ({"field_name": "v", "data_type": DataType.FLOAT_VECTOR, "dim": 2}, ParamError,
         "Adding vector field to existing collection requires nullable=True"),
    ],
)  # fmt: skip
def test_bad_fields_are_refused_and_change_nothing(client, kwargs, error, text) -> None:
    _make(client)
    before = client.describe_collection("a")
    with pytest.raises(error) as exc:
        client.add_collection_field("a", **kwargs)
    assert text in str(exc.value)
    assert client.describe_collection("a") == before


def test_field_limit(client: MilvusClient) -> None:
    _make(client)
    for i in range(62):
        client.add_collection_field("a", f"f{i}", DataType.BOOL, nullable=True)
    with pytest.raises(MilvusException, match="The number of fields has reached the maximum"):
        client.add_collection_field("a", "one_more", DataType.BOOL, nullable=True)


def test_segments_sealed_before_the_field_reopen(uri: str) -> None:
    client = MilvusClient(uri)
    _make(client)
    client.flush("a")  # rows 0-2 sealed without the field
    client.add_collection_field("a", "d", DataType.INT32, nullable=True, default_value=7)
    client.add_collection_field("a", "x", DataType.INT64, nullable=True)
    client.insert("a", [{"id": 5, "vector": [0.0, 1.0], "x": 50}])
    client.close()
    again = MilvusClient(uri)
    try:
        assert _xd(again) == [(0, None, 7), (1, None, 7), (2, None, 7), (5, 50, 7)]
    finally:
        again.close()


def test_a_crash_after_the_field_was_added_replays_it(uri: str, h) -> None:
    client = MilvusClient(uri)
    _make(client)
    client.close()  # a checkpoint: the manifest has the old schema
    h.exit_without_closing(
        uri,
        "c.add_collection_field('a', 'd', DataType.INT32, nullable=True, default_value=7)",
        "c.add_collection_field('a', 'x', DataType.INT64, nullable=True)",
        "c.insert('a', [{'id': 5, 'vector': [0.0, 1.0], 'x': 50, 'd': 1}])",
    )
    again = MilvusClient(uri)
    try:
        assert _xd(again) == [(0, None, 7), (1, None, 7), (2, None, 7), (5, 50, 1)]
    finally:
        again.close()
