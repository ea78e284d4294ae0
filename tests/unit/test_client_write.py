"""insert, upsert and delete through MilvusClient: results, validation, all-or-nothing, server
semantics for duplicate primary keys, auto_id, nullable/default, JSON, ARRAY and dynamic keys."""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus import DataType, MilvusException
from pymilvus.client.types import OmitZeroDict
from pymilvus.exceptions import (
    DataNotMatchException,
    DataTypeNotMatchException,
    DescribeCollectionException,
    ParamError,
)

from gpu_milvus import MilvusClient

V = [0.1, 0.2, 0.3, 0.4]


def _count(client: MilvusClient, name: str = "s", expr: str = "") -> int:
    return client.query(name, expr, output_fields=["count(*)"])[0]["count(*)"]


def _loaded_scalar(client: MilvusClient, h) -> None:
    client.create_collection("s", schema=h.scalar_schema(client), index_params=h.index(client))


def _good(i: int) -> dict:
    return {"id": i, "vector": V, "text": "abc", "i8": 1, "f": 0.5, "meta": {"k": i},
            "tags": [1, 2]}  # fmt: skip


# ---------------------------------------------------------------------------- insert
def test_insert_dict_list_and_result_shape(client: MilvusClient, h) -> None:
    h.quick(client, n=0)
    res = client.insert("c", {"id": 7, "vector": V})
    assert isinstance(res, OmitZeroDict)
    assert res == {"insert_count": 1, "ids": [7], "cost": 0}
    assert list(res) == ["insert_count", "ids", "cost"]
    assert str(res) == "{'insert_count': 1, 'ids': [7]}"
    assert repr(res) == "{'insert_count': 1, 'ids': [7], 'cost': 0}"
    res = client.insert("c", [{"id": 1, "vector": V}, {"id": 2, "vector": np.array(V)}])
    assert res["insert_count"] == 2 and list(res["ids"]) == [1, 2]
    assert client.insert("c", []) == {"insert_count": 0, "ids": []}
    assert _count(client, "c") == 3


@pytest.mark.parametrize("data", ["abc", 5, ({"id": 1, "vector": V},), None])
def test_insert_non_list_data_is_a_type_error(client: MilvusClient, h, data) -> None:
    h.quick(client, n=0)
    with pytest.raises(TypeError, match="wrong type of argument 'data'"):
        client.insert("c", data)
    with pytest.raises(TypeError, match="wrong type of argument 'data'"):
        client.upsert("c", data)


def test_insert_into_missing_collection(client: MilvusClient) -> None:
    with pytest.raises(DescribeCollectionException) as exc:
        client.insert("nope", {"id": 1, "vector": V})
    assert exc.value.code == 100
    assert "can't find collection[database=default][collection=nope]" in exc.value.message


def test_insert_non_dict_row(client: MilvusClient, h) -> None:
    h.quick(client, n=0)
    with pytest.raises(DataNotMatchException):
        client.insert("c", [{"id": 1, "vector": V}, [2, V]])
    assert _count(client, "c") == 0


def _mutate(field: str, value) -> dict:
    row = _good(99)
    row[field] = value
    return row


CLIENT_SIDE_ERRORS = [
    ("missing field", {k: v for k, v in _good(99).items() if k != "text"},
     "Insert missed an field `text` to collection without set nullable==true or set default_value"),
    ("unexpected field", {**_good(99), "zzz": 1},
     "Attempt to insert an unexpected field `zzz` to collection without enabling dynamic field"),
    ("str pk", _mutate("id", "x"),
     "The Input data type is inconsistent with defined schema, {id} field should be a int64"),
    ("int varchar", _mutate("text", 5), "{text} field should be a varchar"),
    ("str vector", _mutate("vector", "abcd"), "{vector} field should be a float_vector"),
    ("str int8", _mutate("i8", "1"), "{i8} field should be a int"),
    ("bool pk", _mutate("id", True), "{id} field should be a int64"),
    ("float pk", _mutate("id", 1.5), "{id} field should be a int64"),
    ("str array element", _mutate("tags", ["1"]),
     "{tags} field should be a array, but got a {<class 'list'>} instead"),
    ("str float", _mutate("f", "0.5"), "{f} field should be a float"),
]  # fmt: skip


@pytest.mark.parametrize(
    "case, row, message", CLIENT_SIDE_ERRORS, ids=[c[0] for c in CLIENT_SIDE_ERRORS]
)
def test_insert_client_side_errors_change_nothing(
    client: MilvusClient, h, case: str, row: dict, message: str
) -> None:
    _loaded_scalar(client, h)
    client.insert("s", [_good(1)])
    with pytest.raises(DataNotMatchException) as exc:
        client.insert("s", [_good(2), row])
    assert exc.value.code == 1
    assert message in exc.value.message
    assert _count(client) == 1
    assert client.get("s", ids=[2]) == []


SERVER_SIDE_ERRORS = [
    ("dim", _mutate("vector", [0.1, 0.2, 0.3]),
     "the dim (3) of field data(vector) is not equal to schema dim (4)"),
    ("varchar bytes", _mutate("text", "ééé"),
     "length of varchar field text exceeds max length, row number: 1, length: 6, max length: 5"),
    ("array capacity", _mutate("tags", [1, 2, 3, 4, 5]),
     "the length (5) of 1th array exceeds max capacity (3)"),
    ("int8 high", _mutate("i8", 128), "i8"),
    ("int8 low", _mutate("i8", -129), "i8"),
]  # fmt: skip


@pytest.mark.parametrize(
    "case, row, message", SERVER_SIDE_ERRORS, ids=[c[0] for c in SERVER_SIDE_ERRORS]
)
def test_insert_server_side_errors_change_nothing(
    client: MilvusClient, h, case: str, row: dict, message: str
) -> None:
    _loaded_scalar(client, h)
    client.insert("s", [_good(1)])
    with pytest.raises(MilvusException) as exc:
        client.insert("s", [_good(2), row])
    assert exc.value.code == 1100
    assert message in exc.value.message
    assert _count(client) == 1
    assert client.get("s", ids=[2]) == []


def test_insert_int8_type_error_wording(client: MilvusClient, h) -> None:
    _loaded_scalar(client, h)
    with pytest.raises(DataNotMatchException) as exc:
        client.insert("s", _mutate("i8", "1"))
    assert "{i8} field should be a int, but got a {<class 'str'>} instead" in exc.value.message


def test_insert_integer_numpy_vector_is_rejected(client: MilvusClient, h) -> None:
    h.quick(client, n=0)
    with pytest.raises(ParamError):
        client.insert("c", {"id": 1, "vector": np.array([1, 2, 3, 4])})


def test_insert_accepted_conversions(client: MilvusClient, h) -> None:
    _loaded_scalar(client, h)
    rows = [
        {**_good(1), "f": 3, "text": "ééa", "i8": -128, "tags": []},  # int for FLOAT; 5 bytes
        {**_good(2), "id": np.int64(2), "vector": np.array(V, dtype=np.float64), "i8": 127},
    ]
    assert client.insert("s", rows)["insert_count"] == 2
    got = {r["id"]: r for r in client.get("s", ids=[1, 2])}
    assert got[1]["f"] == 3.0 and got[1]["text"] == "ééa" and got[1]["tags"] == []
    assert got[1]["i8"] == -128 and got[2]["i8"] == 127
    assert got[2]["vector"] == [float(np.float32(x)) for x in V]
    client.insert("s", {**_good(3), "meta": '{"a": [1, 2]}'})  # a str is JSON text
    assert client.get("s", ids=3, output_fields=["meta"]) == [{"id": 3, "meta": {"a": [1, 2]}}]
    with pytest.raises(DataNotMatchException, match="Invalid JSON string"):
        client.insert("s", {**_good(4), "meta": "abc"})


def test_nullable_and_default_values(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("age", DataType.INT64, nullable=True)
    schema.add_field("score", DataType.DOUBLE, default_value=1.5)
    schema.add_field("tag", DataType.VARCHAR, max_length=8, nullable=True, default_value="dflt")
    schema.add_field("must", DataType.INT32)
    ip = client.prepare_index_params()
    ip.add_index("vector", metric_type="L2")
    client.create_collection("s", schema=schema, index_params=ip)
    client.insert("s", [
        {"id": 1, "vector": V, "must": 1},
        {"id": 2, "vector": V, "must": 2, "age": None, "score": None, "tag": None},
        {"id": 3, "vector": V, "must": 3, "age": 30, "score": 2.5, "tag": "x"},
    ])  # fmt: skip
    got = {r["id"]: r for r in client.query("s", "id > 0", output_fields=["age", "score", "tag"])}
    assert got[1] == {"id": 1, "age": None, "score": 1.5, "tag": "dflt"}
    assert got[2] == {"id": 2, "age": None, "score": 1.5, "tag": "dflt"}
    assert got[3] == {"id": 3, "age": 30, "score": 2.5, "tag": "x"}
    with pytest.raises(DataNotMatchException, match="Insert missed an field `must`"):
        client.insert("s", {"id": 4, "vector": V})
    with pytest.raises(MilvusException):
        client.insert("s", {"id": 4, "vector": V, "must": None})
    assert _count(client) == 3


def test_json_array_and_dynamic_round_trip(client: MilvusClient, h) -> None:
    schema = client.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("ints", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4)
    schema.add_field("strs", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4,
                     max_length=3)  # fmt: skip
    client.create_collection("s", schema=schema, index_params=h.index(client))
    meta = {"a": 1, "b": [1, 2, {"c": None}], "d": "é", "e": 1.5, "f": True}
    client.insert("s", [
        {"id": 1, "vector": V, "meta": meta, "ints": [1, -2], "strs": ["ab", ""], "color": "red",
         "nested": {"x": [1]}},
        {"id": 2, "vector": V, "meta": [1, "two"], "ints": [], "strs": ["abc"], "size": 3},
    ])  # fmt: skip
    rows = {r["id"]: r for r in client.query("s", "id > 0")}
    assert rows[1]["meta"] == meta and rows[2]["meta"] == [1, "two"]
    assert rows[1]["ints"] == [1, -2] and rows[1]["strs"] == ["ab", ""]
    assert rows[1]["color"] == "red" and rows[1]["nested"] == {"x": [1]}
    assert "size" not in rows[1] and rows[2]["size"] == 3
    assert "$meta" not in rows[1]
    assert list(rows[1]) == ["id", "vector", "meta", "ints", "strs", "color", "nested"]
    assert client.query("s", "id == 2", output_fields=["size", "color"]) == [{"id": 2, "size": 3}]
    with pytest.raises(MilvusException):  # VARCHAR element longer than max_length
        client.insert("s", {"id": 3, "vector": V, "meta": {}, "ints": [], "strs": ["abcd"]})
    with pytest.raises(DataNotMatchException):  # str element in an INT64 array
        client.insert("s", {"id": 3, "vector": V, "meta": {}, "ints": ["1"], "strs": []})
    assert _count(client) == 2


def test_auto_id_ids_are_unique_and_increasing(client: MilvusClient) -> None:
    client.create_collection("a", dimension=4, auto_id=True)
    first = list(client.insert("a", [{"vector": V} for _ in range(5)])["ids"])
    second = list(client.insert("a", [{"vector": V} for _ in range(3)])["ids"])
    ids = first + second
    assert all(type(i) is int for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 8
    assert min(second) > max(first)
    assert sorted(r["id"] for r in client.query("a", "", limit=100)) == ids
    with pytest.raises(MilvusException, match="can not assign primary field data"):
        client.insert("a", {"id": 5, "vector": V})
    assert _count(client, "a") == 8


def test_duplicate_primary_keys_follow_the_server(client: MilvusClient, h) -> None:
    h.quick(client, n=5)
    client.insert("c", {"id": 1, "vector": [1.0, 0.0, 0.0, 0.0], "color": "new"})
    client.insert("c", [{"id": 9, "vector": V, "v": 1}, {"id": 9, "vector": V, "v": 2}])
    assert _count(client, "c") == 8
    assert client.get_collection_stats("c") == {"row_count": 8}
    assert _count(client, "c", "id == 1") == 2
    rows = client.query("c", "id in [1, 9]", output_fields=["color", "v"])
    assert rows == [{"id": 1, "color": "new"}, {"id": 9, "v": 2}]
    assert client.get("c", ids=1, output_fields=["color"]) == [{"id": 1, "color": "new"}]
    hits = client.search("c", [[1.0, 0.0, 0.0, 0.0]], limit=10, output_fields=["color"])[0]
    assert [hit.id for hit in hits].count(1) == 1
    assert hits[0].id == 1 and hits[0]["color"] == "new"
    assert hits[0].distance == pytest.approx(1.0, abs=1e-6)
    assert len(client.query("c", "", limit=100)) == 6


# ---------------------------------------------------------------------------- upsert
def test_upsert_replaces_the_whole_row(client: MilvusClient, h) -> None:
    h.quick(client, n=3)
    res = client.upsert("c", [{"id": 1, "vector": [0.0, 1.0, 0.0, 0.0]}, {"id": 50, "vector": V}])
    assert res == {"upsert_count": 2, "cost": 0, "ids": [1, 50]}
    assert list(res) == ["upsert_count", "cost", "ids"]
    assert str(res) == "{'upsert_count': 2, 'ids': [1, 50]}"
    assert client.get("c", ids=[1]) == [{"id": 1, "vector": [0.0, 1.0, 0.0, 0.0]}]
    assert _count(client, "c") == 4
    assert client.upsert("c", []) == {"upsert_count": 0, "ids": []}


def test_upsert_removes_every_duplicate_copy(client: MilvusClient, h) -> None:
    h.quick(client, n=2)
    client.insert("c", {"id": 1, "vector": V})
    assert _count(client, "c") == 3
    client.upsert("c", {"id": 1, "vector": V, "tag": "u"})
    assert _count(client, "c") == 2
    assert client.query("c", "id == 1", output_fields=["tag", "color"]) == [{"id": 1, "tag": "u"}]


def test_failed_upsert_keeps_the_old_row(client: MilvusClient, h) -> None:
    vecs = h.quick(client, n=2)
    with pytest.raises(MilvusException):
        client.upsert("c", [{"id": 0, "vector": V}, {"id": 1, "vector": [0.1, 0.2]}])
    assert client.get("c", ids=[0], output_fields=["vector"])[0]["vector"] == vecs[0].tolist()
    assert _count(client, "c") == 2


def test_upsert_on_auto_id_generates_a_new_id(client: MilvusClient) -> None:
    client.create_collection("a", dimension=4, auto_id=True)
    (old,) = client.insert("a", {"vector": V, "tag": "old"})["ids"]
    res = client.upsert("a", {"id": old, "vector": V, "tag": "new"})
    (new,) = res["ids"]
    assert res["upsert_count"] == 1 and new != old
    assert client.get("a", ids=[old]) == []
    assert client.query("a", "", limit=10, output_fields=["tag"]) == [{"id": new, "tag": "new"}]
    with pytest.raises(MilvusException, match="must assign pk when upsert"):
        client.upsert("a", {"vector": V})
    assert _count(client, "a") == 1


# ---------------------------------------------------------------------------- delete
def test_delete_by_ids_counts_ids_passed(client: MilvusClient, h) -> None:
    h.quick(client, n=10)
    res = client.delete("c", ids=[1, 2, 999])
    assert res == {"delete_count": 3, "cost": 0}
    assert str(res) == "{'delete_count': 3}"
    assert client.delete("c", ids=3) == {"delete_count": 1, "cost": 0}
    assert client.delete("c", ids=[1]) == {"delete_count": 1, "cost": 0}  # already gone
    assert _count(client, "c") == 7
    assert client.get("c", ids=[1, 2, 3]) == []


def test_delete_by_filter_counts_matched_rows(client: MilvusClient, h) -> None:
    h.quick(client, n=10)
    assert client.delete("c", filter="id >= 7")["delete_count"] == 3
    assert client.delete("c", filter="id >= 7")["delete_count"] == 0
    assert client.delete("c", filter='color == "red"')["delete_count"] == 3  # 0, 3, 6
    assert client.delete("c", filter="id in [1, 2, 99]")["delete_count"] == 3  # pk expression
    assert client.delete("c", filter="n > {x}", filter_params={"x": 4})["delete_count"] == 1
    left = sorted(r["id"] for r in client.query("c", "id >= 0", output_fields=["id"]))
    assert left == [4]


def test_deleted_rows_never_come_back(client: MilvusClient, h) -> None:
    vecs = h.quick(client, n=20)
    client.delete("c", ids=list(range(0, 20, 2)))
    hits = client.search("c", vecs[:4].tolist(), limit=20)
    for per_query in hits:
        assert {hit.id for hit in per_query} == set(range(1, 20, 2))
    assert client.get("c", ids=list(range(20))) == client.get("c", ids=list(range(1, 20, 2)))
    assert all(r["id"] % 2 for r in client.query("c", "id >= 0"))
    assert client.query("c", "id == 0") == []


def test_delete_argument_errors(client: MilvusClient, h) -> None:
    h.quick(client, n=5)
    with pytest.raises(ParamError, match="Ambiguous filter parameter"):
        client.delete("c", ids=[1], filter="id > 0")
    with pytest.raises(DataTypeNotMatchException, match="The type of expr must be string"):
        client.delete("c")
    with pytest.raises(TypeError):
        client.delete("c", ids=[1.5])
    with pytest.raises(DescribeCollectionException):
        client.delete("nope", ids=[1])
    assert _count(client, "c") == 5


def test_delete_empty_filter_is_rejected(client: MilvusClient, h) -> None:
    h.quick(client, n=5)
    try:
        with pytest.raises(ParamError):
            client.delete("c", filter="")
    finally:
        assert _count(client, "c") == 5


def test_delete_empty_id_list_is_rejected(client: MilvusClient, h) -> None:
    h.quick(client, n=5)
    with pytest.raises(DataTypeNotMatchException):
        client.delete("c", ids=[])


def test_delete_in_a_partition_and_string_ids(client: MilvusClient, h) -> None:
    h.quick(client, n=4)
    client.create_partition("c", "p")
    client.insert("c", h.rows(h.vectors(4, seed=3), start=10), partition_name="p")
    client.delete("c", filter="id >= 0", partition_name="p")
    assert sorted(r["id"] for r in client.query("c", "id >= 0")) == [0, 1, 2, 3]
    client.create_collection("s", dimension=4, id_type="string", max_length=8)
    client.insert("s", [{"id": k, "vector": V} for k in ("a", "b", "c")])
    assert client.delete("s", ids=["a", "zz"]) == {"delete_count": 2, "cost": 0}
    assert sorted(r["id"] for r in client.get("s", ids=["a", "b", "c"])) == ["b", "c"]


def test_varchar_auto_id_and_nullable_search_output(client: MilvusClient) -> None:
    client.create_collection("v", dimension=4, id_type="string", max_length=32, auto_id=True)
    ids = list(client.insert("v", [{"vector": V}, {"vector": V, "n": None}])["ids"])
    assert all(isinstance(i, str) for i in ids) and len(set(ids)) == 2
    assert sorted(r["id"] for r in client.query("v", "", limit=5)) == sorted(ids)
    hits = client.search("v", [V], output_fields=["n"])[0]
    assert {hit.id for hit in hits} == set(ids)
    assert {hit.id: hit["entity"] for hit in hits} == {ids[0]: {}, ids[1]: {"n": None}}


def test_a_long_string_in_a_varchar_array_is_refused_with_its_row_and_index(
    client: MilvusClient,
) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4,
                max_length=3)  # fmt: skip
    client.create_collection("a", schema=s)
    rows = [{"id": 1, "v": [0, 0], "tags": ["ab"]}, {"id": 2, "v": [0, 0], "tags": ["x", "éé"]}]
    with pytest.raises(MilvusException) as exc:
        client.insert("a", rows)
    assert exc.value.code == 1100
    assert exc.value.message == (
        'length of Array array field "tags" exceeds max length, row number: 1, array index: 1, '
        "length: 4, max length: 3: invalid parameter"
    )
