"""MilvusClient.search against a NumPy float64 reference: distances, ordering, paging, filters,
output fields, partitions, anns_field, sparse vectors, range search and the result classes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from pymilvus import DataType, MilvusException
from pymilvus.client.search_result import Hit, HybridHits, SearchResult
from pymilvus.exceptions import InvalidConsistencyLevel, ParamError

from gpu_milvus import MilvusClient

DIM = 8
Q = [[0.3, -0.2, 0.5, 0.1, -0.4, 0.2, 0.0, 0.6]]


def _setup(client: MilvusClient, h, metric: str = "COSINE", n: int = 40) -> np.ndarray:
    return h.quick(client, n=n, dim=DIM, metric=metric)


def _check_against_reference(hits, q, vecs, metric: str, h, limit: int) -> None:
    order, ref = h.ranking(q, vecs, metric)
    assert [hit.id for hit in hits] == order[:limit].tolist()
    got = np.array([hit.distance for hit in hits])
    np.testing.assert_allclose(got, ref[:limit], rtol=2e-6, atol=2e-6)
    assert all(hit.distance == float(np.float32(hit.distance)) for hit in hits)
    assert all(type(hit.distance) is float for hit in hits)


# ---------------------------------------------------------------------------- distances
@pytest.mark.parametrize("metric", ["IP", "L2", "COSINE"])
def test_distances_and_order_match_numpy(client: MilvusClient, h, metric: str) -> None:
    vecs = _setup(client, h, metric)
    queries = h.vectors(3, DIM, seed=11)
    res = client.search("c", queries.tolist(), limit=7)
    assert len(res) == 3
    for q, hits in zip(queries, res, strict=True):
        _check_against_reference(hits, q, vecs, metric, h, 7)


@pytest.mark.parametrize("metric", ["IP", "L2", "COSINE"])
@pytest.mark.parametrize("long_winners", [False, True])
def test_refine_paths_match_numpy(client: MilvusClient, h, metric: str, long_winners: bool) -> None:
    """Both CPU refine paths (chunks of queries; per query through BLAS once k x dim reaches
    _REFINE_BLAS) give NumPy's float64 order and distances, and L2's exact 0 for a stored
    copy of a query."""
    from gpu_milvus.engine import cpu

    dim, limit = (64, 120) if long_winners else (16, 12)
    assert (limit * dim >= cpu._REFINE_BLAS) is long_winners
    vecs = h.quick(client, n=300, dim=dim, metric=metric)
    queries = np.vstack([h.vectors(4, dim, seed=12), vecs[17:18]])
    res = client.search("c", queries.tolist(), limit=limit)
    for q, hits in zip(queries, res, strict=True):
        _check_against_reference(hits, q, vecs, metric, h, limit)
    if metric == "L2":
        assert (res[-1][0].id, res[-1][0].distance) == (17, 0.0)


@pytest.mark.parametrize("nq", [2, 3, 5])
def test_few_queries_on_a_mid_sized_block_match_numpy(client: MilvusClient, h, nq: int) -> None:
    """Two to four queries on a block of 1M+ elements are scored by one GEMV each (not an
    SGEMM); five by the SGEMM. Both give NumPy's float64 order and distances."""
    from gpu_milvus.engine import cpu

    dim, n = 512, 2048
    assert cpu._gemv_each(nq, n, dim) is (nq <= 4)
    vecs = h.quick(client, n=n, dim=dim, metric="IP")
    queries = h.vectors(nq, dim, seed=21)
    res = client.search("c", queries.tolist(), limit=9)
    for q, hits in zip(queries, res, strict=True):
        _check_against_reference(hits, q, vecs, "IP", h, 9)


def test_l2_is_squared_and_self_match(client: MilvusClient, h) -> None:
    client.create_collection("c", dimension=2, metric_type="L2")
    client.insert("c", [{"id": 1, "vector": [0.0, 0.0]}, {"id": 2, "vector": [3.0, 4.0]}])
    hits = client.search("c", [[0.0, 0.0]])[0]
    assert [(hit.id, hit.distance) for hit in hits] == [(1, 0.0), (2, 25.0)]


def test_query_data_formats(client: MilvusClient, h) -> None:
    vecs = _setup(client, h, "IP")
    q = h.vectors(2, DIM, seed=5)
    expected = [[hit.id for hit in hits] for hits in client.search("c", q.tolist(), limit=5)]
    for data in (q, q.astype(np.float64), list(q)):
        res = client.search("c", data, limit=5)
        assert [[hit.id for hit in hits] for hits in res] == expected
    _check_against_reference(client.search("c", q, limit=5)[0], q[0], vecs, "IP", h, 5)


def test_query_data_errors(client: MilvusClient, h) -> None:
    _setup(client, h)
    with pytest.raises(ParamError):
        client.search("c", Q[0])  # one flat vector
    with pytest.raises(ParamError):
        client.search("c", np.asarray(Q[0]))
    with pytest.raises(MilvusException) as exc:
        client.search("c", [[0.1, 0.2, 0.3, 0.4]])
    assert "vector dimension mismatch, expected vector size(byte) 32, actual 16." in str(
        exc.value.message
    )
    with pytest.raises(ParamError):
        client.search("c", Q, ids=[1])
    with pytest.raises(InvalidConsistencyLevel):
        client.search("c", Q, consistency_level="Foo")


def test_search_by_ids(client: MilvusClient, h) -> None:
    vecs = _setup(client, h, "L2")
    hits = client.search("c", ids=[3], limit=4)[0]
    _check_against_reference(hits, vecs[3], vecs, "L2", h, 4)
    assert hits[0].id == 3 and hits[0].distance == 0.0


# ---------------------------------------------------------------------------- limit / offset
def test_limit_default_and_fewer_rows_than_limit(client: MilvusClient, h) -> None:
    _setup(client, h, n=30)
    assert len(client.search("c", Q)[0]) == 10
    assert len(client.search("c", Q, limit=100)[0]) == 30
    client.create_collection("small", dimension=DIM)
    client.insert("small", h.rows(h.vectors(3, DIM)))
    assert len(client.search("small", Q)[0]) == 3


def test_limit_errors(client: MilvusClient, h) -> None:
    _setup(client, h, n=5)
    with pytest.raises(ParamError, match="limit"):
        client.search("c", Q, limit=0)
    with pytest.raises(MilvusException) as exc:
        client.search("c", Q, limit=16385)
    assert "topk [16385] is invalid, it should be in range [1, 16384], but got 16385" in (
        exc.value.message
    )
    assert len(client.search("c", Q, limit=16384)[0]) == 5
    with pytest.raises(MilvusException):
        client.search("c", Q, limit=16000, offset=385)


def test_offset(client: MilvusClient, h) -> None:
    _setup(client, h)
    full = [hit.id for hit in client.search("c", Q, limit=10)[0]]
    assert [hit.id for hit in client.search("c", Q, limit=4, offset=3)[0]] == full[3:7]
    paged = client.search("c", Q, limit=4, search_params={"offset": 6})[0]
    assert [hit.id for hit in paged] == full[6:10]
    assert len(client.search("c", Q, limit=5, offset=38)[0]) == 2
    with pytest.raises(ParamError, match="Provide offset both in kwargs and param"):
        client.search("c", Q, offset=1, search_params={"offset": 2})


# ---------------------------------------------------------------------------- filters
def test_filter(client: MilvusClient, h) -> None:
    vecs = _setup(client, h, "L2")
    hits = client.search("c", Q, limit=40, filter="id >= 20 and color != 'red'")[0]
    keep = [i for i in range(40) if i >= 20 and i % 3 != 0]
    order, ref = h.ranking(np.asarray(Q[0]), vecs[keep], "L2")
    assert [hit.id for hit in hits] == [keep[i] for i in order]
    np.testing.assert_allclose([hit.distance for hit in hits], ref, rtol=2e-6, atol=2e-6)
    top = client.search("c", Q, limit=3, filter="id >= 20 and color != 'red'")[0]
    assert [hit.id for hit in top] == [keep[i] for i in order[:3]]


def test_filter_and_filter_params_templates(client: MilvusClient, h) -> None:
    _setup(client, h)
    hits = client.search(
        "c", Q, limit=40, filter="n > {lo} and color in {cs}",
        filter_params={"lo": 30, "cs": ["green"]}, output_fields=["color", "n"],
    )[0]  # fmt: skip
    assert sorted(hit.id for hit in hits) == [i for i in range(31, 40) if i % 3 == 1]
    assert all(hit["color"] == "green" and hit["n"] > 30 for hit in hits)


def test_filter_that_matches_nothing_and_empty_collection(client: MilvusClient, h) -> None:
    _setup(client, h)
    res = client.search("c", Q * 2, filter="id > 1000")
    assert res == [[], []] and str(res) == "data: [[], []]"
    client.create_collection("empty", dimension=DIM)
    res = client.search("empty", Q)
    assert isinstance(res, SearchResult) and len(res) == 1 and len(res[0]) == 0
    assert str(res) == "data: [[]]"


def test_search_errors(client: MilvusClient, h) -> None:
    _setup(client, h)
    with pytest.raises(MilvusException) as exc:
        client.search("c", Q, search_params={"metric_type": "L2"})
    assert "metric type not match" in exc.value.message
    with pytest.raises(MilvusException) as exc:
        client.search("nope", Q)
    assert exc.value.code == 100
    assert exc.value.message == "collection not found[database=default][collection=nope]"
    with pytest.raises(MilvusException) as exc:
        client.search("c", Q, filter="id >")
    assert exc.value.code == 1100 and "failed to create query plan" in exc.value.message
    assert len(client.search("c", Q, search_params={"metric_type": "COSINE"})[0]) == 10


# ---------------------------------------------------------------------------- output fields
def test_output_fields(client: MilvusClient, h) -> None:
    vecs = _setup(client, h)
    client.insert("c", {"id": 100, "vector": vecs[0].tolist(), "only_here": [1, "x"]})
    assert all(hit["entity"] == {} for hit in client.search("c", Q)[0])
    assert all(hit["entity"] == {} for hit in client.search("c", Q, output_fields=[])[0])
    hits = client.search("c", Q, limit=40, output_fields=["color"])[0]
    assert all(hit["entity"] == {"color": ("red", "green", "blue")[hit.id % 3]}
               for hit in hits if hit.id != 100)  # fmt: skip
    hits = client.search("c", [vecs[0].tolist()], limit=2, output_fields=["only_here", "id"])[0]
    by_id = {hit.id: hit["entity"] for hit in hits}
    assert by_id == {100: {"id": 100, "only_here": [1, "x"]}, 0: {"id": 0}}
    hits = client.search("c", [vecs[5].tolist()], limit=1, output_fields=["*"])[0]
    assert hits[0]["entity"] == {"id": 5, "vector": vecs[5].tolist(), "color": "blue", "n": 5}
    assert hits[0]["entity"]["vector"] == [float(x) for x in vecs[5]]
    hits = client.search("c", [vecs[5].tolist()], limit=1, output_fields=["$meta"])[0]
    assert hits[0]["entity"] == {"color": "blue", "n": 5}
    hits = client.search("c", [vecs[5].tolist()], limit=1, output_fields=["vector"])[0]
    assert hits[0]["entity"] == {"vector": vecs[5].tolist()}


def test_unknown_output_field_without_dynamic(client: MilvusClient, h) -> None:
    client.create_collection("s", schema=h.scalar_schema(client), index_params=h.index(client))
    with pytest.raises(MilvusException, match="field zzz not exist"):
        client.search("s", [[0.1] * 4], output_fields=["zzz"])


def test_hit_api_and_printing(client: MilvusClient) -> None:
    client.create_collection("c", dimension=2, primary_field_name="my_id", metric_type="IP")
    client.insert("c", [{"my_id": 1, "vector": [0.9, 0.0], "color": "red"},
                        {"my_id": 2, "vector": [0.5, 0.0]}])  # fmt: skip
    res = client.search("c", [[1.0, 0.0]], limit=2, output_fields=["color"])
    assert type(res) is SearchResult and type(res[0]) is HybridHits and type(res[0][0]) is Hit
    hit = res[0][0]
    assert hit == {"my_id": 1, "distance": float(np.float32(0.9)), "entity": {"color": "red"}}
    assert list(hit) == ["my_id", "distance", "entity"]
    assert hit.id == hit.pk == hit["my_id"] == 1
    assert hit.distance == hit.score == 0.8999999761581421
    assert hit["color"] == hit.get("color") == hit.color == "red"
    assert hit.fields == {"color": "red"} and hit.entity is hit
    assert vars(hit) == vars(Hit(dict(hit), pk_name="my_id"))  # built as pymilvus builds it
    with pytest.raises(AttributeError):
        _ = hit.nothing
    assert res[0].ids == [1, 2] and res[0].distances == [0.8999999761581421, 0.5]
    assert str(res) == (
        "data: [[{'my_id': 1, 'distance': 0.8999999761581421, 'entity': {'color': 'red'}}, "
        "{'my_id': 2, 'distance': 0.5, 'entity': {}}]]"
    )
    assert repr(res) == str(res)
    assert res.recalls is None and res.extra == {}


def test_many_queries_and_long_result_printing(client: MilvusClient, h) -> None:
    vecs = _setup(client, h, "IP")
    queries = h.vectors(12, DIM, seed=9)
    res = client.search("c", queries, limit=3)
    assert len(res) == 12
    for q, hits in zip(queries, res, strict=True):
        _check_against_reference(hits, q, vecs, "IP", h, 3)
    assert str(res).endswith(" ... and 2 results remaining")
    hits = client.search("c", queries[:1], limit=12)[0]
    assert str(hits).endswith(" ... and 2 entities remaining")


# ---------------------------------------------------------------------------- anns_field
def _two_vectors(client: MilvusClient, h) -> tuple[np.ndarray, np.ndarray]:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("a", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("b", DataType.FLOAT_VECTOR, dim=3)
    schema.add_field("x", DataType.INT64)
    ip = client.prepare_index_params()
    ip.add_index("a", index_type="HNSW", metric_type="IP", params={"M": 8})
    ip.add_index("b", index_type="FLAT", metric_type="L2")
    client.create_collection("t", schema=schema, index_params=ip)
    a, b = h.vectors(25, 4, seed=1), h.vectors(25, 3, seed=2)
    client.insert("t", [{"id": i, "a": a[i].tolist(), "b": b[i].tolist(), "x": i}
                        for i in range(25)])  # fmt: skip
    return a, b


def test_anns_field_required_with_two_vector_fields(client: MilvusClient, h) -> None:
    a, b = _two_vectors(client, h)
    with pytest.raises(MilvusException, match="multiple anns_fields exist"):
        client.search("t", [[0.1, 0.2, 0.3, 0.4]])
    qa, qb = h.vectors(1, 4, seed=7)[0], h.vectors(1, 3, seed=8)[0]
    _check_against_reference(client.search("t", [qa], anns_field="a")[0], qa, a, "IP", h, 10)
    _check_against_reference(client.search("t", [qb], anns_field="b")[0], qb, b, "L2", h, 10)
    with pytest.raises(MilvusException):
        client.search("t", [qa], anns_field="x")
    with pytest.raises(MilvusException):
        client.search("t", [qa], anns_field="nope")


# ---------------------------------------------------------------------------- sparse
def _sparse_collection(client: MilvusClient) -> list[dict[int, float]]:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("sv", DataType.SPARSE_FLOAT_VECTOR)
    ip = client.prepare_index_params()
    ip.add_index("sv", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection("sp", schema=schema, index_params=ip)
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(30):
        idx = rng.choice(40, size=rng.integers(1, 6), replace=False)
        rows.append({int(i): float(np.float32(rng.random() + 0.01)) for i in idx})
    data = [{"id": i, "sv": r} for i, r in enumerate(rows[:20])]
    data += [{"id": 20 + i, "sv": sp.csr_matrix(([*r.values()], ([0] * len(r), [*r])),
                                               shape=(1, 40))}
             for i, r in enumerate(rows[20:])]  # fmt: skip
    client.insert("sp", data)
    return rows


def _sparse_reference(rows: list[dict[int, float]], q: dict[int, float]) -> list[tuple[int, float]]:
    scores = [(i, sum(v * q.get(k, 0.0) for k, v in r.items())) for i, r in enumerate(rows)]
    return sorted([(i, s) for i, s in scores if any(k in q for k in rows[i])],
                  key=lambda t: (-t[1], t[0]))  # fmt: skip


def test_sparse_ip_search_with_dicts_and_scipy(client: MilvusClient) -> None:
    rows = _sparse_collection(client)
    queries = [{1: 0.5, 7: 1.0, 30: 0.25}, {2: 1.0, 39: 2.0}]
    res_dict = client.search("sp", queries, limit=30)
    dense = np.zeros((2, 40), dtype=np.float32)
    for r, q in enumerate(queries):
        for k, v in q.items():
            dense[r, k] = v
    csr = sp.csr_matrix(dense)
    res_csr = client.search("sp", sp.csr_matrix(csr), limit=30)
    res_rows = client.search("sp", [csr[0], csr[1]], limit=30)
    for q, a, b, c in zip(queries, res_dict, res_csr, res_rows, strict=True):
        ref = _sparse_reference(rows, q)
        assert sorted(hit.id for hit in a) == sorted(i for i, _ in ref)
        for hit in a:
            assert hit.distance == pytest.approx(dict(ref)[hit.id], rel=1e-5)
        assert [hit.distance for hit in a] == sorted((hit.distance for hit in a), reverse=True)
        assert [(x.id, x.distance) for x in a] == [(x.id, x.distance) for x in b]
        assert [(x.id, x.distance) for x in a] == [(x.id, x.distance) for x in c]
    got = client.get("sp", ids=[0, 25])
    assert got[0]["sv"] == rows[0] and got[1]["sv"] == rows[25]
    assert list(got[0]["sv"]) == sorted(rows[0])


# ---------------------------------------------------------------------------- range search
def test_range_search_cosine_and_l2(client: MilvusClient, h) -> None:
    vecs = _setup(client, h, "COSINE")
    q = np.asarray(Q[0])
    d = h.distances(q, vecs, "COSINE")
    params = {"params": {"radius": 0.1, "range_filter": 0.6}}
    hits = client.search("c", Q, limit=40, search_params=params)[0]
    inside = {i for i in range(40) if 0.1 < d[i] <= 0.6}
    assert {hit.id for hit in hits} == inside and inside
    assert all(0.1 < hit.distance <= 0.6 for hit in hits)
    top3 = client.search("c", Q, limit=3, search_params=params)[0]
    assert [hit.id for hit in top3] == [hit.id for hit in hits][:3]

    client.create_collection("l2", dimension=DIM, metric_type="L2")
    client.insert("l2", h.rows(vecs))
    d2 = h.distances(q, vecs, "L2")
    lo, hi = np.quantile(d2, [0.2, 0.7])
    params = {"radius": float(hi), "range_filter": float(lo)}
    hits = client.search("l2", Q, limit=40, search_params=params)[0]
    assert {hit.id for hit in hits} == {i for i in range(40) if lo <= d2[i] < hi}
    assert [hit.distance for hit in hits] == sorted(hit.distance for hit in hits)


def test_sparse_edge_cases(client: MilvusClient) -> None:
    _sparse_collection(client)
    client.insert("sp", [{"id": 100, "sv": {}}, {"id": 101, "sv": [(45, 0.5), (41, 0.25)]}])
    assert client.get("sp", ids=[100, 101]) == [
        {"id": 100, "sv": {}},
        {"id": 101, "sv": {41: 0.25, 45: 0.5}},
    ]
    assert client.search("sp", [{}]) == [[]]
    hits = client.search("sp", [[(45, 2.0)]], output_fields=["sv"])[0]
    assert [(hit.id, hit.distance) for hit in hits] == [(101, 1.0)]
    assert hits[0]["sv"] == {41: 0.25, 45: 0.5}
    # drop_ratio_search drops the query's smallest values before scoring
    kept = client.search("sp", [{41: 1.0, 45: 0.01}], search_params={"drop_ratio_search": 0.5})
    assert [(hit.id, hit.distance) for hit in kept[0]] == [(101, 0.25)]
    full = client.search("sp", [{41: 1.0, 45: 0.01}])[0]
    assert full[0].distance == pytest.approx(0.255)
    for bad in ({1: -0.5}, {1: float("inf")}):
        with pytest.raises(MilvusException):
            client.insert("sp", {"id": 200, "sv": bad})
    for bad in ({1: float("nan")}, {2**32 - 1: 0.5}, {-1: 0.5}):
        with pytest.raises(ParamError):
            client.insert("sp", {"id": 200, "sv": bad})
    with pytest.raises(MilvusException):
        client.search("sp", [[0.1, 0.2]])
    assert client.get("sp", ids=[200]) == []
    assert client.query("sp", output_fields=["count(*)"]) == [{"count(*)": 32}]


def test_misc_search_params_and_serialisation(client: MilvusClient, h) -> None:
    _setup(client, h)
    with pytest.raises(ParamError, match="ambiguous parameter: nprobe"):
        client.search("c", Q, search_params={"nprobe": 5, "params": {"nprobe": 10}})
    res = client.search("c", Q, limit=2, output_fields=["color"],
                        search_params={"nprobe": 5, "params": {"ef": 64}})  # fmt: skip
    hit = res[0][0]
    assert hit.to_dict() == {"id": hit.id, "distance": hit.distance, "entity": {"color": hit.color}}
    assert json.loads(json.dumps(res)) == [[dict(x) for x in res[0]]]


def test_round_decimal_rounds_distances(client: MilvusClient, h) -> None:
    vecs = _setup(client, h, "IP")
    hits = client.search("c", Q, limit=5, round_decimal=2)[0]
    _, ref = h.ranking(np.asarray(Q[0]), vecs, "IP")
    for hit, want in zip(hits, ref, strict=False):
        assert hit.distance == round(hit.distance, 2)
        assert abs(hit.distance - want) <= 0.005 + 1e-6


def test_round_decimal_out_of_range(client: MilvusClient, h) -> None:
    _setup(client, h)
    with pytest.raises(ParamError, match="round_decimal"):
        client.search("c", Q, round_decimal=7)


@pytest.mark.parametrize("was_enabled", [True, False])
def test_large_results_pause_cyclic_gc_and_restore_it(
    client: MilvusClient, monkeypatch: pytest.MonkeyPatch, was_enabled: bool
) -> None:
    import gc

    from gpu_milvus import results

    client.create_collection("c", dimension=2, metric_type="IP")
    client.insert("c", [{"id": i, "vector": [1.0, i / 1000]} for i in range(1000)])
    seen: list[bool] = []
    real = results._hybrid_hits
    monkeypatch.setattr(
        results, "_hybrid_hits", lambda h, pk: (seen.append(gc.isenabled()), real(h, pk))[1]
    )
    monkeypatch.setattr(results, "_GC_PAUSE_HITS", 5000)
    (gc.enable if was_enabled else gc.disable)()
    try:
        small = client.search("c", [[0.0, 1.0]] * 4, limit=1000)  # 4,000 hits: GC left alone
        assert seen == [was_enabled] * 4 and gc.isenabled() is was_enabled
        seen.clear()
        big = client.search("c", [[0.0, 1.0]] * 6, limit=1000)  # 6,000 hits: paused
        assert seen == [False] * 6 and gc.isenabled() is was_enabled
    finally:
        gc.enable()
    assert len(small) == 4 and len(big[5]) == 1000 and big[5][0]["id"] == 999
