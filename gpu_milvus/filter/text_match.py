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

from gpu_milvus.text import RE2_ALNUM, tokens

_NON_WORD = f"[^{RE2_ALNUM}]"
_START, _END = f"(?:^|{_NON_WORD})", f"(?:{_NON_WORD}|$)"


def _has(lower: pa.ChunkedArray, pattern: str) -> np.ndarray:
    found = pc.match_substring_regex(lower, pattern)
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def text_match(column: pa.ChunkedArray, query: str, least: int) -> pa.Array:
    """Rows holding at least ``least`` of the query's distinct tokens (nulls stay null)."""
    terms = sorted(set(tokens(query)))
    lower = pc.utf8_lower(column)
    if not terms:
        hits = np.zeros(len(column), dtype=bool)
    elif least <= 1:
        hits = _has(lower, f"{_START}(?:{'|'.join(terms)}){_END}")
    else:
        hits = sum(_has(lower, f"{_START}{t}{_END}").astype(np.int32) for t in terms) >= least
    return _with_nulls(hits, column)


def phrase_match(column: pa.ChunkedArray, phrase: str, slop: int) -> pa.Array:
    """Rows holding the phrase's tokens in order and adjacent, or within ``slop`` moves."""
    terms = tokens(phrase)
    lower = pc.utf8_lower(column)
    if not terms:
        return _with_nulls(np.zeros(len(column), dtype=bool), column)
    if slop == 0:
        return _with_nulls(_has(lower, _START + f"{_NON_WORD}+".join(terms) + _END), column)
    hits = np.ones(len(column), dtype=bool)
    for t in set(terms):
        hits &= _has(lower, f"{_START}{t}{_END}")
    texts = pc.take(lower, pa.array(np.flatnonzero(hits))).to_pylist()
    for row, text in zip(np.flatnonzero(hits), texts, strict=True):
        hits[row] = _sloppy(tokens(text), terms, slop)
    return _with_nulls(hits, column)


def _sloppy(doc: list[str], terms: list[str], slop: int) -> bool:
    """Some choice of distinct positions p_i of terms[i] with max - min of p_i - i <= slop."""
    where: dict[str, list[int]] = {}
    for pos, tok in enumerate(doc):
        where.setdefault(tok, []).append(pos)
    shifted = [[p - i for p in where[t]] for i, t in enumerate(terms)]
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
        max(c) - min(c) <= slop and len({v + i for i, v in enumerate(c)}) == len(c)
        for c in itertools.islice(itertools.product(*shifted), 100_000)
    )


def _with_nulls(hits: np.ndarray, column: pa.ChunkedArray) -> pa.Array:
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    return pa.array(hits, mask=~valid)
