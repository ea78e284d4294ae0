"""Dynamic batching: AsyncMilvusClient's search scheduler (performance.md §6, G8).

A seeded collection (``--rows`` x ``--dim``, IP, unit float32; ``--quick`` = 20k x 128) on
``--device`` (default ``cpu``); every timing includes turning results into
(id, distance) lists.
* sweep: for C in 1..1024 fire C nq=1 searches at once, repeated (``--min-seconds``,
  ``--min-rounds``): QPS, issue-to-result latency p50/p95/p99, mean batch size;
* ratio: the same 256 searches awaited one after another vs at once (median of ``--reps``),
  goal >= 5x with identical results (also checked against direct engine calls);
* overhead: on a tiny collection, N nq=1 searches through the scheduler vs one nq=N call of the
  engine core (``client._core.search``), per request, split into asyncio's own cost, what N
  calls cost over one call without any scheduler (argument checks, result objects), and the
  rest, the scheduler's own share (G8: <= 5 us beyond asyncio, performance.md §6.2); and a
  fresh scheduler with a no-op engine call, its loop work alone;
* streamed: 256 clients issuing searches back to back vs offline calls of the same batch size
  (G8: >= 0.8x);
* thousand: 1000 concurrent nq=1 searches vs one nq=1000 call (G8 on a GPU: <= 1.25x);
* modelled GPU: the thousand test on the tiny collection with each engine call followed by a
  GIL-free wait as long as an H100's batch (``GPU_MODELS``): this host's Python around a GPU;
* idle: single requests, scheduler vs direct core call vs the same split through a plain
  ``run_in_executor`` (two thread hops), in rotating order (G8: <= 100 us added).
Writes ``bench/results/scheduler_[quick_]<rows>x<dim>_<UTC>.json`` (+ PNG with matplotlib).
Run: ``python bench/scheduler_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import itertools
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

# bench/ is sys.path[0] when run as a script; importing it also puts this checkout first.
from cpu_vs_lite import REPO, git_info, log, machine_info, versions

from gpu_milvus import AsyncMilvusClient, MilvusClient
from gpu_milvus import scheduler as scheduler_mod
from gpu_milvus.engine import reads
from gpu_milvus.scheduler import DEFAULT_MAX_BATCH

NAME, TINY = "sbench", "stiny"
OTHER_MAX_BATCH = (1024, 512)  # besides the client's default
Hits = list[list[tuple[Any, float]]]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--quick", action="store_true", help="20k x 128, shorter timings")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--levels", default="1,4,16,64,256,1024")
    p.add_argument("--min-seconds", type=float, default=None, help="per level (3; quick 1)")
    p.add_argument("--min-rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=5, help="repetitions of the 256-search ratio")
    p.add_argument("--tiny", default="1000x16", help="rows x dim of the overhead collection")
    p.add_argument("--tiny-n", type=int, default=1024, help="N searches in the overhead test")
    p.add_argument("--seed", type=int, default=20260601)
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (the engine's device=)")
    p.add_argument("--durability", default="sync", help="the store's durability= (sync, group)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.dim = 20_000, 128
    args.min_seconds = args.min_seconds or (1.0 if args.quick else 3.0)
    args.tiny_rows, args.tiny_dim = (int(x) for x in args.tiny.split("x"))
    return args


def normalised(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def build(client: MilvusClient, name: str, rows: int, dim: int, seed: int) -> None:
    client.create_collection(name, dimension=dim, metric_type="IP")
    vecs = normalised(np.random.default_rng(seed), rows, dim)
    for start in range(0, rows, 20_000):
        chunk = vecs[start : start + 20_000]
        client.insert(name, [{"id": start + i, "vector": v} for i, v in enumerate(chunk)])


def hits(res: Any) -> Hits:
    return [[(h["id"], h["distance"]) for h in q] for q in res]


async def hits_of(aw: Awaitable[Any]) -> Hits:
    return hits(await aw)


async def at_once(ac: AsyncMilvusClient, name: str, qs: list[list[float]], k: int) -> list[Hits]:
    """One nq=1 search per query, all issued at once; each caller's hits."""
    return list(await asyncio.gather(*(hits_of(ac.search(name, [q], limit=k)) for q in qs)))


async def interleaved(
    a: Callable[[], Awaitable[Any]], b: Callable[[], Awaitable[Any]], reps: int
) -> tuple[Any, Any, list[float], list[float]]:
    """Both after a warm-up, alternately ``reps`` times (load from other processes hits both
    alike): their last values and their run times in seconds."""
    got_a, got_b, t_a, t_b = await a(), await b(), [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        got_a = await a()
        t_a.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        got_b = await b()
        t_b.append(time.perf_counter() - t0)
    return got_a, got_b, t_a, t_b


async def timed(fn: Callable[[], Awaitable[Any]], reps: int) -> tuple[float, Any]:
    """Best seconds of ``reps`` runs after a warm-up (the cost with the least interference from
    other processes; the overheads are small differences of these), and the last run's value.
    Cyclic GC is paused: it taxes one huge nq=N result far more than N small ones."""
    gc.collect()
    gc.disable()
    try:
        value, times = await fn(), []
        for _ in range(reps):
            t0 = time.perf_counter()
            value = await fn()
            times.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return min(times), value


async def sweep_level(
    ac: AsyncMilvusClient, queries: list[list[float]], c: int, args: argparse.Namespace
) -> dict[str, Any]:
    async def one(q: list[float], t0: float) -> float:
        hits(await ac.search(NAME, [q], limit=args.k))
        return time.perf_counter() - t0

    async def fire(r: int) -> list[float]:
        t0 = time.perf_counter()
        qs = [queries[(r * c + i) % len(queries)] for i in range(c)]
        return list(await asyncio.gather(*(one(q, t0) for q in qs)))

    await fire(0)  # warm-up
    before, lat, times = ac.scheduler_stats(), [], []
    while len(times) < args.min_rounds or sum(times) < args.min_seconds:
        t0 = time.perf_counter()
        lat += await fire(len(times) + 1)
        times.append(time.perf_counter() - t0)
    after = ac.scheduler_stats()
    p50, p95, p99 = np.percentile(np.asarray(lat) * 1e3, [50, 95, 99])
    return {"concurrency": c, "rounds": len(times), "requests": len(lat), "wall_s": sum(times),
            "qps": len(lat) / sum(times), "qps_median_round": c / statistics.median(times),
            "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "mean_batch_size": (after["requests"] - before["requests"])
            / (after["batches"] - before["batches"])}  # fmt: skip


async def ratio_256(
    ac: AsyncMilvusClient, queries: list[list[float]], args: argparse.Namespace
) -> dict[str, Any]:
    qs, k = queries[:256], args.k

    async def sequential() -> list[Hits]:
        return [hits(await ac.search(NAME, [q], limit=k)) for q in qs]

    seq, conc, t_s, t_c = await interleaved(sequential, lambda: at_once(ac, NAME, qs, k), args.reps)
    t_seq, t_conc = statistics.median(t_s), statistics.median(t_c)
    direct = [hits(ac._core.search(NAME, [q], limit=k)) for q in qs[:32]]
    return {"n": len(qs), "sequential_s": t_seq, "concurrent_s": t_conc,
            "sequential_qps": len(qs) / t_seq, "concurrent_qps": len(qs) / t_conc,
            "ratio": t_seq / t_conc, "identical": seq == conc, "sequential_runs_s": t_s,
            "concurrent_runs_s": t_c,
            "identical_to_direct_engine_call": conc[:32] == direct}  # fmt: skip


async def streamed(
    ac: AsyncMilvusClient, queries: list[list[float]], args: argparse.Namespace, c: int = 256
) -> dict[str, Any]:
    """G8: ``c`` clients each issuing nq=1 searches back to back for ``--min-seconds``, vs
    offline nq=B calls of the engine core, B = the streamed run's mean batch size."""
    k, stop_at, served = args.k, 0.0, [0]

    async def client(i: int) -> None:
        j = i
        while time.perf_counter() < stop_at:
            hits(await ac.search(NAME, [queries[j % len(queries)]], limit=k))
            served[0] += 1
            j += c

    before = ac.scheduler_stats()
    t0 = time.perf_counter()
    stop_at = t0 + args.min_seconds
    await asyncio.gather(*(client(i) for i in range(c)))
    wall = time.perf_counter() - t0
    after = ac.scheduler_stats()
    batch = (after["requests"] - before["requests"]) / (after["batches"] - before["batches"])
    b = max(1, round(batch))
    doubled, calls, t1 = queries * 2, 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t1 < args.min_seconds:
        at = (calls * b) % len(queries)
        hits(ac._core.search(NAME, doubled[at : at + b], limit=k))
        calls += 1
    offline_qps = calls * b / (time.perf_counter() - t1)
    qps = served[0] / wall
    return {"clients": c, "requests": served[0], "wall_s": wall, "qps": qps,
            "mean_batch_size": batch, "offline_batch": b, "offline_qps": offline_qps,
            "ratio": qps / offline_qps}  # fmt: skip


async def thousand_vs_one(
    ac: AsyncMilvusClient, queries: list[list[float]], args: argparse.Namespace, name: str = NAME
) -> dict[str, Any]:
    """G8: 1000 concurrent nq=1 searches vs one nq=1000 call of the engine core (best of
    ``--reps``, interleaved), both with their results turned into lists."""
    qs, k = queries[:1000], args.k

    async def one_call() -> Hits:
        return hits(ac._core.search(name, qs, limit=k))

    got, want, t_c, t_1 = await interleaved(lambda: at_once(ac, name, qs, k), one_call, args.reps)
    return {"n": len(qs), "concurrent_s": min(t_c), "one_call_s": min(t_1),
            "ratio": min(t_c) / min(t_1), "identical": [g[0] for g in got] == want,
            "concurrent_runs_s": t_c, "one_call_runs_s": t_1}  # fmt: skip


# performance.md §6.2: an H100's time for N=1M, d=768 batches (fp32 SIMT GEMM ~28.6 ms and
# bf16 ~2 ms at nq=1000; a memory-bound pass below the ridge): floor ms, ms per query
GPU_MODELS = {"fp32": (1.0, 0.0286), "bf16": (0.5, 0.002)}


async def modelled_gpu(
    clients: dict[int, AsyncMilvusClient], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """G8's 1000 concurrent nq=1 searches vs one nq=1000 call with the engine made as slow as
    a GPU: each engine call on the tiny collection is followed by a GIL-free wait of
    max(floor, nq x per-query) ms, as a batch waits in ``eventSynchronize``. It shows what
    this host's Python adds around a GPU of that speed (goals: <= 1.25x for fp32, <= one
    call + 8 ms for bf16), before any GPU run; once per ``max_batch`` in ``clients``."""
    real = reads.search_batch
    queries = normalised(np.random.default_rng(args.seed + 5), 1000, args.tiny_dim).tolist()
    out = []
    for (name, (floor_ms, per_query_ms)), (batch, ac) in itertools.product(
        GPU_MODELS.items(), clients.items()
    ):

        def slowed(coll: Any, items: Any, floor: float = floor_ms, per: float = per_query_ms):
            found = real(coll, items)
            nq = sum(i.req.data.shape[0] for i in items)
            time.sleep(max(floor, per * nq) / 1e3)
            return found

        scheduler_mod.search_batch = reads.search_batch = slowed
        try:
            r = await thousand_vs_one(ac, queries, args, TINY)
        finally:
            scheduler_mod.search_batch = reads.search_batch = real
        out.append({"model": name, "max_batch": batch, "floor_ms": floor_ms,
                    "per_query_ms": per_query_ms, **r,
                    "excess_ms": 1e3 * (r["concurrent_s"] - r["one_call_s"])})  # fmt: skip
    return out


async def asyncio_floor(n: int, reps: int) -> float:
    """Seconds for n coroutines awaiting futures that one callback resolves together."""
    loop = asyncio.get_running_loop()

    async def resolve_all() -> None:
        futs = [loop.create_future() for _ in range(n)]
        loop.call_soon(lambda: [f.set_result(1) for f in futs])
        await asyncio.gather(*(asyncio.wait_for(f, None) for f in futs))  # one coroutine each

    return (await timed(resolve_all, reps))[0]


async def scheduler_alone(n: int, reps: int) -> float:
    """Seconds for n requests through a fresh SearchScheduler whose engine call is a no-op:
    the scheduler's own loop work (queue, dispatch, thread hop, delivery) plus asyncio's."""
    real = scheduler_mod.search_batch
    scheduler_mod.search_batch = lambda coll, items: [([], "IP")] * len(items)
    sched = scheduler_mod.SearchScheduler()
    try:

        async def one(i: int) -> Any:
            return await sched.submit(None, i)  # type: ignore[arg-type]

        async def batch() -> None:
            await asyncio.gather(*(one(i) for i in range(n)))

        return (await timed(batch, reps))[0]
    finally:
        scheduler_mod.search_batch = real
        await sched.close()


async def overhead(ac: AsyncMilvusClient, args: argparse.Namespace) -> dict[str, Any]:
    n, k = args.tiny_n, args.k
    queries = normalised(np.random.default_rng(args.seed + 2), n, args.tiny_dim).tolist()

    async def batched() -> list[Hits]:
        return await at_once(ac, TINY, queries, k)

    async def one_call() -> Hits:
        return hits(ac._core.search(TINY, queries, limit=k))

    core, none = ac._core, {"ranker": None}

    def prepare(data: list[list[float]]) -> Any:
        return core.prepare_search(TINY, data, "", k, None, None, None, None, None, none, {})

    solo = [prepare([q]) for q in queries]  # engine outcomes computed once, outside the timings
    solo_out = reads.search_batch(solo[0].coll, [p.items[0] for p in solo])
    whole = prepare(queries)
    whole_out = reads.search_batch(whole.coll, whole.items)

    async def client_work_solo() -> None:  # what each nq=1 call costs besides the engine
        for q, out in zip(queries, solo_out, strict=True):
            hits(core.finish_search(prepare([q]), [out]))

    async def client_work_whole() -> None:  # the same for one nq=N call
        hits(core.finish_search(prepare(queries), whole_out))

    b0 = ac.scheduler_stats()["batches"]
    t_batched, got = await timed(batched, 15)
    batches = (ac.scheduler_stats()["batches"] - b0) / 16
    t_one, want = await timed(one_call, 15)
    t_solo = (await timed(client_work_solo, 15))[0]
    t_whole = (await timed(client_work_whole, 15))[0]
    floor = 1e6 * await asyncio_floor(n, 15) / n
    alone = 1e6 * await scheduler_alone(n, 15) / n - floor
    per = 1e6 * (t_batched - t_one) / n
    client_us = 1e6 * (t_solo - t_whole) / n  # checks and result objects per call, not per query
    own = per - client_us - floor
    return {"collection": args.tiny, "n": n, "batches_per_run": batches,
            "batched_us_per_request": 1e6 * t_batched / n,
            "one_call_us_per_query": 1e6 * t_one / n, "overhead_us_per_request": per,
            "asyncio_floor_us_per_coroutine": floor, "overhead_beyond_asyncio_us": per - floor,
            "client_calls_extra_us_per_request": client_us,
            "scheduler_own_us_per_request": own,
            "scheduler_loop_alone_us_per_request": alone,
            "identical": [q[0] for q in got] == want, "cyclic_gc": "paused"}  # fmt: skip


async def idle(ac: AsyncMilvusClient, name: str, q: list[float], k: int, n: int) -> dict:
    """Single requests on an idle client, three ways in rotating order (on a small VM the
    one that follows a big search pays for it): the engine core called on the loop; the
    scheduler's split without the scheduler (checks and results on the loop, the engine
    through ``run_in_executor`` on the scheduler's worker thread), the floor of any design
    that keeps engine work off the loop, which is two thread wake-ups; and the scheduler."""
    core, loop = ac._core, asyncio.get_running_loop()

    async def direct() -> Hits:
        return hits(core.search(name, [q], limit=k))

    async def off_loop() -> Hits:
        p = core.prepare_search(name, [q], "", k, None, None, None, None, None, {}, {})
        worker = ac._scheduler._executor  # created by the warm-up round's search
        outcome = (await loop.run_in_executor(worker, reads.search_batch, p.coll, p.items))[0]
        return hits(core.finish_search(p, [outcome]))

    async def scheduled() -> Hits:
        return hits(await ac.search(name, [q], limit=k))

    ways = {"direct": direct, "off_loop": off_loop, "scheduler": scheduled}
    times: dict[str, list[float]] = {w: [] for w in ways}
    order, identical = list(ways), True
    for i in range(n + 1):  # the first round is a warm-up
        results = []
        for w in order[i % 3 :] + order[: i % 3]:
            t0 = time.perf_counter()
            results.append(await ways[w]())
            times[w].append(time.perf_counter() - t0)
        identical = identical and results[0] == results[1] == results[2]
    d, o, s = (statistics.median(times[w][1:]) for w in order)
    return {"collection": name, "samples": n, "direct_ms": 1e3 * d, "off_loop_ms": 1e3 * o,
            "scheduler_ms": 1e3 * s, "added_us": 1e6 * (s - d),
            "thread_hops_us": 1e6 * (o - d), "scheduler_over_hops_us": 1e6 * (s - o),
            "identical": identical}  # fmt: skip


async def run(args: argparse.Namespace, workdir: str) -> dict[str, Any]:
    uri = f"{workdir}/s.db"
    sync = MilvusClient(uri, device=args.device, durability=args.durability)
    log(f"building {args.rows}x{args.dim} and tiny {args.tiny}")
    build(sync, NAME, args.rows, args.dim, args.seed)
    build(sync, TINY, args.tiny_rows, args.tiny_dim, args.seed + 1)
    ac = AsyncMilvusClient(uri, device=args.device, durability=args.durability)
    queries = normalised(np.random.default_rng(args.seed + 3), 2048, args.dim).tolist()
    sweep = []
    for c in (int(x) for x in args.levels.split(",")):
        sweep.append(await sweep_level(ac, queries, c, args))
        log(f"C={c}: {sweep[-1]['qps']:.1f} QPS, p50 {sweep[-1]['p50_ms']:.2f} ms")
    ratio = await ratio_256(ac, queries, args)
    stream = await streamed(ac, queries, args)
    thousand = await thousand_vs_one(ac, queries, args)
    log(f"1000 concurrent nq=1 / one nq=1000 call: {thousand['ratio']:.2f}")
    # the same with other batch sizes: with smaller ones, the results of one batch are built
    # while the next one runs
    others = {b: AsyncMilvusClient(uri, device=args.device, durability=args.durability,
                                   max_batch=b) for b in OTHER_MAX_BATCH}  # fmt: skip
    thousand_by = {}
    for b, client in others.items():
        thousand_by[b] = await thousand_vs_one(client, queries, args)
        log(f"... with max_batch={b}: {thousand_by[b]['ratio']:.2f}")
    log(f"streamed: {stream['qps']:.1f} QPS vs offline {stream['offline_qps']:.1f}")
    over = await overhead(ac, args)
    tiny_q = normalised(np.random.default_rng(args.seed + 4), 1, args.tiny_dim)[0].tolist()
    idles = [await idle(ac, NAME, queries[0], args.k, 30),
             await idle(ac, TINY, tiny_q, args.k, 300)]  # fmt: skip
    models = await modelled_gpu({DEFAULT_MAX_BATCH: ac, **others}, args)
    for client in (ac, *others.values()):
        await client.close()
    default_models = [m for m in models if m["max_batch"] == DEFAULT_MAX_BATCH]
    goals = {"ratio_256_vs_sequential >= 5, identical": ratio["ratio"] >= 5 and ratio["identical"],
             "scheduler_own_us <= 5 (G8)": over["scheduler_own_us_per_request"] <= 5,
             "scheduler_loop_alone_us <= 5 (G8, no-op engine)":
                 over["scheduler_loop_alone_us_per_request"] <= 5,
             "overhead_beyond_asyncio_us <= 5 (strict: with per-call checks and results)":
                 over["overhead_beyond_asyncio_us"] <= 5,
             "thousand_vs_one <= 1.25 on a modelled fp32 GPU (G8 on this host's CPU)":
                 default_models[0]["ratio"] <= 1.25 and default_models[0]["identical"],
             "thousand_vs_one <= one call + 8 ms on a modelled bf16 GPU (G8 on this CPU)":
                 default_models[1]["excess_ms"] <= 8 and default_models[1]["identical"],
             "idle_added_us (tiny) <= 100 (G8)": idles[1]["added_us"] <= 100,
             "streamed_vs_offline >= 0.8 (G8)": stream["ratio"] >= 0.8,
             "thousand_vs_one_call <= 1.25 (G8, GPU), identical":
                 thousand["ratio"] <= 1.25 and thousand["identical"]}  # fmt: skip
    return {"device": sync.device, "sweep": sweep, "ratio_256": ratio, "streamed": stream,
            "max_batch": DEFAULT_MAX_BATCH, "thousand": thousand,
            **{f"thousand_max_batch_{b}": t for b, t in thousand_by.items()},
            "overhead": over,
            "idle": idles, "modelled_gpu": models, "goals": goals}  # fmt: skip


def plot(record: dict[str, Any], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plot")
        return None
    cfg, sweep = record["config"], record["sweep"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["concurrency"] for r in sweep], [r["qps"] for r in sweep], "o-", label="concurrent")
    ax.axhline(record["ratio_256"]["sequential_qps"], ls="--", c="gray", label="sequential")
    ax.set(xscale="log", yscale="log", xlabel="concurrency", ylabel="QPS",
           title=f"gpu_milvus scheduler, CPU, {cfg['rows']}x{cfg['dim']}")  # fmt: skip
    ax.legend()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path.name


def print_table(rec: dict[str, Any]) -> None:
    cfg, m = rec["config"], rec["machine"]
    print(f"\nscheduler_bench {cfg['rows']}x{cfg['dim']} IP k={cfg['k']} device={rec['device']} "
          f"load {m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}")  # fmt: skip
    print("    C       QPS   QPS med    p50 ms    p95 ms    p99 ms   batch")
    for r in rec["sweep"]:
        print(f"{r['concurrency']:>5} {r['qps']:>9.1f} {r['qps_median_round']:>9.1f} "
              f"{r['p50_ms']:>9.2f} {r['p95_ms']:>9.2f} {r['p99_ms']:>9.2f} "
              f"{r['mean_batch_size']:>7.1f}")  # fmt: skip
    r, o = rec["ratio_256"], rec["overhead"]
    print(f"256 sequential {r['sequential_qps']:.1f} QPS, concurrent {r['concurrent_qps']:.1f} "
          f"QPS: ratio {r['ratio']:.2f}x (goal >= 5), identical={r['identical']}")  # fmt: skip
    print(f"overhead ({o['collection']}, N={o['n']}): {o['overhead_us_per_request']:.1f} "
          f"us/request (asyncio floor {o['asyncio_floor_us_per_coroutine']:.1f} us, beyond it "
          f"{o['overhead_beyond_asyncio_us']:.1f} us: per-call checks and result objects "
          f"{o['client_calls_extra_us_per_request']:.1f} us, the scheduler's own "
          f"{o['scheduler_own_us_per_request']:.1f} us; the scheduler alone with a no-op engine "
          f"{o['scheduler_loop_alone_us_per_request']:.1f} us beyond asyncio)")  # fmt: skip
    st = rec["streamed"]
    print(f"streamed ({st['clients']} clients back to back): {st['qps']:.1f} QPS, mean batch "
          f"{st['mean_batch_size']:.1f}; offline nq={st['offline_batch']} calls "
          f"{st['offline_qps']:.1f} QPS: ratio {st['ratio']:.2f} (goal >= 0.8)")  # fmt: skip
    th = rec["thousand"]
    print(f"1000 concurrent nq=1: {1e3 * th['concurrent_s']:.1f} ms; one nq=1000 call "
          f"{1e3 * th['one_call_s']:.1f} ms: ratio {th['ratio']:.2f} (goal <= 1.25 on a GPU), "
          f"identical={th['identical']}")  # fmt: skip
    for b in OTHER_MAX_BATCH:
        t2 = rec[f"thousand_max_batch_{b}"]
        print(f"  ... in batches of {b}: {1e3 * t2['concurrent_s']:.1f} ms: ratio "
              f"{t2['ratio']:.2f}, identical={t2['identical']}")  # fmt: skip
    for i in rec["idle"]:
        print(f"idle {i['collection']}: direct {i['direct_ms']:.3f} ms, scheduler "
              f"{i['scheduler_ms']:.3f} ms, added {i['added_us']:.0f} us: thread hops "
              f"{i['thread_hops_us']:.0f} us (run_in_executor), the scheduler "
              f"{i['scheduler_over_hops_us']:.0f} us over them")  # fmt: skip
    for m in rec["modelled_gpu"]:
        print(f"1000 vs one, max_batch {m['max_batch']}, on a modelled {m['model']} GPU "
              f"(max({m['floor_ms']}, nq x "
              f"{m['per_query_ms']}) ms a batch): {1e3 * m['concurrent_s']:.1f} vs "
              f"{1e3 * m['one_call_s']:.1f} ms, ratio {m['ratio']:.2f}, +{m['excess_ms']:.1f} ms, "
              f"identical={m['identical']}")  # fmt: skip
    print("goals met:", rec["goals"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    now = dt.datetime.now(dt.timezone.utc)
    record: dict[str, Any] = {
        "benchmark": "scheduler", "date": now.isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]), "machine": machine_info(),
        "git": git_info(), "versions": versions(),
        "blas_env": {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")},
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="sched_bench_") as workdir:
        record.update(asyncio.run(run(args, workdir)))
    record["machine"]["loadavg_end"] = list(os.getloadavg())
    stem = f"scheduler_{'quick_' if args.quick else ''}{args.rows}x{args.dim}_{now:%Y%m%dT%H%M%SZ}"
    out = args.out or REPO / "bench" / "results" / f"{stem}.json"
    record["plot"] = plot(record, out.with_suffix(".png"))
    out.write_text(json.dumps(record, indent=1, default=float) + "\n")
    print_table(record)
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
