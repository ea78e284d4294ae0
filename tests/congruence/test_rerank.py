"""RERANK Functions against milvus-lite: decay (gauss, exp, linear; origin, scale, offset,
decay), rrf and weighted, on search and hybrid_search, ids and scores compared.

A plain search with a decay ranker reranks the hits it found (the server's rerankOperator
takes the search's topk); milvus-lite draws on more candidates than the page. With a limit
as large as the collection the two candidate sets are the same, so that is compared. The
linear decay floors at ``decay`` in the server's decay_function.go and at 0 in milvus-lite
(and the docs); its plain-search case filters to values inside the slope, where both agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pymilvus import AnnSearchRequest, DataType, Function, FunctionType

from .conftest import Pair

pytestmark = pytest.mark.reference


@pytest.fixture
def loaded(pair: Pair) -> Pair:
    rng = np.random.default_rng(pair.seed)
    rows = [
        {"id": i, "v": rng.random(4).tolist(), "w": rng.random(4).tolist(),
         "t": int(rng.integers(0, 1000)), "x": float(rng.random())}
        for i in range(200)
    ]  # fmt: skip
    for client in (pair.ref, pair.sub):
        s = client.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
        s.add_field("w", DataType.FLOAT_VECTOR, dim=4)
        s.add_field("t", DataType.INT64)
        s.add_field("x", DataType.DOUBLE)
        ip = client.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="COSINE")
        ip.add_index("w", index_type="FLAT", metric_type="L2")
        client.create_collection("r", schema=s, index_params=ip)
        client.load_collection("r")
        client.insert("r", rows)
    return pair


def _fn(**params: Any) -> Function:
    inputs = [params.pop("field")] if "field" in params else []
    return Function(name="f", input_field_names=inputs, function_type=FunctionType.RERANK,
                    params=params)  # fmt: skip


def _same(pair: Pair, ref: Any, sub: Any, what: str) -> None:
    for r, s in zip(ref, sub, strict=True):
        assert [h["id"] for h in s] == [h["id"] for h in r], pair.ctx(what)
        got, want = [h["distance"] for h in s], [h["distance"] for h in r]
        assert np.allclose(got, want, rtol=1e-5, atol=1e-6), pair.ctx(what)


DECAYS = [
    {"reranker": "decay", "field": "t", "function": "gauss", "origin": 500, "scale": 100},
    {"reranker": "decay", "field": "t", "function": "exp", "origin": 0, "scale": 300,
     "offset": 50, "decay": 0.3},
    {"reranker": "decay", "field": "x", "function": "linear", "origin": 0.5, "scale": 0.2,
     "decay": 0.2},
]  # fmt: skip


@pytest.mark.parametrize("params", DECAYS, ids=["gauss", "exp", "linear"])
@pytest.mark.parametrize("field", ["v", "w"])
def test_decay_on_search(loaded: Pair, params: dict, field: str) -> None:
    queries = np.random.default_rng(3).random((3, 4)).tolist()
    expr = "x > 0.3 and x < 0.7" if params["function"] == "linear" else ""
    ref, sub = loaded.both(
        lambda c: c.search(
            "r", queries, anns_field=field, limit=200, filter=expr, ranker=_fn(**params)
        )
    )
    _same(loaded, ref, sub, f"decay {params['function']} on {field}")


@pytest.mark.parametrize("params", [*DECAYS, {"reranker": "rrf", "k": 30},
                                    {"reranker": "weighted", "weights": [0.3, 0.7]}],
                         ids=["gauss", "exp", "linear", "rrf", "weighted"])  # fmt: skip
def test_function_rankers_on_hybrid_search(loaded: Pair, params: dict) -> None:
    rng = np.random.default_rng(4)
    reqs = [AnnSearchRequest(rng.random((2, 4)).tolist(), "v", {}, limit=20),
            AnnSearchRequest(rng.random((2, 4)).tolist(), "w", {}, limit=20)]  # fmt: skip
    ref, sub = loaded.both(lambda c: c.hybrid_search("r", reqs, _fn(**params), limit=8))
    _same(loaded, ref, sub, f"hybrid {params['reranker']}")
