"""The ratios ``bench/gpu_bench.py`` derives from its rows (no GPU needed: rows made up)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_bench.py"


def _gpu_bench():
    spec = importlib.util.spec_from_file_location("gpu_bench_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(nq: int, ours_ms: float, **extra: float | str) -> dict:
    return {"N": 1000, "d": 8, "nq": nq, "k": 10, "ours_ms": ours_ms, "bandwidth_fraction": 0.5,
            **extra}  # fmt: skip


def test_g4_ratios_against_torch_and_the_certified_mode() -> None:
    rows = [
        _row(1, 1.0, torch_ms=2.0),
        _row(8, 1.5, torch_ms=4.5),
        _row(1024, 40.0, torch_ms=60.0),
        _row(1024, 8.0, scan_dtype="bfloat16", certified=0.75),
    ]
    ceilings = {"copy_GBps": 1000.0, "fp32_gemm_TFLOPs": 50.0, "bf16_gemm_TFLOPs": 500.0}
    g = _gpu_bench()._goals(rows, ceilings)
    assert g["g4_vs_torch_nq8"] == 3.0 and g["g4_vs_torch_nq1024"] == 1.5
    assert g["scan16_bfloat16_speedup_nq1024"] == 5.0
    assert g["g4_bfloat16_certified_vs_torch_nq1024"] == 7.5
    assert g["scan16_bfloat16_certified_nq1024"] == 0.75
    tflops = 2 * 1024 * 1000 * 8 / 8.0 / 1e9
    assert abs(g["scan16_bfloat16_bf16_gemm_fraction_nq1024"] - tflops / 500.0) < 1e-12
    assert "g4_float16_certified_vs_torch_nq1024" not in g  # no float16 row: no ratio


def test_g4_ratios_need_torch() -> None:
    g = _gpu_bench()._goals([_row(8, 1.0), _row(1024, 2.0)], {"copy_GBps": 1000.0})
    assert not any(name.startswith("g4_") for name in g)
