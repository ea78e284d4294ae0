"""Dockerfile.cuda copies the source tree: .dockerignore must keep every build input and leave
out the local virtual environment, git data and benchmark records (hundreds of MB)."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and line[0] != "#"]


def _ignored(path: str) -> bool:
    """Docker's rule for these patterns: a pattern matches a path or one of its parents;
    ``**/`` matches any number of leading folders."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in _patterns():
        if pattern.startswith("**/"):
            tail = pattern[3:]
            if any(fnmatch(part, tail) for part in parts):
                return True
        elif any(fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_build_inputs_stay_in_the_context() -> None:
    needed = ["pyproject.toml", "README.md", "Dockerfile.cuda", "gpu_milvus/__init__.py",
              "gpu_milvus/engine/gpu.py", "cuda/distance.cu", "cuda/common.cuh"]  # fmt: skip
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not _ignored(path), f"{path} would be left out of the docker build context"


def test_local_and_generated_files_stay_out() -> None:
    generated = [
        ".venv/bin/python",
        ".git/HEAD",
        ".whl/x.whl",
        "bench/results/a.json",
        "gpu_milvus/__pycache__/x.pyc",
        "gpu_milvus.egg-info/PKG-INFO",
        "s.db/wal",
    ]
    for path in generated:
        assert _ignored(path), f"{path} would be sent to the docker build"
