"""analyzer_params: the standard and whitespace tokenizers with Milvus's lowercase, stop,
length, alphanumonly and regex filters, as its tantivy-binding builds them (analyzer.rs, filter.rs,
build_in_analyzer.rs): filters run in order, a removed token keeps its position (a gap in
phrase_match), and the server's wording for bad params. milvus-lite agrees on
``["lowercase", {"type": "stop", ...}]`` (tests/congruence/test_full_text.py); it ignores
the other forms.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymilvus import DataType, Function, FunctionType
from pymilvus.exceptions import MilvusException

from gpu_milvus import MilvusClient
from gpu_milvus.text import ENGLISH_STOP_WORDS


def _tokens(client: MilvusClient, params: dict[str, Any], text: str) -> list[str]:
    return client.run_analyzer(text, analyzer_params=params).tokens


@pytest.mark.parametrize(
    ("params", "text", "want"),
    [
        ({"type": "standard", "stop_words": ["_english_", "quick"]},
         "The QUICK fox and the dog", ["fox", "dog"]),
        ({"tokenizer": "standard"}, "The Quick fox", ["The", "Quick", "fox"]),  # no lowercase
        ({"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": ["the"]},
                                              "lowercase"]},
         "The the", ["the"]),  # stop first: 'The' is not 'the'
        ({"tokenizer": "standard", "filter": ["lowercase", {"type": "length", "max": 3}]},
         "abc abcd ÉÉ é", ["abc", "é"]),  # bytes: 'éé' is 4
        ({"tokenizer": {"type": "standard"}, "filter": ["alphanumonly", "removepunct"]},
         "naïve cafe 42", ["cafe", "42"]),
        ({}, "Plain TEXT", ["plain", "text"]),
        # build_in_analyzer.rs: lowercase, Snowball English stemmer, then the stop words
        ({"type": "english"}, "The runners were running quickly to the knights",
         ["runner", "were", "run", "quick", "knight"]),
        # Snowball's own sample vocabulary (snowballstem.org, the English stemmer's page)
        ({"tokenizer": "standard", "filter": [{"type": "stemmer", "language": "English"}]},
         "consigned consignment consistency knackeries knightly knives",
         ["consign", "consign", "consist", "knackeri", "knight", "knive"]),
        # the outputs of Milvus's whitespace-tokenizer and regex-filter guides
        ({"tokenizer": "whitespace", "filter": ["lowercase"]},
         "The Milvus vector database is built for scale!",
         ["the", "milvus", "vector", "database", "is", "built", "for", "scale!"]),
        ({"tokenizer": "standard", "filter": [{"type": "regex", "expr": "^(?!test)"}]},
         "testItem apple testCase banana", ["apple", "banana"]),
    ],
)  # fmt: skip
def test_filters_run_in_order(
    client: MilvusClient, params: dict[str, Any], text: str, want: list[str]
) -> None:
    assert _tokens(client, params, text) == want


def test_removed_tokens_keep_their_positions(client: MilvusClient) -> None:
    got = client.run_analyzer(
        "The quick, the fox", analyzer_params={"type": "standard", "stop_words": ["the"]},
        with_detail=True,
    ).tokens  # fmt: skip
    assert [(t.token, t.position, t.start_offset) for t in got] == [("quick", 1, 4), ("fox", 3, 15)]
    assert len(ENGLISH_STOP_WORDS) == 33 and {"the", "with", "such"} <= ENGLISH_STOP_WORDS


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"tokenizer": "standard", "filter": ["nope"]}, "filter not found :nope"),
        ({"tokenizer": "standard", "filter": [{"type": "length"}]}, "lenth max param"),
        ({"tokenizer": "standard", "filter": [{"type": "odd"}]}, "unsupport filter type: odd"),
        ({"tokenizer": "standard", "filter": [{}]}, "no type field in filter params"),
        ({"tokenizer": "standard", "filter": "lowercase"}, "filter params should be array"),
        ({"tokenizer": "standard", "extra": 1}, "unknown analyzer option key: extra"),
        ({"filter": ["lowercase"]}, "tokenizer name or type must be set"),
        ({"type": "xyz"}, "unknown build-in analyzer type: xyz"),
        ({"type": "standard", "stop_words": "the"}, "filter stop_words should be array"),
        ({"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": [1]}]},
         "filter stop_words list item should be string"),
        ({"tokenizer": "lindera"}, "analyzer lindera is not supported by gpu_milvus"),
        ({"tokenizer": "standard", "filter": [{"type": "regex"}]},
         "must set expr for regex filter"),
        ({"tokenizer": "standard", "filter": [{"type": "regex", "expr": "(a"}]},
         r"regex expression invalid, expr:\(a, err: "),
        ({"tokenizer": "icu"}, "analyzer icu is not supported by gpu_milvus"),
        ({"tokenizer": "standard", "filter": [{"type": "stemmer", "language": "klingon"}]},
         "create stemmer failed : unsupport language: klingon"),
        ({"tokenizer": "standard", "filter": [{"type": "stemmer"}]},
         "stemmer language field should be string"),
    ],
)  # fmt: skip
def test_bad_params_are_refused_at_creation(
    client: MilvusClient, params: dict[str, Any], message: str
) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("text", DataType.VARCHAR, max_length=99, enable_analyzer=True,
                analyzer_params=params)  # fmt: skip
    with pytest.raises(MilvusException, match=message):
        client.create_collection("c", schema=s)
    assert not client.has_collection("c")


def _collection(client: MilvusClient, name: str, params: dict[str, Any] | None) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    kw = {} if params is None else {"analyzer_params": params}
    s.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True,
                enable_match=True, **kw)  # fmt: skip
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function(name="bm", function_type=FunctionType.BM25,
                            input_field_names=["text"], output_field_names=["sp"]))  # fmt: skip
    ip = client.prepare_index_params()
    ip.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=s, index_params=ip)


DOCS = ["bill of rights", "the bill", "rights of the people of the land", "a bill the rights",
        "Of Mice and Men", "land rights"]  # fmt: skip
STOP = {"type": "standard", "stop_words": ["of", "the", "a", "and"]}


def test_bm25_with_stop_words_scores_like_the_texts_without_them(client: MilvusClient) -> None:
    _collection(client, "stop", STOP)
    _collection(client, "bare", None)
    client.insert("stop", [{"id": i, "text": t} for i, t in enumerate(DOCS)])
    bare = [" ".join(w for w in t.split() if w.lower() not in ("of", "the", "a", "and"))
            for t in DOCS]  # fmt: skip
    client.insert("bare", [{"id": i, "text": t} for i, t in enumerate(bare)])
    for query in ("bill of rights", "the land", "mice and men"):
        got, want = (
            client.search(c, [query], anns_field="sp", limit=10)[0] for c in ("stop", "bare")
        )
        assert [(h["id"], h["distance"]) for h in got] == [(h["id"], h["distance"]) for h in want]


def test_text_and_phrase_match_follow_the_analyzer(client: MilvusClient) -> None:
    _collection(client, "stop", STOP)
    _collection(client, "cased", {"tokenizer": "standard"})
    for name in ("stop", "cased"):
        client.insert(name, [{"id": i, "text": t} for i, t in enumerate(DOCS)])

    def ids(name: str, expr: str) -> list[int]:
        return sorted(r["id"] for r in client.query(name, expr, output_fields=["id"]))

    assert ids("stop", "text_match(text, 'the')") == []  # a stop word matches nothing
    assert ids("stop", "text_match(text, 'of mice')") == [4]
    assert ids("stop", "phrase_match(text, 'bill rights')") == []  # 'of' left a gap
    assert ids("stop", "phrase_match(text, 'bill of rights')") == [0, 3]  # any word in the gap
    assert ids("stop", "phrase_match(text, 'bill rights', 1)") == [0, 3]
    assert ids("cased", "text_match(text, 'mice')") == []  # no lowercase filter: case counts
    assert ids("cased", "text_match(text, 'Mice')") == [4]
    assert ids("cased", "phrase_match(text, 'Of Mice')") == [4]


def test_the_english_analyzer_matches_stems(client: MilvusClient) -> None:
    _collection(client, "en", {"type": "english"})
    docs = ["knights of the round table", "a knightly deed", "running dogs", "he runs"]
    client.insert("en", [{"id": i, "text": t} for i, t in enumerate(docs)])
    hits = client.search("en", ["knight"], anns_field="sp", limit=5)[0]
    assert sorted(h["id"] for h in hits) == [0, 1]
    got = client.query("en", "text_match(text, 'run')", output_fields=["id"])
    assert sorted(r["id"] for r in got) == [2, 3]
    got = client.query("en", "phrase_match(text, 'knight round')", output_fields=["id"])
    assert [r["id"] for r in got] == []  # 'of the' left two gaps
    got = client.query("en", "phrase_match(text, 'knights of the round')", output_fields=["id"])
    assert [r["id"] for r in got] == [0]
    client.insert("en", [{"id": 9, "text": "Runners run"}])  # a new chunk, postings of its own
    client.delete("en", ids=[3])
    got = client.query("en", "text_match(text, 'running')", output_fields=["id"])
    assert sorted(r["id"] for r in got) == [2, 9]


def test_postings_give_what_each_row_analysed_alone_gives() -> None:
    """The chunk postings (text_index) against each row's own tokens, on random texts."""
    import numpy as np
    import pyarrow as pa

    from gpu_milvus.filter.text_match import _sloppy, phrase_match, text_match
    from gpu_milvus.text import analyzer_for

    rng = np.random.default_rng(7)
    words = ["ab", "Ab", "cd", "the", "ef", "running", "runs", "x_y", "abcd", "Éf"]
    docs = [" ".join(rng.choice(words, size=int(rng.integers(0, 9)))) for _ in range(300)]
    column = pa.chunked_array([pa.array(docs[:120]), pa.array([*docs[120:], None])])
    for params in ({"type": "english"}, {"type": "standard", "stop_words": ["the"]},
                   {"tokenizer": "whitespace", "filter": ["lowercase"]},
                   {"tokenizer": "jieba", "filter": ["removepunct"]},
                   {"tokenizer": "standard", "filter": ["lowercase", "asciifolding",
                    {"type": "decompounder", "word_list": ["ab", "cd"]},
                    {"type": "synonym", "synonyms": ["ab, ef", "runs => running"]}]}):  # fmt: skip
        an = analyzer_for("t", {"analyzer_params": params})
        for phrase, slop in (("ab cd", 1), ("cd the ab", 2), ("running ef", 0), ("ab ab", 3)):
            query = an.sequence(phrase)
            want = []
            for doc in docs:
                where: dict[str, list[int]] = {}
                for tok, pos in an.sequence(doc):
                    where.setdefault(tok, []).append(pos)
                want.append(all(t in where for t, _ in query) and _sloppy(where, query, slop))
            got = phrase_match(column, phrase, slop, an).to_pylist()
            assert got == [*want, None], (params, phrase, slop)
        least = text_match(column, "ab cd runs", 2, an).to_pylist()
        wanted = set(an.tokens("ab cd runs"))
        assert least == [*(len(wanted & set(an.tokens(d))) >= 2 for d in docs), None]
