"""``python -m bench`` / ``gpu-milvus bench``: run the suite, write the JSON record and plots.

Order per data set: for each engine behind the pymilvus API (gpu_milvus first, then
milvus-lite) insert, settle, exact search grid and, on the primary data set, filtered
search and the concurrency sweep; then the brute-force peers on the same queries. The
sparse / hybrid collection comes last. See ``bench/README.md``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gpu_milvus.benchmarks import progress, report
from gpu_milvus.benchmarks.clients import (
    HybridSearcher,
    MilvusSearcher,
    Side,
    create_dense,
    create_hybrid,
    dense_rows,
    hybrid_rows,
    open_gpu_milvus,
    open_lite,
    release_lite,
    timed_insert,
    warm_up,
)
from gpu_milvus.benchmarks.concurrency import sweep
from gpu_milvus.benchmarks.config import Config, parse
from gpu_milvus.benchmarks.datasets import (
    Dataset,
    DatasetUnavailable,
    attach_truth,
    clustered,
    gaussian,
    sparse_set,
    with_cats,
)
from gpu_milvus.benchmarks.peers import NUMPY, ScipySparsePeer, gpu_peer_status, make_dense_peers
from gpu_milvus.benchmarks.plots import save_all
from gpu_milvus.benchmarks.progress import log
from gpu_milvus.benchmarks.realdata import glove, minilm
from gpu_milvus.benchmarks.record import (
    BLAS_ENV,
    all_versions,
    git_info,
    gpu_info,
    machine_info,
    reexec_with_blas_threads,
    write_json,
)
from gpu_milvus.benchmarks.workloads import (
    Window,
    filtered,
    search_grid,
    sparse_and_hybrid,
    sparse_truth,
)

Results = list[dict[str, Any]]


def build_dataset(name: str, cfg: Config, pool: int) -> Dataset:
    """Data set ``name`` with ``pool`` held-out queries (raises DatasetUnavailable)."""
    if name == "gaussian":
        ds = gaussian(cfg.rows, cfg.dim, pool, cfg.seed)
    elif name == "clustered":
        ds = clustered(*cfg.clustered_size, pool, cfg.seed + 1)
    elif name == "glove":
        ds = glove(cfg.glove_rows, pool, cfg.seed + 2)
    else:
        ds = minilm(cfg.minilm_rows, pool, cfg.seed + 3)
    return with_cats(ds, cfg.seed)


class Suite:
    """One run: the engines, the results so far, and what was skipped and why."""

    def __init__(self, cfg: Config, workdir: Path) -> None:
        self.cfg = cfg
        self.window = Window(cfg.min_seconds, cfg.max_seconds, cfg.min_reps)
        self.results: Results = []
        self.skipped: Results = []
        self.datasets: dict[str, Any] = {}
        self.sides: list[Side] = [open_gpu_milvus(workdir, cfg.device)]
        log(f"gpu_milvus opened at {self.sides[0].path} on device {self.sides[0].device}")
        if cfg.lite:
            try:
                self.sides.append(open_lite(workdir))
            except Exception as exc:  # milvus-lite missing or broken
                self.skip("engine milvus-lite", f"{type(exc).__name__}: {exc}")
        else:
            self.skip("engine milvus-lite", "--no-lite")
        self.peers = [NUMPY] if NUMPY in cfg.peers else []
        for name in (p for p in cfg.peers if p != NUMPY):
            reason = gpu_peer_status(name)
            if reason is None:
                self.peers.append(name)
            else:
                self.skip(f"peer {name}", reason)

    def skip(self, what: str, reason: str, **extra: Any) -> None:
        log(f"skipped {what}: {reason}")
        self.skipped.append({"what": what, **extra, "reason": reason})

    def insert(self, side: Side, name: str, n: int, make_rows: Any, dataset: str) -> bool:
        """Timed insert of ``n`` rows on ``side``; False (and a skip entry) on failure."""
        try:
            rec = timed_insert(side, name, n, self.cfg.batch, make_rows, dataset)
        except Exception as exc:
            self.skip(f"{side.name} insert", f"{type(exc).__name__}: {exc}", dataset=dataset)
            return False
        row = {"dataset": dataset, "workload": "insert", "engine": side.name}
        self.results.append({**row, "vectors": self.cfg.vectors, **rec})
        log(f"  {side.name} {dataset}: {rec['rows_per_s']:,.0f} rows/s")
        return True

    def dense(self, name: str, primary: bool) -> None:
        """Every dense workload of data set ``name`` on every engine."""
        cfg = self.cfg
        grid = cfg.grid(primary)
        pool = max(nq for nq, _ in grid)
        try:
            ds = build_dataset(name, cfg, pool)
        except DatasetUnavailable as exc:
            self.datasets[name] = {"skipped": str(exc)}
            self.skip(f"dataset {name}", str(exc))
            return
        self.datasets[name] = {**ds.describe(), "primary": primary}
        log(f"dataset {name}: {ds.rows:,} x {ds.dim}, {pool} queries ({ds.source})")
        attach_truth(ds, max(k for _, k in grid))
        coll = f"bench_{name}"
        for side in self.sides:
            warm_up(side, ds.dim, cfg.vectors)
            create_dense(side.client, coll, ds.dim)
            rows = lambda a, b: dense_rows(ds, a, b, cfg.vectors)  # noqa: E731
            if not self.insert(side, coll, ds.rows, rows, name):
                continue
            searcher = MilvusSearcher(side, coll, ds.queries, cfg.vectors)
            self.results += search_grid([searcher], ds, grid, self.window, self.skipped)
            if primary:
                self.filtered([searcher], ds)
                self.concurrency(side, coll, searcher.pool, ds)
        peers = make_dense_peers(ds, self.peers, self.skipped)
        self.results += search_grid(peers, ds, grid, self.window, self.skipped)
        if primary:
            self.filtered(peers, ds)

    def filtered(self, engines: list[Any], ds: Dataset) -> None:
        cfg = self.cfg
        self.results += filtered(
            engines, ds, cfg.selectivities, 1, cfg.filter_k, cfg.filter_queries, self.window,
            self.skipped,
        )  # fmt: skip

    def concurrency(self, side: Side, coll: str, pool: list[Any], ds: Dataset) -> None:
        levels = self.cfg.concurrency
        if side.is_lite:
            levels = [c for c in levels if c <= self.cfg.lite_max_concurrency]
        assert ds.truth is not None
        k = min(self.cfg.k)
        try:
            self.results += asyncio.run(
                sweep(side, coll, pool, ds.truth, levels, k, self.window, ds.name)
            )
        except Exception as exc:
            self.skip(f"{side.name} concurrency", f"{type(exc).__name__}: {exc}")

    def sparse(self) -> None:
        """Sparse and hybrid search on the SPLADE-like collection."""
        cfg = self.cfg
        pool = max(64, *cfg.sparse_nq)
        ss = sparse_set(cfg.sparse_rows, pool, cfg.seed + 4, cfg.hybrid_dim)
        self.datasets["sparse_hybrid"] = {**ss.meta, "metric": "IP (sparse), IP (dense)"}
        log(f"dataset sparse_hybrid: {ss.rows:,} rows, mean nnz {ss.meta['mean_nnz']:.1f}")
        truth = sparse_truth(ss, cfg.sparse_k, cfg.sparse_k)
        engines: list[Any] = []
        for side in self.sides:
            create_hybrid(side.client, "bench_hybrid", cfg.hybrid_dim)
            rows = lambda a, b: hybrid_rows(ss, a, b, cfg.vectors)  # noqa: E731
            if self.insert(side, "bench_hybrid", ss.rows, rows, "sparse_hybrid"):
                engines.append(HybridSearcher(side, "bench_hybrid", ss, cfg.vectors))
        if NUMPY in self.peers:
            engines.append(ScipySparsePeer(ss))
        self.results += sparse_and_hybrid(
            engines, ss, truth, cfg.sparse_nq, cfg.sparse_k, self.window, self.skipped
        )

    def close(self) -> None:
        for side in self.sides:
            try:
                side.client.close()
            except Exception as exc:
                log(f"closing {side.name}: {exc!r}")
        release_lite()


def run(cfg: Config) -> tuple[dict[str, Any], Path]:
    """Run the suite; returns the record and the JSON path (plots written beside it)."""
    t_start = time.perf_counter()
    started = dt.datetime.now(dt.timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    workdir = cfg.workdir or Path(tempfile.mkdtemp(prefix="gpu_milvus_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    git = git_info()
    record: dict[str, Any] = {
        "benchmark": "gpu_milvus benchmark suite",
        "mode": cfg.mode,
        "date": started.isoformat(timespec="seconds"),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "cwd": os.getcwd(),
        "machine": machine_info(),
        "commit": git["commit"],
        "git": git,
        "versions": all_versions(),
        "env": {v: os.environ.get(v) for v in BLAS_ENV},
        "config": {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(cfg).items()
        },
    }
    suite = Suite(cfg, workdir)
    record["device"] = {
        "requested": cfg.device,
        "gpu_milvus": suite.sides[0].device,
        "gpus": gpu_info(),
    }
    record["engines"] = {s.name: {**s.meta, "device": s.device} for s in suite.sides}
    try:
        for name in cfg.datasets:
            suite.dense(name, primary=name == cfg.primary)
        if cfg.sparse_rows > 0:
            suite.sparse()
        else:
            suite.skip("workloads sparse, hybrid", "--sparse-rows 0")
    finally:
        suite.close()
        if not cfg.keep and cfg.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    ratio_rows = report.ratios(suite.results)
    record.update(
        datasets=suite.datasets,
        results=suite.results,
        ratios=ratio_rows,
        geomean_search_ratio=report.geomean_ratios(ratio_rows, "search"),
        skipped=suite.skipped,
    )
    record["headline"] = report.headline(suite.results, cfg.primary)
    record["headline_markdown"] = report.markdown(record["headline"])
    record["machine"]["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    out_dir = cfg.out
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench_{cfg.mode}_{stamp}.json"
    record["total_wall_s"] = time.perf_counter() - t_start
    if cfg.plots:
        record["plots"] = save_all(record, out_dir)
    write_json(path, record)
    return record, path


def main(argv: list[str] | None = None, reexec: bool | None = None) -> int:
    """Entry point of ``python -m bench`` and ``gpu-milvus bench``.

    ``--blas-threads`` re-executes the process (``reexec``; default: only when ``argv`` is
    None, i.e. when run from the command line).
    """
    cfg = parse(argv)
    if cfg.blas_threads is not None and (argv is None if reexec is None else reexec):
        reexec_with_blas_threads(cfg.blas_threads)
    progress.QUIET = cfg.quiet
    record, path = run(cfg)
    print(f"\ngpu_milvus benchmark ({cfg.mode}), {record['machine']['cpu_model']}, "
          f"gpu_milvus on {record['device']['gpu_milvus']}\n")  # fmt: skip
    print(record["headline_markdown"])
    geo = record["geomean_search_ratio"]
    if geo:
        print("exact search grid, geometric mean of ratios: "
              + ", ".join(f"vs {p} {v:,.2f}x" for p, v in geo.items()))  # fmt: skip
    for s in record["skipped"]:
        print(f"skipped: {s['what']}: {s['reason']}")
    print(f"\nwrote {path} and {len(record.get('plots', {}))} plot(s) "
          f"in {record['total_wall_s']:.1f} s")  # fmt: skip
    return 0 if any(r["engine"] == "gpu_milvus" for r in record["results"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
