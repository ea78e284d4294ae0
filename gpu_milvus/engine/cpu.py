"""NumPy/SciPy backend: exact top-k for dense (IP, L2, COSINE) and sparse (IP) vectors.

This is the reference the GPU backend is checked against, and the path CI runs.

Dense search computes a ranking key with one BLAS product per block of rows (IP: q.x;
COSINE: q.x / (|q||x|); L2: 2 q.x - |x|^2, which orders rows like -|q - x|^2), selects the
k best per query with ``argpartition``, merges blocks, then *refines* the k winners: their
distances are recomputed in float64 from the stored vectors and rounded to float32, so the
reported distances do not carry the cancellation error of the expanded L2 form.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus.engine.backend import LARGER_IS_BETTER
from gpu_milvus.storage.growing import GrowingArray, GrowingMatrix

_BLOCK_ELEMENTS = 1 << 20  # nq * rows per block of the score matrix (4 MiB, cache-sized)
_REFINE_ELEMENTS = 1 << 24  # nq * k * dim per refine chunk (float64)
# k * dim from which a query's winners are widened to float64 on their own and go through BLAS,
# 1.1-2.2x faster than the chunked mixed-type einsum from here on (d 64-768, k 8-1000; below,
# e.g. d=1024 k=4, the chunks win; measured on a 2-core VM)
_REFINE_BLAS = 6144
Bounds = tuple[float | None, float | None]


class CpuDenseStore:
    """A float32 matrix; its squared norms are computed when an L2 or COSINE search first
    needs them (IP never does), so appends and reloads only copy vectors."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._matrix = GrowingMatrix(dim)
        self._sq_norms = GrowingArray(np.float32)
        self._norms_lock = threading.Lock()  # concurrent readers may both need them

    def __len__(self) -> int:
        return self._matrix.size

    def reserve(self, rows: int) -> None:
        self._matrix.reserve(rows)
        self._sq_norms.reserve(rows)

    def make_room(self, rows: int) -> None:
        self._matrix.make_room(rows)

    def append_from(self, fill: Callable[[np.ndarray], None], rows: int) -> None:
        self._matrix.extend_with(fill, rows)

    def append(self, block: np.ndarray) -> None:
        self._matrix.append(np.ascontiguousarray(block, dtype=np.float32))

    @property
    def matrix(self) -> np.ndarray:
        return self._matrix.view

    @property
    def sq_norms(self) -> np.ndarray:
        size = self._matrix.size
        if self._sq_norms.size < size:
            with self._norms_lock:
                done = self._sq_norms.size
                if done < size:
                    block = self._matrix.view[done:size]
                    self._sq_norms.append(np.einsum("ij,ij->i", block, block, dtype=np.float32))
        return self._sq_norms.view[:size]

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self._matrix.view[rows]

    def host_rows(self, start: int, stop: int) -> np.ndarray:
        return self._matrix.view[start:stop]


class HostPostings:
    """An inverted index over a host CSR ``matrix`` (per dimension present, the rows holding
    it), rebuilt lazily once the rows appended since its last build pass 1/8 of the store.
    Dimensions reach 2^32 - 2, so the index numbers only those present."""

    # (terms present, sorted; terms x rows CSR over their positions; rows covered)
    _inverted: tuple[np.ndarray, sp.csr_matrix, int] | None = None
    _row_sums: np.ndarray | None = None

    @property
    def matrix(self) -> sp.csr_matrix:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def inverted(self) -> tuple[np.ndarray, sp.csr_matrix, int]:
        """The terms present in the first ``covered`` rows, their postings, and ``covered``."""
        found = self._inverted
        if found is None or (len(self) - found[2]) * 8 > len(self):
            matrix = self.matrix
            terms = np.unique(matrix.indices)
            found = (terms, on_terms(matrix, terms).T.tocsr(), matrix.shape[0])
            self._inverted = found  # one assignment: concurrent readers see a whole triple
        return found

    def row_sums(self) -> np.ndarray:
        """Each row's values summed (a BM25 row's token count), extended as rows arrive."""
        known = self._row_sums if self._row_sums is not None else np.zeros(0)
        if len(known) < len(self):
            tail = np.asarray(self.matrix[len(known) :].sum(axis=1)).ravel()
            known = self._row_sums = np.concatenate([known, tail])
        return known[: len(self)]

    def columns(self, terms: np.ndarray) -> sp.csr_matrix:
        """Each of the sorted ``terms``' values in every row: (len(terms) x rows) CSR."""
        known, inverted, covered = self.inverted()
        pos = np.minimum(np.searchsorted(known, terms), max(len(known) - 1, 0))
        present = known[pos] == terms if len(known) else np.zeros(len(terms), dtype=bool)
        found = inverted[pos[present]]  # the postings of the terms present, then zero rows
        counts = np.zeros(len(terms), dtype=np.int64)
        counts[present] = np.diff(found.indptr)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        head = sp.csr_matrix((found.data, found.indices, indptr), shape=(len(terms), covered))
        if covered == len(self):
            return head
        tail = on_terms(self.matrix[covered:], terms).T.tocsr()
        return sp.hstack([head, tail], format="csr")


class CpuSparseStore(HostPostings):
    """CSR chunks, stacked lazily into one CSR matrix, with its inverted index."""

    def __init__(self) -> None:
        self._chunks: list[sp.csr_matrix] = []
        self._stacked: sp.csr_matrix | None = None
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def append(self, block: sp.csr_matrix) -> None:
        self._chunks.append(block)
        self._rows += block.shape[0]
        self._stacked = None

    @property
    def matrix(self) -> sp.csr_matrix:
        if self._stacked is None:
            width = max((c.shape[1] for c in self._chunks), default=1)
            parts = [_with_width(c, width) for c in self._chunks]
            stacked = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, width))
            self._stacked = stacked.astype(np.float32)
            self._chunks = [self._stacked]
        return self._stacked

    def take(self, rows: np.ndarray) -> sp.csr_matrix:
        return self.matrix[rows]


def on_terms(m: sp.csr_matrix, terms: np.ndarray) -> sp.csr_matrix:
    """``m`` restricted to the sorted dimensions ``terms``, renumbered 0..len(terms)-1."""
    m = sp.csr_matrix(m)
    if not len(terms):
        return sp.csr_matrix((m.shape[0], 0), dtype=np.float32)
    pos = np.minimum(np.searchsorted(terms, m.indices), len(terms) - 1)
    hit = terms[pos] == m.indices
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[hit]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m.shape[0]))])
    return sp.csr_matrix(
        (m.data[hit].astype(np.float32), pos[hit], indptr), shape=(m.shape[0], len(terms))
    )


def _sparse_scores(store: CpuSparseStore, queries: sp.csr_matrix) -> sp.csr_matrix:
    """queries @ matrix.T as (nq x rows) CSR: through the inverted index for the rows it
    covers (work in proportion to the queries' posting lists), directly for the rest."""
    known, inverted, covered = store.inverted()
    scores = on_terms(queries, known) @ inverted
    if covered < len(store):
        terms = np.unique(queries.indices)
        tail = on_terms(store.matrix[covered:], terms)
        scores = sp.hstack([scores, (tail @ on_terms(queries, terms).T).T], format="csr")
    return scores.tocsr()


def _with_width(m: sp.csr_matrix, width: int) -> sp.csr_matrix:
    if m.shape[1] == width:
        return m
    return sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], width))


def no_hits(nq: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and distances of nq queries with no hits (width 0)."""
    return np.empty((nq, 0), dtype=np.int64), np.empty((nq, 0), dtype=np.float32)


def best_by_row(vals: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest ``vals``, best first; equal values go to lower rows (also
    at the cut), as the dense path orders them."""
    if len(vals) > k:
        kth = np.partition(vals, len(vals) - k)[len(vals) - k]
        above = np.flatnonzero(vals > kth)
        tied = np.flatnonzero(vals == kth)
        tied = tied[np.argsort(rows[tied], kind="stable")[: k - len(above)]]
        keep = np.concatenate([above, tied])
    else:
        keep = np.arange(len(vals))
    return keep[np.lexsort((rows[keep], -vals[keep]))]


def _select(keys: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best k keys per query row (larger key is better) and their rows, unordered: the
    refined distances decide the order."""
    if keys.shape[1] > k:
        part = np.argpartition(keys, -k, axis=1)[:, -k:]
        keys = np.take_along_axis(keys, part, axis=1)
        rows = np.take_along_axis(rows, part, axis=1)
    return keys, rows


def order_refined(rows: np.ndarray, dist: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Refined float64 distances -> float32, best first, -1 rows last with distance 0.

    Equal distances are ordered by row number, so the answer does not depend on which other
    queries shared the batch.
    """
    dist32 = dist.astype(np.float32)
    sign = -1.0 if metric in LARGER_IS_BETTER else 1.0
    order_key = np.where(rows < 0, np.inf, sign * dist32.astype(np.float64))
    order = np.lexsort((rows, order_key), axis=-1)
    rows = np.take_along_axis(rows, order, axis=1)
    dist32 = np.take_along_axis(dist32, order, axis=1)
    return rows, np.where(rows < 0, np.float32(0), dist32)


def exact_bounds(
    rows: np.ndarray, dist: np.ndarray, metric: str, bounds: Bounds, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Refined, ordered hits of a range search: drop those outside ``bounds``, keep k."""
    rows = np.where(in_bounds(dist, metric, bounds), rows, -1)
    order = np.argsort(rows < 0, axis=1, kind="stable")
    return (
        np.take_along_axis(rows, order, axis=1)[:, :k],
        np.take_along_axis(dist, order, axis=1)[:, :k],
    )


def widened(bounds: Bounds, metric: str) -> Bounds:
    """Bounds loosened by more than the float32 error of the fast (expanded) scores."""
    radius, range_filter = bounds
    sign = 1.0 if metric in LARGER_IS_BETTER else -1.0

    def loosen(value: float | None, direction: float) -> float | None:
        return None if value is None else value + direction * 1e-3 * (1 + abs(value))

    return loosen(radius, -sign), loosen(range_filter, sign)


def _scores(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """q @ x.T, as one GEMV per query where that beats OpenBLAS's SGEMM (see _gemv_each)."""
    if len(q) == 1:
        return (x @ q[0])[None, :]
    if _gemv_each(len(q), *x.shape):
        return np.stack([x @ row for row in q])
    return q @ x.T


# One query: a GEMV streams the rows on every BLAS thread (1.9-2.9x NumPy's einsum loop).
# Two to four: OpenBLAS's SGEMM packs the whole block first, and separate GEMVs took 0.39-0.94x
# its time for two queries from 1M elements up to 32M, or at any size from 256 dimensions
# (1M x 128 was the exception, 1.3x), and 0.5-0.6x for three or four up to 8M (2-core VM).
def _gemv_each(nq: int, rows: int, dim: int) -> bool:
    """Whether nq separate GEMVs beat one SGEMM on a rows x dim block."""
    size = rows * dim
    two = size <= 32 << 20 or dim >= 256
    return size >= 1 << 20 and (two if nq == 2 else nq <= 4 and size <= 8 << 20)


def _exact_one(winners: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """float64 distances of one query's winners (k, d), widened already, to its query q."""
    if metric == "L2":  # (x - q)^2 summed: exact 0 for a stored copy of the query
        winners -= q
        return np.einsum("kd,kd->k", winners, winners)
    dot = winners @ q
    if metric == "COSINE":
        denom = np.sqrt(np.einsum("kd,kd->k", winners, winners)) * np.linalg.norm(q)
        dot /= np.where(denom == 0, 1, denom)
    return dot


def in_bounds(dist: np.ndarray, metric: str, bounds: Bounds) -> np.ndarray:
    """Milvus range search: L2 keeps range_filter <= d < radius; IP/COSINE radius < d <= rf."""
    radius, range_filter = bounds
    ok = np.ones(dist.shape, dtype=bool)
    if metric in LARGER_IS_BETTER:
        if radius is not None:
            ok &= dist > radius
        if range_filter is not None:
            ok &= dist <= range_filter
    else:
        if radius is not None:
            ok &= dist < radius
        if range_filter is not None:
            ok &= dist >= range_filter
    return ok


class CpuBackend:
    """Exact search with NumPy BLAS (dense) and SciPy sparse products (sparse)."""

    name = "cpu"

    def dense_store(self, dim: int) -> CpuDenseStore:
        return CpuDenseStore(dim)

    def sparse_store(self) -> CpuSparseStore:
        return CpuSparseStore()

    def search_dense(
        self,
        store: CpuDenseStore,
        queries: np.ndarray,
        metric: str,
        k: int,
        valid: np.ndarray | None,
        bounds: Bounds = (None, None),
    ) -> tuple[np.ndarray, np.ndarray]:
        nq, n = len(queries), len(store)
        q = np.ascontiguousarray(queries, dtype=np.float32)
        per_query = valid is not None and valid.ndim == 2
        candidates = None if valid is None or per_query else np.flatnonzero(valid[:n])
        dense_mask = None
        if candidates is not None and 7 * len(candidates) > n:
            # Over ~1/7 of rows pass: scanning all rows and masking beats gathering (measured).
            dense_mask, candidates = ~np.asarray(valid[:n], dtype=bool), None
        total = n if candidates is None else len(candidates)
        if total == 0 or k <= 0:
            return no_hits(nq)
        qn = q
        if metric == "COSINE":
            norms = np.linalg.norm(q, axis=1, keepdims=True)
            qn = q / np.where(norms == 0, 1, norms)
        # Range bounds are tested loosely on the fast scores, then exactly on the refined
        # distances, so a few extra candidates are kept for rows near a bound.
        ranged = bounds != (None, None)
        k_pick = min(total, 2 * k + 16) if ranged else k
        # cache-sized blocks, but for a large k up to 16 k rows (64x the cache size at most),
        # so that few candidates per block survive into the merge
        cache_rows = _BLOCK_ELEMENTS // max(nq, 1)
        block = max(4096, cache_rows, min(16 * k_pick, 64 * cache_rows))
        matrix = store.matrix
        sq = store.sq_norms if metric != "IP" else None
        found_keys: list[np.ndarray] = []
        found_rows: list[np.ndarray] = []
        for start in range(0, total, block):
            if candidates is None:
                rows = np.arange(start, min(start + block, total), dtype=np.int64)
                xb = matrix[start : start + block]
            else:
                rows = candidates[start : start + block]
                xb = matrix[rows]
            keys = _scores(qn, xb)
            if sq is not None:
                sqb = sq[start : start + block] if candidates is None else sq[rows]
            if metric == "L2":
                keys *= 2
                keys -= sqb[None, :]
            elif metric == "COSINE":
                keys *= 1 / np.sqrt(np.where(sqb == 0, 1, sqb))[None, :]
            if per_query:
                assert valid is not None
                keys[~valid[:, start : start + block]] = -np.inf
            elif dense_mask is not None:
                keys[:, dense_mask[start : start + block]] = -np.inf
            if ranged:
                dist = self._distances(keys, q, metric)
                keys = np.where(in_bounds(dist, metric, widened(bounds, metric)), keys, -np.inf)
            keys, picked = _select(keys, np.broadcast_to(rows, keys.shape), k_pick)
            found_keys.append(keys)
            found_rows.append(picked)
        best_keys, best_rows = _select(np.hstack(found_keys), np.hstack(found_rows), k_pick)
        best_rows = np.where(np.isneginf(best_keys), -1, best_rows)
        rows, dist = self._refine(store, q, metric, best_rows)
        return exact_bounds(rows, dist, metric, bounds, k) if ranged else (rows, dist)

    @staticmethod
    def _distances(keys: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
        if metric == "L2":
            return np.einsum("ij,ij->i", q, q)[:, None] - keys
        return keys

    @staticmethod
    def _refine(
        store: CpuDenseStore, q: np.ndarray, metric: str, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Recompute the winners' distances in float64 and re-sort them best first: per query
        through BLAS when its winners are long (k x dim >= _REFINE_BLAS), else in chunks."""
        nq, k = rows.shape
        q64 = q.astype(np.float64)
        if k * store.dim >= _REFINE_BLAS:
            dist = np.empty((nq, k), dtype=np.float64)
            for i in range(nq):
                winners = store.take(np.maximum(rows[i], 0)).astype(np.float64)
                dist[i] = _exact_one(winners, q64[i], metric)
            return order_refined(rows, dist, metric)
        dist = np.zeros((nq, k), dtype=np.float64)
        step = max(1, _REFINE_ELEMENTS // max(k * store.dim, 1))
        diff = np.empty((min(step, nq), k, store.dim)) if metric == "L2" else None
        for s in range(0, nq, step):
            v = store.take(np.maximum(rows[s : s + step], 0))  # float32, widened as used
            qq = q64[s : s + step]
            if diff is not None:  # (x - q)^2 summed: exact 0 for a stored copy of the query
                d = np.subtract(v, qq[:, None, :], out=diff[: len(v)])
                dist[s : s + step] = np.einsum("qkd,qkd->qk", d, d)
                continue
            dot = np.einsum("qkd,qd->qk", v, qq, dtype=np.float64)
            if metric == "COSINE":
                norms = np.sqrt(np.einsum("qkd,qkd->qk", v, v, dtype=np.float64))
                denom = norms * np.linalg.norm(qq, axis=1)[:, None]
                dot = dot / np.where(denom == 0, 1, denom)
            dist[s : s + step] = dot
        return order_refined(rows, dist, metric)

    def search_sparse(
        self,
        store: CpuSparseStore,
        queries: sp.csr_matrix,
        k: int,
        valid: np.ndarray | None,
        bounds: Bounds = (None, None),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sparse IP; only rows sharing at least one dimension with the query are candidates."""
        nq, n = queries.shape[0], len(store)
        if n == 0 or k <= 0:
            return no_hits(nq)
        return best_of_scores(_sparse_scores(store, queries.astype(np.float32)), k, valid, bounds)


def best_of_scores(
    scores: sp.csr_matrix, k: int, valid: Any, bounds: Bounds
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k best rows among its scored ones (a similarity: larger is better)."""
    nq = scores.shape[0]
    out_rows = np.full((nq, k), -1, dtype=np.int64)
    out_scores = np.zeros((nq, k), dtype=np.float32)
    for i in range(nq):
        lo, hi = scores.indptr[i], scores.indptr[i + 1]
        rows = scores.indices[lo:hi].astype(np.int64)
        vals = scores.data[lo:hi].astype(np.float32)
        if valid is None:
            keep = np.ones(len(rows), dtype=bool)
        else:
            keep = valid[i, rows] if valid.ndim == 2 else valid[rows]
        if bounds != (None, None):
            keep &= in_bounds(vals, "IP", bounds)
        rows, vals = rows[keep], vals[keep]
        if len(rows) == 0:
            continue
        picked = best_by_row(vals, rows, k)
        out_rows[i, : len(picked)] = rows[picked]
        out_scores[i, : len(picked)] = vals[picked]
    width_used = int((out_rows >= 0).sum(axis=1).max(initial=0))
    return out_rows[:, :width_used], out_scores[:, :width_used]
