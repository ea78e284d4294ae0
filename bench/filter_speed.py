"""Filtered-query speed: gpu_milvus against milvus-lite 3.2.2, same data, one run.

Schema: ``id`` INT64 pk, ``vec`` FLOAT_VECTOR(2) (tiny, so inserts are cheap), ``i64`` INT64,
``s`` VARCHAR (five one-letter values), ``text`` VARCHAR (four words; about 10 % of rows hold
"random"). Timed (median after one warm-up call):

* ``query(filter=EXPR, output_fields=["count(*)"])`` on both engines;
* ``query(filter=EXPR, output_fields=["id"])`` on both (lite: fewer calls if it is slow);
* ``compile_filter(EXPR, spec).evaluate(table)`` alone: gpu_milvus's raw filter cost.

EXPR is the three-clause filter below; milvus-lite 3.2.2 rejects chained ranges
(``10 < i64 < 1000``), so the range is written as two comparisons on both engines. Writes a
JSON record to ``bench/results/``.

    python bench/filter_speed.py            # 1,000,000 rows
    python bench/filter_speed.py --quick    # 100,000 rows
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# bench/ is sys.path[0] when run as a script; importing it also puts this checkout first.
from cpu_vs_lite import REPO, Timing, drain_lite, git_info, log, machine_info, versions

EXPR = 'i64 > 10 and i64 < 1000 and s in ["a", "b"] and text like "%random%"'
NAME = "fbench"
S_VALUES = ["a", "b", "c", "d", "e"]
WORDS = [
    "random", "apple", "banana", "cherry", "delta", "echo", "fig", "grape", "hotel", "india",
    "juliet", "kilo", "lima", "mango", "nectar", "oscar", "papa", "quebec", "romeo", "sierra",
    "tango", "umbra", "victor", "whiskey", "xray", "yankee", "zulu", "amber", "brick", "coral",
    "dune", "ember", "frost", "glade", "haze", "ivory", "jet", "knoll", "lotus", "moss",
]  # fmt: skip


class Data:
    """Seeded column arrays; rows are built per insert batch."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.vec = rng.random((n, 2), dtype=np.float32)
        self.i64 = rng.integers(0, 2500, n)
        self.s = np.array(S_VALUES)[rng.integers(0, len(S_VALUES), n)]
        words = np.array(WORDS)[rng.integers(0, len(WORDS), (n, 4))]
        self.text = [" ".join(w) for w in words.tolist()]

    def rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Insert-ready dicts for rows ``start:stop``."""
        cols = zip(
            self.vec[start:stop].tolist(),
            self.i64[start:stop].tolist(),
            self.s[start:stop].tolist(),
            self.text[start:stop],
            strict=True,
        )
        return [
            {"id": start + i, "vec": v, "i64": a, "s": s, "text": t}
            for i, (v, a, s, t) in enumerate(cols)
        ]

    def expected_ids(self, n: int) -> np.ndarray:
        """Ids of the first ``n`` rows that pass EXPR (NumPy / Arrow ground truth)."""
        i64 = self.i64[:n]
        mask = (i64 > 10) & (i64 < 1000) & np.isin(self.s[:n], ["a", "b"])
        mask &= pc.match_substring(pa.array(self.text[:n]), "random").to_numpy(False)
        return np.flatnonzero(mask)


def create(client: Any) -> None:
    """The benchmark collection, FLAT / L2 on ``vec``, loaded."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("i64", DataType.INT64)
    schema.add_field("s", DataType.VARCHAR, max_length=8)
    schema.add_field("text", DataType.VARCHAR, max_length=128)
    index = client.prepare_index_params()
    index.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
    client.create_collection(NAME, schema=schema, index_params=index)


def insert(client: Any, data: Data, n: int, batch: int, side: str, budget_s: float) -> int:
    """Batched inserts of the first ``n`` rows; stops after ``budget_s`` s (returns rows done)."""
    t0 = time.perf_counter()
    done = 0
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        client.insert(NAME, data.rows(start, stop))
        done = stop
        elapsed = time.perf_counter() - t0
        log(f"  {side} insert {done:,}/{n:,} rows, {elapsed:.1f} s ({done / elapsed:,.0f} rows/s)")
        if elapsed > budget_s and done < n:
            log(f"  {side}: insert budget of {budget_s:.0f} s spent; stopping at {done:,} rows")
            break
    return done


def timed(fn: Callable[[], Any], reps: int, what: str, slow_s: float = 1e9) -> tuple[Timing, Any]:
    """One warm-up call, then ``reps`` timed calls (one if the warm-up took > ``slow_s``)."""
    t0 = time.perf_counter()
    out = fn()
    warm = time.perf_counter() - t0
    timing = Timing()
    for _ in range(1 if warm > slow_s else reps):
        t0 = time.perf_counter()
        out = fn()
        timing.seconds.append(time.perf_counter() - t0)
    log(f"  {what}: warm-up {warm * 1e3:.1f} ms, median {timing.median * 1e3:.2f} ms")
    return timing, out


def query_count(client: Any) -> int:
    """Filtered ``count(*)``."""
    return int(client.query(NAME, filter=EXPR, output_fields=["count(*)"])[0]["count(*)"])


def query_ids(client: Any) -> np.ndarray:
    """Filtered ids (converted to a sorted array inside the timed call)."""
    return np.sort(
        np.fromiter(
            (r["id"] for r in client.query(NAME, filter=EXPR, output_fields=["id"])), np.int64
        )
    )


def summary(t: Timing) -> dict[str, Any]:
    """Timing summary without the throughput field (one filter per call)."""
    out = t.summary(1)
    out.pop("per_second_from_median")
    return out


def queries(client: Any, reps: int, side: str) -> Iterator[tuple[str, Any]]:
    """The two client-level queries: (key, result dict) pairs."""
    t, n = timed(lambda: query_count(client), reps, f"{side} count(*)")
    yield "count_query", {**summary(t), "count": n}
    t, ids = timed(lambda: query_ids(client), reps, f"{side} ids", slow_s=30.0)
    yield "ids_query", {**summary(t), "rows": len(ids), "_ids": ids}


def run_lite(data: Data, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """milvus-lite: insert (within the budget), flush + load + drain, the two queries."""
    from pymilvus import MilvusClient

    path = str(root / "lite.db")
    client = MilvusClient(path)
    create(client)
    t0 = time.perf_counter()
    rows = insert(client, data, data.n, args.batch, "lite", args.lite_budget)
    out: dict[str, Any] = {"rows": rows, "insert_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    client.flush(NAME)
    client.load_collection(NAME)
    out["bg_drained"] = drain_lite(path)
    out["settle_s"] = time.perf_counter() - t0
    out.update(queries(client, args.reps, "lite"))
    client.close()
    return out


def run_gpu_milvus(data: Data, rows: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """gpu_milvus: insert, the two queries, then the raw ``evaluate`` on the Arrow table."""
    import gpu_milvus
    from gpu_milvus.filter import compile_filter

    client = gpu_milvus.MilvusClient(str(root / "gm.db"))
    create(client)
    t0 = time.perf_counter()
    insert(client, data, rows, args.batch, "gpu_milvus", float("inf"))
    out: dict[str, Any] = {"device": client.device, "insert_s": time.perf_counter() - t0}
    reps = 3 * args.reps
    out.update(queries(client, reps, "gpu_milvus"))
    coll = client._core._coll(NAME)  # internal: the engine's collection
    plan = compile_filter(EXPR, coll.spec)
    t0 = time.perf_counter()
    table = coll.table.arrow(sorted(plan.columns))
    out["arrow_table_s"] = time.perf_counter() - t0
    t, mask = timed(lambda: plan.evaluate(table), reps, "gpu_milvus raw evaluate")
    out["raw_evaluate"] = {**summary(t), "count": int(mask.sum()), "columns": table.column_names}
    client.close()
    return out


def print_table(rec: dict[str, Any]) -> None:
    """Median times and lite / gpu_milvus ratios on stdout."""
    lite, gm = rec["lite"], rec["gpu_milvus"]
    print(f"\n{rec['config']['rows']:,} rows, filter {EXPR!r}, passing {rec['data']['passing']:,}")
    print(f"{'operation':<34}{'milvus-lite':>14}{'gpu_milvus':>14}{'lite/gpu':>10}")
    for key, label in (("count_query", "query count(*)"), ("ids_query", "query ids")):
        a, b = lite[key]["median_s"], gm[key]["median_s"]
        print(f"{label:<34}{a * 1e3:>11.1f} ms{b * 1e3:>11.2f} ms{a / b:>9.1f}x")
    raw = gm["raw_evaluate"]["median_s"]
    ratio = lite["count_query"]["median_s"] / raw
    print(f"{'raw evaluate (vs lite count(*))':<34}{'':>14}{raw * 1e3:>11.2f} ms{ratio:>9.1f}x")
    print(f"agreement: {rec['agreement']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (``--quick`` means 100k rows)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--quick", action="store_true", help="100,000 rows")
    p.add_argument("--batch", type=int, default=100_000, help="rows per insert call")
    p.add_argument("--reps", type=int, default=5, help="timed calls on lite (3x on gpu_milvus)")
    p.add_argument("--seed", type=int, default=20260601)
    p.add_argument("--lite-budget", type=float, default=360.0, help="lite insert budget, s")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.rows = 100_000
    return args


def main(argv: list[str] | None = None) -> int:
    """Run both engines, check the counts agree, print the table, write the JSON record."""
    args = parse_args(argv)
    t_start = time.perf_counter()
    date = dt.datetime.now(dt.timezone.utc)
    machine = machine_info()
    log(f"generating {args.rows:,} rows")
    data = Data(args.rows, args.seed)
    with tempfile.TemporaryDirectory(prefix="filter_speed_") as tmp:
        lite = run_lite(data, args, Path(tmp))
        rows = lite["rows"]
        gm = run_gpu_milvus(data, rows, args, Path(tmp))
    expected = data.expected_ids(rows)
    lite_ids, gm_ids = lite["ids_query"].pop("_ids"), gm["ids_query"].pop("_ids")
    agreement = {
        "counts_equal": lite["count_query"]["count"] == gm["count_query"]["count"],
        "ids_equal": bool(np.array_equal(lite_ids, gm_ids)),
        "match_numpy": bool(
            np.array_equal(gm_ids, expected)
            and gm["raw_evaluate"]["count"] == len(expected) == gm["count_query"]["count"]
        ),
    }
    lite_count = lite["count_query"]["median_s"]
    machine["loadavg_end"] = list(os.getloadavg())
    rec: dict[str, Any] = {
        "benchmark": "filter_speed",
        "date": date.isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine,
        "git": git_info(),
        "versions": versions(),
        "config": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "rows_requested": args.rows,
            "rows": rows,
        },
        "fallback": None
        if rows == args.rows
        else f"lite's insert passed the {args.lite_budget:.0f} s budget: N cut to {rows:,}",
        "data": {"filter": EXPR, "passing": len(expected), "fraction": len(expected) / rows},
        "lite": lite,
        "gpu_milvus": gm,
        "ratios_lite_over_gpu_milvus": {
            "count_query": lite_count / gm["count_query"]["median_s"],
            "ids_query": lite["ids_query"]["median_s"] / gm["ids_query"]["median_s"],
            "lite_count_query_over_raw_evaluate": lite_count / gm["raw_evaluate"]["median_s"],
        },
        "agreement": agreement,
        "total_wall_s": time.perf_counter() - t_start,
    }
    stamp = date.strftime("%Y%m%dT%H%M%SZ")
    out = args.out or REPO / "bench/results" / (
        f"filter_speed_{'quick_' if args.quick else ''}{rows}_{stamp}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=1) + "\n")
    print_table(rec)
    print(f"record: {out}")
    return 0 if all(agreement.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
