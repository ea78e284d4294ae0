"""Read a GPU session's records and say how to set the GPU backend's path switches.

    python bench/pick_switches.py GPU_RECORD.json [SCHEDULER_RECORD.json]

The switches (``engine/gpu.py``, ``engine/gpu_sparse.py``, ``kernels.py``, the async client's
``max_batch``) were set from the kernels' structure before any GPU run; ``gpu_bench.py`` times
each choice both ways in one run, and this script turns those timings into settings, printing
one line per switch: the current value, the value the data supports, and the figures behind it.
It changes no file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gpu_milvus import kernels
from gpu_milvus.engine import gpu, gpu_sparse
from gpu_milvus.scheduler import DEFAULT_MAX_BATCH

FASTER = 0.97  # a choice must save 3 % to be worth a change


def _pick(rows: list[dict], **match: Any) -> dict | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def fused_max_nq(dense: list[dict]) -> tuple[int, str]:
    """The largest nq up to which the fused scan beat the GEMM path at every measured nq."""
    won, seen = 0, []
    for r in sorted((r for r in dense if "gemm_path_ms" in r and "scan_dtype" not in r),
                    key=lambda r: (r["nq"], r["k"])):  # fmt: skip
        seen.append(f"nq={r['nq']} k={r['k']}: {r['fused_path_ms']:.3g}/{r['gemm_path_ms']:.3g} ms")
        if r["fused_path_ms"] > r["gemm_path_ms"]:
            break
        won = max(won, r["nq"])
    if not seen:
        return gpu._FUSED_MAX_NQ, "no fused/GEMM timings in the record"
    return won, "fused/GEMM " + "; ".join(seen)


def fused_rows(dense: list[dict]) -> tuple[dict[int, int], str]:
    """ROWS per NQ template: 1 where one row per warp step was faster than the default."""
    rows, seen = dict(kernels.FUSED_ROWS), []
    for r in dense:
        if "fused_one_row_path_ms" not in r or r.get("k") != 10 or "scan_dtype" in r:
            continue
        tmpl = next(t for t in kernels.FUSED_NQ if t >= r["nq"])
        ratio = r["fused_one_row_path_ms"] / r["fused_path_ms"]
        seen.append(f"nq={r['nq']}: one row / {kernels.FUSED_ROWS[tmpl]} rows = {ratio:.2f}")
        if ratio < FASTER:
            rows[tmpl] = 1
    return rows, "; ".join(seen) or "no layout timings in the record"


def score_budget(dense: list[dict]) -> tuple[int, str]:
    """The GEMM score chunk that gave the best time at the largest nq."""
    big = max((r for r in dense if "gemm_budget_8388608_ms" in r), key=lambda r: r["nq"],
              default=None)  # fmt: skip
    if big is None:
        return gpu._SCORE_BUDGET, "no budget timings in the record"
    times = {gpu._SCORE_BUDGET: big["ours_ms"]}
    for budget in (1 << 23, 1 << 26):
        times[budget] = big[f"gemm_budget_{budget}_ms"]
    best = min(times, key=times.__getitem__)
    if times[best] > FASTER * times[gpu._SCORE_BUDGET]:
        best = gpu._SCORE_BUDGET
    shown = ", ".join(f"2^{b.bit_length() - 1}: {t:.3g} ms" for b, t in sorted(times.items()))
    return best, f"nq={big['nq']}: {shown}"


def sparse_switches(sparse: dict) -> list[tuple[str, Any, Any, str]]:
    out = []
    if "ours_nq64_warp_per_query_ms" in sparse:
        lanes, other = sparse["ours_nq64_ms"], sparse["ours_nq64_warp_per_query_ms"]
        keep = lanes <= other / FASTER
        value = gpu_sparse._SPARSE_LANES_NQ if keep else 128
        out.append(("gpu_sparse._SPARSE_LANES_NQ", gpu_sparse._SPARSE_LANES_NQ, value,
                    f"nq=64: lanes {lanes:.3g} ms, warp per query {other:.3g} ms"))  # fmt: skip
    if "ours_nq1_term_parallel_ms" in sparse and sparse.get("nq1_postings"):
        per_posting = sparse["ours_nq1_term_parallel_ms"] / sparse["nq1_postings"]
        per_entry = sparse["ours_nq1_doc_parallel_ms"] / sparse["scanned_entries"]
        cost = per_posting / per_entry
        out.append(("gpu_sparse._POSTING_COST", gpu_sparse._POSTING_COST, round(cost, 2),
                    f"nq=1: {sparse['nq1_postings']} postings in "
                    f"{sparse['ours_nq1_term_parallel_ms']:.3g} ms, {sparse['scanned_entries']} "
                    f"entries scanned in {sparse['ours_nq1_doc_parallel_ms']:.3g} ms"))  # fmt: skip
    return out


def max_batch(sched: dict) -> tuple[int, str]:
    """The batch size whose 1000-concurrent / one-call ratio is lowest, if it saves 3 %."""
    default = sched.get("max_batch", 1024)  # records before 2026-12-05 ran with 1024
    ratios = {default: sched["thousand"]["ratio"]}
    for key, value in sched.items():
        if key.startswith("thousand_max_batch_"):
            ratios[int(key.rsplit("_", 1)[1])] = value["ratio"]
    best = min(ratios, key=ratios.__getitem__)
    pick = best if ratios[best] < FASTER * ratios[default] else default
    shown = ", ".join(f"{b} {r:.2f}" for b, r in sorted(ratios.items(), reverse=True))
    return pick, f"1000 concurrent / one nq=1000 call by max_batch: {shown}"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    record = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    dense, sparse = record.get("dense", []), record.get("sparse", {})
    lines = [("gpu._FUSED_MAX_NQ", gpu._FUSED_MAX_NQ, *fused_max_nq(dense)),
             ("kernels.FUSED_ROWS", kernels.FUSED_ROWS, *fused_rows(dense)),
             ("gpu._SCORE_BUDGET", gpu._SCORE_BUDGET, *score_budget(dense)),
             *sparse_switches(sparse)]  # fmt: skip
    if len(argv) > 1 and Path(argv[1]).is_file():
        sched = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        lines.append(("max_batch (client default)", DEFAULT_MAX_BATCH, *max_batch(sched)))
    elif len(argv) > 1:
        lines.append(("max_batch (client default)", DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH,
                      f"no record at {argv[1]}"))  # fmt: skip
    print(f"{record.get('device', '?')}, commit {record.get('commit', '?')[:12]}")
    for name, now, value, why in lines:
        mark = "keep" if value == now else "CHANGE"
        print(f"{mark:6s} {name} = {value!r} (now {now!r}): {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
