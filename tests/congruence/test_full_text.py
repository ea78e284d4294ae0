"""Full-text search (a BM25 function) against milvus-lite: the stored term vectors token for
token, and the BM25 scores and order of every query.

milvus-lite reports BM25 scores negated (larger is better on the server); the comparison
negates them back. Kept out: filtered or partition-restricted searches and searches after
deletes, where lite takes the statistics over only the rows searched or left (gpu_milvus
keeps them collection-wide over the alive rows; tests/unit/test_full_text.py).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, RRFRanker

from gpu_milvus.text import analyzer_for, term_id, term_vectors

from .conftest import Pair

pytestmark = pytest.mark.reference
K1 = {"bm25_k1": 1.5}  # lite scores with k1 = 1.5 whatever it is given; a server with 1.2

WORDS = [
    "milvus", "vector", "database", "search", "gpu", "fast", "brown", "dog", "fox", "lazy",
    "quick", "cat", "data", "index", "query", "token", "score", "rank", "hybrid", "dense",
]  # fmt: skip
EXTRA = [
    # no underscore: a server (and gpu_milvus) splits "foo_bar", milvus-lite keeps it whole
    "fox's e-mail 3.14 foo-bar naïve 東京タワー Ünïcode ÄBC x²",
    "",
    "   ...  ",
    "Dog DOG dog!",
]


def _docs(n: int, rng: np.random.Generator) -> list[str]:
    docs = []
    for _ in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(1, 30)))
        docs.append(" ".join(w.upper() if rng.random() < 0.1 else w for w in words) + ".")
    return docs + EXTRA


def _create(pair: Pair, docs: list[str], analyzer: dict | None = None) -> None:
    kw = {} if analyzer is None else {"analyzer_params": analyzer}
    for c in (pair.ref, pair.sub):
        s = c.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("text", DataType.VARCHAR, max_length=2000, enable_analyzer=True, **kw)
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("dense", DataType.FLOAT_VECTOR, dim=2)
        bm25 = Function(name="bm25", function_type=FunctionType.BM25,
                        input_field_names=["text"], output_field_names=["sparse"])  # fmt: skip
        s.add_function(bm25)
        ip = c.prepare_index_params()
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=K1)
        ip.add_index("dense", index_type="FLAT", metric_type="L2")
        c.create_collection("t", schema=s, index_params=ip)
        c.load_collection("t")
        rows = [
            {"id": i, "text": d, "dense": [float(i), float(i * i % 97)]} for i, d in enumerate(docs)
        ]
        c.insert("t", rows)


def _hits(c, queries: list[str], limit: int, negate: bool) -> list[list[tuple[int, float]]]:
    res = c.search("t", queries, anns_field="sparse", limit=limit)
    sign = -1.0 if negate else 1.0
    return [[(h["id"], sign * h["distance"]) for h in hits] for hits in res]


def _same_hits(ref: list, sub: list) -> None:
    assert len(ref) == len(sub)
    for r, s in zip(ref, sub, strict=True):
        assert [i for i, _ in r] == [i for i, _ in s] or sorted(r) == sorted(s)
        np.testing.assert_allclose([d for _, d in s], [d for _, d in r], rtol=2e-6, atol=1e-6)


def test_term_vectors_and_scores_match(pair: Pair, seed: int) -> None:
    docs = _docs(150, np.random.default_rng(seed))
    _create(pair, docs)
    # milvus-lite returns a BM25 output field; the server (and gpu_milvus) refuse to, so the
    # term vectors gpu_milvus stores are those its analyzer computes for the same texts
    ref = pair.ref.query("t", "id >= 0", output_fields=["sparse"])
    stored = term_vectors(docs)
    assert len(ref) == len(docs)
    for row in ref:
        mine = stored[row["id"]]
        assert dict(zip(mine.indices.tolist(), mine.data.tolist(), strict=True)) == {
            int(k): v for k, v in row["sparse"].items()
        }, row["id"]
        # run_analyzer's tokens are the ones milvus-lite counted (its dimensions: FNV-1a)
        counted = Counter(term_id(t) for t in pair.sub.run_analyzer(docs[row["id"]]).tokens)
        assert {int(k): v for k, v in row["sparse"].items()} == dict(counted), row["id"]
    queries = ["brown dog", "dog dog fox", "MILVUS gpu vector search", "naïve 東京タワー x²",
               "zzz unknownword", "the", "fox's e-mail"]  # fmt: skip
    _same_hits(_hits(pair.ref, queries, 20, True), _hits(pair.sub, queries, 20, False))


def test_upserted_text_is_scored_again(pair: Pair, seed: int) -> None:
    _create(pair, _docs(60, np.random.default_rng(seed + 1)))
    new = [{"id": 3, "text": "brown brown brown dog", "dense": [0.0, 0.0]}]
    pair.both(lambda c: c.upsert("t", new))
    _same_hits(_hits(pair.ref, ["brown dog"], 10, True), _hits(pair.sub, ["brown dog"], 10, False))


def test_hybrid_search_with_a_text_request(pair: Pair, seed: int) -> None:
    _create(pair, _docs(80, np.random.default_rng(seed + 2)))

    def run(c):
        reqs = [
            AnnSearchRequest(data=["quick brown fox"], anns_field="sparse", param={}, limit=10),
            AnnSearchRequest(data=[[1.0, 2.0]], anns_field="dense", param={}, limit=10),
        ]
        return [h["id"] for h in c.hybrid_search("t", reqs, RRFRanker(60), limit=8)[0]]

    ref, sub = pair.both(run)
    assert ref == sub


def test_text_match_filters_match(pair: Pair, seed: int) -> None:
    rng = np.random.default_rng(seed + 3)
    docs = _docs(120, rng)
    for c in (pair.ref, pair.sub):
        s = c.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("text", DataType.VARCHAR, max_length=2000, enable_analyzer=True,
                    enable_match=True)  # fmt: skip
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        ip = c.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        c.create_collection("m", schema=s, index_params=ip)
        c.load_collection("m")
        c.insert("m", [{"id": i, "text": d, "v": [float(i), 0.0]} for i, d in enumerate(docs)])
    exprs = [f"text_match(text, '{' '.join(rng.choice(WORDS, size=k))}')" for k in (1, 1, 2, 3, 5)]
    exprs += ["TEXT_MATCH(text, 'DOG fox')", "not text_match(text, 'milvus')",
              "text_match(text, 'naïve x²') or id < 3", "text_match(text, '...')"]  # fmt: skip
    for expr in exprs:
        ref, sub = pair.both(lambda c, e=expr: sorted(r["id"] for r in c.query("m", e)))
        assert ref == sub, expr
    ref, sub = pair.both(
        lambda c: [h["id"] for h in c.search("m", [[5.3, 0.0]], filter=exprs[2], limit=5)[0]]
    )
    assert ref == sub


def test_stop_words_after_lowercase_match(pair: Pair, seed: int) -> None:
    """The one analyzer_params form milvus-lite reads as the server does."""
    words = {"type": "stop", "stop_words": ["dog", "the", "fox"]}
    stop = {"tokenizer": "standard", "filter": ["lowercase", words]}
    docs = _docs(80, np.random.default_rng(seed + 3))
    _create(pair, docs, stop)
    ref = pair.ref.query("t", "id >= 0", output_fields=["sparse"])
    stored = term_vectors(docs, analyzer_for("text", {"analyzer_params": stop}))
    for row in ref:
        mine = stored[row["id"]]
        assert dict(zip(mine.indices.tolist(), mine.data.tolist(), strict=True)) == {
            int(k): v for k, v in row["sparse"].items()
        }, row["id"]
    queries = ["brown dog", "The FOX", "lazy cat dog", "dog"]
    _same_hits(_hits(pair.ref, queries, 20, True), _hits(pair.sub, queries, 20, False))
