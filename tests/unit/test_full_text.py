"""Full-text search through a BM25 function: scores against an independent float64 reference
of the formula in gpu_milvus/engine/bm25.py, collection-wide statistics over alive rows,
index parameters, validation, reopening a store, hybrid search and the merge-mode upsert.
milvus-lite's own scores are compared in tests/congruence/test_full_text.py.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter

import numpy as np
import pytest
from pymilvus import (
    AnnSearchRequest,
    DataType,
    Function,
    FunctionType,
    MilvusException,
    WeightedRanker,
)
from pymilvus.exceptions import DataNotMatchException

from gpu_milvus import MilvusClient
from gpu_milvus.text import STANDARD, server_hash

WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"]


def _schema(client: MilvusClient, analyzer: dict | None = None, input_type=DataType.VARCHAR):
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    extra = {"analyzer_params": analyzer} if analyzer else {}
    if input_type == DataType.VARCHAR:
        s.add_field("text", DataType.VARCHAR, max_length=500, enable_analyzer=True,
                    nullable=True, **extra)  # fmt: skip
    else:
        s.add_field("text", input_type)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("dense", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("tag", DataType.INT64)
    fn = Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                  output_field_names=["sparse"])  # fmt: skip
    s.add_function(fn)
    return s


def _create(client: MilvusClient, params: dict | None = None) -> None:
    ip = client.prepare_index_params()
    ip.add_index(
        "sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=params or {}
    )
    ip.add_index("dense", metric_type="L2")
    client.create_collection("t", schema=_schema(client), index_params=ip)


def _rows(n: int, seed: int = 0, start: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(start, start + n):
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 12))))
        rows.append({"id": i, "text": text, "dense": [float(i), 0.0], "tag": i % 3})
    return rows


def _reference(docs: dict[int, str | None], query: str, k1=1.2, b=0.75) -> dict[int, float]:
    """The BM25 formula in float64, from the texts alone."""
    toks = {i: re.findall(r"\w+", (t or "").lower()) for i, t in docs.items()}
    n = len(toks)
    avgdl = sum(len(t) for t in toks.values()) / n
    out: dict[int, float] = {}
    for term, q in Counter(re.findall(r"\w+", query.lower())).items():
        df = sum(term in t for t in toks.values())
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, t in toks.items():
            tf = t.count(term)
            if tf:
                norm = k1 * (1 - b + b * len(t) / avgdl)
                out[i] = out.get(i, 0.0) + q * idf * tf * (k1 + 1) / (tf + norm)
    return out


def _got(client: MilvusClient, query: str, **kwargs) -> dict[int, float]:
    hits = client.search("t", [query], anns_field="sparse", limit=1000, **kwargs)[0]
    return {h["id"]: h["distance"] for h in hits}


def _assert_scores(got: dict[int, float], want: dict[int, float]) -> None:
    assert set(got) == set(want)
    for i, v in want.items():
        assert got[i] == pytest.approx(v, rel=2e-6), i


def test_scores_follow_the_formula_over_the_alive_rows(client: MilvusClient) -> None:
    _create(client)
    rows = _rows(300)
    client.insert("t", rows[:200])
    client.insert("t", rows[200:])  # a second chunk, scored as the index's tail
    docs = {r["id"]: r["text"] for r in rows}
    for query in ("alpha", "beta gamma", "kappa kappa eta", "ALPHA, zeta!", "nothing here"):
        _assert_scores(_got(client, query), _reference(docs, query))
    client.delete("t", ids=list(range(0, 300, 4)))
    alive = {i: t for i, t in docs.items() if i % 4}
    _assert_scores(_got(client, "beta gamma"), _reference(alive, "beta gamma"))
    # Filters and partitions choose the hits; the statistics stay collection-wide.
    want = {i: v for i, v in _reference(alive, "delta").items() if i % 3 == 1}
    _assert_scores(_got(client, "delta", filter="tag == 1"), want)
    ranked = client.search("t", ["delta iota"], anns_field="sparse", limit=5)[0]
    scores = [h["distance"] for h in ranked]
    assert scores == sorted(scores, reverse=True) and len(ranked) == 5


def test_index_params_set_k1_and_b(client: MilvusClient) -> None:
    _create(client, {"bm25_k1": 1.2, "bm25_b": 0.3})
    rows = _rows(80, seed=3)
    client.insert("t", rows)
    docs = {r["id"]: r["text"] for r in rows}
    _assert_scores(_got(client, "theta eps"), _reference(docs, "theta eps", k1=1.2, b=0.3))


def test_null_and_empty_texts_are_rows_without_terms(client: MilvusClient) -> None:
    _create(client)
    blank = {"dense": [0.0, 0.0], "tag": 0}
    rows = [
        *_rows(20, seed=4),
        {"id": 100, "text": None, **blank},
        {"id": 101, "text": "", **blank},
    ]
    client.insert("t", rows)
    got = client.get("t", [100, 101])  # "*": a function's output is never returned
    assert [r["text"] for r in got] == [None, ""] and all("sparse" not in r for r in got)
    with pytest.raises(MilvusException, match="not allowed to retrieve raw data of field sparse"):
        client.search("t", ["alpha"], anns_field="sparse", output_fields=["sparse"])
    docs = {r["id"]: r["text"] for r in rows}
    _assert_scores(_got(client, "alpha"), _reference(docs, "alpha"))
    assert client.search("t", [""], anns_field="sparse", limit=5)[0] == []


def test_text_queries_mix_with_range_search_and_hybrid(client: MilvusClient) -> None:
    _create(client)
    rows = _rows(60, seed=5)
    client.insert("t", rows)
    want = _reference({r["id"]: r["text"] for r in rows}, "gamma zeta")
    cut = sorted(want.values())[len(want) // 2]
    ranged = _got(client, "gamma zeta", search_params={"params": {"radius": cut}})
    assert set(ranged) == {i for i, v in want.items() if v > cut}
    reqs = [
        AnnSearchRequest(data=["gamma zeta"], anns_field="sparse", param={}, limit=60),
        AnnSearchRequest(data=[[3.0, 0.0]], anns_field="dense", param={}, limit=60),
    ]
    fused = client.hybrid_search("t", reqs, WeightedRanker(1.0, 0.0), limit=3)[0]
    best = sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert [h["id"] for h in fused] == [i for i, _ in best]
    assert fused[0]["distance"] == pytest.approx(2 * math.atan(best[0][1]) / math.pi, rel=1e-6)


def test_a_reopened_store_and_a_merge_upsert_score_the_same(uri: str) -> None:
    client = MilvusClient(uri)
    _create(client)
    rows = _rows(50, seed=6)
    client.insert("t", rows)
    client.upsert("t", [{"id": 7, "text": "kappa kappa kappa"}], partial_update=True)
    docs = {r["id"]: r["text"] for r in rows} | {7: "kappa kappa kappa"}
    before = _got(client, "kappa alpha")
    _assert_scores(before, _reference(docs, "kappa alpha"))
    assert client.get("t", [7])[0]["tag"] == rows[7]["tag"]
    client.close()
    again = MilvusClient(uri)
    try:
        assert _got(again, "kappa alpha") == before
        assert again.describe_collection("t")["functions"][0]["output_field_names"] == ["sparse"]
    finally:
        again.close()


def test_misuse_gets_a_clear_error(client: MilvusClient) -> None:
    _create(client)
    with pytest.raises(DataNotMatchException, match="unexpected function output field `sparse`"):
        client.insert("t", [{"id": 1, "text": "a", "dense": [0, 0], "tag": 0, "sparse": {1: 1.0}}])
    with pytest.raises(MilvusException, match="must be text"):
        client.search("t", [{1: 1.0}], anns_field="sparse")
    with pytest.raises(MilvusException, match="search data for field dense must be float"):
        client.search("t", ["alpha"], anns_field="dense")
    bad = client.prepare_index_params()
    bad.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    with pytest.raises(MilvusException, match="only BM25 function output fields support"):
        client.create_collection("u", schema=_schema(client), index_params=bad)


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda c: _schema(c, input_type=DataType.INT64), "input field must be VARCHAR"),
        (
            lambda c: _schema(c, analyzer={"tokenizer": "lindera"}),
            "analyzer lindera is not supported by gpu_milvus",
        ),
    ],
)
def test_schemas_the_engine_cannot_serve_are_refused(client: MilvusClient, make, text) -> None:
    with pytest.raises(MilvusException, match=text):
        client.create_collection("u", schema=make(client))
    assert not client.has_collection("u")


def test_run_analyzer_tokens_offsets_and_hashes(client: MilvusClient) -> None:
    from pymilvus.client.types import AnalyzeResult

    assert server_hash("123456789") == 0xCBF43926  # CRC-32 (IEEE)'s check value
    text = "Hello, Wörld! naïve 東京タワー x² under_score " + "z" * 150
    plain = client.run_analyzer(text)
    assert isinstance(plain, AnalyzeResult)
    assert plain.tokens == STANDARD.tokens(text)
    detailed = client.run_analyzer([text, "b"], with_hash=True, with_detail=True)
    assert len(detailed) == 2 and detailed[1].tokens[0].dict["token"] == "b"
    raw = text.encode()
    for i, tok in enumerate(detailed[0].tokens):
        d = tok.dict
        assert raw[d["start_offset"] : d["end_offset"]].decode().lower() == d["token"]
        assert (d["position"], d["position_length"]) == (i, 1)
        prefix = d["token"].encode()[:100]
        assert d["hash"] == zlib.crc32(prefix) % 0xFFFFFFFF
    long = detailed[0].tokens[-1].dict
    assert long["hash"] == client.run_analyzer("z" * 100, with_hash=True).tokens[0].dict["hash"]


def test_run_analyzer_on_a_field(client: MilvusClient) -> None:
    _create(client)
    got = client.run_analyzer("Alpha beta", collection_name="t", field_name="text")
    assert got.tokens == ["alpha", "beta"]
    with pytest.raises(MilvusException, match="does not enable analyzer"):
        client.run_analyzer("a", collection_name="t", field_name="tag")
    with pytest.raises(MilvusException, match="nope"):
        client.run_analyzer("a", collection_name="t", field_name="nope")
    with pytest.raises(MilvusException, match="analyzer icu is not supported by gpu_milvus"):
        client.run_analyzer("a", analyzer_params={"tokenizer": "icu"})
    with pytest.raises(MilvusException, match="only support for multi analyzer field"):
        client.run_analyzer("a", analyzer_names=["en"])


@pytest.mark.parametrize(
    ("text", "want"),
    [  # the inputs of Milvus's standard_tokenizer.rs test (tantivy's SimpleTokenizer), lowercased
        ("The 2 QUICK Brown-Foxes dog's 32.3 中文 👩\u200d🔬",
         ["the", "2", "quick", "brown", "foxes", "dog", "s", "32", "3", "中文"]),
        ("---abc123---DEF_456---", ["abc123", "def", "456"]),
        ("éclair Straße Ελληνικά русский 日本語",
         ["éclair", "straße", "ελληνικά", "русский", "日本語"]),
        # Rust's is_alphanumeric counts the vowel signs (Other_Alphabetic), not the virama
        ("हिन्दी", ["हिन", "दी"]),
        ("İstanbul Ⓐb", ["i̇stanbul", "ⓐb"]),  # tokens first, then lowercased
    ],
)  # fmt: skip
def test_standard_tokenizer_splits_as_the_server_does(text: str, want: list[str]) -> None:
    assert STANDARD.tokens(text) == want
    assert [t for t, *_ in STANDARD.positioned(text)] == want
