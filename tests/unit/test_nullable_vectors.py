"""Nullable vector fields, and vector fields added to a live collection (Milvus 2.6.18+).

Milvus's "Alter Collection Schema" guide: an added vector field must be nullable, rows
stored before it hold NULL there, a search on it skips NULL rows, and it needs an index
before it is searched. NULL vectors come back as None. The reference is NumPy float64 over
the rows that hold a vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pymilvus import AnnSearchRequest, DataType, RRFRanker
from pymilvus.exceptions import MilvusException

from gpu_milvus import MilvusClient


def _schema(client: MilvusClient, **extra: Any) -> Any:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("tag", DataType.INT64)
    for name, (dtype, dim) in extra.items():
        s.add_field(name, dtype, dim=dim, nullable=True)
    return s


def _index(client: MilvusClient, **metrics: str) -> Any:
    ip = client.prepare_index_params()
    for field, metric in {"v": "L2", **metrics}.items():
        ip.add_index(field, metric_type=metric)
    return ip


def _l2_order(values: dict[int, np.ndarray], q: np.ndarray, k: int) -> list[int]:
    ids = sorted(values)
    d = np.array([((values[i].astype(np.float64) - q) ** 2).sum() for i in ids])
    return [ids[j] for j in np.argsort(d, kind="stable")[:k]]


def test_null_vectors_are_none_and_skipped_by_search(client: MilvusClient) -> None:
    client.create_collection(
        "c", schema=_schema(client, n=(DataType.FLOAT_VECTOR, 3), h=(DataType.FLOAT16_VECTOR, 2)),
        index_params=_index(client, n="L2", h="IP"),
    )  # fmt: skip
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((40, 3)).astype(np.float32)
    rows = [
        {"id": i, "v": [i, 0, 0, 0], "tag": i % 2, **({"n": vecs[i]} if i % 3 else {}),
         "h": None if i % 4 == 0 else np.ones(2, dtype=np.float16)}
        for i in range(40)
    ]  # fmt: skip
    client.insert("c", rows)
    held = {i: vecs[i] for i in range(40) if i % 3}
    got = client.query("c", "id in [0, 1, 4]", output_fields=["n", "h"])
    assert [r["n"] is None for r in got] == [True, False, False]
    assert [r["h"] for r in got] == [None, [b"\x00<\x00<"], None]
    q = rng.standard_normal(3)
    hits = client.search("c", [q], anns_field="n", limit=40)[0]
    assert [h["id"] for h in hits] == _l2_order(held, q, 40)  # the null rows never come back
    odd = client.search("c", [q], anns_field="n", limit=5, filter="tag == 1")[0]
    assert [h["id"] for h in odd] == _l2_order({i: v for i, v in held.items() if i % 2}, q, 5)
    by_h = client.search("c", [np.ones(2, dtype=np.float16)], anns_field="h", limit=50)[0]
    assert sorted(h["id"] for h in by_h) == [i for i in range(40) if i % 4]
    fused = client.hybrid_search(
        "c", [AnnSearchRequest([q], "n", {}, 40), AnnSearchRequest([[0.0] * 4], "v", {}, 40)],
        RRFRanker(), limit=40,
    )[0]  # fmt: skip
    assert {h["id"] for h in fused} == set(range(40))  # v holds every row


def test_nullable_binary_vectors(client: MilvusClient) -> None:
    client.create_collection(
        "c", schema=_schema(client, b=(DataType.BINARY_VECTOR, 16)),
        index_params=_index(client, b="HAMMING"),
    )  # fmt: skip
    client.insert(
        "c", [{"id": i, "v": [0.0] * 4, "tag": 0, "b": bytes([i, 0]) if i % 2 else None}
              for i in range(10)],
    )  # fmt: skip
    hits = client.search("c", [b"\x00\x00"], anns_field="b", limit=10)[0]
    assert [h["id"] for h in hits] == [1, 3, 5, 9, 7]  # popcounts 1, 2, 2, 2, 3
    assert client.get("c", ids=[2, 3], output_fields=["b"]) == [
        {"id": 2, "b": None}, {"id": 3, "b": [b"\x03\x00"]},
    ]  # fmt: skip


def test_a_vector_field_added_to_a_loaded_collection(uri: str, h: Any) -> None:
    client = MilvusClient(uri)
    client.create_collection("c", schema=_schema(client), index_params=_index(client))
    client.insert("c", [{"id": i, "v": [i, 0, 0, 0], "tag": i} for i in range(20)])
    client.flush("c")  # rows in a sealed segment ...
    client.insert(
        "c", [{"id": i, "v": [i, 0, 0, 0], "tag": i} for i in range(20, 30)]
    )  # ... and the log
    client.add_collection_field("c", "e", DataType.FLOAT_VECTOR, dim=2, nullable=True)
    with pytest.raises(MilvusException, match=r"there is no vector index on field: \[e\]"):
        client.search("c", [[1.0, 0.0]], anns_field="e")
    client.create_index("c", _index(client, e="COSINE"))
    assert client.search("c", [[1.0, 0.0]], anns_field="e")[0] == []  # every row is null
    client.insert("c", [{"id": 100, "v": [0.0] * 4, "tag": 0, "e": [1.0, 0.0]}])
    client.upsert("c", [{"id": 5, "v": [5.0, 0, 0, 0], "tag": 5, "e": [0.0, 1.0]}])
    client.upsert("c", [{"id": 6, "e": [1.0, 1.0]}], partial_update=True)
    want = [(100, 1.0), (6, pytest.approx(0.7071068, abs=1e-6)), (5, 0.0)]
    for reopen in ("close", "crash", None):
        hits = client.search("c", [[1.0, 0.0]], anns_field="e", limit=10)[0]
        assert [(x["id"], x["distance"]) for x in hits] == want
        assert client.query("c", "id in [4, 6]", output_fields=["e", "tag"]) == [
            {"id": 4, "tag": 4, "e": None}, {"id": 6, "tag": 6, "e": [1.0, 1.0]},
        ]  # fmt: skip
        if reopen == "close":
            client.close()
            client = MilvusClient(uri)
        elif reopen == "crash":  # another field added, and rows, only in the log
            client.close()
            h.exit_without_closing(
                uri,
                'c.add_collection_field("c", "f", DataType.FLOAT_VECTOR, dim=2, nullable=True)',
                'c.insert("c", [{"id": 200, "v": [0.0] * 4, "tag": 0, "f": [3.0, 4.0]}])',
            )
            client = MilvusClient(uri)
            got = client.query("c", "id in [1, 200]", output_fields=["e", "f"])
            assert got == [{"id": 1, "e": None, "f": None}, {"id": 200, "e": None, "f": [3, 4]}]
    client.delete("c", ids=[6])
    client.compact("c")
    hits = client.search("c", [[1.0, 0.0]], anns_field="e", limit=10)[0]
    assert [h["id"] for h in hits] == [100, 5]
    client.close()


def test_nullable_vector_rules(client: MilvusClient) -> None:
    client.create_collection("c", schema=_schema(client), index_params=_index(client))
    with pytest.raises(MilvusException, match="requires nullable=True"):
        client.add_collection_field("c", "e", DataType.FLOAT_VECTOR, dim=2)
    with pytest.raises(MilvusException, match="is not a number or infinity"):
        client.insert("c", [{"id": 1, "v": [float("nan"), 0, 0, 0], "tag": 0}])
    with pytest.raises(MilvusException, match="num_rows"):
        client.insert("c", [{"id": 1, "v": None, "tag": 0}])  # v is not nullable
    assert client.query("c", "", output_fields=["count(*)"])[0]["count(*)"] == 0


def test_a_nullable_sparse_field_added_and_reopened(uri: str) -> None:
    client = MilvusClient(uri)
    client.create_collection("c", schema=_schema(client), index_params=_index(client))
    client.insert("c", [{"id": i, "v": [i, 0, 0, 0], "tag": i} for i in range(6)])
    client.flush("c")
    client.add_collection_field("c", "s", DataType.SPARSE_FLOAT_VECTOR, nullable=True)
    ip = client.prepare_index_params()
    ip.add_index("s", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_index("c", ip)
    client.insert("c", [
        {"id": 10, "v": [0.0] * 4, "tag": 0, "s": {1: 2.0, 5: 1.0}},
        {"id": 11, "v": [0.0] * 4, "tag": 0, "s": {}},  # empty, not null
        {"id": 12, "v": [0.0] * 4, "tag": 0, "s": None},
        {"id": 13, "v": [0.0] * 4, "tag": 0, "s": {5: 3.0}},
    ])  # fmt: skip
    for reopen in (False, True):
        if reopen:
            client.close()
            client = MilvusClient(uri)
        got = client.query("c", "id in [1, 10, 11, 12]", output_fields=["s"])
        assert [r["s"] for r in got] == [None, {1: 2.0, 5: 1.0}, {}, None]
        hits = client.search("c", [{5: 1.0}], anns_field="s", limit=10)[0]
        assert [(h["id"], h["distance"]) for h in hits] == [(13, 3.0), (10, 1.0)]
    client.close()
