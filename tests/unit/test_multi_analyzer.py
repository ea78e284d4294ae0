"""Multi-language analyzers (``multi_analyzer_params``), Milvus 2.6's guide end to end.

References: the scores Milvus's multi-language-analyzers guide prints for its four
documents (2.7881 for 'artificial intelligence' with the english analyzer, 3.3814 for
'人工智能' with the chinese one), the proxy's validateMultiAnalyzerParams wording, and the
runner's choice of analyzer (alias, then name, then ``default``), read through searches
whose hits differ by analyzer.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, RRFRanker
from pymilvus.exceptions import MilvusException

from gpu_milvus import MilvusClient

MULTI = {
    "analyzers": {"english": {"type": "english"}, "chinese": {"type": "chinese"},
                  "default": {"tokenizer": "standard"}},  # the guide's default is icu
    "by_field": "language",
    "alias": {"cn": "chinese", "en": "english"},
}  # fmt: skip
GUIDE_DOCS = [
    {"text": "Artificial intelligence is transforming technology", "language": "english"},
    {"text": "Machine learning models require large datasets", "language": "en"},
    {"text": "人工智能正在改变技术领域", "language": "chinese"},
    {"text": "机器学习模型需要大型数据集", "language": "cn"},
]


def _schema(client: MilvusClient, multi: Any = MULTI, **text_kw: Any) -> Any:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True, auto_id=True)
    s.add_field("language", DataType.VARCHAR, max_length=255, nullable=True)
    s.add_field("text", DataType.VARCHAR, max_length=8192, enable_analyzer=True,
                multi_analyzer_params=multi, **text_kw)  # fmt: skip
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function("text_to_vector", FunctionType.BM25, ["text"], ["sparse"]))
    return s


def _create(client: MilvusClient, rows: list[dict[str, Any]]) -> None:
    ip = client.prepare_index_params()
    ip.add_index("sparse", index_type="AUTOINDEX", metric_type="BM25")
    client.create_collection("m", schema=_schema(client), index_params=ip)
    client.insert("m", rows)


def _search(client: MilvusClient, text: str, analyzer: str | None) -> list[tuple[str, float]]:
    params: dict[str, Any] = {"metric_type": "BM25", "drop_ratio_search": "0"}
    if analyzer is not None:
        params["analyzer_name"] = analyzer
    hits = client.search("m", [text], anns_field="sparse", search_params=params, limit=10,
                         output_fields=["text"])[0]  # fmt: skip
    return [(h["entity"]["text"], round(h["distance"], 4)) for h in hits]


def test_the_guides_searches_score_as_its_server(client: MilvusClient) -> None:
    _create(client, GUIDE_DOCS)
    assert _search(client, "artificial intelligence", "english") == [
        ("Artificial intelligence is transforming technology", 2.7881)
    ]
    assert _search(client, "人工智能", "cn") == [("人工智能正在改变技术领域", 3.3814)]


def test_each_row_and_query_takes_its_named_analyzer(client: MilvusClient) -> None:
    rows = [{"text": "running dogs", "language": "en"},  # english: run, dog
            {"text": "running dogs", "language": "klingon"},  # unknown: the default
            {"text": "running dogs", "language": None}]  # null: the default  # fmt: skip
    _create(client, rows)
    stemmed, plain = rows[0]["text"], rows[1]["text"]
    assert [t for t, _ in _search(client, "run", "english")] == [stemmed]
    assert [t for t, _ in _search(client, "run", "en")] == [stemmed]  # an alias
    assert len(_search(client, "running", None)) == 2  # no name: the default analyzer
    assert len(_search(client, "running", "nope")) == 2  # an unknown name: the default
    assert plain == stemmed  # the same text, tokenized two ways
    reqs = [AnnSearchRequest(["dogs"], "sparse", {"analyzer_name": "en"}, 5),
            AnnSearchRequest(["dogs"], "sparse", {}, 5)]  # fmt: skip
    fused = client.hybrid_search("m", reqs, RRFRanker(), limit=5)[0]
    assert len(fused) == 3  # 'dog' finds the english row, 'dogs' the two others


def test_run_analyzer_with_analyzer_names(client: MilvusClient) -> None:
    _create(client, GUIDE_DOCS)
    got = client.run_analyzer(["人工智能", "Running fast"], collection_name="m",
                              field_name="text", analyzer_names=["cn", "english"])  # fmt: skip
    assert [r.tokens for r in got] == [["人工", "智能", "人工智能"], ["run", "fast"]]
    got = client.run_analyzer(["Running", "Dogs"], collection_name="m", field_name="text",
                              analyzer_names="en")  # fmt: skip
    assert [r.tokens for r in got] == [["run"], ["dog"]]
    default = client.run_analyzer("Running", collection_name="m", field_name="text")
    assert default.tokens == ["Running"]  # the default here: no lowercase filter
    with pytest.raises(MilvusException, match="only support for multi analyzer field"):
        client.run_analyzer("x", analyzer_names=["en"])


@pytest.mark.parametrize(
    ("multi", "kw", "message"),
    [
        ({"analyzers": {"default": {}}}, {}, "must set by_field"),
        ({"analyzers": {"default": {}}, "by_field": 3}, {}, "by_field must be string but now: 3"),
        ({"analyzers": {"default": {}}, "by_field": "nope"}, {},
         'multi analyzer dependent field "nope" not exist in collection c'),
        ({"analyzers": {"default": {}}, "by_field": "id"}, {},
         "only support by string field, but field id is not string"),
        ({"by_field": "language"}, {}, "multi analyzer params must set analyzers"),
        ({"analyzers": {"en": {}}, "by_field": "language"}, {},
         "must set default analyzer for all unknown value"),
        ({"analyzers": {"default": {"type": "xyz"}}, "by_field": "language"}, {},
         "analyzer default params invalid: .*unknown build-in analyzer type: xyz"),
        ({"analyzers": {"default": {}}, "by_field": "language", "alias": {"a": 1}}, {},
         "multi analyzer alias must be string map"),
        ({"analyzers": {"default": {}}, "by_field": "language"}, {"enable_match": True},
         "multi analyzer now only support for bm25, but now field text enable match"),
        ({"analyzers": {"default": {}}, "by_field": "language"},
         {"analyzer_params": {"type": "english"}},
         "field text analyzer params should be none if has multi analyzer params"),
    ],
)  # fmt: skip
def test_bad_multi_analyzer_params_are_refused(
    client: MilvusClient, multi: dict[str, Any], kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(MilvusException, match=message):
        client.create_collection("c", schema=_schema(client, multi, **kw))
    assert not client.has_collection("c")


def test_multi_analyzer_field_survives_a_reopen(client: MilvusClient, uri: str) -> None:
    _create(client, GUIDE_DOCS)
    client.close()
    again = MilvusClient(uri)
    try:
        hits = again.search("m", ["人工智能"], anns_field="sparse", limit=3,
                            search_params={"analyzer_name": "chinese"})[0]  # fmt: skip
        assert [round(h["distance"], 4) for h in hits] == [3.3814]
    finally:
        again.close()
