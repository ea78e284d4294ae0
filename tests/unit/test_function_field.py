"""add_function_field and drop_function_field (Milvus 3.0's Alter Collection Schema guide).

A BM25 function added to a collection that already holds texts must score exactly as one
declared in the schema from the start: the reference is a second collection created with
the function, given the same rows (also after reopening, from segments and from the log).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pymilvus import DataType, Function, FunctionType
from pymilvus.exceptions import MilvusException, ParamError

from gpu_milvus import MilvusClient

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
QUERIES = ["alpha", "beta gamma", "kappa kappa zeta", "nothing"]


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 9)))) for _ in range(n)]


def _bm25(output: str = "sp", name: str = "bm") -> Function:
    return Function(name=name, function_type=FunctionType.BM25,
                    input_field_names=["text"], output_field_names=[output])  # fmt: skip


def _bm25_index(client: MilvusClient, field: str = "sp", **kw: Any) -> Any:
    ip = client.prepare_index_params()
    ip.add_index(field, **{"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25", **kw})
    return ip


def _create(client: MilvusClient, name: str, with_function: bool) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    ip = client.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    if with_function:
        s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(_bm25())
        ip.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=s, index_params=ip)


def _rows(texts: list[str], start: int = 0) -> list[dict[str, Any]]:
    return [{"id": start + i, "v": [0.0, 0.0], "text": t} for i, t in enumerate(texts)]


def _ranked(client: MilvusClient, name: str) -> list[list[tuple[int, float]]]:
    res = client.search(name, QUERIES, anns_field="sp", limit=50)
    return [[(h["id"], round(h["distance"], 5)) for h in hits] for hits in res]


def _add(client: MilvusClient, name: str = "late") -> None:
    field = client.create_field_schema("sp", DataType.SPARSE_FLOAT_VECTOR)
    client.add_function_field(name, field, _bm25(), _bm25_index(client))


def test_an_added_function_scores_like_a_declared_one(uri: str, h: Any) -> None:
    client = MilvusClient(uri)
    first, second = _texts(40, 1), _texts(30, 2)
    _create(client, "late", with_function=False)
    _create(client, "early", with_function=True)
    for name in ("late", "early"):
        client.insert(name, _rows(first))
    client.flush("late")  # the first texts in a sealed segment, then some in the log only
    client.insert("late", _rows(first[:5], 100))
    client.delete("late", ids=[100, 101, 102, 103, 104])
    _add(client)
    for name in ("late", "early"):
        client.insert(name, _rows(second, 40))
    want = _ranked(client, "early")
    assert want[0] and _ranked(client, "late") == want
    client.close()
    client = MilvusClient(uri)
    assert _ranked(client, "late") == want
    client.close()
    h.exit_without_closing(  # an addition only in the log, over rows in segments
        uri,
        "from pymilvus import Function, FunctionType",
        'f = c.create_field_schema("sp2", DataType.SPARSE_FLOAT_VECTOR)',
        'fn = Function(name="bm2", function_type=FunctionType.BM25, '
        'input_field_names=["text"], output_field_names=["sp2"])',
        "ip = c.prepare_index_params()",
        'ip.add_index("sp2", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")',
        'c.add_function_field("late", f, fn, ip)',
    )
    client = MilvusClient(uri)
    again = client.search("late", QUERIES, anns_field="sp2", limit=50)
    assert [[(x["id"], round(x["distance"], 5)) for x in hits] for hits in again] == want
    client.close()


def test_drop_function_field(client: MilvusClient) -> None:
    _create(client, "c", with_function=True)
    client.insert("c", _rows(_texts(10, 3)))
    client.drop_function_field("c", "bm")
    desc = client.describe_collection("c")
    assert [f["name"] for f in desc["fields"]] == ["id", "v", "text"]
    assert desc["functions"] == [] and client.list_indexes("c") == ["v"]
    with pytest.raises(MilvusException, match="function bm not found"):
        client.drop_function_field("c", "bm")
    _add(client, "c")  # the same names again: backfilled from the texts kept
    assert client.search("c", ["alpha"], anns_field="sp", limit=3)[0]


def test_add_function_field_checks(client: MilvusClient) -> None:
    _create(client, "c", with_function=True)
    field = client.create_field_schema("sp2", DataType.SPARSE_FLOAT_VECTOR)
    with pytest.raises(ParamError, match="exactly one index"):
        client.add_function_field("c", field, _bm25("sp2", "b2"), client.prepare_index_params())
    with pytest.raises(ParamError, match="explicit index_type"):
        ip = client.prepare_index_params()
        ip.add_index("sp2", metric_type="BM25")
        client.add_function_field("c", field, _bm25("sp2", "b2"), ip)
    with pytest.raises(ParamError, match="requires SPARSE_FLOAT_VECTOR output field"):
        dense = client.create_field_schema("d", DataType.FLOAT_VECTOR, dim=2)
        client.add_function_field("c", dense, _bm25("d", "b2"), _bm25_index(client, "d"))
    with pytest.raises(MilvusException, match="duplicate function name: bm"):
        client.add_function_field("c", field, _bm25("sp2", "bm"), _bm25_index(client, "sp2"))
    with pytest.raises(MilvusException, match="can not be nullable"):
        nullable = client.create_field_schema("sp3", DataType.SPARSE_FLOAT_VECTOR, nullable=True)
        client.add_function_field("c", nullable, _bm25("sp3", "b3"), _bm25_index(client, "sp3"))
    with pytest.raises(MilvusException, match="only BM25 function output fields support"):
        ip = _bm25_index(client, "sp2", metric_type="IP")
        client.add_function_field("c", field, _bm25("sp2", "b2"), ip)
    assert [f["name"] for f in client.describe_collection("c")["functions"]] == ["bm"]


def test_the_last_vector_field_is_kept(client: MilvusClient) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(_bm25())
    client.create_collection("c", schema=s, index_params=_bm25_index(client))
    with pytest.raises(MilvusException, match="can not drop the last vector field sp"):
        client.drop_function_field("c", "bm")
