"""Timed search workloads over any engine: exact nq x k grid, filtered, sparse and hybrid.

An engine is any object with the method a workload calls (``dense(rows, k, selectivity)``,
``sparse(rows, k)``, ``hybrid(rows, k, limit)``) returning top-k ids per query row, and an
``engine`` name. Call ``i`` searches the query rows ``(i * nq + 0..nq-1) % pool``, so a
series of calls walks through the query pool; recall@k is scored on the calls that cover
it. An engine that fails a workload is recorded in ``skipped`` and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpu_milvus.benchmarks.datasets import TRUTH_MARGIN, Dataset, SparseSet, filter_truth
from gpu_milvus.benchmarks.metrics import (
    Truth,
    exact_truth,
    recall_at_k,
    repeat,
    rrf_fuse,
    summarize,
    topk_rows,
)
from gpu_milvus.benchmarks.progress import bar, log

CDF_SAMPLES = 2000  # raw latencies kept per nq=1 record, for the latency CDF


@dataclass(frozen=True)
class Window:
    """How long each repeated operation is timed."""

    min_seconds: float
    max_seconds: float
    min_reps: int


def query_rows(i: int, nq: int, pool: int) -> np.ndarray:
    """The query rows of call ``i``."""
    return (np.arange(nq) + i * nq) % pool


def measure(
    fn: Callable[[np.ndarray], Sequence[Sequence[int]]],
    nq: int,
    k: int,
    pool: int,
    truth: Truth,
    window: Window,
    base: dict[str, Any],
) -> dict[str, Any]:
    """Time ``fn`` on successive query blocks; QPS, latency percentiles, recall@k."""

    def call(i: int) -> tuple[np.ndarray, Sequence[Sequence[int]]]:
        rows = query_rows(i, nq, pool)
        return rows, fn(rows)

    run = repeat(call, window.min_seconds, window.min_reps, window.max_seconds, keep=-(-pool // nq))
    rows = np.concatenate([r for r, _ in run.outputs])
    found = [list(ids) for _, out in run.outputs for ids in out]
    rec = {**base, "nq": nq, "k": k, **summarize(run.seconds, nq), "warmup_s": run.warmup_s}
    rec.update(recall_at_k(found, truth.take(rows), k))
    if nq == 1:
        step = max(1, len(run.seconds) // CDF_SAMPLES)
        rec["latencies_ms"] = [round(s * 1e3, 4) for s in run.seconds[::step]]
    return rec


def _guard(
    what: dict[str, Any], skipped: list[dict[str, Any]], fn: Callable[[], dict[str, Any]]
) -> dict[str, Any] | None:
    try:
        return fn()
    except Exception as exc:  # an engine that cannot do this: recorded, not fatal
        reason = f"{type(exc).__name__}: {str(exc)[:300]}"
        log(f"  {what['engine']} {what['workload']} {what}: failed ({reason})")
        skipped.append({"what": f"{what['engine']} {what['workload']}", **what, "reason": reason})
        return None


def search_grid(
    engines: list[Any],
    ds: Dataset,
    grid: list[tuple[int, int]],
    window: Window,
    skipped: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Exact dense search at every (nq, k) of ``grid`` on every engine."""
    assert ds.truth is not None
    out = []
    pool = len(ds.queries)
    with bar(len(engines) * len(grid), f"{ds.name}: exact search grid", "case") as b:
        for eng in engines:
            for nq, k in grid:
                b.set_postfix_str(f"{eng.engine} nq={nq} k={k}")
                base = {"dataset": ds.name, "workload": "search", "engine": eng.engine}
                rec = _guard(
                    {**base, "nq": nq, "k": k},
                    skipped,
                    lambda e=eng, nq=nq, k=k, base=base: measure(
                        lambda rows: e.dense(rows, k), nq, k, pool, ds.truth, window, base
                    ),
                )
                if rec:
                    out.append(rec)
                b.update(1)
    return out


def filtered(
    engines: list[Any],
    ds: Dataset,
    selectivities: list[float],
    nq: int,
    k: int,
    pool: int,
    window: Window,
    skipped: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Search with ``cat < 1000 * s`` for each selectivity s (exact truth per s)."""
    out = []
    pool = min(pool, len(ds.queries))
    rows = np.arange(pool)
    with bar(len(selectivities) * len(engines), f"{ds.name}: filtered search", "case") as b:
        for sel in selectivities:
            truth = filter_truth(ds, rows, sel, k)
            for eng in engines:
                b.set_postfix_str(f"{eng.engine} selectivity={sel}")
                base = {
                    "dataset": ds.name,
                    "workload": "filtered",
                    "engine": eng.engine,
                    "selectivity": sel,
                }
                rec = _guard(
                    {**base, "nq": nq, "k": k},
                    skipped,
                    lambda e=eng, sel=sel, truth=truth, base=base: measure(
                        lambda r: e.dense(r, k, sel), nq, k, pool, truth, window, base
                    ),
                )
                if rec:
                    out.append(rec)
                b.update(1)
    return out


@dataclass
class SparseTruth:
    """Exact sparse top-k and exact hybrid (RRF of exact dense and sparse lists) top-k."""

    sparse: Truth
    hybrid: Truth
    limit: int


def sparse_truth(ss: SparseSet, k: int, limit: int) -> SparseTruth:
    """Float64 truth for the sparse and the hybrid workloads."""
    n = ss.rows
    with bar(2, "sparse/hybrid: float64 ground truth", "step") as b:
        sparse = exact_truth(ss.base, ss.queries, min(n, max(k, limit) + TRUTH_MARGIN))
        b.update(1)
        scores = ss.dense_queries.astype(np.float64) @ ss.dense.astype(np.float64).T
        dense_ids = topk_rows(scores, limit)[0]
        hybrid = rrf_fuse([dense_ids, sparse.ids[:, :limit]], 2 * limit)
        b.update(1)
    return SparseTruth(sparse, hybrid, limit)


def sparse_and_hybrid(
    engines: list[Any],
    ss: SparseSet,
    truth: SparseTruth,
    nqs: list[int],
    k: int,
    window: Window,
    skipped: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Sparse-IP search and hybrid (dense + sparse, RRF) search at each nq."""
    out = []
    pool = ss.queries.shape[0]
    with bar(2 * len(engines) * len(nqs), "sparse + hybrid search", "case") as b:
        for kind in ("sparse", "hybrid"):
            t = truth.sparse if kind == "sparse" else truth.hybrid
            for eng in engines:
                for nq in nqs:
                    b.set_postfix_str(f"{eng.engine} {kind} nq={nq}")
                    base = {"dataset": "sparse_hybrid", "workload": kind, "engine": eng.engine}
                    if kind == "sparse":
                        fn = lambda rows, e=eng: e.sparse(rows, k)  # noqa: E731
                    else:
                        base["limit_per_request"] = truth.limit
                        fn = lambda rows, e=eng: e.hybrid(rows, k, truth.limit)  # noqa: E731
                    rec = _guard(
                        {**base, "nq": nq, "k": k},
                        skipped,
                        lambda fn=fn, nq=nq, t=t, base=base: measure(
                            fn, nq, k, pool, t, window, base
                        ),
                    )
                    if rec:
                        out.append(rec)
                    b.update(1)
    return out
