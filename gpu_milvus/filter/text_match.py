"""text_match / phrase_match over a string column, with the field's analyzer.

A standard token is a run of alphanumeric characters (``gpu_milvus.text``), so in the
(lowercased) text a token t sits between two non-word characters (or an end), and
consecutive tokens are separated by non-word characters only: text_match and slop-0
phrase_match are regular expressions run by Arrow over the column. A stemmer's tokens are
not in the text, and a phrase with slop > 0 (or whose analyzer removes tokens, leaving
gaps) needs positions: those read each chunk's token postings (``text_index``), built once.
A phrase matches when some positions p_i of its tokens, taken as p_i - q_i (q_i: the
token's position in the phrase), fit in a span of at most ``slop`` (Lucene's sloppy phrase,
the rule Milvus's phrase-match guide describes: slop 2 matches the two tokens reversed).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gpu_milvus.filter.text_index import ChunkPostings, chunk_postings
from gpu_milvus.text import RE2_ALNUM, STANDARD, Analyzer

_NON_WORD = f"[^{RE2_ALNUM}]"
_START, _END = f"(?:^|{_NON_WORD})", f"(?:{_NON_WORD}|$)"


def _has(lower: pa.ChunkedArray, pattern: str) -> np.ndarray:
    found = pc.match_substring_regex(lower, pattern)
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def text_match(
    column: pa.ChunkedArray, query: str, least: int, analyzer: Analyzer = STANDARD
) -> pa.Array:
    """Rows holding at least ``least`` of the query's distinct tokens (nulls stay null)."""
    terms = sorted(set(analyzer.tokens(query)))
    text = _searched(column, analyzer)
    if not terms:
        hits = np.zeros(len(column), dtype=bool)
    elif not analyzer.plain_runs:  # stems, jieba or whitespace words: the chunks' postings
        hits = _per_chunk(column, analyzer, lambda p: p.holding(terms) >= least)
    elif least <= 1:
        hits = _has(text, f"{_START}(?:{'|'.join(terms)}){_END}")
    else:
        hits = sum(_has(text, f"{_START}{t}{_END}").astype(np.int32) for t in terms) >= least
    return _with_nulls(hits, column)


def phrase_match(
    column: pa.ChunkedArray, phrase: str, slop: int, analyzer: Analyzer = STANDARD
) -> pa.Array:
    """Rows holding the phrase's tokens in order and adjacent, or within ``slop`` moves (a
    token a filter removed keeps its place, as tantivy's positions do)."""
    query = analyzer.sequence(phrase)
    if not query:
        return _with_nulls(np.zeros(len(column), dtype=bool), column)
    terms = [t for t, _ in query]
    if slop == 0 and not analyzer.removes and analyzer.plain_runs:
        text = _searched(column, analyzer)
        return _with_nulls(_has(text, _START + f"{_NON_WORD}+".join(terms) + _END), column)

    def chunk_hits(p: ChunkPostings) -> np.ndarray:
        hits = p.holding(terms) == len(set(terms))
        rows = np.flatnonzero(hits)
        for row, where in zip(rows, p.where(rows, terms), strict=True):
            hits[row] = _sloppy(where, query, slop)
        return hits

    return _with_nulls(_per_chunk(column, analyzer, chunk_hits), column)


def _per_chunk(
    column: pa.ChunkedArray, analyzer: Analyzer, hits: Callable[[ChunkPostings], np.ndarray]
) -> np.ndarray:
    """``hits`` of each chunk's postings, end to end."""
    parts = [hits(chunk_postings(chunk, analyzer)) for chunk in column.chunks]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _searched(column: pa.ChunkedArray, analyzer: Analyzer) -> pa.ChunkedArray:
    """The column as the analyzer's tokens read it: lowercased, unless it keeps case."""
    return pc.utf8_lower(column) if analyzer.lowercases else column


def _sloppy(where: dict[str, list[int]], query: list[tuple[str, int]], slop: int) -> bool:
    """Some choice of distinct document positions p_i of the query's tokens t_i (at query
    positions q_i, ``where`` giving each token's positions) with max - min of p_i - q_i
    <= slop."""
    terms = [t for t, _ in query]
    shifted = [[p - q for p in where.get(t, [])] for t, q in query]
    if len(set(terms)) == len(terms):  # the smallest window holding one value of each list
        events = sorted((v, i) for i, values in enumerate(shifted) for v in values)
        count: dict[int, int] = {}
        lo = 0
        for v, i in events:
            count[i] = count.get(i, 0) + 1
            while len(count) == len(terms):
                if v - events[lo][0] <= slop:
                    return True
                j = events[lo][1]
                count[j] -= 1
                if not count[j]:
                    del count[j]
                lo += 1
        return False
    return any(  # a repeated term: its positions must differ
        max(c) - min(c) <= slop
        and len({v + q for v, (_, q) in zip(c, query, strict=True)}) == len(c)
        for c in itertools.islice(itertools.product(*shifted), 100_000)
    )


def _with_nulls(hits: np.ndarray, column: pa.ChunkedArray) -> pa.Array:
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    return pa.array(hits, mask=~valid)
