"""Exact HAMMING and JACCARD search over packed binary vectors (on the host, either backend).

Distances are those of knowhere's binary flat index: HAMMING counts the differing bits;
JACCARD is ``(|a | b| - |a & b|) / |a | b|`` in float32, and 1.0 when both are all zeros.
Smaller is better. Hits are ordered by distance and equal distances by row number: each
candidate's key, its distance's float32 bits above its row number, is unique, so which rows
are kept never depends on the block size or on the other queries of a batch.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from gpu_milvus.engine.backend import Valid
from gpu_milvus.engine.cpu import Bounds, in_bounds, no_hits

_BLOCK_ROWS = 1 << 16
_NONE = np.uint64(np.iinfo(np.uint64).max)


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


def distances(codes: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    """float32 distances from one packed ``query`` to each packed row of ``codes``."""
    x, q = _words(codes), _words(query[None, :])[0]
    if metric == "HAMMING":
        return np.bitwise_count(x ^ q).sum(axis=1, dtype=np.int64).astype(np.float32)
    both = np.bitwise_count(x & q).sum(axis=1, dtype=np.int64)
    either = np.bitwise_count(x | q).sum(axis=1, dtype=np.int64)
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
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of each packed query (rows -1 past the candidates), best first."""
    nq, n = len(queries), len(column)
    if n == 0 or k <= 0:
        return no_hits(nq)
    blocks = _blocks(column)
    k = min(k, n)
    rows = np.arange(n, dtype=np.uint64)
    out_rows = np.empty((nq, k), dtype=np.int64)
    out_dist = np.empty((nq, k), dtype=np.float32)
    for i, query in enumerate(queries):
        dist = np.concatenate([distances(block, query, metric) for block in blocks])
        keys = (dist.view(np.uint32).astype(np.uint64) << np.uint64(32)) | rows
        if valid is not None:
            keys[~(valid[:n] if valid.ndim == 1 else valid[i, :n])] = _NONE
        if bounds != (None, None):
            keys[~in_bounds(dist, metric, bounds)] = _NONE
        best = np.sort(keys[np.argpartition(keys, k - 1)[:k]] if k < n else keys)
        found = best != _NONE
        out_rows[i] = np.where(found, (best & np.uint64(0xFFFFFFFF)).astype(np.int64), -1)
        out_dist[i] = np.where(found, (best >> np.uint64(32)).astype(np.uint32).view(np.float32), 0)
    return out_rows, out_dist
