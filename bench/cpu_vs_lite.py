"""First numbers: the gpu_milvus CPU path against milvus-lite 3.2.2, same data, one run.

Measures insert rows/s, exact (FLAT, IP, top-k) search QPS at nq=1 and nq=100, and a filtered
``count(*)`` with ``text like "%foo%"``; prints a table and writes a JSON record (see
``bench/README.md``). Every operation is written once, as a function of a client, and runs on
both clients.

    python bench/cpu_vs_lite.py                 # full run: 100k x 768
    python bench/cpu_vs_lite.py --quick         # 10k x 128, under a minute
    python bench/cpu_vs_lite.py --sides lite    # milvus-lite side only
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # benchmark this checkout's gpu_milvus, installed or not

# Shared with the suite (gpu_milvus.benchmarks); filter_speed.py and scheduler_bench.py import
# these names from here.
from gpu_milvus.benchmarks import metrics  # noqa: E402
from gpu_milvus.benchmarks.clients import drain_lite, release_lite  # noqa: E402
from gpu_milvus.benchmarks.datasets import normalised, vocabulary  # noqa: E402
from gpu_milvus.benchmarks.metrics import Timing, overlap  # noqa: E402
from gpu_milvus.benchmarks.progress import log  # noqa: E402
from gpu_milvus.benchmarks.record import (  # noqa: E402
    BLAS_ENV,
    disk_bytes,
    git_info,
    machine_info,
    reexec_with_blas_threads,
    strip_private,
    versions,
)

__all__ = ["REPO", "Timing", "drain_lite", "git_info", "log", "machine_info", "versions"]
COLLECTION = "bench"
FILTER_WORD = "foo"
GOALS: dict[str, float] = {
    "insert_ratio": 50.0,
    "search_nq1_ratio": 10.0,
    "search_nq100_ratio": 10.0,
    "filtered_count_ratio": 20.0,
}
_T0 = time.perf_counter()


# --------------------------------------------------------------------------------------------
# configuration and data


@dataclass
class Config:
    """Benchmark parameters (all recorded in the JSON)."""

    rows: int = 100_000
    dim: int = 768
    batch: int = 10_000
    nq: int = 100
    k: int = 10
    words_per_text: int = 12
    seed: int = 20240601
    min_seconds: float = 3.0
    min_reps: int = 5
    max_reps: int = 20_000
    vectors: str = "list"
    lite_autoindex: bool = True
    sides: str = "both"
    subject: str = "gpu_milvus"
    device: str = "cpu"
    quick: bool = False


@dataclass
class Dataset:
    """Seeded rows, queries and the exact answers computed with NumPy."""

    vectors: np.ndarray  # (rows, dim) float32, L2-normalised
    texts: list[str]
    cats: np.ndarray  # (rows,) int64
    queries: np.ndarray  # (nq, dim) float32, L2-normalised
    truth_ids: np.ndarray  # (nq, k) exact IP top-k
    filter_expr: str
    expected_count: int
    vector_format: str

    def batch_rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Rows ``start:stop`` as a list of dicts, the way users call ``insert``."""
        block = self.vectors[start:stop]
        vecs: list[Any] = block.tolist() if self.vector_format == "list" else list(block)
        cats = self.cats[start:stop].tolist()
        return [
            {"id": start + i, "vec": vecs[i], "text": self.texts[start + i], "cat": cats[i]}
            for i in range(stop - start)
        ]

    def query_data(self, start: int, stop: int) -> Any:
        """Queries ``start:stop`` as search ``data`` (list of lists or a 2-D array)."""
        block = self.queries[start:stop]
        return block.tolist() if self.vector_format == "list" else block


def make_dataset(cfg: Config) -> Dataset:
    """Build the data set from ``cfg.seed``: identical on every run and for both clients."""
    rng = np.random.default_rng(cfg.seed)
    vectors = normalised(rng.standard_normal((cfg.rows, cfg.dim), dtype=np.float32))
    vocab = vocabulary(rng, FILTER_WORD)
    word_ids = rng.integers(0, len(vocab), size=(cfg.rows, cfg.words_per_text))
    texts = [" ".join(vocab[j] for j in row) for row in word_ids.tolist()]
    cats = rng.integers(0, 100, size=cfg.rows, dtype=np.int64)
    queries = normalised(rng.standard_normal((cfg.nq, cfg.dim), dtype=np.float32))
    scores = queries @ vectors.T
    top = np.argpartition(-scores, cfg.k, axis=1)[:, : cfg.k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    truth_ids = np.take_along_axis(top, order, axis=1)
    return Dataset(
        vectors=vectors,
        texts=texts,
        cats=cats,
        queries=queries,
        truth_ids=truth_ids,
        filter_expr=f'text like "%{FILTER_WORD}%"',
        expected_count=sum(FILTER_WORD in t for t in texts),
        vector_format=cfg.vectors,
    )


# --------------------------------------------------------------------------------------------
# timing helpers


def repeat(fn: Callable[[int], Any], cfg: Config, what: str) -> tuple[Timing, list[Any]]:
    """Warm up once, then call ``fn(i)`` until ``min_seconds`` and ``min_reps`` are reached."""
    run = metrics.repeat(
        fn, cfg.min_seconds, cfg.min_reps, max_reps=cfg.max_reps, keep=cfg.max_reps
    )
    timing = Timing(run.seconds)
    log(f"  {what}: {len(run.seconds)} calls, median {timing.median * 1e3:.2f} ms")
    return timing, run.outputs


# --------------------------------------------------------------------------------------------
# operations, written once as functions of a client


def create_collection(client: Any, name: str, cfg: Config, index_type: str = "FLAT") -> None:
    """INT64 pk ``id``, FLOAT_VECTOR ``vec``, VARCHAR ``text``, INT64 ``cat``; index on ``vec``."""
    from pymilvus import DataType

    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=cfg.dim)
    schema.add_field("text", DataType.VARCHAR, max_length=512)
    schema.add_field("cat", DataType.INT64)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vec", index_type=index_type, metric_type="IP", params={})
    client.create_collection(name, schema=schema, index_params=index_params)


def search_ids(client: Any, data: Any, cfg: Config) -> tuple[list[list[int]], list[list[float]]]:
    """One search call; materialises ids and distances (part of the timed work)."""
    res = client.search(
        COLLECTION,
        data=data,
        limit=cfg.k,
        anns_field="vec",
        output_fields=["id"],
        search_params={"metric_type": "IP"},
    )
    ids = [[int(h["id"]) for h in hits] for hits in res]
    dists = [[float(h["distance"]) for h in hits] for hits in res]
    return ids, dists


def count_matching(client: Any, expr: str) -> int:
    """Filtered ``count(*)``."""
    res = client.query(COLLECTION, filter=expr, output_fields=["count(*)"])
    return int(res[0]["count(*)"])


def bench_insert(client: Any, ds: Dataset, cfg: Config, side: str) -> dict[str, Any]:
    """Warm-up insert into a throw-away collection, then timed batched inserts."""
    create_collection(client, "warmup", cfg)
    client.insert("warmup", ds.batch_rows(0, min(cfg.batch, 1000)))
    client.drop_collection("warmup")

    create_collection(client, COLLECTION, cfg)
    timing = Timing()
    for start in range(0, cfg.rows, cfg.batch):
        stop = min(start + cfg.batch, cfg.rows)
        rows = ds.batch_rows(start, stop)
        t0 = time.perf_counter()
        res = client.insert(COLLECTION, rows)
        timing.seconds.append(time.perf_counter() - t0)
        if int(res["insert_count"]) != stop - start:
            raise RuntimeError(f"{side}: insert_count {res['insert_count']} != {stop - start}")
        del rows
        log(
            f"  {side} insert {stop}/{cfg.rows} rows ({(stop - start) / timing.seconds[-1]:,.0f}"
            " rows/s)"
        )
    batch_rates = [
        (min(s + cfg.batch, cfg.rows) - s) / t
        for s, t in zip(range(0, cfg.rows, cfg.batch), timing.seconds, strict=True)
    ]
    out = timing.summary(per_call_items=cfg.batch)
    out["rows_per_s_median_batch"] = statistics.median(batch_rates)
    out["rows_per_s_overall"] = cfg.rows / sum(timing.seconds)
    return out


def settle(client: Any, side_path: str, is_lite: bool) -> dict[str, Any]:
    """flush + load (timed separately, not part of insert), then wait for lite's bg worker."""
    t0 = time.perf_counter()
    client.flush(COLLECTION)
    t1 = time.perf_counter()
    client.load_collection(COLLECTION)
    t2 = time.perf_counter()
    drained = drain_lite(side_path) if is_lite else None
    t3 = time.perf_counter()
    return {"flush_s": t1 - t0, "load_s": t2 - t1, "bg_drain_s": t3 - t2, "bg_drained": drained}


def bench_queries(client: Any, ds: Dataset, cfg: Config, label: str) -> dict[str, Any]:
    """nq=1 sequential searches and repeated nq=``cfg.nq`` searches; keeps ids for recall."""
    t1, outs1 = repeat(
        lambda i: search_ids(client, ds.query_data(i % cfg.nq, i % cfg.nq + 1), cfg),
        cfg,
        f"{label} search nq=1",
    )
    nq1_ids: list[list[int] | None] = [None] * cfg.nq
    for i, (ids, _) in enumerate(outs1[: cfg.nq]):
        nq1_ids[i] = ids[0]
    data = ds.query_data(0, cfg.nq)
    tn, outsn = repeat(lambda i: search_ids(client, data, cfg), cfg, f"{label} search nq={cfg.nq}")
    ids_n, dists_n = outsn[-1]
    return {
        "nq1": t1.summary(1),
        "nq_batch": tn.summary(cfg.nq),
        "_ids": ids_n,
        "_dists": dists_n,
        "_nq1_ids": nq1_ids,
    }


def bench_count(client: Any, ds: Dataset, cfg: Config, label: str) -> dict[str, Any]:
    """Repeated filtered ``count(*)``; checks the count against NumPy."""
    timing, outs = repeat(
        lambda i: count_matching(client, ds.filter_expr), cfg, f"{label} filtered count(*)"
    )
    out = timing.summary(1)
    out["count"] = outs[-1]
    out["count_matches_numpy"] = outs[-1] == ds.expected_count
    return out


def run_side(
    side: str, make_client: Callable[[], Any], path: str, is_lite: bool, ds: Dataset, cfg: Config
) -> dict[str, Any]:
    """Everything for one client: insert, settle, search, count, (lite) AUTOINDEX."""
    log(f"== {side}: opening client at {path}")
    t_side = time.perf_counter()
    t0 = time.perf_counter()
    client = make_client()
    out: dict[str, Any] = {"open_s": time.perf_counter() - t0}
    if not is_lite:
        out["client_device"] = str(getattr(client, "device", None))
    out["insert"] = bench_insert(client, ds, cfg, side)
    out["settle"] = settle(client, path, is_lite)
    out["insert"]["rows_per_s_with_flush"] = cfg.rows / (
        out["insert"]["total_s"] + out["settle"]["flush_s"]
    )
    out["store_bytes_on_disk"] = disk_bytes(path)
    total = count_matching(client, "")
    out["row_count"] = total
    if total != cfg.rows:
        raise RuntimeError(f"{side}: count(*) = {total}, expected {cfg.rows}")
    out["search_flat"] = bench_queries(client, ds, cfg, f"{side} FLAT")
    out["search_flat"]["recall_vs_numpy"] = overlap(out["search_flat"]["_ids"], ds.truth_ids)
    out["filtered_count"] = bench_count(client, ds, cfg, side)
    if is_lite and cfg.lite_autoindex:
        log(f"  {side}: release, drop FLAT, create AUTOINDEX, load (index build)")
        t0 = time.perf_counter()
        client.release_collection(COLLECTION)
        client.drop_index(COLLECTION, "vec")
        index_params = client.prepare_index_params()
        index_params.add_index(
            field_name="vec", index_type="AUTOINDEX", metric_type="IP", params={}
        )
        client.create_index(COLLECTION, index_params)
        client.load_collection(COLLECTION)
        drain_lite(path)
        build_s = time.perf_counter() - t0
        auto = bench_queries(client, ds, cfg, f"{side} AUTOINDEX")
        auto["index_build_s"] = build_s
        auto["describe_index"] = {
            k: str(v) for k, v in client.describe_index(COLLECTION, "vec").items()
        }
        auto["recall_vs_numpy"] = overlap(auto["_ids"], ds.truth_ids)
        out["search_autoindex"] = auto
    client.close()
    out["side_wall_s"] = time.perf_counter() - t_side
    log(f"== {side}: done in {out['side_wall_s']:.1f} s")
    return out


# --------------------------------------------------------------------------------------------
# record


def ratios(subject: dict[str, Any], lite: dict[str, Any]) -> dict[str, Any]:
    """Subject / lite speed ratios (>1 means gpu_milvus is faster) against the goals."""
    sf, lf = subject["search_flat"], lite["search_flat"]
    values = {
        "insert_ratio": subject["insert"]["rows_per_s_median_batch"]
        / lite["insert"]["rows_per_s_median_batch"],
        "search_nq1_ratio": sf["nq1"]["per_second_from_median"]
        / lf["nq1"]["per_second_from_median"],
        "search_nq100_ratio": sf["nq_batch"]["per_second_from_median"]
        / lf["nq_batch"]["per_second_from_median"],
        "filtered_count_ratio": lite["filtered_count"]["median_s"]
        / subject["filtered_count"]["median_s"],
    }
    return {
        name: {"value": v, "goal": GOALS[name], "met": bool(v >= GOALS[name])}
        for name, v in values.items()
    }


def ratios_info(subject: dict[str, Any], lite: dict[str, Any]) -> dict[str, float]:
    """Secondary ratios without goals: insert including lite's in-insert flush stalls."""
    return {
        "insert_ratio_overall": subject["insert"]["rows_per_s_overall"]
        / lite["insert"]["rows_per_s_overall"],
        "insert_ratio_with_flush": subject["insert"]["rows_per_s_with_flush"]
        / lite["insert"]["rows_per_s_with_flush"],
    }


def agreement(subject: dict[str, Any], lite: dict[str, Any], cfg: Config) -> dict[str, Any]:
    """Do both exact searches return the same top-k (ids and distances)?"""
    s_ids, l_ids = subject["search_flat"]["_ids"], lite["search_flat"]["_ids"]
    s_d = np.array(subject["search_flat"]["_dists"], dtype=np.float64)
    l_d = np.array(lite["search_flat"]["_dists"], dtype=np.float64)
    pairs = [
        (a, b)
        for a, b in zip(
            subject["search_flat"]["_nq1_ids"], lite["search_flat"]["_nq1_ids"], strict=True
        )
        if a is not None and b is not None
    ]
    return {
        "recall_subject_vs_lite_nq_batch": overlap(s_ids, l_ids),
        "recall_subject_vs_lite_nq1": overlap([a for a, _ in pairs], [b for _, b in pairs])
        if pairs
        else None,
        "nq1_queries_compared": len(pairs),
        "max_abs_distance_diff": float(np.max(np.abs(s_d - l_d)))
        if s_d.shape == l_d.shape
        else None,
        "filtered_counts_equal": subject["filtered_count"]["count"]
        == lite["filtered_count"]["count"],
        "k": cfg.k,
    }


def print_table(record: dict[str, Any]) -> None:
    """Small human-readable summary on stdout."""
    sides = record["sides"]
    cfg = record["config"]
    names = [n for n in ("subject", "lite") if n in sides]
    labels = {"subject": record["subject_label"], "lite": "milvus-lite"}

    def row(metric: str, getter: Any, fmt: str, ratio_key: str | None) -> None:
        cells = [format(getter(sides[n]), fmt) for n in names]
        r = record.get("ratios", {}).get(ratio_key) if ratio_key else None
        met = "met" if r and r["met"] else "NOT met"
        tail = f"{r['value']:>9.1f}x  >={r['goal']:.0f}x  {met}" if r else ""
        print(f"{metric:<34}" + "".join(f"{c:>16}" for c in cells) + f"  {tail}")

    print(f"\n{cfg['rows']:,} rows x {cfg['dim']} dims, IP, top-{cfg['k']}, "
          f"vectors as {cfg['vectors']}")  # fmt: skip
    print(f"{'metric':<34}" + "".join(f"{labels[n]:>16}" for n in names)
          + "      ratio  goal   status")  # fmt: skip
    rows: list[tuple[str, Callable[[dict[str, Any]], float], str, str | None]] = [
        ("insert rows/s (median batch)", lambda s: s["insert"]["rows_per_s_median_batch"],
         ",.0f", "insert_ratio"),
        ("search nq=1 QPS (exact)", lambda s: s["search_flat"]["nq1"]["per_second_from_median"],
         ",.1f", "search_nq1_ratio"),
        (f"search nq={cfg['nq']} QPS (exact)",
         lambda s: s["search_flat"]["nq_batch"]["per_second_from_median"], ",.1f",
         "search_nq100_ratio"),
        ("filtered count(*) ms", lambda s: s["filtered_count"]["median_s"] * 1e3, ",.2f",
         "filtered_count_ratio"),
        ("insert rows/s (all rows / sum)", lambda s: s["insert"]["rows_per_s_overall"], ",.0f",
         None),
        ("recall@k vs NumPy (exact)", lambda s: s["search_flat"]["recall_vs_numpy"], ".4f", None),
        ("side wall time s", lambda s: s["side_wall_s"], ",.1f", None),
    ]  # fmt: skip
    for metric, getter, fmt, ratio_key in rows:
        row(metric, getter, fmt, ratio_key)
    lite = sides.get("lite", {})
    if "search_autoindex" in lite:
        a = lite["search_autoindex"]
        print(
            f"milvus-lite AUTOINDEX (approximate): nq=1 "
            f"{a['nq1']['per_second_from_median']:,.1f} QPS, nq={cfg['nq']} "
            f"{a['nq_batch']['per_second_from_median']:,.1f} QPS, recall@k "
            f"{a['recall_vs_numpy']:.4f}, build {a['index_build_s']:.1f} s"
        )
    if "ratios_info" in record:
        info = record["ratios_info"]
        print(
            f"insert ratio over all rows {info['insert_ratio_overall']:.1f}x, "
            f"with the final flush {info['insert_ratio_with_flush']:.1f}x (no goal)"
        )
    if "agreement" in record:
        ag = record["agreement"]
        print(
            f"agreement: recall subject vs lite {ag['recall_subject_vs_lite_nq_batch']:.4f} "
            f"(nq={cfg['nq']}), max |d distance| {ag['max_abs_distance_diff']:.2e}, "
            f"filtered counts equal: {ag['filtered_counts_equal']}"
        )


# --------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> tuple[Config, argparse.Namespace]:
    """Command line -> Config."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # fmt: off
    add = p.add_argument
    add("--rows", type=int, help="rows to insert (default 100000; --quick 10000)")
    add("--dim", type=int, help="vector dimension (default 768; --quick 128)")
    add("--batch", type=int, help="rows per insert call (default 10000; --quick 2000)")
    add("--nq", type=int, default=100, help="queries in the batched search")
    add("--k", type=int, default=10, help="top-k")
    add("--seed", type=int, default=Config.seed)
    add("--min-seconds", type=float,
        help="minimum timed seconds per repeated operation (default 3; --quick 1)")
    add("--min-reps", type=int, default=5, help="minimum timed calls per operation")
    add("--max-reps", type=int, default=20_000, help="maximum timed calls")
    add("--vectors", choices=("list", "numpy"), default="list",
        help="row vectors as Python lists (default) or 1-D numpy arrays")
    add("--no-lite-autoindex", action="store_true",
        help="skip the approximate milvus-lite AUTOINDEX (HNSW) rows")
    add("--sides", choices=("both", "lite", "subject"), default="both")
    add("--subject", choices=("gpu_milvus", "lite"), default="gpu_milvus",
        help="'lite' runs a second milvus-lite as the subject (harness debugging)")
    add("--device", default="cpu", help="gpu_milvus device (default cpu)")
    add("--blas-threads", type=int,
        help="set OPENBLAS/OMP/MKL_NUM_THREADS for both sides (re-executes the script)")
    add("--quick", action="store_true", help="10k x 128 smoke run (< 1 min)")
    add("--workdir", type=Path, help="where the stores go (default: a temp dir)")
    add("--keep", action="store_true", help="keep the stores after the run")
    add("--out", type=Path, help="JSON path (default bench/results/<auto>.json)")
    # fmt: on
    a = p.parse_args(argv)
    q = a.quick
    cfg = Config(
        rows=a.rows or (10_000 if q else 100_000),
        dim=a.dim or (128 if q else 768),
        batch=a.batch or (2_000 if q else 10_000),
        nq=a.nq,
        k=a.k,
        seed=a.seed,
        min_seconds=a.min_seconds if a.min_seconds is not None else (1.0 if q else 3.0),
        min_reps=a.min_reps,
        max_reps=a.max_reps,
        vectors=a.vectors,
        lite_autoindex=not a.no_lite_autoindex,
        sides=a.sides,
        subject=a.subject,
        device=a.device,
        quick=q,
    )
    return cfg, a


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the JSON record."""
    cfg, args = parse_args(argv)
    if args.blas_threads is not None and argv is None:
        reexec_with_blas_threads(args.blas_threads)
    started = dt.datetime.now(dt.timezone.utc)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cpu_vs_lite_"))
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"config {asdict(cfg)}; stores under {workdir}")
    log("generating data and NumPy ground truth")
    ds = make_dataset(cfg)
    log(f"  {cfg.rows:,} x {cfg.dim}; filter {ds.filter_expr!r} matches {ds.expected_count:,} rows")

    record: dict[str, Any] = {
        "benchmark": "cpu_vs_lite",
        "date": started.isoformat(timespec="seconds"),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "cwd": os.getcwd(),
        "env": {v: os.environ.get(v) for v in BLAS_ENV},
        "machine": machine_info(),
        "git": git_info(),
        "versions": versions(),
        "config": asdict(cfg),
        "subject_label": "lite-as-subject"
        if cfg.subject == "lite"
        else f"gpu_milvus[{cfg.device}]",
        "data": {
            "filter": ds.filter_expr,
            "expected_count": ds.expected_count,
            "metric": "IP",
            "index": "FLAT",
            "vectors_normalised": True,
        },
        "order": [],
        "sides": {},
    }

    subject_path = str(workdir / "subject.db")
    lite_path = str(workdir / "lite.db")

    def make_subject() -> Any:
        if cfg.subject == "lite":
            from pymilvus import MilvusClient as LiteClient

            return LiteClient(subject_path)
        import gpu_milvus

        return gpu_milvus.MilvusClient(subject_path, device=cfg.device)

    def make_lite() -> Any:
        from pymilvus import MilvusClient as LiteClient

        return LiteClient(lite_path)

    try:
        # The subject runs first, before any milvus-lite server thread exists in this process.
        if cfg.sides in ("both", "subject"):
            record["sides"]["subject"] = run_side(
                record["subject_label"], make_subject, subject_path, cfg.subject == "lite", ds, cfg
            )
            record["order"].append("subject")
            gc.collect()
        if cfg.sides in ("both", "lite"):
            record["sides"]["lite"] = run_side("milvus-lite", make_lite, lite_path, True, ds, cfg)
            record["order"].append("lite")
    finally:
        release_lite()
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    if "subject" in record["sides"] and "lite" in record["sides"]:
        record["ratios"] = ratios(record["sides"]["subject"], record["sides"]["lite"])
        record["ratios_info"] = ratios_info(record["sides"]["subject"], record["sides"]["lite"])
        record["agreement"] = agreement(record["sides"]["subject"], record["sides"]["lite"], cfg)
    record["total_wall_s"] = time.perf_counter() - _T0
    record["machine"]["loadavg_end"] = list(os.getloadavg())

    record = strip_private(record)
    stem = f"cpu_vs_lite_{'quick_' if cfg.quick else ''}{cfg.rows}x{cfg.dim}_{cfg.sides}"
    out = args.out or REPO / "bench" / "results" / f"{stem}_{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print_table(record)
    print(f"\nwrote {out} (total {record['total_wall_s']:.1f} s)")
    load = record["machine"]["loadavg_start"][0]
    if load > 0.5:
        msg = "other processes were competing for the CPU, so these figures are noisy"
        print(f"warning: 1-min load average was {load:.2f} at the start; {msg} (bench/README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
