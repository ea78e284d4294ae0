"""MilvusClient.query and get: output fields, count(*), limit/offset windows, ids, printing."""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus import MilvusException
from pymilvus.client.types import HybridExtraList
from pymilvus.exceptions import DataTypeNotMatchException, DescribeCollectionException, ParamError

from gpu_milvus import MilvusClient


def _ids(rows) -> list:
    return [r["id"] for r in rows]


# ---------------------------------------------------------------------------- output fields
def test_default_output_is_every_field_with_vectors_and_dynamic_keys(client: MilvusClient, h):
    vecs = h.quick(client, n=5)
    rows = client.query("c", "id < 2")
    assert isinstance(rows, HybridExtraList)
    assert rows == [
        {"id": 0, "vector": vecs[0].tolist(), "color": "red", "n": 0},
        {"id": 1, "vector": vecs[1].tolist(), "color": "green", "n": 1},
    ]
    assert list(rows[0]) == ["id", "vector", "color", "n"]
    assert all(type(x) is float for x in rows[0]["vector"])
    assert client.query("c", "id < 2", output_fields=["*"]) == rows
    assert client.query("c", "id < 2", output_fields=[]) == rows


def test_explicit_output_fields(client: MilvusClient, h) -> None:
    h.quick(client, n=5)
    assert client.query("c", "id == 3", output_fields=["color"]) == [{"id": 3, "color": "red"}]
    assert client.query("c", "id == 3", output_fields=["n", "missing_key"]) == [{"id": 3, "n": 3}]
    assert client.query("c", "id == 3", output_fields=["$meta"]) == [
        {"id": 3, "color": "red", "n": 3}
    ]
    vec = client.query("c", "id == 3", output_fields=["vector"])[0]
    assert list(vec) == ["id", "vector"] and len(vec["vector"]) == 4


def test_unknown_field_without_dynamic(client: MilvusClient, h) -> None:
    client.create_collection("s", schema=h.scalar_schema(client), index_params=h.index(client))
    with pytest.raises(MilvusException, match="field zzz not exist"):
        client.query("s", "id > 0", output_fields=["zzz"])


def test_filters_on_scalars_json_arrays_and_dynamic_keys(client: MilvusClient, h) -> None:
    client.create_collection("s", schema=h.scalar_schema(client, dynamic=True),
                             index_params=h.index(client))  # fmt: skip
    client.insert("s", [
        {"id": i, "vector": [0.1] * 4, "text": f"t{i}", "i8": i - 5, "f": i / 2,
         "meta": {"k": i, "tag": "even" if i % 2 == 0 else "odd"}, "tags": [i, i + 1],
         "dyn": i * 10}
        for i in range(10)
    ])  # fmt: skip
    cases = {
        "i8 < 0": [0, 1, 2, 3, 4],
        'text like "t1%"': [1],
        "f >= 3.5": [7, 8, 9],
        'meta["tag"] == "even" and meta["k"] > 4': [6, 8],
        "array_contains(tags, 3)": [2, 3],
        "dyn in [10, 90]": [1, 9],
        "id in {ids} or f == {f}": [0, 2, 4],
    }
    for expr, expected in cases.items():
        params = {"ids": [0, 2], "f": 2.0} if "{" in expr else None
        rows = client.query("s", expr, output_fields=["id"], filter_params=params)
        assert sorted(_ids(rows)) == expected, expr
    with pytest.raises(MilvusException) as exc:
        client.query("s", "id >")
    assert exc.value.code == 1100
    with pytest.raises(DataTypeNotMatchException, match="The type of expr must be string"):
        client.query("s", 5)


# ---------------------------------------------------------------------------- count(*)
def test_count(client: MilvusClient, h) -> None:
    h.quick(client, n=12)
    res = client.query("c", output_fields=["count(*)"])
    assert res == [{"count(*)": 12}]
    assert str(res) == "data: [\"{'count(*)': 12}\"], extra_info: {}"
    assert client.query("c", 'color == "red"', output_fields=["count(*)"]) == [{"count(*)": 4}]
    assert client.query("c", "id > 100", output_fields=["count(*)"]) == [{"count(*)": 0}]
    with pytest.raises(MilvusException, match="count entities with pagination is not allowed"):
        client.query("c", output_fields=["count(*)"], limit=5)
    client.delete("c", ids=[0, 1])
    assert client.query("c", output_fields=["count(*)"]) == [{"count(*)": 10}]


# ---------------------------------------------------------------------------- limit / offset
def test_empty_filter_needs_limit(client: MilvusClient, h) -> None:
    h.quick(client, n=6)
    with pytest.raises(MilvusException, match="empty expression should be used with limit"):
        client.query("c")
    with pytest.raises(MilvusException, match="empty expression should be used with limit"):
        client.query("c", "", offset=2)
    assert len(client.query("c", limit=4)) == 4
    assert len(client.query("c", "id >= 0")) == 6


def test_limit_offset_window(client: MilvusClient, h) -> None:
    h.quick(client, n=20)
    full = _ids(client.query("c", "id >= 0", output_fields=["id"]))
    assert sorted(full) == list(range(20))
    assert _ids(client.query("c", "id >= 0", limit=5, offset=3, output_fields=["id"])) == full[3:8]
    assert _ids(client.query("c", "", limit=5, offset=3, output_fields=["id"])) == full[3:8]
    assert _ids(client.query("c", "id >= 0", offset=3, output_fields=["id"])) == full  # no limit
    assert client.query("c", "id >= 0", limit=5, offset=40) == []
    assert len(client.query("c", "", limit=16384)) == 20
    assert len(client.query("c", "", limit=16000, offset=384)) == 0
    for kw in ({"limit": 16385}, {"limit": 16000, "offset": 385}):
        with pytest.raises(MilvusException) as exc:
            client.query("c", "", **kw)
        assert (
            "invalid max query result window, (offset+limit) should be in range [1, 16384], "
            "but got 16385" in exc.value.message
        )


# ---------------------------------------------------------------------------- ids
def test_query_by_ids(client: MilvusClient, h) -> None:
    h.quick(client, n=8)
    assert sorted(_ids(client.query("c", ids=[5, 1, 99]))) == [1, 5]
    assert _ids(client.query("c", ids=3)) == [3]
    with pytest.raises(ParamError, match="Ambiguous parameter, either ids or filter"):
        client.query("c", "id > 0", ids=[1])
    with pytest.raises(DescribeCollectionException) as exc:
        client.query("nope", ids=[1])
    assert exc.value.code == 100
    with pytest.raises(MilvusException) as exc:
        client.query("nope", "id > 0")
    assert exc.value.code == 100


def test_string_pk_query_and_get(client: MilvusClient) -> None:
    client.create_collection("s", dimension=2, id_type="string", max_length=10)
    client.insert("s", [{"id": k, "vector": [1.0, 0.5]} for k in ("a", "b", "cé")])
    assert sorted(_ids(client.query("s", 'id in ["a", "cé"]'))) == ["a", "cé"]
    assert _ids(client.get("s", ids="b")) == ["b"]
    assert sorted(_ids(client.query("s", ids=["a", "zz"]))) == ["a"]


# ---------------------------------------------------------------------------- printing
def test_query_result_printing(client: MilvusClient, h) -> None:
    h.quick(client, n=12)
    res = client.query("c", "id in [1, 2]", output_fields=["color"])
    assert str(res) == (
        "data: [\"{'id': 1, 'color': 'green'}\", \"{'id': 2, 'color': 'blue'}\"], extra_info: {}"
    )
    assert repr(res) == str(res)
    empty = client.query("c", "id > 100")
    assert empty == [] and str(empty) == "data: [], extra_info: {}"
    many = client.query("c", "id >= 0", output_fields=["id"])
    assert str(many).endswith("\"{'id': 9}\"] ..., extra_info: {}")
    assert str(many).count("{'id'") == 10


# ---------------------------------------------------------------------------- get
def test_get(client: MilvusClient, h) -> None:
    vecs = h.quick(client, n=6)
    assert client.get("c", ids=2) == [
        {"id": 2, "vector": vecs[2].tolist(), "color": "blue", "n": 2}
    ]
    got = client.get("c", ids=[4, 1, 1, 77], output_fields=["n"])
    assert isinstance(got, HybridExtraList)
    assert sorted(_ids(got)) == [1, 4]
    assert sorted(got, key=lambda r: r["id"]) == [{"id": 1, "n": 1}, {"id": 4, "n": 4}]
    assert client.get("c", ids=[]) == []
    assert client.get("c", ids=np.array([3])) == client.get("c", ids=[3])
    with pytest.raises(TypeError):
        client.get("c", ids=[1.5])
    with pytest.raises(DescribeCollectionException):
        client.get("nope", ids=[1])
    assert str(client.get("c", ids=[99])) == "data: [], extra_info: {}"
