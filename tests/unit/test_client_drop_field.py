"""drop_collection_field, with the rules of Milvus 3.0's "Alter Collection Schema" guide: a
dropped field leaves describe_collection, outputs and filters, and its indexes go with it;
the primary key, partition and clustering keys, a function's input or output and the last
vector field cannot be dropped. A field added again under the same name starts empty, also
after the store is reopened (its old values must not come back from old segments)."""

from __future__ import annotations

from typing import Any

import pytest
from pymilvus import DataType, Function, FunctionType
from pymilvus.exceptions import MilvusException

from gpu_milvus import MilvusClient


def _create(client: MilvusClient) -> None:
    s = client.create_schema(enable_dynamic_field=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("w", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("tag", DataType.VARCHAR, max_length=16)
    s.add_field("part", DataType.INT64, is_partition_key=True)
    s.add_field("text", DataType.VARCHAR, max_length=64, enable_analyzer=True)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                            input_field_names=["text"], output_field_names=["sparse"]))  # fmt: skip
    ip = client.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    ip.add_index("w", metric_type="L2")
    ip.add_index("tag", index_type="INVERTED")
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("c", schema=s, index_params=ip)
    rows = [{"id": i, "v": [i, 0], "w": [0, i], "tag": f"t{i}", "part": i, "text": "a b"}
            for i in range(10)]  # fmt: skip
    client.insert("c", rows)


def _fields(client: MilvusClient) -> list[str]:
    return [f["name"] for f in client.describe_collection("c")["fields"]]


def test_a_dropped_field_leaves_schema_outputs_filters_and_indexes(client: MilvusClient) -> None:
    _create(client)
    client.drop_collection_field("c", "tag")
    assert "tag" not in _fields(client) and "tag" not in client.list_indexes("c")
    assert "tag" not in client.get("c", ids=[1])[0]
    with pytest.raises(MilvusException, match="tag"):
        client.query("c", 'tag == "t1"')
    with pytest.raises(MilvusException, match="field tag not exist"):
        client.get("c", ids=[1], output_fields=["tag"])
    w_id = next(
        f["field_id"] for f in client.describe_collection("c")["fields"] if f["name"] == "w"
    )
    client.drop_collection_field("c", field_id=w_id)  # by id; v still holds vectors
    assert "w" not in _fields(client) and client.list_indexes("c") == ["v", "sparse"]
    with pytest.raises(MilvusException, match="w"):
        client.search("c", [[0.0, 1.0]], anns_field="w")
    assert [h["id"] for h in client.search("c", [[3.2, 0.0]], anns_field="v", limit=2)[0]] == [3, 4]


@pytest.mark.parametrize(
    ("field", "match"),
    [
        ("id", "can not drop the primary key field id"),
        ("part", "can not drop the partition key field part"),
        ("text", "input or output of function bm25"),
        ("sparse", "input or output of function bm25"),
        ("nope", "field nope not exist"),
    ],
)
def test_fields_that_cannot_be_dropped(client: MilvusClient, field: str, match: str) -> None:
    _create(client)
    with pytest.raises(MilvusException, match=match):
        client.drop_collection_field("c", field)
    assert field not in ("id", "part", "text", "sparse") or field in _fields(client)


def test_the_last_vector_field_stays(client: MilvusClient) -> None:
    client.create_collection("q", dimension=2)
    with pytest.raises(MilvusException, match="can not drop the last vector field vector"):
        client.drop_collection_field("q", "vector")


def _readd(client: MilvusClient) -> None:
    client.drop_collection_field("c", "tag")
    client.add_collection_field("c", "tag", DataType.INT64, nullable=True)
    row = {"id": 50, "v": [0, 0], "w": [0, 0], "tag": 7, "part": 0, "text": "c"}
    client.insert("c", [row])


def _check_readded(client: MilvusClient) -> None:
    got = client.query("c", "id in [1, 50]", output_fields=["tag"])
    assert got == [{"id": 1, "tag": None}, {"id": 50, "tag": 7}]
    assert client.query("c", "tag == 7", output_fields=["id"]) == [{"id": 50}]


def test_a_field_added_again_starts_empty_after_reopening(uri: str, h: Any) -> None:
    client = MilvusClient(uri)
    _create(client)
    client.flush("c")  # the old tag values are in a sealed segment
    _readd(client)
    _check_readded(client)
    client.close()  # a checkpoint with the new tag field ...
    client = MilvusClient(uri)  # ... must not read the old one's segment column as its own
    _check_readded(client)
    client.close()


def test_a_field_dropped_and_added_in_the_log_only(uri: str, h: Any) -> None:
    client = MilvusClient(uri)
    _create(client)
    client.close()
    h.exit_without_closing(
        uri,
        'c.drop_collection_field("c", "tag")',
        'c.add_collection_field("c", "tag", DataType.INT64, nullable=True)',
        'c.insert("c", [{"id": 50, "v": [0, 0], "w": [0, 0], "tag": 7, "part": 0, "text": "c"}])',
    )
    client = MilvusClient(uri)
    _check_readded(client)
    client.close()
    client = MilvusClient(uri)
    _check_readded(client)
    client.close()
