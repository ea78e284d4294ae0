"""Token postings built column-wise (Arrow's regex split, each distinct token through the
analyzer once) against the analyzer's own per-text ``sequence``, the reference."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_milvus.filter.text_index import ChunkPostings
from gpu_milvus.text import STANDARD, Analyzer, analyzer_for

FILTERS = {
    "tokenizer": "standard",
    "filter": [
        "lowercase",
        {"type": "length", "max": 4},
        {"type": "stop", "stop_words": ["b", "ab"]},
        "alphanumonly",
    ],
}
ANALYZERS = [
    STANDARD,
    analyzer_for("f", {"analyzer_params": {"type": "english"}}),
    analyzer_for("f", {"analyzer_params": FILTERS}),
    Analyzer(steps=()),  # no lowercasing at all
]
ALPHABET = st.sampled_from(list("aAbB_ 1.,-'\n\té É ŝ ß Σσς 東京 ١٢ ि्\u0301x"))
TEXTS = st.lists(st.one_of(st.none(), st.text(ALPHABET, max_size=30)), max_size=25)


def _reference(texts: list[str | None], analyzer: Analyzer) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for row, text in enumerate(texts):
        for token, pos in analyzer.sequence(text) if text else []:
            out.setdefault(token, []).append((row, pos))
    return out


def _built(texts: list[str | None], analyzer: Analyzer) -> dict[str, list[tuple[int, int]]]:
    postings = ChunkPostings(pa.array(texts, type=pa.string()), analyzer)
    out = {}
    for token in postings.vocab:
        rows, positions = postings.of(token)
        out[token] = list(zip(rows.tolist(), positions.tolist(), strict=True))
    return out


@pytest.mark.parametrize("analyzer", ANALYZERS, ids=["standard", "english", "filters", "raw"])
@settings(max_examples=150, deadline=None)
@given(texts=TEXTS)
def test_postings_match_the_analyzer(analyzer: Analyzer, texts: list[str | None]) -> None:
    assert _built(texts, analyzer) == _reference(texts, analyzer)


def test_a_sliced_chunk_and_edge_texts() -> None:
    texts = ["", None, "  lead and trail  ", "snake_case x", "Ünïcode ÄBC x²", "a" * 300]
    chunk = pa.array(["pad", *texts], type=pa.string()).slice(1)
    postings = ChunkPostings(chunk, STANDARD)
    assert postings.size == len(texts)
    got = {t: list(zip(*map(list, postings.of(t)), strict=True)) for t in postings.vocab}
    assert got == _reference(texts, STANDARD)
