"""How often the 16-bit scan copy (``scan_dtype``) certifies its candidate windows.

The rate is arithmetic, not timing: it depends on the data, k, nq and the format, and is the
same on any machine. Without a GPU, run it on the emulated CuPy:

    PYTHONPATH=tests/emulated/fake_cupy python bench/scan16_certify.py

Data: unit-norm rows around ``--clusters`` centres, with Gaussian noise of each ``--noise``
level (smaller noise: tighter clusters, denser scores near the top); queries near stored rows.
Writes ``bench/results/scan16_certify_<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpu_milvus.benchmarks.record import git_info, gpu_info, machine_info  # noqa: E402

# (nq, k): the fused 16-bit scan for nq <= 8 (k <= 100), the 16-bit GEMM for 32 and 1024
CASES = ((1, 10), (8, 10), (32, 10), (8, 100), (32, 100), (1024, 10), (1024, 100))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--clusters", type=int, default=300)
    p.add_argument("--noise", default="1.0,0.5,0.2")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    from gpu_milvus.engine.gpu import GpuBackend

    rng = np.random.default_rng(7)
    n, d = args.rows, args.dim
    centres = rng.standard_normal((args.clusters, d)).astype(np.float32)
    label = rng.integers(0, args.clusters, n)
    results = []
    for noise in (float(v) for v in args.noise.split(",")):
        x = centres[label] + noise * rng.standard_normal((n, d)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        nq_max = max(nq for nq, _ in CASES)
        q = x[rng.integers(0, n, nq_max)] + 0.05 * rng.standard_normal((nq_max, d)).astype(
            np.float32
        )
        for scan_dtype in ("float16", "bfloat16"):
            be = GpuBackend(0, scan_dtype)
            store = be.dense_store(d)
            store.append(x)
            for metric in ("IP", "COSINE", "L2"):
                for nq, k in CASES:
                    be.scan16_queries = be.scan16_redone = 0
                    be.search_dense(store, q[:nq], metric, k, None)
                    rate = 1 - be.scan16_redone / be.scan16_queries
                    row = {"noise": noise, "scan_dtype": scan_dtype, "metric": metric}
                    window = be.scan16_window(nq, k, n)
                    path = "float32" if window is None else ("gemm" if window[1] else "fused")
                    row.update({"nq": nq, "k": k, "path": path, "certified": rate})
                    row["max_err"] = store.max_err
                    results.append(row)
                    print(json.dumps(row), flush=True)
    now = dt.datetime.now(dt.timezone.utc)
    record = {
        "benchmark": "scan16_certify",
        "date": now.isoformat(),
        "command": " ".join([sys.executable, *sys.argv]),
        "machine": machine_info(),
        "device": gpu_info(),
        "git": git_info(),
        "config": vars(args),
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"scan16_certify_{now:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(record, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
