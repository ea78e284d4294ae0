"""The jieba tokenizer against milvus-lite, which cuts with the same jieba package (search
mode): BM25 scores and order over Chinese texts (lite's text_match finds no jieba word:
tests/unit/test_jieba.py checks it against jieba's own tokens). lite strips and
lowercases each token and drops whitespace ones, which a server (and gpu_milvus) keep, so
the texts here hold no spaces and no capitals: there both analyzers count the same tokens.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus import DataType, Function, FunctionType

from .conftest import Pair

pytestmark = pytest.mark.reference
K1 = {"bm25_k1": 1.5}  # lite scores with k1 = 1.5 whatever it is given; a server with 1.2

PIECES = [
    "我们是中国人", "我爱北京天安门", "机器学习很有趣", "向量数据库支持相似性搜索",
    "南京市长江大桥", "他来到了网易杭研大厦", "小明硕士毕业于中国科学院计算所", "今天天气很好",
    "深度学习模型需要大量数据", "搜索引擎使用倒排索引", "，", "。", "！", "milvus2.6", "结巴分词",
]  # fmt: skip
QUERIES = ["北京", "数据库搜索", "中国科学院", "学习", "长江大桥，天气", "倒排索引！", "没有的词语"]


def _docs(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(PIECES, size=int(rng.integers(1, 7)))) for _ in range(n)]


def _create(pair: Pair, docs: list[str]) -> None:
    for c in (pair.ref, pair.sub):
        s = c.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("text", DataType.VARCHAR, max_length=2000, enable_analyzer=True,
                    analyzer_params={"tokenizer": "jieba"})  # fmt: skip
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(Function("bm25", FunctionType.BM25, ["text"], ["sparse"]))
        ip = c.prepare_index_params()
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=K1)
        c.create_collection("z", schema=s, index_params=ip)
        c.load_collection("z")
        c.insert("z", [{"id": i, "text": d} for i, d in enumerate(docs)])


def test_bm25_over_jieba_tokens_matches(pair: Pair, seed: int) -> None:
    _create(pair, _docs(120, seed))
    ref, sub = pair.both(lambda c: c.search("z", QUERIES, anns_field="sparse", limit=15))
    for r, s in zip(ref, sub, strict=True):
        got = [(h["id"], h["distance"]) for h in s]
        want = [(h["id"], -h["distance"]) for h in r]  # lite reports BM25 scores negated
        assert [i for i, _ in got] == [i for i, _ in want] or sorted(got) == sorted(want)
        np.testing.assert_allclose([d for _, d in got], [d for _, d in want], rtol=2e-6)
