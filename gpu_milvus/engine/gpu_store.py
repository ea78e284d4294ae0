"""Device-resident vector stores for the CuPy backend.

- ``GpuDenseStore``: a float32 matrix grown by capacity doubling (appends copy only the new
  rows), with |x|^2 and 1/|x| cached beside it and, when asked for, a 16-bit scan copy
  (IEEE half or bfloat16) with each row's rounding error;
- ``GpuSparseStore``: CSR rows, host chunks for ``take`` and device chunks joined lazily, and
  the same rows as posting lists (``SparseColumns``) for term-parallel search.

CuPy is imported lazily, so importing this module never breaks a CPU-only install.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus.engine.cpu import HostPostings


def cupy_module() -> Any:
    """CuPy, imported at first use (the GPU modules import fine without it)."""
    import cupy

    return cupy


class GpuDenseStore:
    """A growing float32 matrix on one device with cached |x|^2 and 1/|x|.

    With ``scan_dtype`` "float16" or "bfloat16" it also keeps a 16-bit copy of the rows for
    the small-batch scan (half the bytes read, +50 % memory), and the largest rounding error
    of any row, absolute (``max_err`` = max |x - x~|) and relative to the row's norm
    (``max_rel_err``), which bound the copy's scores (see ``GpuBackend``).
    """

    def __init__(self, dim: int, device: int, scan_dtype: str = "float32") -> None:
        cp = cupy_module()
        self.dim = dim
        self.device = device
        self.scan_dtype = scan_dtype
        self._n = 0
        self.max_err = self.max_rel_err = self.max_sq = 0.0
        with cp.cuda.Device(device):
            self._x = cp.empty((64, max(dim, 1)), dtype=cp.float32)
            self._sq = cp.empty(64, dtype=cp.float32)
            self._inv = cp.empty(64, dtype=cp.float32)
            self._h = None if scan_dtype == "float32" else cp.empty((64, max(dim, 1)), cp.uint16)

    def __len__(self) -> int:
        return self._n

    def append(self, block: Any) -> None:
        """Append rows from the host (NumPy) or, without a round trip, from the device."""
        cp = cupy_module()
        if isinstance(block, np.ndarray) or not hasattr(block, "__cuda_array_interface__"):
            block = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, self.dim)
        m = len(block)
        if m == 0:
            return
        need = self._n + m
        self.make_room(m)
        with cp.cuda.Device(self.device):
            xb = cp.ascontiguousarray(cp.asarray(block, dtype=cp.float32)).reshape(m, self.dim)
            self._x[self._n : need] = xb
            sqb = cp.einsum("ij,ij->i", xb, xb)
            self._sq[self._n : need] = sqb
            invb = 1.0 / cp.sqrt(cp.where(sqb == 0, 1, sqb))
            self._inv[self._n : need] = invb
            self.max_sq = max(self.max_sq, float(sqb.max()))
            if self._h is not None:
                words, err = round16(xb, self.scan_dtype)
                self._h[self._n : need] = words
                self.max_err = max(self.max_err, float(err.max()))
                self.max_rel_err = max(self.max_rel_err, float((err * invb).max()))
        self._n = need

    def append_from(self, fill: Callable[[np.ndarray], None], rows: int) -> None:
        host = np.empty((rows, self.dim), dtype=np.float32)
        fill(host)
        self.append(host)

    def make_room(self, rows: int) -> None:
        """Room for ``rows`` more rows, growing by doubling (amortized appends)."""
        need = self._n + rows
        if need > len(self._x):
            self.reserve(max(need, 2 * len(self._x)))

    def reserve(self, rows: int) -> None:
        cp = cupy_module()
        if rows <= len(self._x):
            return
        with cp.cuda.Device(self.device):  # allocate everything first: all or nothing
            x = cp.empty((rows, self._x.shape[1]), dtype=cp.float32)
            sq, inv = cp.empty(rows, dtype=cp.float32), cp.empty(rows, dtype=cp.float32)
            h = None if self._h is None else cp.empty((rows, self._h.shape[1]), cp.uint16)
            x[: self._n] = self._x[: self._n]
            sq[: self._n] = self._sq[: self._n]
            inv[: self._n] = self._inv[: self._n]
            if h is not None:
                h[: self._n] = self._h[: self._n]
            self._x, self._sq, self._inv, self._h = x, sq, inv, h

    @property
    def matrix(self) -> Any:
        return self._x[: self._n]

    @property
    def scan_copy(self) -> Any:
        """The 16-bit rows (uint16 words), or None for a float32-only store."""
        return None if self._h is None else self._h[: self._n]

    @property
    def sq_norms(self) -> Any:
        return self._sq[: self._n]

    @property
    def inv_norms(self) -> Any:
        return self._inv[: self._n]

    def host_rows(self, start: int, stop: int) -> np.ndarray:
        cp = cupy_module()
        with cp.cuda.Device(self.device):
            return cp.asnumpy(self.matrix[start:stop])

    def take(self, rows: np.ndarray) -> np.ndarray:
        cp = cupy_module()
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.empty((*rows.shape, self.dim), dtype=np.float32)
        with cp.cuda.Device(self.device):
            return cp.asnumpy(self.matrix[cp.asarray(rows)])


def round16(xb: Any, scan_dtype: str) -> tuple[Any, Any]:
    """Rows rounded to nearest-even 16-bit words, and each row's error |x - x~| (float64;
    inf where a value overflows the format)."""
    cp = cupy_module()
    if scan_dtype == "float16":
        half = xb.astype(cp.float16)
        words, back = half.view(cp.uint16), half.astype(cp.float32)
    else:  # bfloat16: the top 16 bits of the float32, rounded to nearest even
        u = xb.view(cp.uint32)
        words = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(cp.uint16)
        back = (words.astype(cp.uint32) << 16).view(cp.float32)
    diff = (xb - back).astype(cp.float64)
    err = cp.sqrt(cp.einsum("ij,ij->i", diff, diff))
    return words, cp.where(cp.isfinite(back).all(axis=1), err, cp.inf)


@dataclass(frozen=True)
class SparseColumns:
    """A sparse store's first ``rows_covered`` rows as posting lists: column terms[t] holds
    the postings colptr[t] .. colptr[t + 1] of (rows, vals), rows ascending. terms and colptr
    on the host (for the search's bookkeeping), rows and vals on the device."""

    rows_covered: int
    terms: np.ndarray
    colptr: np.ndarray
    rows: Any
    vals: Any


class GpuSparseStore(HostPostings):
    """CSR rows: host chunks (for ``take`` and BM25's host postings) plus device chunks
    concatenated lazily."""

    def __init__(self, device: int) -> None:
        self.device = device
        self._host: list[sp.csr_matrix] = []
        self._host_stacked: sp.csr_matrix | None = None
        self._dev_chunks: list[tuple[Any, Any, Any]] = []  # (indptr, indices, data)
        self._dev: tuple[Any, Any, Any] | None = None
        self._rows = 0
        self._csc: SparseColumns | None = None
        self.width = 1
        self.max_col = -1

    def __len__(self) -> int:
        return self._rows

    def append(self, block: sp.csr_matrix) -> None:
        cp = cupy_module()
        block = sp.csr_matrix(block, dtype=np.float32)
        block.sum_duplicates()
        with cp.cuda.Device(self.device):  # first what can fail (device memory)
            chunk = (
                cp.asarray(block.indptr.astype(np.int64)),
                cp.asarray(block.indices.astype(np.int64)),
                cp.asarray(block.data.astype(np.float32)),
            )
        self._dev_chunks.append(chunk)
        self._dev = None
        self._host.append(block)
        self._host_stacked = None
        self._rows += block.shape[0]
        self.width = max(self.width, block.shape[1])
        if block.nnz:
            self.max_col = max(self.max_col, int(block.indices.max()))

    def device_csr(self) -> tuple[Any, Any, Any]:
        """(indptr int64, indices int32 or int64, data float32) of all rows, on the device."""
        cp = cupy_module()
        if self._dev is None:
            with cp.cuda.Device(self.device):
                ptrs, offset = [cp.zeros(1, dtype=cp.int64)], 0
                for p, _, _ in self._dev_chunks:
                    ptrs.append(p[1:] + offset)
                    offset += int(p[-1].item()) if len(p) > 1 else 0
                idx = [c[1].astype(cp.int64, copy=False) for c in self._dev_chunks]
                idx = idx or [cp.zeros(0, dtype=cp.int64)]
                dat = [c[2] for c in self._dev_chunks] or [cp.zeros(0, dtype=cp.float32)]
                indices = cp.concatenate(idx)
                if self.max_col < 2**31 - 1:
                    indices = indices.astype(cp.int32)
                self._dev = (cp.concatenate(ptrs), indices, cp.concatenate(dat))
                self._dev_chunks = [self._dev]
        return self._dev

    def device_csc(self) -> SparseColumns:
        """The rows as posting lists, built on the device at first use and again once the
        rows appended since (which searches scan row by row) reach a quarter of the store."""
        cp = cupy_module()
        if self._csc is None or 4 * (self._rows - self._csc.rows_covered) > self._rows:
            indptr, indices, data = self.device_csr()
            with cp.cuda.Device(self.device):
                nnz = len(indices)
                row_of = cp.searchsorted(indptr[1:], cp.arange(nnz, dtype=cp.int64), side="right")
                order = cp.argsort(indices, kind="stable")  # rows stay ascending
                cols = indices[order]
                starts = cp.concatenate(
                    (cp.zeros(1, dtype=cp.int64), cp.flatnonzero(cols[1:] != cols[:-1]) + 1)
                ) if nnz else cp.zeros(0, dtype=cp.int64)  # fmt: skip
                self._csc = SparseColumns(
                    rows_covered=self._rows,
                    terms=cp.asnumpy(cols[starts]).astype(np.int64),
                    colptr=np.append(cp.asnumpy(starts), nnz).astype(np.int64),
                    rows=row_of[order].astype(cp.int32),
                    vals=data[order],
                )
        return self._csc

    def as_cupyx(self) -> Any:
        """The rows as a ``cupyx.scipy.sparse.csr_matrix`` on the same device arrays, or None
        where cupyx cannot hold them: its CSR is int32 only, while Milvus's sparse dimensions
        reach 2^32 - 1 (so the store keeps int64 columns and row pointers where needed)."""
        import cupyx.scipy.sparse as csp

        cp = cupy_module()
        indptr, indices, data = self.device_csr()
        if indices.dtype != cp.int32 or int(indptr[-1].item()) >= 2**31:
            return None
        with cp.cuda.Device(self.device):
            shape = (self._rows, max(self.width, self.max_col + 1))
            return csp.csr_matrix((data, indices, indptr.astype(cp.int32)), shape=shape)

    def take(self, rows: np.ndarray) -> sp.csr_matrix:
        return self.matrix[rows]

    @property
    def matrix(self) -> sp.csr_matrix:
        """Every row, on the host."""
        if self._host_stacked is None:
            parts = [
                sp.csr_matrix((c.data, c.indices, c.indptr), shape=(c.shape[0], self.width))
                for c in self._host
            ]
            stacked = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, self.width))
            self._host_stacked = stacked.astype(np.float32)
            self._host = [self._host_stacked]
        return self._host_stacked
