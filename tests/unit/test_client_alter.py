"""alter_collection_field and the collection properties with an effect (dynamicfield.enabled,
allow_insert_auto_id), as Milvus's client tests use them (test_milvus_client_alter.py:
TestMilvusClientAlterCollectionField, the dynamic-field and allow_insert_auto_id cases)."""

from __future__ import annotations

import pytest
from pymilvus import DataType, MilvusException

from gpu_milvus import MilvusClient


def _create(client: MilvusClient, *, auto_id: bool = False, dynamic: bool = False) -> None:
    s = client.create_schema(enable_dynamic_field=dynamic)
    if auto_id:
        s.add_field("id", DataType.INT64, is_primary=True, auto_id=True)
    else:
        s.add_field("id", DataType.VARCHAR, max_length=16, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("title", DataType.VARCHAR, max_length=16)
    s.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=10,
                max_length=16)  # fmt: skip
    s.add_field("n", DataType.INT64, nullable=True)
    ip = client.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    client.create_collection("c", schema=s, index_params=ip)


def _fails(fn, *args, text: str) -> None:
    with pytest.raises(MilvusException) as exc:
        fn(*args)
    assert text in exc.value.message, exc.value


def test_alter_field_lengths_capacity_mmap_and_description(client: MilvusClient) -> None:
    _create(client)
    client.insert("c", [{"id": "a" * 16, "v": [0.0, 0.0], "title": "t" * 16, "tags": ["x" * 16]}])
    alter = client.alter_collection_field
    _fails(alter, "c", "title", {"max_length": 8, "mmap.enabled": False},
           text="can not alter collection field properties if collection loaded")  # fmt: skip
    alter("c", "id", {"max_length": 8})  # max_length alone is allowed while loaded
    client.release_collection("c")
    alter("c", "title", {"max_length": 8, "mmap.enabled": False})
    alter("c", "tags", {"max_length": 8})
    alter("c", "tags", {"max_capacity": 20})
    alter("c", "v", {"field.description": "the embedding"})
    _fails(
        alter, "c", "v", {"max_length": 8}, text="can not modify the maxlength for non-string types"
    )
    _fails(alter, "c", "tags", {"element_type": DataType.INT64},
           text="element_type does not allow update in collection field param")  # fmt: skip
    _fails(alter, "c", "n", {"nullable": False},
           text="nullable does not allow update in collection field param")  # fmt: skip
    fields = {f["name"]: f for f in client.describe_collection("c")["fields"]}
    assert fields["title"]["params"] == {"max_length": 8, "mmap.enabled": "False"}
    assert fields["tags"]["params"] == {"max_length": 8, "max_capacity": 20}
    assert (
        fields["v"]["description"] == "the embedding" and fields["id"]["params"]["max_length"] == 8
    )
    client.load_collection("c")
    for row in ({"id": "k" * 9}, {"title": "t" * 9}, {"tags": ["x" * 9]}):
        full = {"id": "k", "v": [0.0, 1.0], "title": "t", "tags": [], **row}
        _fails(client.insert, "c", [full], text="exceeds max length")
    ok = {"id": "k" * 8, "v": [0.0, 1.0], "title": "t" * 8, "tags": ["x" * 8] * 20}
    assert client.insert("c", [ok])["insert_count"] == 1
    assert (
        client.query("c", "id == 'aaaaaaaaaaaaaaaa'", output_fields=["title"])[0]["title"]
        == "t" * 16
    )


def test_the_dynamic_field_can_be_turned_on(uri: str) -> None:
    client = MilvusClient(uri)
    _create(client)
    client.insert("c", [{"id": "old", "v": [0.0, 0.0], "title": "t", "tags": []}])
    client.flush("c")  # the old row sealed without a $meta column
    client.alter_collection_properties("c", {"dynamicfield.enabled": False})  # a no-op
    _fails(client.insert, "c", [{"id": "x", "v": [0, 0], "title": "t", "tags": [], "extra": 1}],
           text="unexpected field `extra`")  # fmt: skip
    client.alter_collection_properties("c", {"dynamicfield.enabled": True})
    assert client.describe_collection("c")["enable_dynamic_field"] is True
    client.insert("c", [{"id": "new", "v": [1.0, 0.0], "title": "t", "tags": [], "extra": 7}])
    _fails(client.alter_collection_properties, "c", {"dynamicfield.enabled": False},
           text="cannot be disabled")  # fmt: skip
    client.close()
    again = MilvusClient(uri)
    try:
        rows = {r["id"]: r for r in again.query("c", "id != ''", output_fields=["*"])}
        assert rows["new"]["extra"] == 7 and "extra" not in rows["old"]
        assert [r["id"] for r in again.query("c", "extra == 7")] == ["new"]
    finally:
        again.close()


def test_allow_insert_auto_id_lets_inserts_bring_keys(client: MilvusClient) -> None:
    _create(client, auto_id=True)
    row = {"v": [0.0, 0.0], "title": "t", "tags": []}
    _fails(client.insert, "c", [{**row, "id": 5}], text="can not assign primary field data")
    client.alter_collection_properties("c", {"allow_insert_auto_id": True})
    ids = client.insert("c", [{**row, "id": 5}, row])["ids"]
    assert ids[0] == 5 and ids[1] != 5
    assert client.describe_collection("c")["properties"]["allow_insert_auto_id"] == "True"
    client.alter_collection_properties("c", {"allow_insert_auto_id": False})
    _fails(client.insert, "c", [{**row, "id": 6}], text="can not assign primary field data")
    assert [r["id"] for r in client.query("c", "id == 5")] == [5]
