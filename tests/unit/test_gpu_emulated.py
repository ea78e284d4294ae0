"""The GPU test suite, run without a GPU on the emulated CuPy (``tests/emulated/fake_cupy``).

It checks the CUDA backend's host code (transfers, launches, chunking, merging, result
shapes) against the CPU reference on every machine, so CI catches what it can before a GPU
session runs ``pytest -m gpu`` for real. In CI the kernels are their CUDA code itself, built
with g++ and run on CPU fibers (``FAKE_CUPY_KERNELS=cuda``: ``fake_cupy/cupy/_on_cpu.py``);
the NumPy versions written from the kernels' contracts run in the ``slow`` tests. Neither
says anything about speed, or about what only GPU hardware does (memory model, NVRTC).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "emulated" / "fake_cupy"
KERNELS = (
    "gm_radix_top_hist", "gm_radix_top_pick", "gm_radix_filter", "gm_radix_finish",
    "gm_radix_select_block", "gm_fused_scan",
    "gm_key_epilogue",
    "gm_refine", "gm_sparse_ip", "gm_sparse_postings", "gm_sparse_finish",
)  # fmt: skip


def _pytest_on_fake(
    tmp_path: Path, *args: str, scan_dtype: str = "float32", kernels: str = "numpy"
) -> subprocess.CompletedProcess[str]:
    """pytest in a child process whose ``import cupy`` finds the emulation; ``kernels``
    "cuda" runs the ``.cu`` code on the CPU, "numpy" the kernels' NumPy versions."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    env = _env(tmp_path) | {"GPU_MILVUS_SCAN_DTYPE": scan_dtype, "FAKE_CUPY_KERNELS": kernels}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


_CAN_RUN_CUDA = platform.machine() == "x86_64" and shutil.which("g++") is not None
CUDA_ON_CPU = pytest.mark.skipif(
    not _CAN_RUN_CUDA, reason="running the CUDA code on the CPU needs x86-64 and g++"
)


def _env(tmp_path: Path) -> dict[str, str]:
    """This process's environment with the emulation first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(FAKE), env.get("PYTHONPATH")) if p)
    env["FAKE_CUPY_LOG"] = str(tmp_path / "launches.json")
    env["GPU_MILVUS_COMMIT"] = "0" * 40
    env.pop("GPU_MILVUS_DEVICE", None)  # "auto" must pick the (emulated) GPU
    return env


@pytest.mark.parametrize(
    "kernels",
    [  # the NumPy versions in CI only where the CUDA code cannot run on the CPU
        pytest.param("cuda", marks=CUDA_ON_CPU),
        pytest.param("numpy", marks=[pytest.mark.slow] if _CAN_RUN_CUDA else []),
    ],
)
def test_gpu_suite_passes_on_the_emulated_cupy(tmp_path: Path, kernels: str) -> None:
    report = tmp_path / "report.xml"
    args = (f"--junitxml={report}", "tests/gpu", "tests/emulated")
    proc = _pytest_on_fake(tmp_path, *args, kernels=kernels)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0, counts
    assert counts["tests"] >= 100, counts  # the GPU suite and the emulation's own rules
    launches = json.loads((tmp_path / "launches.json").read_text(encoding="utf-8"))
    names = {expr.split("<")[0] for expr in launches if expr.startswith("gm_")}
    assert names == set(KERNELS), sorted(names)
    for lanes in (0, 1):  # both sparse thread layouts
        assert any(e.startswith("gm_sparse_ip<") and e.endswith(f", {lanes}>") for e in launches)
    for metric in range(3):  # every metric through both dense paths and the refine
        for kernel in ("gm_fused_scan", "gm_key_epilogue", "gm_refine"):
            assert any(e.startswith(f"{kernel}<{metric}") for e in launches), (kernel, metric)
        for store in range(3):  # the fused scan over float32 rows and both 16-bit copies
            assert any(_fused(e)[::2] == (metric, store) for e in launches), (metric, store)
    rows = {_fused(e)[3] for e in launches if e.startswith("gm_fused_scan")}
    assert rows == {1, 2, 4}, rows  # every warp layout (ROWS = 1 alone at NQ = 32, and forced)


def _fused(expr: str) -> tuple[int, ...]:
    """Template arguments (METRIC, NQ, STORE, ROWS) of a fused-scan launch; () for others."""
    if not expr.startswith("gm_fused_scan<"):
        return ()
    return tuple(int(v) for v in expr[len("gm_fused_scan<") : -1].split(","))


@pytest.mark.slow
@CUDA_ON_CPU
@pytest.mark.parametrize("scan_dtype", ["float32", "bfloat16"])
def test_whole_suite_on_the_emulated_gpu_backend(tmp_path: Path, scan_dtype: str) -> None:
    """Every client, congruence and durability test, with ``device="auto"`` picking the
    (emulated) GPU backend running the CUDA code on the CPU: the engine's GPU wiring under
    the full API, also with every engine keeping a 16-bit scan copy (GPU_MILVUS_SCAN_DTYPE)."""
    proc = _pytest_on_fake(
        tmp_path,
        "tests",
        "--ignore=tests/unit/test_gpu_emulated.py",
        "--ignore=tests/unit/test_bench_suite.py",
        "--ignore=tests/unit/test_kernels_nvrtc.py",
        scan_dtype=scan_dtype,
        kernels="cuda",
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    launches = json.loads((tmp_path / "launches.json").read_text(encoding="utf-8"))
    assert sum(launches.values()) > 1000, launches
    scan16 = sum(n for e, n in launches.items() if _fused(e)[2:3] == (2,))
    assert (scan16 > 100) == (scan_dtype == "bfloat16"), scan16


def test_gpu_bench_runs_and_records_every_goal(tmp_path: Path) -> None:
    """``bench/gpu_bench.py --smoke`` on the emulated CuPy: the script a GPU session runs
    completes and writes a record with every g1-g7 ratio (figures meaningless here)."""
    cmd = [sys.executable, "bench/gpu_bench.py", "--smoke", "--reps", "1", "--nqs", "1,8,32,1024",
           "--ks", "10,1000", "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = tmp_path.glob("gpu_smoke_*.json")
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["commit"] == "0" * 40 and record["device"] == "Emulated GPU (NumPy)"
    assert {"date", "command", "ceilings", "dense", "sparse"} <= set(record)
    goals = ("g1_bandwidth_fraction", "g2_nq32_over_nq1", "g3_sgemm_fraction",
             "g5_k1000_over_k10", "g6_filtered_over_unfiltered", "g7_sparse_vs_cupyx")  # fmt: skip
    goals += tuple(
        f"scan16_{t}_speedup_nq{nq}" for t in ("float16", "bfloat16") for nq in (1, 1024)
    )
    goals += ("g7_single_query_vs_goal",)
    assert all(record["metrics"][g] > 0 for g in goals), record["metrics"]
    scan16 = [r for r in record["dense"] if "scan_dtype" in r]
    assert {r["scan_dtype"] for r in scan16} == {"float16", "bfloat16"}
    assert all(0 <= r["certified"] <= 1 for r in scan16)
    # what a GPU session then runs on its records: a setting for every switch
    picks = subprocess.run([sys.executable, "bench/pick_switches.py", str(path)], cwd=ROOT,
                           env=_env(tmp_path), capture_output=True, text=True)  # fmt: skip
    assert picks.returncode == 0, picks.stdout[-3000:] + picks.stderr[-3000:]
    switches = ("_FUSED_MAX_NQ", "FUSED_ROWS", "_SCORE_BUDGET", "_SPARSE_LANES_NQ",
                "_POSTING_COST")  # fmt: skip
    for name in switches:
        line = next(x for x in picks.stdout.splitlines() if f"{name} = " in x)
        assert line.split()[0] in ("keep", "CHANGE") and "no " not in line, line
