"""Timing, latency percentiles and recall@k against float64 exact ground truth.

Every repeated operation is warmed up once and then timed call by call with
``time.perf_counter`` until it has run for ``min_seconds`` and ``min_reps`` calls, but never
past ``max_seconds`` once one call is timed (slow peers get fewer calls, not hours).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TIE_TOL = 1e-5  # scores closer than this (relative to max(1, |s|)) to the k-th count as ties


@dataclass
class Timing:
    """Per-call wall times of one repeated operation (the ``bench/cpu_vs_lite.py`` summary)."""

    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def summary(self, per_call_items: int = 1) -> dict[str, Any]:
        """Median / mean / p10 / p90 per call, throughput from the median, raw times."""
        s = sorted(self.seconds)
        return {
            "calls": len(s),
            "median_s": self.median,
            "mean_s": statistics.fmean(s),
            "min_s": s[0],
            "p10_s": s[int(0.1 * (len(s) - 1))],
            "p90_s": s[int(0.9 * (len(s) - 1))],
            "total_s": sum(s),
            "per_second_from_median": per_call_items / self.median,
            "raw_s": [float(f"{x:.7g}") for x in self.seconds],
        }


@dataclass
class Run:
    """Timed calls of one operation: per-call seconds, the first ``keep`` outputs, the last."""

    seconds: list[float]
    outputs: list[Any]
    last: Any
    warmup_s: float


def repeat(
    fn: Callable[[int], Any],
    min_seconds: float,
    min_reps: int = 3,
    max_seconds: float = float("inf"),
    max_reps: int = 100_000,
    keep: int = 1,
) -> Run:
    """Warm up with ``fn(0)``, then time ``fn(i)`` for i = 0, 1, ... (see the module doc).

    A warm-up slower than ``max_seconds`` leaves a single timed call.
    """
    t0 = time.perf_counter()
    fn(0)
    warm = time.perf_counter() - t0
    seconds: list[float] = []
    outputs: list[Any] = []
    out: Any = None
    start = time.perf_counter()
    i = 0
    while i < max_reps:
        elapsed = time.perf_counter() - start
        if i >= 1 and (elapsed >= max_seconds or warm >= max_seconds):
            break
        if i >= min_reps and elapsed >= min_seconds:
            break
        t0 = time.perf_counter()
        out = fn(i)
        seconds.append(time.perf_counter() - t0)
        if i < keep:
            outputs.append(out)
        i += 1
    return Run(seconds, outputs, out, warm)


def percentiles_ms(seconds: list[float] | np.ndarray, qs: tuple[int, ...] = (50, 95, 99)) -> dict:
    """``{"p50_ms": ..., ...}``: linear-interpolated percentiles (NumPy's default) in ms."""
    arr = np.asarray(seconds, dtype=np.float64) * 1e3
    return {f"p{q}_ms": float(v) for q, v in zip(qs, np.percentile(arr, qs), strict=True)}


def load1() -> float | None:
    """The 1-minute load average now (other processes competing for the cores)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def summarize(seconds: list[float], items_per_call: int) -> dict[str, Any]:
    """Calls, QPS (items over the summed call time), mean and p50/p95/p99 latency per call,
    and the 1-minute load average when the timing ended."""
    total = float(sum(seconds))
    return {
        "loadavg_1min": load1(),
        "calls": len(seconds),
        "total_s": total,
        "qps": items_per_call * len(seconds) / total if total > 0 else float("inf"),
        "mean_ms": 1e3 * total / len(seconds),
        **percentiles_ms(seconds),
    }


@dataclass
class Truth:
    """Exact top-``kt`` ids and scores per query (best first), computed in float64.

    ``ids`` is -1 and ``scores`` -inf where fewer than ``kt`` rows qualify (filters).
    """

    ids: np.ndarray
    scores: np.ndarray

    def take(self, rows: np.ndarray) -> Truth:
        """The truth of the queries ``rows``."""
        return Truth(self.ids[rows], self.scores[rows])


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` largest scores, best first (ties by lower column), as (ids, scores)."""
    n = scores.shape[1]
    k = min(k, n)
    part = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < n
        else np.tile(np.arange(n), (len(scores), 1))
    )
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def exact_truth(
    base: Any,
    queries: Any,
    k: int,
    mask: np.ndarray | None = None,
    chunk: int = 64,
    on_chunk: Callable[[int], None] | None = None,
) -> Truth:
    """Float64 exact inner-product top-``k`` of ``queries`` over ``base`` (dense or scipy CSR).

    ``mask``: rows that may be returned (a filter); others never are.
    """
    b64 = base.astype(np.float64, copy=False)
    n = base.shape[0]
    ids_out, sc_out = [], []
    for s in range(0, queries.shape[0], chunk):
        q = queries[s : s + chunk].astype(np.float64)
        sc = b64 @ q.T
        sc = np.asarray(sc.toarray() if hasattr(sc, "toarray") else sc).T
        if mask is not None:
            sc[:, ~mask] = -np.inf
        ids, vals = topk_rows(sc, min(k, n))
        ids[~np.isfinite(vals)] = -1
        ids_out.append(ids)
        sc_out.append(vals)
        if on_chunk:
            on_chunk(len(q))
    return Truth(np.concatenate(ids_out), np.concatenate(sc_out))


def recall_at_k(found: list[list[int]] | np.ndarray, truth: Truth, k: int) -> dict[str, float]:
    """Mean recall@k of ``found`` (one id list per query) against ``truth``.

    ``recall``: overlap with the exact top-k ids. ``recall_ties``: a found id also counts when
    its exact score ties the k-th within ``TIE_TOL`` (any order of equal scores is exact).
    Queries whose filter passes fewer than k rows are scored against the rows that pass.
    """
    strict, ties = [], []
    for i, f in enumerate(found):
        t_ids, t_sc = truth.ids[i], truth.scores[i]
        valid = t_ids[:k] >= 0
        want = int(valid.sum())
        if want == 0:
            continue
        got = {int(x) for x in list(f)[:k]}
        exact = {int(x) for x in t_ids[:k][valid]}
        kth = t_sc[want - 1]
        tol = TIE_TOL * max(1.0, abs(float(kth)))
        tied = {int(x) for x, s in zip(t_ids, t_sc, strict=True) if x >= 0 and s >= kth - tol}
        strict.append(len(got & exact) / want)
        ties.append(min(want, len(got & (exact | tied))) / want)
    if not strict:
        return {"recall": float("nan"), "recall_ties": float("nan"), "queries": 0}
    return {
        "recall": float(np.mean(strict)),
        "recall_ties": float(np.mean(ties)),
        "queries": len(strict),
    }


def overlap(found: Any, truth: Any) -> float:
    """Mean |found_i ∩ truth_i| / k over queries, k = len(truth[0]) (id lists, no scores)."""
    k = len(truth[0])
    return statistics.fmean(
        len({int(x) for x in f} & {int(t) for t in tr}) / k
        for f, tr in zip(found, truth, strict=True)
    )


def rrf_fuse(lists: list[np.ndarray], k: int, rrf_k: int = 60) -> Truth:
    """Reciprocal-rank fusion of per-request top-id arrays (nq, limit) into a top-``k`` Truth."""
    nq = lists[0].shape[0]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_sc = np.full((nq, k), -np.inf)
    for i in range(nq):
        acc: dict[int, float] = {}
        for ids in lists:
            for rank, x in enumerate(ids[i]):
                if x >= 0:
                    acc[int(x)] = acc.get(int(x), 0.0) + 1.0 / (rrf_k + rank + 1)
        best = sorted(acc.items(), key=lambda t: (-t[1], t[0]))[:k]
        for j, (x, s) in enumerate(best):
            out_ids[i, j], out_sc[i, j] = x, s
    return Truth(out_ids, out_sc)
