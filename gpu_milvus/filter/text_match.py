"""text_match / phrase_match over a string column, with the full-text analyzer's tokens.

A token is a run of alphanumeric characters (``gpu_milvus.text``), so in the
lower-cased text a token t sits between two non-word characters (or an end), and
consecutive tokens are separated by non-word characters only: text_match and slop-0
phrase_match are regular expressions run by Arrow over the column. A phrase with slop > 0
is checked in Python on the rows holding every one of its tokens: the rows' positions p_i
of the phrase's tokens, taken as p_i - i, must fit in a span of at most ``slop`` (Lucene's
sloppy phrase, the rule Milvus's phrase-match guide describes: slop 2 matches the two
tokens reversed). No index is kept; each evaluation reads the column.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    elif analyzer.rewrites:  # stems: each row's tokens, in Python
        wanted = set(terms)
        docs = column.to_pylist()
        hits = np.fromiter(
            (d is not None and len(wanted.intersection(analyzer.tokens(d))) >= least for d in docs),
            dtype=bool, count=len(docs),
        )  # fmt: skip
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
    query = [(t, p) for t, _, _, p in analyzer.positioned(phrase)]
    text = _searched(column, analyzer)
    if not query:
        return _with_nulls(np.zeros(len(column), dtype=bool), column)
    terms = [t for t, _ in query]
    if slop == 0 and not analyzer.removes:
        return _with_nulls(_has(text, _START + f"{_NON_WORD}+".join(terms) + _END), column)
    hits = pc.is_valid(column).to_numpy(zero_copy_only=False)
    for t in set(terms) if not analyzer.rewrites else ():  # rows holding every token
        hits &= _has(text, f"{_START}{t}{_END}")
    rows = np.flatnonzero(hits)
    for row, doc in zip(rows, pc.take(column, pa.array(rows)).to_pylist(), strict=True):
        found = [(t, p) for t, _, _, p in analyzer.positioned(doc)]
        hits[row] = _sloppy(found, query, slop)
    return _with_nulls(hits, column)


def _searched(column: pa.ChunkedArray, analyzer: Analyzer) -> pa.ChunkedArray:
    """The column as the analyzer's tokens read it: lowercased, unless it keeps case."""
    return pc.utf8_lower(column) if analyzer.lowercases else column


def _sloppy(doc: list[tuple[str, int]], query: list[tuple[str, int]], slop: int) -> bool:
    """Some choice of distinct document positions p_i of the query's tokens t_i (at query
    positions q_i) with max - min of p_i - q_i <= slop."""
    where: dict[str, list[int]] = {}
    for tok, pos in doc:
        where.setdefault(tok, []).append(pos)
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
