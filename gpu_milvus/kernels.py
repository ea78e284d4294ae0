"""CUDA kernels: ``cuda/*.cu`` read as text and compiled with ``cupy.RawModule``.

The sources live in ``<repo>/cuda`` in a checkout and in ``gpu_milvus/_cuda`` in a wheel.
``#include "common.cuh"`` is inlined here, so CuPy's on-disk cache key (which hashes the source
text, options and name expressions but not included files) changes whenever a header does.
Modules are compiled once per (device, file) on first use and memoized; CuPy is imported lazily,
so this module imports fine on a machine without CuPy.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

OPTIONS = ("-std=c++17",)
METRIC_IDS = {"IP": 0, "L2": 1, "COSINE": 2}
FUSED_NQ = (1, 2, 4, 8, 16, 32)
# Rows a warp of the fused scan takes at a time, per NQ template: its acc[NQ][ROWS] registers
# stay at 32 or fewer per thread. ROWS = 1 (each query slice re-read per row) is also built
# for float32 rows, so that gpu_bench can time one layout against the other.
FUSED_ROWS = {1: 4, 2: 4, 4: 4, 8: 4, 16: 2, 32: 1}

STORE_IDS = {"float32": 0, "float16": 1, "bfloat16": 2}  # GM_STORE_* in common.cuh

# Template instantiations NVRTC must emit, per file (name_expressions).
NAME_EXPRESSIONS: dict[str, tuple[str, ...]] = {
    "distance.cu": tuple(
        f"gm_fused_scan<{m}, {q}, 0, {rows}>"
        for m in range(3)
        for q in FUSED_NQ
        for rows in sorted({1, FUSED_ROWS[q]})
    )
    + tuple(f"gm_key_epilogue<{m}>" for m in range(3))
    + tuple(f"gm_refine<{m}>" for m in range(3)),
    "scan16.cu": tuple(
        f"gm_fused_scan<{m}, {q}, {s}, {FUSED_ROWS[q]}>"
        for s in (1, 2)
        for m in range(3)
        for q in FUSED_NQ
    ),
    "topk.cu": (),
    "sparse.cu": tuple(
        f"gm_sparse_ip<{t}, {lanes}>" for t in ("int", "long long") for lanes in (0, 1)
    ),
}

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$', re.MULTILINE)
_lock = threading.Lock()
_modules: dict[tuple[int, str], Any] = {}
_functions: dict[tuple[int, str, str], Any] = {}


def source_dir() -> Path:
    """The folder holding the .cu files (wheel package data first, then the checkout)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "_cuda", here.parent / "cuda"):
        if (cand / "common.cuh").is_file():
            return cand
    raise FileNotFoundError("CUDA sources not found (expected gpu_milvus/_cuda or cuda/)")


@cache
def source(name: str) -> str:
    """The text of ``name`` with local ``#include "..."`` lines inlined (once each)."""
    folder = source_dir()
    seen: set[str] = set()

    def expand(text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            inc = m.group(1)
            if inc in seen:
                return ""
            seen.add(inc)
            text = (folder / inc).read_text(encoding="utf-8")
            return expand(text.replace("#pragma once", ""))

        return _INCLUDE.sub(repl, text)

    return expand((folder / name).read_text(encoding="utf-8"))


def module(name: str) -> Any:
    """The compiled ``cupy.RawModule`` for ``name`` on the current device (memoized)."""
    import cupy

    key = (int(cupy.cuda.runtime.getDevice()), name)
    mod = _modules.get(key)
    if mod is None:
        with _lock:
            mod = _modules.get(key)
            if mod is None:
                mod = cupy.RawModule(
                    code=source(name),
                    options=OPTIONS,
                    name_expressions=NAME_EXPRESSIONS.get(name, ()) or None,
                )
                _modules[key] = mod
    return mod


def get(name: str, kernel: str, *targs: object) -> Any:
    """Kernel ``kernel`` from file ``name``; template arguments make ``kernel<a, b>``.
    Memoized per device, so a search's launches do not look their kernels up again."""
    import cupy

    expr = f"{kernel}<{', '.join(str(a) for a in targs)}>" if targs else kernel
    key = (int(cupy.cuda.runtime.getDevice()), name, expr)
    function = _functions.get(key)
    if function is None:
        function = _functions[key] = module(name).get_function(expr)
    return function
