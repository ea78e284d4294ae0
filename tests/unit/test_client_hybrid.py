"""MilvusClient.hybrid_search: RRF and weighted fusion checked against a NumPy computation on the
sub-searches' own results, per-request filters and limits, the final window, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymilvus import AnnSearchRequest, DataType, MilvusException, RRFRanker, WeightedRanker
from pymilvus.client.search_result import Hit, SearchResult

from gpu_milvus import MilvusClient

N = 30


@pytest.fixture
def coll(client: MilvusClient, h) -> dict[str, np.ndarray]:
    """'t': vectors a (dim 4, COSINE), b (dim 3, L2), c (dim 4, IP), an INT64 x and a color."""
    schema = client.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("a", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("b", DataType.FLOAT_VECTOR, dim=3)
    schema.add_field("c", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("x", DataType.INT64)
    ip = client.prepare_index_params()
    ip.add_index("a", index_type="HNSW", metric_type="COSINE", params={"M": 8})
    ip.add_index("b", index_type="FLAT", metric_type="L2")
    ip.add_index("c", index_type="IVF_FLAT", metric_type="IP", params={"nlist": 8})
    client.create_collection("t", schema=schema, index_params=ip)
    vecs = {"a": h.vectors(N, 4, seed=1), "b": h.vectors(N, 3, seed=2), "c": h.vectors(N, 4, 3)}
    client.insert("t", [
        {"id": i, "a": vecs["a"][i].tolist(), "b": vecs["b"][i].tolist(),
         "c": vecs["c"][i].tolist(), "x": i, "color": ("red", "blue")[i % 2]}
        for i in range(N)
    ])  # fmt: skip
    return vecs


def _q(h, field: str, seed: int, nq: int = 1) -> list[list[float]]:
    return h.vectors(nq, 3 if field == "b" else 4, seed=seed).tolist()


def _sub(client: MilvusClient, req: AnnSearchRequest, qi: int = 0) -> list[tuple[int, float]]:
    """One request run on its own through search(): (id, distance) best first."""
    hits = client.search("t", req.data, anns_field=req.anns_field, limit=req.limit,
                         filter=req.expr or "")[qi]  # fmt: skip
    return [(hit.id, hit.distance) for hit in hits]


def _fused(scores: dict[int, float], ascending: bool = False) -> list[tuple[int, float]]:
    rounded = [(pk, float(np.float32(s))) for pk, s in scores.items()]
    sign = 1.0 if ascending else -1.0
    return sorted(rounded, key=lambda t: (sign * t[1], t[0]))


def _rrf(subs: list[list[tuple[int, float]]], k: float) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for sub in subs:
        for rank, (pk, _) in enumerate(sub, start=1):
            scores[pk] = scores.get(pk, 0.0) + 1.0 / (k + rank)
    return _fused(scores)


NORM = {
    "COSINE": lambda d: (1 + d) / 2,
    "IP": lambda d: 0.5 + math.atan(d) / math.pi,
    "L2": lambda d: 1 - 2 * math.atan(d) / math.pi,
}


def _weighted(subs, metrics, weights, norm: bool) -> list[tuple[int, float]]:
    mixed = any(m != "L2" for m in metrics)
    scores: dict[int, float] = {}
    for sub, metric, w in zip(subs, metrics, weights, strict=True):
        for pk, d in sub:
            value = NORM[metric](d) if norm or (mixed and metric == "L2") else d
            scores[pk] = scores.get(pk, 0.0) + w * value
    return _fused(scores, ascending=not norm and not mixed)


def _pairs(hits) -> list[tuple[int, float]]:
    return [(hit.id, hit.distance) for hit in hits]


def _assert_same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert [pk for pk, _ in got] == [pk for pk, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------- RRF
@pytest.mark.parametrize("k", [60, 1, 10.5])
def test_rrf_scores(client: MilvusClient, h, coll, k: float) -> None:
    reqs = [AnnSearchRequest(_q(h, "a", 11), "a", {}, limit=8),
            AnnSearchRequest(_q(h, "b", 12), "b", {}, limit=6)]  # fmt: skip
    res = client.hybrid_search("t", reqs, RRFRanker(k), limit=20)
    assert type(res) is SearchResult and len(res) == 1
    want = _rrf([_sub(client, r) for r in reqs], k)
    assert len(res[0]) == len(want) <= 14
    _assert_same(_pairs(res[0]), want)
    assert all(type(hit) is Hit and hit.distance == float(np.float32(hit.distance))
               for hit in res[0])  # fmt: skip


def test_rrf_single_list_value(client: MilvusClient, h, coll) -> None:
    reqs = [AnnSearchRequest(_q(h, "a", 1), "a", {}, limit=1)]
    hit = client.hybrid_search("t", reqs, RRFRanker(), limit=5)[0][0]
    assert hit.distance == 0.016393441706895828  # float32(1/61)


def test_rrf_default_limit_and_final_window(client: MilvusClient, h, coll) -> None:
    reqs = [AnnSearchRequest(_q(h, "a", 3), "a", {}, limit=10),
            AnnSearchRequest(_q(h, "c", 4), "c", {}, limit=10)]  # fmt: skip
    full = _pairs(client.hybrid_search("t", reqs, RRFRanker(), limit=20)[0])
    assert len(client.hybrid_search("t", reqs, RRFRanker())[0]) == 10
    assert _pairs(client.hybrid_search("t", reqs, RRFRanker(), limit=4)[0]) == full[:4]
    window = client.hybrid_search("t", reqs, RRFRanker(), limit=4, offset=3)[0]
    assert _pairs(window) == full[3:7]


# ---------------------------------------------------------------------------- weighted
@pytest.mark.parametrize(
    "fields, weights",
    [(("a", "b"), (0.7, 0.3)), (("c", "b"), (0.2, 1.0)), (("a", "c"), (0.5, 0.5)),
     (("b", "b"), (0.4, 0.6))],
)  # fmt: skip
@pytest.mark.parametrize("norm", [True, False])
def test_weighted_scores(client: MilvusClient, h, coll, fields, weights, norm: bool) -> None:
    metrics = [{"a": "COSINE", "b": "L2", "c": "IP"}[f] for f in fields]
    reqs = [AnnSearchRequest(_q(h, f, 20 + i), f, {}, limit=7) for i, f in enumerate(fields)]
    res = client.hybrid_search("t", reqs, WeightedRanker(*weights, norm_score=norm), limit=20)
    want = _weighted([_sub(client, r) for r in reqs], metrics, weights, norm)
    _assert_same(_pairs(res[0]), want)


def test_weighted_ranker_errors(client: MilvusClient, h, coll) -> None:
    reqs = [AnnSearchRequest(_q(h, "a", 1), "a", {}, limit=3),
            AnnSearchRequest(_q(h, "b", 2), "b", {}, limit=3)]  # fmt: skip
    with pytest.raises(MilvusException) as exc:
        client.hybrid_search("t", reqs, WeightedRanker(0.5, 0.2, 0.3))
    assert exc.value.code == 1100
    assert "the length of weights param mismatch with ann search requests" in exc.value.message
    with pytest.raises(MilvusException, match="the length of weights param mismatch"):
        client.hybrid_search("t", reqs, WeightedRanker(1.0))
    with pytest.raises(MilvusException, match=r"rank param weight should be in range \[0, 1\]"):
        client.hybrid_search("t", reqs, WeightedRanker(1.5, 0.5))
    with pytest.raises(TypeError, match="Weight must be a number"):
        WeightedRanker(True, 0.5)
    with pytest.raises(MilvusException, match=r"The rank params k should be in range \(0, 16384\)"):
        client.hybrid_search("t", reqs, RRFRanker(0))


# ---------------------------------------------------------------------------- per-request options
def test_per_request_filter_and_limit(client: MilvusClient, h, coll) -> None:
    reqs = [AnnSearchRequest(_q(h, "a", 5), "a", {}, limit=4, expr="x < 10"),
            AnnSearchRequest(_q(h, "b", 6), "b", {}, limit=3, expr='color == "red"')]  # fmt: skip
    subs = [_sub(client, r) for r in reqs]
    assert all(pk < 10 for pk, _ in subs[0]) and len(subs[0]) == 4
    assert all(pk % 2 == 0 for pk, _ in subs[1]) and len(subs[1]) == 3
    res = client.hybrid_search("t", reqs, RRFRanker(), limit=20, output_fields=["x", "color"])
    _assert_same(_pairs(res[0]), _rrf(subs, 60))
    assert {hit.id for hit in res[0]} == {pk for sub in subs for pk, _ in sub}
    for hit in res[0]:
        assert hit["entity"] == {"x": hit.id, "color": ("red", "blue")[hit.id % 2]}


def test_filter_params_in_requests_and_partitions(client: MilvusClient, h, coll) -> None:
    req = AnnSearchRequest(_q(h, "a", 5), "a", {}, limit=30, expr="x >= {lo}",
                           expr_params={"lo": 25})  # fmt: skip
    res = client.hybrid_search("t", [req], RRFRanker(), limit=30)
    assert sorted(hit.id for hit in res[0]) == list(range(25, N))
    client.create_partition("t", "p")
    client.insert("t", {"id": 500, "a": [1.0, 0, 0, 0], "b": [1.0, 0, 0], "c": [1.0, 0, 0, 0],
                        "x": 500}, partition_name="p")  # fmt: skip
    req = AnnSearchRequest([[1.0, 0, 0, 0]], "a", {}, limit=5)
    res = client.hybrid_search("t", [req], RRFRanker(), partition_names=["p"])
    assert [hit.id for hit in res[0]] == [500]


def test_many_queries(client: MilvusClient, h, coll) -> None:
    reqs = [AnnSearchRequest(_q(h, "a", 7, nq=3), "a", {}, limit=5),
            AnnSearchRequest(_q(h, "c", 8, nq=3), "c", {}, limit=5)]  # fmt: skip
    res = client.hybrid_search("t", reqs, WeightedRanker(0.6, 0.4), limit=6)
    assert len(res) == 3
    for qi in range(3):
        want = _weighted([_sub(client, r, qi) for r in reqs], ["COSINE", "IP"], (0.6, 0.4), True)
        _assert_same(_pairs(res[qi]), want[:6])


def test_hybrid_errors(client: MilvusClient, h, coll) -> None:
    req = AnnSearchRequest(_q(h, "a", 1), "a", {}, limit=3)
    with pytest.raises(MilvusException, match="invalid max query result window"):
        client.hybrid_search("t", [req], RRFRanker(), limit=16000, offset=385)
    with pytest.raises(MilvusException):
        client.hybrid_search("t", [AnnSearchRequest(_q(h, "a", 1), "a", {}, limit=16385)],
                             RRFRanker())  # fmt: skip
    with pytest.raises(MilvusException):
        client.hybrid_search("t", [AnnSearchRequest(_q(h, "b", 1), "a", {}, limit=3)],
                             RRFRanker())  # fmt: skip
    with pytest.raises(MilvusException) as exc:
        client.hybrid_search("nope", [req], RRFRanker())
    assert exc.value.code == 100
    client.release_collection("t")
    with pytest.raises(MilvusException) as exc:
        client.hybrid_search("t", [req], RRFRanker())
    assert exc.value.code == 101


def test_hybrid_request_validation(client: MilvusClient, h, coll) -> None:
    one, two = _q(h, "a", 1), _q(h, "a", 2, nq=2)
    with pytest.raises(
        MilvusException, match="the nq of all ann search requests should be the same"
    ):
        client.hybrid_search("t", [AnnSearchRequest(one, "a", {}, 3),
                                   AnnSearchRequest(two, "a", {}, 3)], RRFRanker())  # fmt: skip
    with pytest.raises(MilvusException, match="metric type not match"):
        client.hybrid_search("t", [AnnSearchRequest(one, "a", {"metric_type": "L2"}, 3)],
                             RRFRanker())  # fmt: skip
    ok = client.hybrid_search("t", [AnnSearchRequest(one, "a", {"metric_type": "COSINE"}, 3)],
                              RRFRanker(), output_fields=["*"])  # fmt: skip
    ent = ok[0][0]["entity"]
    assert set(ent) == {"id", "a", "b", "c", "x", "color"}
    assert ent["a"] == coll["a"][ok[0][0].id].tolist()
