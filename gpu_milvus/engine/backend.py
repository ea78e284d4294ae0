"""The compute backend protocol and its selection.

A backend owns where vectors live (host NumPy or device CuPy) and how exact top-k runs.
Selection happens once, when an engine opens: ``auto`` takes the GPU when CuPy and a CUDA
device are usable, else the CPU. A GPU failure later is raised, never retried on the CPU.

Search results use one convention on every backend: ``(rows, scores)``, each of shape
``(nq, k)``, host NumPy arrays; ``rows`` are table row numbers (int64, -1 pads a query with
fewer than k candidates) and ``scores`` float32 distances in Milvus's sense (IP and COSINE
larger-better, L2 squared and smaller-better), best first. ``valid`` (rows a search may
return) is None (all), one bool per row shared by every query, or per query: a bool array of
shape ``(nq, rows)`` or a ``QueryMasks`` (one row per distinct filter and each query's row),
which lets requests with different filters share one launch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from gpu_milvus import errors

METRICS_DENSE = ("L2", "IP", "COSINE")
METRICS_SPARSE = ("IP",)
METRICS_BINARY = ("HAMMING", "JACCARD", "MHJACCARD")
LARGER_IS_BETTER = frozenset({"IP", "COSINE", "BM25", "MHJACCARD"})


class QueryMasks:
    """Per-query masks held once per distinct filter: query i may return row r when
    ``masks[index[i], r]``. Indexing ``[queries, rows]`` gives what the full ``(nq, rows)``
    array would, built only for the rows asked for."""

    ndim = 2

    def __init__(self, masks: np.ndarray, index: np.ndarray) -> None:
        self.masks = masks
        self.index = np.asarray(index, dtype=np.intp)
        self.shape = (len(self.index), masks.shape[1])

    def __getitem__(self, key: tuple[Any, Any]) -> np.ndarray:
        queries, rows = key
        if isinstance(queries, (int, np.integer)):  # one query: its own mask only
            return self.masks[self.index[queries], rows]
        return self.masks[:, rows][self.index[queries]]


Valid = np.ndarray | QueryMasks | None


class DenseStore(Protocol):
    """A growing float32 matrix of one vector field."""

    dim: int

    def __len__(self) -> int: ...

    def append(self, block: np.ndarray) -> None: ...

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` rows in one allocation, so a reload does not grow by doubling."""
        ...

    def make_room(self, rows: int) -> None:
        """Room for ``rows`` more rows (growing by doubling), so that a write can claim its
        memory before it is logged and then append without a large allocation."""
        ...

    def append_from(self, fill: Callable[[np.ndarray], None], rows: int) -> None:
        """Append ``rows`` rows that ``fill`` writes into a (rows, dim) float32 host array."""
        ...

    def host_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start..stop-1`` on the host; may be a view, as rows once written never
        change (a checkpoint reads them without holding the collection's lock)."""
        ...

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Host float32 copies of the given rows, shape (len(rows), dim)."""
        ...


class SparseStore(Protocol):
    """Growing CSR rows of one sparse vector field."""

    def __len__(self) -> int: ...

    def append(self, block: sp.csr_matrix) -> None: ...

    def take(self, rows: np.ndarray) -> sp.csr_matrix: ...


class Backend(Protocol):
    """Where vectors live and how exact top-k search runs."""

    name: str

    def dense_store(self, dim: int) -> DenseStore: ...

    def sparse_store(self) -> SparseStore: ...

    def search_dense(
        self,
        store: DenseStore,
        queries: np.ndarray,
        metric: str,
        k: int,
        valid: Valid,
        bounds: tuple[float | None, float | None] = (None, None),
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def search_sparse(
        self,
        store: SparseStore,
        queries: sp.csr_matrix,
        k: int,
        valid: Valid,
        bounds: tuple[float | None, float | None] = (None, None),
    ) -> tuple[np.ndarray, np.ndarray]: ...


SCAN_DTYPES = ("float32", "float16", "bfloat16")


def gpu_count() -> int:
    """CUDA devices CuPy sees (0 without CuPy or a driver)."""
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return gpu_count() > 0


def select_backend(device: str = "auto", scan_dtype: str = "float32") -> Any:
    """Pick the backend for ``device``: "auto", "cpu", "cuda" or "cuda:N".

    ``GPU_MILVUS_DEVICE`` overrides "auto". Asking for CUDA explicitly without a usable GPU
    raises a MilvusException; "auto" falls back to the CPU. ``scan_dtype`` (one of
    ``SCAN_DTYPES``) is the GPU's small-batch scan copy; the CPU backend reads float32 only.
    """
    from gpu_milvus.engine.cpu import CpuBackend

    if scan_dtype not in SCAN_DTYPES:
        choices = ", ".join(SCAN_DTYPES)
        raise errors.invalid(f"scan_dtype must be one of {choices}, got {scan_dtype!r}")

    if device == "auto":
        device = os.environ.get("GPU_MILVUS_DEVICE", "auto")
    if not isinstance(device, str):
        raise errors.invalid(f"invalid device: {device!r}")
    device = device.lower()
    if device == "cpu":
        return CpuBackend()
    if device == "auto" and not gpu_available():
        return CpuBackend()
    ordinal_text = device[5:] if device.startswith("cuda:") else "0"
    if device in ("auto", "cuda") or (device.startswith("cuda:") and ordinal_text.isdigit()):
        if not gpu_available():
            raise errors.invalid(f"device {device!r} requested but no usable CUDA GPU was found")
        try:
            from gpu_milvus.engine.gpu import GpuBackend
        except ImportError:
            if device == "auto":
                return CpuBackend()
            raise errors.invalid("the CUDA backend is not available in this build") from None
        ordinal, count = int(ordinal_text), gpu_count()
        if ordinal >= count:
            raise errors.invalid(f"device {device!r} requested but CuPy sees {count} CUDA GPU(s)")
        return GpuBackend(ordinal, scan_dtype)
    raise errors.invalid(f"invalid device: {device!r}; expected auto, cpu, cuda or cuda:N")
