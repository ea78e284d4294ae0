"""Token postings of a text column's chunks, for the text_match and phrase_match cases a
regular expression over the raw text cannot answer: an analyzer whose tokens the text does
not show (a stemmer), and phrases needing positions (slop, or tokens a filter removed).

A chunk's postings (per token: the rows holding it and the positions there) are built once
and kept while cached (:mod:`gpu_milvus.chunk_cache`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gpu_milvus.chunk_cache import ChunkCache
from gpu_milvus.text import RE2_ALNUM

# The tokenizer's separators (anything but an alphanumeric run) as RE2 classes.
_ASCII_SPLIT = "[^A-Za-z0-9]+"
_SPLIT = f"[^{RE2_ALNUM}]+"


def _runs(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """The tokenizer's runs of every text in ``chunk``: row, position in the row, text."""
    ascii_only = pc.all(pc.string_is_ascii(chunk)).as_py() is not False
    parts = pc.split_pattern_regex(chunk, _ASCII_SPLIT if ascii_only else _SPLIT)
    words = pc.list_flatten(parts)
    rows = np.asarray(pc.list_parent_indices(parts), dtype=np.int32)
    keep = np.asarray(pc.greater(pc.binary_length(words), 0), dtype=bool)
    rows, words = rows[keep], words.filter(pa.array(keep))
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else rows
    first = np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    return rows, (np.arange(len(rows)) - first).astype(np.int32), words


def _tokens(chunk: pa.Array, analyzer: Any) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """``_runs`` for a tokenizer that is not the standard one: text by text."""
    rows: list[int] = []
    positions: list[int] = []
    words: list[str] = []
    for row, text in enumerate(chunk.to_pylist()):
        for word, pos in analyzer.raw_tokens(text) if text else ():
            rows.append(row)
            positions.append(pos)
            words.append(word)
    as32 = functools.partial(np.array, dtype=np.int32)
    return as32(rows), as32(positions), pa.array(words, type=pa.string())


class ChunkPostings:
    """Per token of one chunk: the rows holding it and its positions there, by row."""

    def __init__(self, chunk: pa.Array, analyzer: Any) -> None:
        standard = analyzer.tokenizer == "standard"
        rows, positions, raw = _runs(chunk) if standard else _tokens(chunk, analyzer)
        encoded = raw.dictionary_encode()  # Arrow assigns the raw tokens' ids
        vocab: dict[str, int] = {}
        outputs = [  # each distinct raw token through the filters, once: 0, 1 or more tokens
            [vocab.setdefault(t, len(vocab)) for t in analyzer._kept(w)]
            for w in encoded.dictionary.to_pylist()
        ]
        counts = np.fromiter(map(len, outputs), dtype=np.int64, count=len(outputs))
        flat = np.fromiter((i for out in outputs for i in out), np.int64, int(counts.sum()))
        raw_ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        per = counts[raw_ids] if len(counts) else np.zeros(0, np.int64)
        rows, positions = np.repeat(rows, per), np.repeat(positions, per)
        first = np.repeat((np.cumsum(counts) - counts)[raw_ids] if len(counts) else per, per)
        ids = flat[first + np.arange(len(first)) - np.repeat(np.cumsum(per) - per, per)]
        order = np.argsort(ids, kind="stable")  # rows, then positions, stay in order
        self.rows = rows[order]
        self.positions = positions[order]
        self.starts = np.searchsorted(ids[order], np.arange(len(vocab) + 1))
        self.vocab = vocab
        self.size = len(chunk)

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


# about 0.6 kB a text of 60 tokens: some 600 MB at most
_cache: ChunkCache[ChunkPostings] = ChunkCache(max_rows=1_000_000)


def chunk_postings(chunk: pa.Array, analyzer: Any) -> ChunkPostings:
    """The postings of ``chunk`` under ``analyzer``, built once while cached."""
    return _cache.get(chunk, analyzer, lambda c: ChunkPostings(c, analyzer))
