"""Concurrency sweep through ``AsyncMilvusClient``: C nq=1 searches in flight at once.

For each level C, rounds of C concurrent ``search`` calls (each one query, top-k) are fired
with ``asyncio.gather`` and awaited, until the level has run ``min_seconds`` and
``min_reps`` rounds (never past ``max_seconds`` once a round is done). Per level: QPS
(requests / summed round time), issue-to-result latency p50/p95/p99 per request, recall@k of
the first round, and for gpu_milvus the scheduler's mean batch size.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from gpu_milvus.benchmarks.clients import Side, hit_ids
from gpu_milvus.benchmarks.metrics import Truth, load1, percentiles_ms, recall_at_k
from gpu_milvus.benchmarks.progress import bar
from gpu_milvus.benchmarks.workloads import Window


async def sweep(
    side: Side,
    name: str,
    pool: list[Any],
    truth: Truth,
    levels: list[int],
    k: int,
    window: Window,
    dataset: str,
) -> list[dict[str, Any]]:
    """The sweep on ``side``, one record per level (the caller runs it: ``asyncio.run``)."""
    ac = side.async_client()
    stats = getattr(ac, "scheduler_stats", None)

    async def one(q: Any, t0: float) -> tuple[list[int], float]:
        res = await ac.search(
            name,
            data=[q],
            limit=k,
            anns_field="vec",
            output_fields=["id"],
            search_params={"metric_type": "IP"},
        )
        return hit_ids(res)[0], time.perf_counter() - t0

    async def fire(c: int, r: int) -> tuple[np.ndarray, list[tuple[list[int], float]]]:
        rows = (np.arange(c) + r * c) % len(pool)
        t0 = time.perf_counter()
        return rows, list(await asyncio.gather(*(one(pool[i], t0) for i in rows)))

    out: list[dict[str, Any]] = []
    try:
        await fire(1, 0)  # warm-up: first async call, scheduler start
        with bar(len(levels), f"{side.name}: concurrency sweep", "level") as b:
            for c in levels:
                b.set_postfix_str(f"C={c}")
                before = stats() if stats else None
                lat: list[float] = []
                rounds: list[float] = []
                first: tuple[np.ndarray, list[list[int]]] | None = None
                start = time.perf_counter()
                while True:
                    elapsed = time.perf_counter() - start
                    if rounds and elapsed >= window.max_seconds:
                        break
                    if len(rounds) >= window.min_reps and elapsed >= window.min_seconds:
                        break
                    t0 = time.perf_counter()
                    rows, res = await fire(c, len(rounds))
                    rounds.append(time.perf_counter() - t0)
                    lat += [t for _, t in res]
                    if first is None:
                        first = (rows, [ids for ids, _ in res])
                assert first is not None
                rec: dict[str, Any] = {
                    "dataset": dataset,
                    "workload": "concurrency",
                    "engine": side.name,
                    "concurrency": c,
                    "nq": 1,
                    "k": k,
                    "rounds": len(rounds),
                    "requests": len(lat),
                    "total_s": sum(rounds),
                    "qps": len(lat) / sum(rounds),
                    **percentiles_ms(lat),
                    "loadavg_1min": load1(),
                    **recall_at_k(first[1], truth.take(first[0]), k),
                }
                if stats and before:
                    after = stats()
                    n = after["batches"] - before["batches"]
                    rec["mean_batch_size"] = (after["requests"] - before["requests"]) / max(1, n)
                out.append(rec)
                b.update(1)
    finally:
        await ac.close()
    return out
