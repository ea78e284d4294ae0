"""Sparse inner-product search on the GPU (``cuda/sparse.cu``).

Two ways to score a batch, picked per search by the bytes each would read:

- document-parallel: one pass over the stored entries scores every query (``gm_sparse_ip``);
- term-parallel: for a few queries, only the posting lists of their terms are read
  (``gm_sparse_postings``) from the store's columns (``GpuSparseStore.device_csc``). Rows
  appended since those were built are scanned document-parallel.

Scores become keys (the IP when non-zero, else -inf; masks, range bounds) and the radix select
of ``GpuBackend`` takes the top k of each part, merged at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus import kernels
from gpu_milvus.engine.backend import Valid
from gpu_milvus.engine.gpu_args import Bounds, DeviceMask, bound_args, device_mask, placeholder
from gpu_milvus.engine.gpu_store import GpuSparseStore, SparseColumns
from gpu_milvus.engine.gpu_store import cupy_module as _cp

if TYPE_CHECKING:
    from gpu_milvus.engine.gpu import GpuBackend

_SPARSE = "sparse.cu"
_LUT_MAX = 1 << 24  # document-parallel: dense column -> slot table up to this many columns
_SPARSE_LANES_NQ = 8  # document-parallel: from this many queries, lanes over queries (untimed)
_TERM_PARALLEL_MAX_NQ = 4  # term-parallel only for batches this small
_POSTING_COST = 4.0  # a posting's atomic add, in stored entries scanned (not yet timed)


def search_sparse(
    backend: GpuBackend,
    store: GpuSparseStore,
    queries: sp.csr_matrix,
    k: int,
    valid: Valid,
    bounds: Bounds,
    budget: int,
) -> tuple[Any, Any]:
    """Top min(k, n) keys and row numbers per query, on the device (unsorted); ``budget``:
    the most scores (floats) one pass may hold."""
    cp = _cp()
    nq, n = queries.shape[0], len(store)
    mask = device_mask(valid, nq, n)
    plan = _posting_plan(store, queries, budget)
    split = plan[0].rows_covered if plan is not None else 0
    parts = []
    if plan is not None and split:
        parts.append(_term_parallel(backend, *plan, nq, min(k, split), mask, bounds))
    if split < n:
        parts += _doc_parallel(backend, store, queries, split, min(k, n), mask, bounds, budget)
    if len(parts) == 1:
        return parts[0]
    keys = cp.concatenate([p[0] for p in parts], axis=1)
    ids = cp.concatenate([p[1] for p in parts], axis=1)
    return backend.select(keys, min(k, n), ids=ids)


Entries = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _posting_plan(
    store: GpuSparseStore, queries: sp.csr_matrix, budget: int
) -> tuple[SparseColumns, Entries] | None:
    """The store's posting lists and the batch's entries in them, when term-parallel scoring
    pays for this batch (fewer bytes than a scan), else None."""
    nq, n = queries.shape[0], len(store)
    if nq > _TERM_PARALLEL_MAX_NQ or nq * n > budget:
        return None
    try:
        cols = store.device_csc()
    except _cp().cuda.memory.OutOfMemoryError:  # no room for a second copy: scan instead
        return None
    entries = posting_entries(cols, queries)  # postings read vs entries a scan would read:
    return (cols, entries) if entries[1][-1] * _POSTING_COST < cols.colptr[-1] else None


def posting_entries(cols: SparseColumns, queries: sp.csr_matrix) -> Entries:
    """The (query, term) pairs found in the store's posting lists: first posting, cumulative
    posting counts (one more than the pairs: the last is the postings read), query, weight."""
    qcols = queries.indices.astype(np.int64)
    qrow = np.repeat(np.arange(queries.shape[0], dtype=np.int32), np.diff(queries.indptr))
    if len(cols.terms) == 0:
        return np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0)
    at = np.minimum(np.searchsorted(cols.terms, qcols), len(cols.terms) - 1)
    hit = (cols.terms[at] == qcols) & (queries.data != 0)
    lo = cols.colptr[at[hit]]
    cum = np.concatenate(([0], np.cumsum(cols.colptr[at[hit] + 1] - lo))).astype(np.int64)
    return lo.astype(np.int64), cum, qrow[hit], queries.data[hit].astype(np.float32)


def _term_parallel(
    backend: GpuBackend,
    cols: SparseColumns,
    entries: Entries,
    nq: int,
    k: int,
    mask: DeviceMask,
    bounds: Bounds,
) -> tuple[Any, Any]:
    """Top k over the rows the posting lists cover: their products added posting by posting
    into a zeroed score row per query, turned into keys, selected."""
    cp = _cp()
    n = cols.rows_covered
    lo, cum, entry_q, entry_w = entries
    scores = cp.zeros((nq, n), dtype=cp.float32)
    total, e = int(cum[-1]), len(lo)
    if total:  # the entries in two copies: 64-bit (lo, cum) and 32-bit (query, weight) words
        wide = cp.asarray(np.concatenate((lo, cum)))
        narrow = cp.asarray(np.concatenate((entry_q, entry_w.view(np.int32))))
        kernels.get(_SPARSE, "gm_sparse_postings")(
            (max(1, min(-(-total // 256), backend.sm_count * 32)),),
            (256,),
            (cols.rows, cols.vals, wide[:e], wide[e:], narrow[:e], narrow[e:].view(cp.float32),
             np.int32(e), np.int64(n), scores),
        )  # fmt: skip
    kernels.get(_SPARSE, "gm_sparse_finish")(
        (max(1, min(-(-scores.size // 256), backend.sm_count * 32)),),
        (256,),
        (scores, np.int32(nq), np.int64(n), *mask.args(), *bound_args(bounds)),
    )
    return backend.select(scores, k)


def _doc_parallel(
    backend: GpuBackend,
    store: GpuSparseStore,
    queries: sp.csr_matrix,
    start: int,
    k: int,
    mask: DeviceMask,
    bounds: Bounds,
    budget: int,
) -> list[tuple[Any, Any]]:
    """Top k candidates of each chunk of rows start.. (one scan of their entries per chunk)."""
    cp = _cp()
    nq, n = queries.shape[0], len(store)
    terms = np.unique(queries.indices.astype(np.int64))
    qtab = np.zeros((len(terms), nq), dtype=np.float32)
    qrow = np.repeat(np.arange(nq), np.diff(queries.indptr))
    qtab[np.searchsorted(terms, queries.indices.astype(np.int64)), qrow] = queries.data
    indptr, indices, data = store.device_csr()
    d_terms, d_qtab = cp.asarray(terms), cp.asarray(qtab)
    lut_n = store.max_col + 1
    use_lut = 0 < lut_n <= _LUT_MAX
    if use_lut:
        lut = cp.full(lut_n, -1, dtype=cp.int32)
        inside = terms < lut_n
        lut[cp.asarray(terms[inside])] = cp.asarray(np.flatnonzero(inside), cp.int32)
    else:
        lut = placeholder()
    tname = "int" if indices.dtype == cp.int32 else "long long"
    kern = kernels.get(_SPARSE, "gm_sparse_ip", tname, int(nq >= _SPARSE_LANES_NQ))
    chunk = max(k, budget // nq)
    out = []
    for c0 in range(start, n, chunk):
        rows = min(n, c0 + chunk) - c0
        scores = cp.empty((nq, rows), dtype=cp.float32)
        kern(
            (max(1, min(-(-rows // 8), backend.sm_count * 64)),),
            (256,),
            (indptr, indices, data, np.int64(c0), np.int32(rows), lut,
             np.int64(lut_n if use_lut else 0), d_terms, np.int32(len(terms)), np.int32(use_lut),
             d_qtab, np.int32(nq), *mask.args(), *bound_args(bounds), scores),
        )  # fmt: skip
        out.append(backend.select(scores, min(k, rows), id_offset=c0))
    return out
