"""GPU benchmark: ceilings first, then our kernels vs torch topk(mm) and cupy matmul+argpartition.

Writes bench/results/gpu_<device>_<date>.json with device, date, commit, command and the
performance.md §7 ratios (g1..g7). ``--quick`` shrinks N for a short record, ``--smoke`` to
a check of the script itself. Needs CuPy and a GPU; ``--help`` works without them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="N in {1M} only, fewer shapes")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny shapes that check the script itself (e.g. on the emulated CuPy of "
        "tests/emulated); its figures mean nothing",
    )
    p.add_argument("--sizes", default="1000000,10000000", help="comma-separated N values")
    p.add_argument("--dims", default="768,1024")
    p.add_argument("--nqs", default="1,8,32,128,1024")
    p.add_argument("--ks", default="10,100,1000")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="seconds: dense cases (by N, d and nq) not begun by then are skipped",
    )
    p.add_argument("--out", default=str(RESULTS))
    return p.parse_args(argv)


def _time(fn: Callable[[], Any], reps: int) -> float:
    """Median milliseconds with CUDA events after a warm-up."""
    import cupy as cp

    fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(reps):
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(cp.cuda.get_elapsed_time(a, b))
    return float(np.median(times))


def _ceilings(reps: int, smoke: bool = False) -> dict[str, float]:
    import cupy as cp

    src = cp.random.random(1 << (16 if smoke else 30), dtype=cp.float32)  # 4 GiB
    dst = cp.empty_like(src)
    ms = _time(lambda: dst.__setitem__(slice(None), src), reps)
    copy_gbs = 2 * src.nbytes / ms / 1e6
    out: dict[str, float] = {"copy_GBps": copy_gbs}
    m, n, k = (64, 1024, 64) if smoke else (1024, 1 << 18, 768)
    for name, dt_ in (("fp32", cp.float32), ("bf16", None)):
        if dt_ is None:
            try:
                import torch

                a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
                b = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
                ms = _time(lambda a=a, b=b: a @ b.T, reps)
            except Exception:
                continue
        else:
            a, b = cp.random.random((m, k), dtype=dt_), cp.random.random((n, k), dtype=dt_)
            ms = _time(lambda a=a, b=b: cp.matmul(a, b.T), reps)
        out[f"{name}_gemm_TFLOPs"] = 2 * m * n * k / ms / 1e9
    return out


def _dense(args: argparse.Namespace, ceil: dict[str, float]) -> tuple[list[dict], dict]:
    import cupy as cp

    from gpu_milvus.engine.gpu import GpuBackend

    be = GpuBackend(0)
    rows: list[dict] = []
    sizes = [1_000_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    dims = [768] if args.quick else [int(s) for s in args.dims.split(",")]
    if args.smoke:
        sizes, dims = [20_000], [64]
    rng = np.random.default_rng(0)
    started = time.time()
    for n in sizes:
        for d in dims:
            if n * d * 4 > 0.6 * cp.cuda.Device().mem_info[1]:
                continue
            if args.budget_s is not None and time.time() - started > args.budget_s:
                print(json.dumps({"skipped": {"N": n, "d": d, "why": "--budget-s"}}), flush=True)
                continue
            store = x = None  # the last shape's rows go before this one's arrive
            cp.get_default_memory_pool().free_all_blocks()
            store = be.dense_store(d)
            store.reserve(n)  # one allocation, not doubling
            step = 1 << 18
            for s in range(0, n, step):  # uniform [0, 1) rows: fast to make, timing-neutral
                store.append(rng.random((min(step, n - s), d), dtype=np.float32))
            x = store.matrix
            for nq in [int(v) for v in args.nqs.split(",")]:
                if args.budget_s is not None and time.time() - started > args.budget_s:
                    print(json.dumps({"skipped": {"N": n, "d": d, "nq": nq}}), flush=True)
                    continue
                q = rng.standard_normal((nq, d)).astype(np.float32)
                dq = cp.asarray(q)
                # the baselines materialise nq x N scores (and argpartition's int64 indices)
                baselines = nq * n * 16 < 0.5 * cp.cuda.Device().mem_info[0]
                for k in [int(v) for v in args.ks.split(",")]:
                    r = {"N": n, "d": d, "nq": nq, "k": k}
                    r["ours_ms"] = _time(
                        lambda q=q, k=k, s=store: be.search_dense(s, q, "IP", k, None), args.reps
                    )
                    r["bandwidth_fraction"] = n * d * 4 / r["ours_ms"] / 1e6 / ceil["copy_GBps"]
                    if nq <= 32 and k <= 256:  # where the fused scan can run: both paths, and
                        # the fused scan with one row per warp step (ROWS = 1)
                        for path, limit, one_row in (
                            ("fused", 32, False), ("gemm", 0, False), ("fused_one_row", 32, True)
                        ):  # fmt: skip
                            r[f"{path}_path_ms"] = _time_with(
                                {"_FUSED_MAX_NQ": limit, "_FUSED_ONE_ROW": one_row},
                                lambda q=q, k=k, s=store: be.search_dense(s, q, "IP", k, None),
                                args.reps,
                            )
                    if nq >= 1024 and k == 10:  # GEMM chunks whose scores stay in L2, or not
                        for budget in (1 << 23, 1 << 26):
                            r[f"gemm_budget_{budget}_ms"] = _time_with(
                                {"_SCORE_BUDGET": budget},
                                lambda q=q, s=store: be.search_dense(s, q, "IP", 10, None),
                                args.reps,
                            )
                    if nq >= 128:  # the GEMM path's select alone, on one chunk of scores
                        r.update(_select_alone(be, x, dq, k, args.reps, ceil))
                    if baselines:
                        r.update(_baselines(x, dq, k, args.reps))
                    else:
                        r["baselines"] = "skipped: nq x N scores do not fit"
                    if k == 10 and nq in (1, 32):
                        for keep in (0.1, 0.01):
                            valid = rng.random(n) < keep
                            r[f"filtered_{keep}_ms"] = _time(
                                lambda q=q, v=valid, s=store: be.search_dense(s, q, "IP", 10, v),
                                args.reps,
                            )
                    rows.append(r)
                    print(json.dumps(r), flush=True)
            rows += _scan16(store, rng, args, ceil)
            del store, x
            cp.get_default_memory_pool().free_all_blocks()
    return rows, _goals(rows, ceil)


def _select_alone(be: Any, x: Any, dq: Any, k: int, reps: int, ceil: dict) -> dict:
    """Top-k of one GEMM chunk of scores (as the search makes them): its time, and the
    bandwidth of its two reads of the scores as a fraction of the copy ceiling."""
    import cupy as cp

    from gpu_milvus.engine import gpu

    nq = int(dq.shape[0])
    cols = min(len(x), max(k, gpu._SCORE_BUDGET // nq))
    scores = cp.matmul(dq, x[:cols].T)
    ms = _time(lambda: be.select(scores, k), reps)
    out = {"select_cols": cols, "select_ms": ms}
    out["select_two_reads_fraction"] = 2 * scores.nbytes / ms / 1e6 / ceil["copy_GBps"]
    return out


def _time_with(
    settings: dict[str, Any], fn: Callable[[], Any], reps: int, module: str = "gpu"
) -> float:
    """``_time(fn)`` with some of the GPU backend's path switches (globals of
    ``gpu_milvus.engine.<module>``) set otherwise, to place the switches: the fused scan or
    GEMM, its warp layout, the sparse kernels."""
    import importlib

    mod = importlib.import_module(f"gpu_milvus.engine.{module}")
    saved = {name: getattr(mod, name) for name in settings}
    for name, value in settings.items():
        setattr(mod, name, value)
    try:
        return _time(fn, reps)
    finally:
        for name, value in saved.items():
            setattr(mod, name, value)


def _scan16(store: Any, rng: np.random.Generator, args: argparse.Namespace, ceil: dict) -> list:
    """The 16-bit copies of the same rows (scan_dtype), k = 10: the fused scan (nq <= 8) and
    the 16-bit GEMM (nq 32, 1024): time, bytes read as a fraction of copy bandwidth, and the
    share of queries certified (the rest are redone in float32, inside the time)."""
    import cupy as cp

    from gpu_milvus.engine.gpu import GpuBackend

    n, d, out = len(store), store.dim, []
    pool = cp.get_default_memory_pool()
    pool.free_all_blocks()
    room = cp.cuda.Device(0).mem_info[0]
    if n * d * 6 + n * 8 + (4 << 30) > room:  # float32 master + 16-bit words + 4 GiB of work
        skipped = f"needs more than the {room} bytes free"
        return [{"N": n, "d": d, "scan_dtype": "float16/bfloat16", "skipped": skipped}]
    for scan_dtype in ("float16", "bfloat16"):
        be = GpuBackend(0, scan_dtype)
        rows16 = be.dense_store(d)
        rows16.reserve(n)  # one allocation, not doubling: 10M x 768 fits an 80 GB card only so
        for s in range(0, n, 1 << 18):
            rows16.append(store.matrix[s : s + (1 << 18)])  # device to device
        for nq in [v for v in (1, 8, 32, 1024) if str(v) in args.nqs.split(",")]:
            q = rng.standard_normal((nq, d)).astype(np.float32)
            be.scan16_queries = be.scan16_redone = 0
            r = {"N": n, "d": d, "nq": nq, "k": 10, "scan_dtype": scan_dtype}
            r["ours_ms"] = _time(
                lambda q=q, be=be, st=rows16: be.search_dense(st, q, "IP", 10, None), args.reps
            )
            r["bandwidth_fraction"] = n * d * 2 / r["ours_ms"] / 1e6 / ceil["copy_GBps"]
            r["certified"] = 1 - be.scan16_redone / max(1, be.scan16_queries)
            out.append(r)
            print(json.dumps(r), flush=True)
        del rows16
        cp.get_default_memory_pool().free_all_blocks()
    return out


def _baselines(x: Any, dq: Any, k: int, reps: int) -> dict[str, float]:
    """Milliseconds of cupy ``matmul + argpartition`` and, if torch is there, ``topk(mm)``."""
    import cupy as cp

    out = {
        "cupy_ms": _time(lambda: cp.argpartition(-cp.matmul(dq, x.T), k, axis=1), max(3, reps // 4))
    }
    try:
        import torch

        tx, tq = torch.as_tensor(x, device="cuda"), torch.as_tensor(dq, device="cuda")
        out["torch_ms"] = _time(lambda: torch.topk(tq @ tx.T, k), reps)
    except Exception:  # no torch, or it cannot share CuPy's memory
        pass
    return out


def _pick(rows: list[dict], **kw: Any) -> dict | None:
    return next((r for r in rows if all(r.get(a) == b for a, b in kw.items())), None)


def _goals(all_rows: list[dict], ceil: dict[str, float]) -> dict:
    g: dict[str, float] = {}
    rows = [r for r in all_rows if "scan_dtype" not in r]  # the goals are float32 figures
    small = [r for r in rows if r["nq"] <= 8 and r["k"] <= 256]
    if small:
        g["g1_bandwidth_fraction"] = max(r["bandwidth_fraction"] for r in small)
    for nq in (1, 8, 32):  # extras: the fused scan against the GEMM path it replaces
        r = _pick(rows, nq=nq, k=10)
        if r and "gemm_path_ms" in r:
            g[f"fused_over_gemm_nq{nq}"] = r["fused_path_ms"] / r["gemm_path_ms"]
            g[f"fused_rows_over_one_row_nq{nq}"] = r["fused_path_ms"] / r["fused_one_row_path_ms"]
    for scan_dtype in ("float16", "bfloat16"):  # extras: the 16-bit scan copies
        fast, base = _pick(all_rows, scan_dtype=scan_dtype, nq=1), _pick(rows, nq=1, k=10)
        if fast and base:
            g[f"scan16_{scan_dtype}_speedup_nq1"] = base["ours_ms"] / fast["ours_ms"]
            g[f"scan16_{scan_dtype}_bandwidth_fraction_nq1"] = fast["bandwidth_fraction"]
        fast, base = _pick(all_rows, scan_dtype=scan_dtype, nq=1024), _pick(rows, nq=1024, k=10)
        if fast and base:  # the 16-bit GEMM against float32 (G4's certified mode)
            g[f"scan16_{scan_dtype}_speedup_nq1024"] = base["ours_ms"] / fast["ours_ms"]
            g[f"scan16_{scan_dtype}_certified_nq1024"] = fast["certified"]
            if "torch_ms" in base:  # G4: the certified mode against float32 topk(mm), >= 4
                g[f"g4_{scan_dtype}_certified_vs_torch_nq1024"] = base["torch_ms"] / fast["ours_ms"]
            if "bf16_gemm_TFLOPs" in ceil:
                tf = 2 * fast["nq"] * fast["N"] * fast["d"] / fast["ours_ms"] / 1e9
                g[f"scan16_{scan_dtype}_bf16_gemm_fraction_nq1024"] = tf / ceil["bf16_gemm_TFLOPs"]
    for nq in (8, 1024):  # G4's in-situ proxy: torch.topk(torch.mm) in float32 over ours
        r = _pick(rows, nq=nq, k=10)
        if r and "torch_ms" in r:
            g[f"g4_vs_torch_nq{nq}"] = r["torch_ms"] / r["ours_ms"]
    a, b = _pick(rows, nq=1, k=10), _pick(rows, nq=32, k=10)
    if a and b:
        g["g2_nq32_over_nq1"] = b["ours_ms"] / a["ours_ms"]
    big = _pick(rows, nq=1024, k=10)
    if big and "fp32_gemm_TFLOPs" in ceil:
        tf = 2 * big["nq"] * big["N"] * big["d"] / big["ours_ms"] / 1e9
        g["g3_sgemm_fraction"] = tf / ceil["fp32_gemm_TFLOPs"]
        for budget in (1 << 23, 1 << 26):  # extras: the same with smaller score chunks
            if f"gemm_budget_{budget}_ms" in big:
                tf = 2 * big["nq"] * big["N"] * big["d"] / big[f"gemm_budget_{budget}_ms"] / 1e9
                g[f"g3_sgemm_fraction_budget_{budget}"] = tf / ceil["fp32_gemm_TFLOPs"]
    a, b = _pick(rows, nq=8, k=10), _pick(rows, nq=8, k=1000)
    if a and b:
        g["g5_k1000_over_k10"] = b["ours_ms"] / a["ours_ms"]
    if a and "filtered_0.1_ms" in (_pick(rows, nq=1, k=10) or {}):
        f = _pick(rows, nq=1, k=10) or {}
        g["g6_filtered_over_unfiltered"] = f["filtered_0.1_ms"] / f["ours_ms"]
    return g


def _sparse(args: argparse.Namespace, ceil: dict[str, float]) -> dict:
    import cupy as cp
    import cupyx.scipy.sparse as csp
    import scipy.sparse as sp

    from gpu_milvus.engine.gpu import GpuBackend
    from gpu_milvus.engine.gpu_sparse import posting_entries

    be = GpuBackend(0)
    n, v, nnz = (200_000 if args.quick else 2_000_000), 30522, 121
    if args.smoke:
        n = 4_000
    rng = np.random.default_rng(1)
    store = be.sparse_store()
    step = 200_000
    for s in range(0, n, step):
        m = min(step, n - s)
        cols = np.minimum(rng.zipf(1.2, m * nnz) - 1, v - 1).astype(np.int32)
        blk = sp.csr_matrix(
            (rng.random(m * nnz, dtype=np.float32), cols, np.arange(0, m * nnz + 1, nnz)),
            shape=(m, v),
        )
        blk.sum_duplicates()
        store.append(blk)
    host = store.take(np.arange(n))
    dev = store.as_cupyx()  # the store's own device arrays
    if dev is None:
        dev = csp.csr_matrix(host)
    out: dict[str, float] = {"N": n}
    for nq in (1, 64):
        q = host[rng.integers(0, n, nq)]
        dq = csp.csr_matrix(q).T.tocsc()

        def search(q: Any = q) -> Any:
            return be.search_sparse(store, q, 10, None)

        out[f"ours_nq{nq}_ms"] = _time(search, args.reps)
        if nq >= 8:  # the other kernel: warp per row, a pass over the row per query
            out[f"ours_nq{nq}_warp_per_query_ms"] = _time_with(
                {"_SPARSE_LANES_NQ": 1 << 30}, search, 3, module="gpu_sparse"
            )
        if nq == 1:  # both ways of scoring, forced, and the bytes of the query's posting lists
            out["ours_nq1_doc_parallel_ms"] = _time_with(
                {"_TERM_PARALLEL_MAX_NQ": 0}, search, args.reps, module="gpu_sparse"
            )
            out["ours_nq1_term_parallel_ms"] = _time_with(
                {"_POSTING_COST": 0.0}, search, args.reps, module="gpu_sparse"
            )
            postings = int(posting_entries(store.device_csc(), sp.csr_matrix(q))[1][-1])
            floor_ms = postings * 8 / ceil["copy_GBps"] / 1e6  # 4 B row + 4 B value each
            out["nq1_postings"], out["nq1_postings_floor_ms"] = postings, floor_ms
            out["scanned_entries"] = int(store.device_csr()[0][-1].item())  # what a scan reads
            # G7, single query: <= 5x the postings-bytes floor + 30 us (1 or less: met)
            out["g7_single_query_vs_goal"] = out["ours_nq1_ms"] / (5 * floor_ms + 0.030)
        out[f"cupyx_nq{nq}_ms"] = _time(
            lambda dq=dq: cp.argpartition(-(dev @ dq.toarray()).T, 10, axis=1), args.reps
        )
    out["g7_sparse_vs_cupyx"] = out["cupyx_nq64_ms"] / out["ours_nq64_ms"]
    return out


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    os.environ.setdefault("CUPY_TF32", "0")
    import cupy as cp

    t0 = time.time()
    props = cp.cuda.runtime.getDeviceProperties(0)
    ceil = _ceilings(args.reps, args.smoke)
    print(json.dumps(ceil), flush=True)
    rows, goals = _dense(args, ceil)
    sparse = _sparse(args, ceil)
    goals["g7_sparse_vs_cupyx"] = sparse["g7_sparse_vs_cupyx"]
    goals["g7_single_query_vs_goal"] = sparse["g7_single_query_vs_goal"]
    commit = os.environ.get("GPU_MILVUS_COMMIT", "")  # set by device_check.sh (no .git there)
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            commit = ""
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    now = dt.datetime.now(dt.timezone.utc)
    report = {
        "device": name,
        "date": now.isoformat(),
        "commit": commit,
        "command": " ".join([sys.executable, *sys.argv]),
        "ceilings": ceil,
        "metrics": goals,
        "dense": rows,
        "sparse": sparse,
        "wall_s": time.time() - t0,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kind = "smoke_" if args.smoke else "quick_" if args.quick else ""
    path = out / f"gpu_{kind}{now:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=1))
    print(json.dumps(goals, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
