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
        vocab: dict[str, int] = {}
        ids: list[int] = []
        rows: list[int] = []
        positions: list[int] = []
        for row, text in enumerate(texts):
            for token, pos in analyzer.sequence(text) if text else ():
                ids.append(vocab.setdefault(token, len(vocab)))
                rows.append(row)
                positions.append(pos)
        token_ids = np.asarray(ids, dtype=np.int64)
        order = np.lexsort((positions, rows, token_ids))
        self.rows = np.asarray(rows, dtype=np.int32)[order]
        self.positions = np.asarray(positions, dtype=np.int32)[order]
        self.starts = np.searchsorted(token_ids[order], np.arange(len(vocab) + 1))
        self.vocab = vocab
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

    def where(self, row: int, tokens: list[str]) -> dict[str, list[int]]:
        """The positions of each of ``tokens`` in ``row``."""
        out = {}
        for token in set(tokens):
            rows, positions = self.of(token)
            lo, hi = np.searchsorted(rows, [row, row + 1])
            out[token] = positions[lo:hi].tolist()
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
