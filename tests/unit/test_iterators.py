"""query_iterator and search_iterator: pages cover exactly what one big call returns."""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus.exceptions import ParamError

from gpu_milvus import MilvusClient


@pytest.fixture
def filled(tmp_path) -> MilvusClient:
    client = MilvusClient(str(tmp_path / "it.db"))
    client.create_collection("c", dimension=4, metric_type="L2")
    rng = np.random.default_rng(7)
    base = rng.random((40, 4)).astype(np.float32)
    vectors = np.concatenate([base, base[:20]])  # 20 exact duplicates: tied distances
    rows = [{"id": int(i), "vector": v.tolist(), "n": int(i % 5)} for i, v in
            zip(rng.permutation(1000)[:60], vectors, strict=True)]  # fmt: skip
    client.insert("c", rows)
    return client


def _drain(it) -> list:
    out = []
    while page := it.next():
        out.extend(page)
    it.close()
    return out


def test_query_iterator_pages_in_pk_order(filled: MilvusClient) -> None:
    rows = _drain(filled.query_iterator("c", batch_size=7, filter="n > 1", output_fields=["n"]))
    expected = filled.query("c", filter="n > 1", output_fields=["n"])
    assert [r["id"] for r in rows] == sorted(r["id"] for r in expected)
    assert all(r["n"] > 1 for r in rows)


def test_query_iterator_limit_and_offset(filled: MilvusClient) -> None:
    every = [r["id"] for r in _drain(filled.query_iterator("c", batch_size=4))]
    assert len(every) == 60
    limited = _drain(filled.query_iterator("c", batch_size=4, limit=10, offset=5))
    assert [r["id"] for r in limited] == every[5:15]


def test_query_iterator_rejects_bad_arguments(filled: MilvusClient) -> None:
    with pytest.raises(ParamError):
        filled.query_iterator("c", batch_size=16385)
    with pytest.raises(ParamError):
        filled.query_iterator("c", output_fields=["count(*)"])


def test_search_iterator_equals_one_exact_search_with_ties(filled: MilvusClient) -> None:
    q = [[0.5, 0.5, 0.5, 0.5]]
    pages = _drain(filled.search_iterator("c", q, batch_size=3))
    full = filled.search("c", q, limit=60)[0]
    assert len(pages) == 60
    assert sorted(h["id"] for h in pages) == sorted(h["id"] for h in full)
    assert [h["distance"] for h in pages] == [h["distance"] for h in full]


def test_search_iterator_limit_filter_and_external_filter(filled: MilvusClient) -> None:
    q = [[0.1, 0.2, 0.3, 0.4]]
    hits = _drain(filled.search_iterator("c", q, batch_size=5, limit=12, filter="n < 4"))
    assert len(hits) == 12 and all(h["id"] is not None for h in hits)
    dists = [h["distance"] for h in hits]
    assert dists == sorted(dists)
    even = _drain(filled.search_iterator(
        "c", q, batch_size=4, limit=8, external_filter_func=lambda hs: [h for h in hs
                                                                         if h["id"] % 2 == 0]
    ))  # fmt: skip
    assert len(even) == 8 and all(h["id"] % 2 == 0 for h in even)


def test_search_iterator_needs_one_query(filled: MilvusClient) -> None:
    with pytest.raises(ParamError):
        filled.search_iterator("c", [[0.1] * 4, [0.2] * 4])
