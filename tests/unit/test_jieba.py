"""The jieba tokenizer, the chinese analyzer and the cncharonly / cnalphanumonly / removepunct
filters, as Milvus 2.6 documents and runs them (tantivy-binding's jieba_tokenizer.rs over
jieba-rs, cn_char_filter.rs, remove_punct_filter.rs).

References: the run_analyzer outputs printed in Milvus's own guides (the jieba tokenizer,
the chinese analyzer, the cncharonly and cnalphanumonly filters: the latter's output is the
standard tokenizer's, whatever its configuration says), and the jieba package's own
segmentation for the text_match and phrase_match rows.
"""

from __future__ import annotations

from typing import Any

import jieba
import pytest
from pymilvus import DataType, Function, FunctionType
from pymilvus.exceptions import MilvusException

from gpu_milvus import MilvusClient

GUIDE_TEXT = "Milvus 是一个高性能、可扩展的向量数据库！"
FOUNDATION = "Milvus 是 LF AI & Data Foundation 下的一个开源项目，以 Apache 2.0 许可发布。"
GUIDES = [
    ({"tokenizer": "jieba"}, GUIDE_TEXT,
     ["Milvus", " ", "是", "一个", "高性", "性能", "高性能", "、", "可", "扩展", "的", "向量",
      "数据", "据库", "数据库", "！"]),
    ({"tokenizer": {"type": "jieba", "dict": ["结巴分词器"], "mode": "exact", "hmm": False}},
     "milvus结巴分词器中文测试", ["milvus", "结巴分词器", "中", "文", "测", "试"]),
    ({"tokenizer": "jieba"}, "你好！世界。", ["你好", "！", "世界", "。"]),
    # jieba-rs's add_word without a frequency: one that cuts the word out whole (the
    # default dictionary alone cuts 结巴 分词器, as the guide's extra-dictionary example)
    ({"tokenizer": {"type": "jieba", "dict": ["_default_", "结巴分词器"], "mode": "exact",
                    "hmm": False}}, "milvus结巴分词器中文测试",
     ["milvus", "结巴分词器", "中文", "测试"]),
    ({"tokenizer": {"type": "jieba", "mode": "exact", "hmm": False}}, "milvus结巴分词器中文测试",
     ["milvus", "结巴", "分词器", "中文", "测试"]),
    ({"tokenizer": {"type": "jieba", "dict": ["_default_", "在中国"], "mode": "exact"}},
     "我们在中国", ["我们", "在中国"]),  # 在 and 中国 are common: a frequency of 1 loses
    ({"tokenizer": "jieba", "filter": ["removepunct"]}, "你好！世界。", ["你好", "世界"]),
    ({"type": "chinese"}, GUIDE_TEXT,
     ["Milvus", "是", "一个", "高性", "性能", "高性能", "可", "扩展", "的", "向量", "数据", "据库",
      "数据库"]),
    ({"tokenizer": "standard", "filter": ["cncharonly"]}, FOUNDATION,
     ["是", "下的一个开源项目", "以", "许可发布"]),
    ({"tokenizer": "standard", "filter": ["cnalphanumonly"]}, FOUNDATION,
     ["Milvus", "是", "LF", "AI", "Data", "Foundation", "下的一个开源项目", "以", "Apache", "2",
      "0", "许可发布"]),
]  # fmt: skip


@pytest.mark.parametrize(("params", "text", "want"), GUIDES)
def test_run_analyzer_prints_the_guides_outputs(
    client: MilvusClient, params: dict[str, Any], text: str, want: list[str]
) -> None:
    assert client.run_analyzer(text, analyzer_params=params).tokens == want


def test_positions_offsets_and_spans_are_the_servers(client: MilvusClient) -> None:
    got = client.run_analyzer(["你好！世界杯"], analyzer_params={"tokenizer": "jieba"},
                              with_detail=True)[0].tokens  # fmt: skip
    # search mode: 世界 (a dictionary word inside 世界杯) comes before the word itself
    assert [(t["token"], t["start_offset"], t["end_offset"], t["position"], t["position_length"])
            for t in got] == [("你好", 0, 6, 0, 2), ("！", 6, 9, 2, 1), ("世界", 9, 15, 3, 2),
                              ("世界杯", 9, 18, 3, 3)]  # fmt: skip


@pytest.mark.parametrize(
    ("tokenizer", "message"),
    [
        ({"type": "jieba", "dict": "x"}, "jieba tokenizer dict must be array"),
        ({"type": "jieba", "dict": [1]}, "jieba tokenizer dict item must be string"),
        ({"type": "jieba", "mode": "fast"}, 'jieba tokenizer mode must be "exact" or "search"'),
        ({"type": "jieba", "mode": 1}, "jieba tokenizer mode must be string"),
        ({"type": "jieba", "hmm": "yes"}, "jieba tokenizer mode must be boolean"),
        ({"type": "jieba", "dict": ["_extend_default_"]}, "_extend_default_ jieba dictionary"),
    ],
)
def test_bad_jieba_params_are_refused(
    client: MilvusClient, tokenizer: dict[str, Any], message: str
) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=100, enable_analyzer=True,
                analyzer_params={"tokenizer": tokenizer})  # fmt: skip
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    with pytest.raises(MilvusException, match=message):
        client.create_collection("c", schema=s)


DOCS = [
    "我们是中国人，我爱北京天安门", "南京市长江大桥", "他来到了网易杭研大厦", "北京大学的学生",
    "小明硕士毕业于中国科学院计算所", "中国人民银行", "今天天气很好。北京下雪了", "",
]  # fmt: skip


def _collection(client: MilvusClient, analyzer: dict[str, Any]) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True,
                enable_match=True, analyzer_params=analyzer)  # fmt: skip
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function("bm25", FunctionType.BM25, ["text"], ["sparse"]))
    ip = client.prepare_index_params()
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("c", schema=s, index_params=ip)
    client.insert("c", [{"id": i, "text": d} for i, d in enumerate(DOCS)])


def _words(text: str) -> list[tuple[str, int]]:
    return [(w, start) for w, start, _ in jieba.tokenize(text, mode="search")]


def test_text_and_phrase_match_read_jieba_words(client: MilvusClient) -> None:
    _collection(client, {"type": "chinese"})
    for query in ["北京", "中国", "长江 大桥", "学生", "天安门", "银行 大厦"]:
        wanted = {w for w, _ in _words(query)} - {" "}
        rows = [i for i, d in enumerate(DOCS) if wanted & {w for w, _ in _words(d)}]
        got = client.query("c", f"text_match(text, '{query}')", output_fields=["id"])
        assert sorted(r["id"] for r in got) == rows, query
    # a jieba position is the word's first character: 北京 at 7 and 下雪 at 9 in row 6 are
    # the query's 0 and 2; 天气 (2) and 北京 (7) are 3 further apart than in "天气北京"
    cases = [("北京下雪", 0, [6]), ("天气北京", 2, []), ("天气北京", 3, [6]),
             ("中国北京", 3, []), ("中国北京", 4, [0])]  # fmt: skip
    for phrase, slop, want in cases:
        expr = f"phrase_match(text, '{phrase}', {slop})"
        assert [r["id"] for r in client.query("c", expr)] == want, expr


def test_bm25_search_ranks_with_jieba_words(client: MilvusClient) -> None:
    _collection(client, {"tokenizer": "jieba", "filter": ["removepunct"]})
    hits = client.search("c", ["北京"], anns_field="sparse", limit=10)[0]
    assert {h["id"] for h in hits} == {i for i, d in enumerate(DOCS) if "北京" in d}
    hits = client.search("c", ["长江大桥"], anns_field="sparse", limit=10)[0]
    assert [h["id"] for h in hits] == [1]
