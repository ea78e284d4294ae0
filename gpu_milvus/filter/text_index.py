"""Token postings of a text column's chunks, for the text_match and phrase_match cases a
regular expression over the raw text cannot answer: an analyzer whose tokens the text does
not show (a stemmer), and phrases needing positions (slop, or tokens a filter removed).

A chunk's postings (per token: the rows holding it and the positions there) are built once
and kept in a small LRU keyed by the chunk's buffer address; an entry holds the chunk, so
the address cannot be reused while it is cached. Arrow chunks never change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pyarrow as pa

_CACHED_CHUNKS = 16


class ChunkPostings:
    """Per token of one chunk: the rows holding it and its positions there, by row."""

    def __init__(self, texts: list[str | None], analyzer: Any) -> None:
        seqs = [analyzer.sequence(text) if text else [] for text in texts]
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        tokens = pa.array([t for seq in seqs for t, _ in seq], type=pa.string())
        positions = np.fromiter((p for seq in seqs for _, p in seq), np.int32, len(tokens))
        encoded = tokens.dictionary_encode()  # Arrow assigns the token ids
        ids = encoded.indices.to_numpy(zero_copy_only=False)
        order = np.argsort(ids, kind="stable")  # rows, then positions, stay in order
        self.rows = np.repeat(np.arange(len(seqs), dtype=np.int32), lengths)[order]
        self.positions = positions[order]
        words = encoded.dictionary.to_pylist()
        self.starts = np.searchsorted(ids[order], np.arange(len(words) + 1))
        self.vocab = {w: i for i, w in enumerate(words)}
        self.size = len(texts)

    def of(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows (sorted, repeated per occurrence) and positions of ``token``."""
        i = self.vocab.get(token)
        if i is None:
            return np.empty(0, np.int32), np.empty(0, np.int32)
        lo, hi = self.starts[i], self.starts[i + 1]
        return self.rows[lo:hi], self.positions[lo:hi]

    def holding(self, tokens: list[str]) -> np.ndarray:
        """How many of ``tokens`` (distinct) each row holds."""
        counts = np.zeros(self.size, dtype=np.int32)
        for token in set(tokens):
            counts[np.unique(self.of(token)[0])] += 1
        return counts

    def where(self, rows: np.ndarray, tokens: list[str]) -> list[dict[str, list[int]]]:
        """For each of ``rows`` (sorted), the positions of each of ``tokens`` there."""
        out: list[dict[str, list[int]]] = [{} for _ in rows]
        rows = rows.astype(np.int32)
        for token in set(tokens):
            held, positions = self.of(token)
            lo, hi = np.searchsorted(held, rows), np.searchsorted(held, rows + 1)
            for found, a, b in zip(out, lo.tolist(), hi.tolist(), strict=True):
                found[token] = positions[a:b].tolist()
        return out


_cache: OrderedDict[tuple[Any, ...], tuple[pa.Array, ChunkPostings]] = OrderedDict()
_lock = threading.Lock()


def chunk_postings(chunk: pa.Array, analyzer: Any) -> ChunkPostings:
    """The postings of ``chunk`` under ``analyzer``, built once while cached."""
    buffers = chunk.buffers()
    key = (buffers[1].address if buffers[1] is not None else 0, chunk.offset, len(chunk), analyzer)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found[1]
    built = ChunkPostings(chunk.to_pylist(), analyzer)
    with _lock:
        _cache[key] = (chunk, built)
        while len(_cache) > _CACHED_CHUNKS:
            _cache.popitem(last=False)
    return built
