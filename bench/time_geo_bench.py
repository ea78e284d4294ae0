"""TIMESTAMPTZ and GEOMETRY fields: gpu_milvus against milvus-lite on the same rows.

``--rows`` rows (a 8-d vector, a TIMESTAMPTZ in 2025 with an offset, a POINT on the globe)
go into both engines through ``MilvusClient.insert``; then ``count(*)`` queries with the
filters both engines know run ``--repeat`` times each (ISO comparisons, a day/hour
INTERVAL, ST_WITHIN / ST_INTERSECTS with a polygon, ST_CONTAINS), and their counts are
compared. gpu_milvus alone also runs what lite lacks or computes differently (a month
INTERVAL, ST_DWITHIN in metres) and a search with a decay reranker on the time field.
The first geometry filter on gpu_milvus parses the column (cached after), so it is timed
apart. Writes ``bench/results/time_geo_<rows>_<UTC>.json``.
Run: ``python bench/time_geo_bench.py [--rows 100000]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import tempfile
import time

import numpy as np
from host_record import write_record  # a sibling: bench/ is sys.path[0] in a script
from pymilvus import DataType, Function, FunctionType
from pymilvus import MilvusClient as LiteClient

from gpu_milvus import MilvusClient

SHARED = {
    "iso_range": "ts >= ISO '2025-03-01T00:00:00+08:00' and ts < ISO '2025-06-01T00:00:00Z'",
    "iso_reverse": "ISO '2025-09-15T12:00:00-05:00' <= ts",
    "interval_days": "ts + INTERVAL 'P10DT12H' > ISO '2025-12-01T00:00:00Z'",
    "within_polygon": "ST_WITHIN(g, 'POLYGON((-10 35, 30 35, 30 60, -10 60, -10 35))')",
    "intersects_polygon": "ST_INTERSECTS(g, 'POLYGON((100 -10, 150 -10, 150 40, 100 -10))')",
}
OURS_ONLY = {
    "interval_months": "ts - INTERVAL 'P1M' < ISO '2025-01-15T00:00:00Z'",
    "dwithin_500km": "st_dwithin(g, 'POINT(2.35 48.86)', 500000)",
}


def rows(n: int, rng: np.random.Generator) -> list[dict]:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    seconds = rng.integers(0, 365 * 86400, n)
    hours = rng.integers(-12, 15, n)
    lon, lat = rng.uniform(-180, 180, n), rng.uniform(-85, 85, n)
    vecs = rng.random((n, 8), dtype=np.float32)
    out = []
    for i in range(n):
        tz = dt.timezone(dt.timedelta(hours=int(hours[i])))
        ts = (start + dt.timedelta(seconds=int(seconds[i]))).astimezone(tz).isoformat()
        out.append({"id": i, "v": vecs[i].tolist(), "ts": ts,
                    "g": f"POINT({lon[i]:.6f} {lat[i]:.6f})"})  # fmt: skip
    return out


def create(client, name: str) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=8)
    s.add_field("ts", DataType.TIMESTAMPTZ)
    s.add_field("g", DataType.GEOMETRY)
    ip = client.prepare_index_params()
    ip.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=s, index_params=ip)
    client.load_collection(name)


def timed_insert(client, name: str, data: list[dict], batch: int = 5000) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(data), batch):
        client.insert(name, data[i : i + batch])
    return len(data) / (time.perf_counter() - t0)


def timed_count(client, name: str, expr: str, repeat: int) -> tuple[int, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = client.query(name, expr, output_fields=["count(*)"])[0]["count(*)"]
        times.append(time.perf_counter() - t0)
    return int(n), float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    data = rows(args.rows, np.random.default_rng(args.seed))
    metrics: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ours, lite = MilvusClient(f"{tmp}/ours.db"), LiteClient(f"{tmp}/lite.db")
        counts: dict[str, dict[str, int]] = {}
        for label, client in (("gpu_milvus", ours), ("milvus_lite", lite)):
            create(client, "t")
            metrics[f"{label}_insert_rows_per_s"] = timed_insert(client, "t", data)
            if label == "gpu_milvus":  # the first geometry filter parses the column
                t0 = time.perf_counter()
                client.query("t", SHARED["within_polygon"], output_fields=["count(*)"])
                metrics["gpu_milvus_first_geometry_filter_s"] = time.perf_counter() - t0
            for key, expr in SHARED.items():
                n, sec = timed_count(client, "t", expr, args.repeat)
                counts.setdefault(key, {})[label] = n
                metrics[f"{label}_{key}_ms"] = sec * 1e3
        for key, expr in OURS_ONLY.items():
            n, sec = timed_count(ours, "t", expr, args.repeat)
            metrics[f"gpu_milvus_{key}_ms"] = sec * 1e3
            metrics[f"gpu_milvus_{key}_count"] = n
        params = {"reranker": "decay", "function": "gauss", "origin": 1_750_000_000_000_000,
                  "scale": 30 * 86400 * 10**6}  # in microseconds, as stored  # fmt: skip
        decay = Function(name="recent", input_field_names=["ts"],
                         function_type=FunctionType.RERANK, params=params)  # fmt: skip
        queries = np.random.default_rng(1).random((50, 8), dtype=np.float32)
        for label, kw in (("plain", {}), ("decay", {"ranker": decay})):
            t0 = time.perf_counter()
            for q in queries:
                ours.search("t", [q.tolist()], limit=10, **kw)
            metrics[f"gpu_milvus_search_{label}_qps"] = len(queries) / (time.perf_counter() - t0)
        ours.close()
        lite.close()
    metrics["counts"] = counts
    metrics["counts_agree"] = all(c["gpu_milvus"] == c["milvus_lite"] for c in counts.values())
    metrics["insert_ratio"] = (
        metrics["gpu_milvus_insert_rows_per_s"] / metrics["milvus_lite_insert_rows_per_s"]
    )
    for key in SHARED:
        metrics[f"{key}_speedup"] = (
            metrics[f"milvus_lite_{key}_ms"] / metrics[f"gpu_milvus_{key}_ms"]
        )
    write_record(f"time_geo_{args.rows}", vars(args), metrics)


if __name__ == "__main__":
    main()
