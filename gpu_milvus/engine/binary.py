"""Exact HAMMING, JACCARD and MHJACCARD search over packed binary vectors (on the host).

Distances are those of knowhere's binary indexes: HAMMING counts the differing bits;
JACCARD is ``(|a | b| - |a & b|) / |a | b|`` in float32, and 1.0 when both are all zeros;
smaller is better. MHJACCARD (MinHash signatures of ``element_bytes``-byte hashes) is
knowhere's ``MinHashVecSearch``: with ``mh_search_with_jaccard`` the share of equal hashes,
else the LSH hit flag, 1.0 when any of the ``mh_lsh_band`` bands is equal; larger is better
and rows scoring 0 are no hits. Hits are ordered by distance and equal distances by row
number: each candidate's key, its distance's float32 bits above its row number, is unique,
so which rows are kept never depends on the block size or on the other queries of a batch.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gpu_milvus.engine.backend import LARGER_IS_BETTER, Valid
from gpu_milvus.engine.cpu import Bounds, in_bounds, no_hits

_BLOCK_ROWS = 1 << 16
_UINTS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


@dataclass(frozen=True)
class MinHashSearch:
    """How an MHJACCARD search reads the signatures (knowhere's defaults)."""

    element_bytes: int = 1  # mh_element_bit_width / 8
    band: int = 1  # mh_lsh_band
    with_jaccard: bool = False  # mh_search_with_jaccard


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """Threads for the blocks of a binary scan, one per core."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="gpu-milvus-bin")


def _blocks(column: pa.ChunkedArray) -> list[np.ndarray]:
    """The column's packed rows as uint8 matrices (no copy), ``_BLOCK_ROWS`` rows at most."""
    out = []
    for chunk in column.chunks:
        width = chunk.type.byte_width
        flat = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
        codes = flat[chunk.offset * width : (chunk.offset + len(chunk)) * width]
        codes = codes.reshape(len(chunk), width)
        out.extend(codes[s : s + _BLOCK_ROWS] for s in range(0, len(chunk), _BLOCK_ROWS))
    return out


def _words(codes: np.ndarray) -> np.ndarray:
    """64-bit words when the rows are whole words (fewer, wider popcounts), else bytes."""
    if codes.shape[1] % 8 == 0:
        return np.ascontiguousarray(codes).view(np.uint64)
    return codes


def _popcounts(words: np.ndarray) -> np.ndarray:
    """The set bits of each row of ``words`` (uint32). A few words are added column by
    column: NumPy's row sums over a short axis cost ten times more."""
    counts = np.bitwise_count(words)
    if counts.shape[1] > 16:
        return counts.sum(axis=1, dtype=np.uint32)
    total = counts[:, 0].astype(np.uint32)
    for j in range(1, counts.shape[1]):
        total += counts[:, j]
    return total


def _hashes(codes: np.ndarray, width: int) -> np.ndarray:
    """Rows of ``width``-byte hashes: one integer each, or a byte run (axis 2) each."""
    if width in _UINTS:
        return np.ascontiguousarray(codes).view(_UINTS[width])
    return codes.reshape(len(codes), -1, width)


def _minhash(codes: np.ndarray, query: np.ndarray, mh: MinHashSearch) -> np.ndarray:
    """The share of equal hashes, or the LSH hit flag (knowhere's band split: ``b`` bands
    of ``r`` hashes, the hashes past ``b * r`` left out)."""
    x, q = _hashes(codes, mh.element_bytes), _hashes(query[None, :], mh.element_bytes)
    equal = x == q if x.ndim == 2 else (x == q).all(axis=2)
    length = equal.shape[1]
    if mh.with_jaccard:  # byte sums: 3x NumPy's boolean row sums
        matches = equal.view(np.uint8).sum(axis=1, dtype=np.uint32)
        return matches.astype(np.float32) / np.float32(length)
    bands = min(max(mh.band, 1), length)
    per_band = length // bands
    whole = equal[:, : bands * per_band]
    hit = whole[:, 0::per_band].copy()  # column by column: 5x a reduction over each band
    for j in range(1, per_band):
        hit &= whole[:, j::per_band]
    return hit.any(axis=1).astype(np.float32)


def distances(
    codes: np.ndarray, query: np.ndarray, metric: str, mh: MinHashSearch | None = None
) -> np.ndarray:
    """float32 distances from one packed ``query`` to each packed row of ``codes``."""
    if metric == "MHJACCARD":
        return _minhash(codes, query, mh or MinHashSearch())
    x, q = _words(codes), _words(query[None, :])[0]
    if metric == "HAMMING":
        return _popcounts(x ^ q).astype(np.float32)
    both, either = _popcounts(x & q), _popcounts(x | q)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (either - both).astype(np.float32) / either.astype(np.float32)
    return np.where(either == 0, np.float32(1), ratio)


def search(
    column: pa.ChunkedArray,
    queries: np.ndarray,
    metric: str,
    k: int,
    valid: Valid,
    bounds: Bounds = (None, None),
    mh: MinHashSearch | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of each packed query (rows -1 past the candidates), best first."""
    larger = metric in LARGER_IS_BETTER  # MHJACCARD, a similarity
    flip = np.uint32(0xFFFFFFFF if larger else 0)  # descending float bits sort ascending
    nq, n = len(queries), len(column)
    if n == 0 or k <= 0:
        return no_hits(nq)
    blocks = _blocks(column)
    k = min(k, n)
    out_rows = np.full((nq, k), -1, dtype=np.int64)
    out_dist = np.zeros((nq, k), dtype=np.float32)
    dist = np.empty(n, dtype=np.float32)
    starts = np.cumsum([0] + [len(b) for b in blocks[:-1]]).tolist()
    for i, query in enumerate(queries):

        def fill(j: int, query: np.ndarray = query) -> None:
            dist[starts[j] : starts[j] + len(blocks[j])] = distances(blocks[j], query, metric, mh)

        list(_pool().map(fill, range(len(blocks))))  # NumPy's ufuncs release the GIL
        ok = None if valid is None else (valid[:n] if valid.ndim == 1 else valid[i, :n])
        if bounds != (None, None):
            inside = in_bounds(dist, metric, bounds)
            ok = inside if ok is None else ok & inside
        if larger:  # a similarity: rows scoring 0 are no hits
            ok = dist > 0 if ok is None else ok & (dist > 0)
        rows = np.arange(n) if ok is None else np.flatnonzero(ok)
        d = dist if ok is None else dist[rows]
        rank = -d if larger else d
        if len(d) > k:  # the rows up to the k-th distance, then exact order among them
            near = np.flatnonzero(rank <= np.partition(rank, k - 1)[k - 1])
            rows, d = rows[near], d[near]
        bits = d.view(np.uint32) ^ flip  # nonnegative floats: bits in value order
        keys = (bits.astype(np.uint64) << np.uint64(32)) | rows.astype(np.uint64)
        best = np.sort(keys)[:k]
        out_rows[i, : len(best)] = (best & np.uint64(0xFFFFFFFF)).astype(np.int64)
        bits = (best >> np.uint64(32)).astype(np.uint32) ^ flip
        out_dist[i, : len(best)] = bits.view(np.float32)
    return out_rows, out_dist
