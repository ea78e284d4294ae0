"""Function rerankers (``FunctionType.RERANK``): decay on search and hybrid_search, rrf and
weighted as Functions, and the server's parameter checks (``internal/util/function/rerank``).

The reference is computed here from the plain (unranked) searches' own hits: scores
normalised as the server's ``getNormalizeFunc``, merged by ``score_mode``, times the decay
written from the Milvus docs' closed forms (gauss ``exp(-d^2 / (2 sigma^2))`` with
``sigma^2 = -scale^2 / (2 ln decay)``, exp ``exp(ln(decay) / scale * d)``), and the linear
decay with the code's floor at ``decay``.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import (
    AnnSearchRequest,
    DataType,
    Function,
    FunctionScore,
    FunctionType,
    RRFRanker,
    WeightedRanker,
)
from pymilvus.exceptions import MilvusException, ParamError

from gpu_milvus import AsyncMilvusClient, MilvusClient
from gpu_milvus.engine.rescore import random_scores


def _decay_ref(kind: str, v: float, origin: float, scale: float, offset: float, decay: float):
    d = max(0.0, abs(v - origin) - offset)
    if kind == "gauss":
        sigma2 = -(scale**2) / (2 * math.log(decay))
        return math.exp(-(d**2) / (2 * sigma2))
    if kind == "exp":
        return math.exp(math.log(decay) / scale * d)
    return max(decay, (scale / (1 - decay) - d) / (scale / (1 - decay)))


def _decay(field: str = "t", **params: Any) -> Function:
    return Function(
        name="recency", input_field_names=[field], function_type=FunctionType.RERANK,
        params={"reranker": "decay", **params},
    )  # fmt: skip


@pytest.fixture
def client(tmp_path: Path) -> Any:
    c = MilvusClient(str(tmp_path / "rr.db"))
    s = c.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("w", DataType.FLOAT_VECTOR, dim=4)
    s.add_field("t", DataType.INT64)
    s.add_field("x", DataType.DOUBLE)
    s.add_field("ts", DataType.TIMESTAMPTZ)
    s.add_field("n", DataType.INT64, nullable=True)
    s.add_field("s", DataType.VARCHAR, max_length=8)
    ip = c.prepare_index_params()
    ip.add_index("v", metric_type="COSINE")
    ip.add_index("w", metric_type="L2")
    c.create_collection("c", schema=s, index_params=ip)
    rng = np.random.default_rng(7)
    c.insert(
        "c",
        [
            {
                "id": i, "v": rng.random(4).tolist(), "w": rng.random(4).tolist(),
                "t": int(rng.integers(0, 200)), "x": float(rng.random()),
                "ts": f"2025-01-{1 + i % 28:02d}T00:00:00Z", "n": None, "s": "a",
            }
            for i in range(60)
        ],
    )  # fmt: skip
    yield c
    c.close()


def _values(client: MilvusClient, field: str) -> dict[int, Any]:
    rows = client.query("c", "id >= 0", output_fields=[field])
    return {r["id"]: r[field] for r in rows}


def _norm(d: float, metric: str, norm_score: bool) -> float:
    if not norm_score:
        return d if metric in ("COSINE", "IP", "BM25") else 1 - 2 * math.atan(d) / math.pi
    if metric == "COSINE":
        return (1 + d) * 0.5
    return 1 - 2 * math.atan(d) / math.pi


@pytest.mark.parametrize("kind", ["gauss", "exp", "linear"])
@pytest.mark.parametrize(("field", "metric"), [("v", "COSINE"), ("w", "L2")])
@pytest.mark.parametrize("norm_score", [False, True])
def test_decay_reranks_the_page(
    client: MilvusClient, kind: str, field: str, metric: str, norm_score: bool
) -> None:
    query = [[0.3, 0.1, 0.9, 0.5]]
    params = {"function": kind, "origin": 100, "scale": 40, "offset": 5, "decay": 0.3}
    plain = client.search("c", query, anns_field=field, limit=10, offset=3)[0]
    ranked = client.search(
        "c", query, anns_field=field, limit=10, offset=3, output_fields=["t"],
        ranker=_decay(**params, norm_score=norm_score),
    )[0]  # fmt: skip
    t = _values(client, "t")
    want = {
        h["id"]: _norm(h["distance"], metric, norm_score)
        * _decay_ref(kind, t[h["id"]], 100, 40, 5, 0.3)
        for h in plain
    }
    assert sorted(h["id"] for h in ranked) == sorted(want)  # the same page, reordered
    scores = [h["distance"] for h in ranked]
    assert scores == sorted(scores, reverse=True)
    for h in ranked:
        assert h["distance"] == pytest.approx(want[h["id"]], rel=1e-5)
        assert h["entity"] == {"t": t[h["id"]]}


def test_linear_decay_floors_at_decay(client: MilvusClient) -> None:
    """Within the offset the score is kept; from offset + scale on it is ``decay`` times it
    (decay_function.go's floor; the docs' curve would reach 0)."""
    query = [[0.3, 0.1, 0.9, 0.5]]
    plain = {h["id"]: h["distance"] for h in client.search("c", query, anns_field="v", limit=60)[0]}
    ranker = _decay(function="linear", origin=100, scale=20, offset=10, decay=0.25)
    ranked = client.search("c", query, anns_field="v", limit=60, ranker=ranker)[0]
    t = _values(client, "t")
    far = [h for h in ranked if abs(t[h["id"]] - 100) >= 30]
    near = [h for h in ranked if abs(t[h["id"]] - 100) <= 10]
    assert far and near
    assert all(h["distance"] == pytest.approx(0.25 * plain[h["id"]], rel=1e-6) for h in far)
    assert all(h["distance"] == pytest.approx(plain[h["id"]], rel=1e-6) for h in near)


@pytest.mark.parametrize("mode", ["max", "avg", "sum"])
def test_decay_in_hybrid_search(client: MilvusClient, mode: str) -> None:
    q1, q2 = [[0.9, 0.1, 0.2, 0.4]], [[0.2, 0.8, 0.6, 0.1]]
    reqs = [AnnSearchRequest(q1, "v", {}, limit=30), AnnSearchRequest(q2, "w", {}, limit=30)]
    ranker = _decay("x", function="exp", origin=0.5, scale=0.2, score_mode=mode)
    got = client.hybrid_search("c", reqs, ranker, limit=20, offset=2, output_fields=["x"])[0]
    x = _values(client, "x")
    merged: dict[int, list[float]] = {}
    for q, field, metric in ((q1, "v", "COSINE"), (q2, "w", "L2")):
        for h in client.search("c", q, anns_field=field, limit=30)[0]:
            merged.setdefault(h["id"], []).append(_norm(h["distance"], metric, False))
    combine = {"max": max, "sum": sum, "avg": lambda s: sum(s) / len(s)}[mode]
    scores = {
        pk: combine(s) * _decay_ref("exp", x[pk], 0.5, 0.2, 0.0, 0.5) for pk, s in merged.items()
    }
    assert sum(len(s) == 2 for s in merged.values()) >= 5  # ids both sub-results hold
    want = sorted(scores, key=lambda pk: (-np.float32(scores[pk]), pk))[2:22]
    assert [h["id"] for h in got] == want
    assert [h["distance"] for h in got] == pytest.approx([scores[pk] for pk in want], rel=1e-5)


def test_decay_over_a_timestamptz_field(client: MilvusClient) -> None:
    origin = 1736899200 * 10**6  # 2025-01-15T00:00:00Z in microseconds, as the field stores it
    ranker = _decay("ts", function="linear", origin=origin, scale=86400 * 10**6, decay=0.1)
    hits = client.search("c", [[1, 1, 1, 1]], anns_field="v", limit=60, ranker=ranker)[0]
    days = {r["id"]: 1 + r["id"] % 28 for r in client.query("c", "id >= 0")}
    assert [days[h["id"]] for h in hits[:2]] == [15, 15]  # ids 14 and 42 hold Jan 15


def test_rrf_and_weighted_as_functions(client: MilvusClient) -> None:
    q1, q2 = [[0.9, 0.1, 0.2, 0.4]], [[0.2, 0.8, 0.6, 0.1]]
    reqs = [AnnSearchRequest(q1, "v", {}, limit=10), AnnSearchRequest(q2, "w", {}, limit=10)]
    rrf = Function(name="f", input_field_names=[], function_type=FunctionType.RERANK,
                   params={"reranker": "rrf", "k": 20})  # fmt: skip
    legacy = client.hybrid_search("c", reqs, RRFRanker(20), limit=5)[0]
    assert client.hybrid_search("c", reqs, rrf, limit=5)[0] == legacy
    plain_weights = Function(name="f", input_field_names=[], function_type=FunctionType.RERANK,
                             params={"reranker": "weighted", "weights": [0.4, 0.6]})  # fmt: skip
    unnormed = WeightedRanker(0.4, 0.6, norm_score=False)  # a Function's default, unlike this
    assert (
        client.hybrid_search("c", reqs, plain_weights, limit=5)[0]
        == client.hybrid_search("c", reqs, unnormed, limit=5)[0]
    )
    page = client.search("c", q1, anns_field="v", limit=4, ranker=rrf)[0]
    plain = client.search("c", q1, anns_field="v", limit=4)[0]
    assert [h["id"] for h in page] == [h["id"] for h in plain]
    assert [h["distance"] for h in page] == pytest.approx([1 / (20 + r) for r in range(1, 5)])
    weighted = FunctionScore(
        Function(name="f", input_field_names=[], function_type=FunctionType.RERANK,
                 params={"reranker": "weighted", "weights": [0.5], "norm_score": True})
    )  # fmt: skip
    page = client.search("c", q1, anns_field="v", limit=4, ranker=weighted)[0]
    assert [h["distance"] for h in page] == pytest.approx(
        [0.5 * (1 + h["distance"]) / 2 for h in plain], rel=1e-5
    )


@pytest.mark.parametrize(
    ("field", "params", "message"),
    [
        ("t", {"function": "gauss", "scale": 1}, "Decay function lost param: origin"),
        ("t", {"function": "gauss", "origin": 1}, "Decay function lost param: scale"),
        ("t", {"function": "gauss", "origin": "a", "scale": 1}, "Param origin:a is not a number"),
        ("t", {"function": "gauss", "origin": 1, "scale": 0}, "scale must > 0"),
        ("t", {"function": "gauss", "origin": 1, "scale": 1, "offset": -1}, "offset must >= 0"),
        ("t", {"function": "gauss", "origin": 1, "scale": 1, "decay": 1}, "decay must 0 < decay"),
        ("t", {"function": "cubic", "origin": 1, "scale": 1}, "Invaild decay function"),
        ("t", {"function": "exp", "origin": 1, "scale": 1, "score_mode": "min"}, "score mode"),
        ("s", {"function": "exp", "origin": 1, "scale": 1}, "only support numberic field"),
        ("n", {"function": "exp", "origin": 1, "scale": 1}, "cannot be nullable: field n"),
        ("zz", {"function": "exp", "origin": 1, "scale": 1}, "input field not found: zz"),
    ],
)
def test_decay_errors(client: MilvusClient, field: str, params: dict, message: str) -> None:
    with pytest.raises(MilvusException, match=message) as info:
        client.search("c", [[1, 1, 1, 1]], anns_field="v", ranker=_decay(field, **params))
    assert info.value.code == 1100


def test_other_ranker_errors(client: MilvusClient) -> None:
    query = [[1, 1, 1, 1]]
    with pytest.raises(ParamError, match="must be a Function or FunctionScore"):
        client.search("c", query, anns_field="v", ranker=RRFRanker())
    params = {"reranker": "decay", "function": "exp", "origin": 1, "scale": 1}
    two = Function(name="d", input_field_names=["t", "x"], function_type=FunctionType.RERANK,
                   params=params)  # fmt: skip
    with pytest.raises(MilvusException, match="only supports single input"):
        client.search("c", query, anns_field="v", ranker=two)
    for name in ("model", "nope"):
        fn = Function(name="m", input_field_names=["s"], function_type=FunctionType.RERANK,
                      params={"reranker": name})  # fmt: skip
        with pytest.raises(MilvusException, match=name):
            client.search("c", query, anns_field="v", ranker=fn)
    decay = _decay(function="exp", origin=1, scale=1)
    with pytest.raises(MilvusException, match="does not support grouping search"):
        client.search("c", query, anns_field="v", ranker=decay, group_by_field="t")
    with pytest.raises(MilvusException, match="only supports one rerank"):
        client.search("c", query, anns_field="v", ranker=FunctionScore([decay, decay]))


async def test_async_search_with_a_decay_ranker(tmp_path: Path) -> None:
    client = AsyncMilvusClient(str(tmp_path / "a.db"))
    s = AsyncMilvusClient.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("t", DataType.INT64)
    ip = AsyncMilvusClient.prepare_index_params()
    ip.add_index("v", metric_type="IP")
    await client.create_collection("c", schema=s, index_params=ip)
    await client.insert("c", [{"id": i, "v": [1.0, 0.0], "t": i} for i in range(5)])
    hits = await client.search(
        "c", [[1.0, 0.0]], limit=5, ranker=_decay(function="gauss", origin=3, scale=1)
    )
    assert [h["id"] for h in hits[0]] == [3, 2, 4, 1, 0]
    await client.close()


def _boost(weight: Any = 0.5, **params: Any) -> Function:
    return Function(
        name="boost", input_field_names=[], function_type=FunctionType.RERANK,
        params={"reranker": "boost", "weight": weight, **params},
    )  # fmt: skip


def _boosted_reference(
    client: MilvusClient, field: str, metric: str, boosts: list[tuple[str, float]],
    limit: int, offset: int, function_mode: str = "multiply", boost_mode: str = "multiply",
) -> list[tuple[int, float]]:  # fmt: skip
    """RescoresNode by hand over the unboosted candidates [0, offset + limit)."""
    query = [[0.3, 0.1, 0.9, 0.5]]
    plain = client.search("c", query, anns_field=field, limit=offset + limit)[0]
    out = []
    for h in plain:
        d, combined = np.float32(h["distance"]), None
        for expr, weight in boosts:
            if not expr or client.query("c", f"id == {h['id']} and ({expr})"):
                w = np.float32(weight)
                if combined is None:
                    combined = w
                else:
                    combined = combined * w if function_mode == "multiply" else combined + w
        if combined is not None:
            d = d * combined if boost_mode == "multiply" else d + combined
        out.append((h["id"], float(d)))
    sign = -1 if metric == "COSINE" else 1
    return sorted(out, key=lambda x: (sign * x[1], x[0]))[offset : offset + limit]


@pytest.mark.parametrize(("field", "metric"), [("v", "COSINE"), ("w", "L2")])
@pytest.mark.parametrize(
    "modes", [("multiply", "multiply"), ("sum", "multiply"), ("multiply", "sum")]
)
def test_boost_rescores_candidates_then_pages(
    client: MilvusClient, field: str, metric: str, modes: tuple[str, str]
) -> None:
    function_mode, boost_mode = modes
    boosts = [("t < 80", 0.5), ("x > 0.5", 1.5), ("", 0.9)]
    ranker = FunctionScore(
        [_boost(w, filter=f) if f else _boost(w) for f, w in boosts],
        params={"function_mode": function_mode, "boost_mode": boost_mode},
    )
    got = client.search(
        "c", [[0.3, 0.1, 0.9, 0.5]], anns_field=field, limit=8, offset=3, ranker=ranker
    )[0]
    want = _boosted_reference(client, field, metric, boosts, 8, 3, function_mode, boost_mode)
    assert [h["id"] for h in got] == [pk for pk, _ in want]
    assert [h["distance"] for h in got] == pytest.approx([d for _, d in want], rel=1e-6)


def test_boost_then_decay(client: MilvusClient) -> None:
    ranker = FunctionScore(
        [_boost(0.2, filter="t < 100"), _decay(function="exp", origin=0, scale=100)]
    )
    got = client.search("c", [[0.3, 0.1, 0.9, 0.5]], anns_field="v", limit=6, ranker=ranker)[0]
    page = _boosted_reference(client, "v", "COSINE", [("t < 100", 0.2)], 6, 0)
    t = _values(client, "t")
    scores = {pk: d * _decay_ref("exp", t[pk], 0, 100, 0, 0.5) for pk, d in page}
    want = sorted(scores, key=lambda pk: (-np.float32(scores[pk]), pk))
    assert [h["id"] for h in got] == want


def test_boost_errors(client: MilvusClient) -> None:
    query = [[1, 1, 1, 1]]
    cases = [
        (_boost(None), "must set weight params"),
        (_boost("heavy"), "parse function scorer weight params failed"),
        (_boost(1.0, filter="nope > 1"), "parse expr failed with error"),
        (
            _boost(1.0, random_score={"seed": 1, "field": "x"}),
            "only support int64 field as random seed, but got Double",
        ),
        (_boost(1.0, random_score={"field": "nope"}), "random seed field not found"),
        (_boost(1.0, random_score={"field": 3}), "random seed field name must be string"),
        (_boost(1.0, random_score={"seed": "126"}), "random seed must be number"),
        (_boost(1.0, random_score="[1]"), "random_score must be a json object"),
        (FunctionScore([_boost()], params={"boost_mode": "max"}), "unknown boost mode: max"),
    ]
    for ranker, message in cases:  # fmt: skip
        if isinstance(ranker, Function) and ranker.params["weight"] is None:
            del ranker.params["weight"]
        with pytest.raises(MilvusException, match=message):
            client.search("c", query, anns_field="v", ranker=ranker)
    with pytest.raises(MilvusException, match="segment scorer with group_by"):
        client.search("c", query, anns_field="v", ranker=_boost(), group_by_field="t")
    reqs = [AnnSearchRequest(query, "v", {}, limit=3)]
    with pytest.raises(MilvusException, match="not to a hybrid search"):
        client.hybrid_search("c", reqs, _boost(), limit=3)


# MurmurHash3's x64 mix over one 16-byte block, written over bytes as the published
# algorithm reads them: the block (key, seed), the state started at (key ^ seed, seed)
_MURMUR_REFERENCE = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t fmix(uint64_t k) {
    k ^= k >> 33; k *= 0xff51afd7ed558ccdULL; k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL; k ^= k >> 33; return k;
}
int main(int argc, char **argv) {
    uint64_t seed = strtoull(argv[1], 0, 10);
    for (int a = 2; a < argc; a++) {
        uint64_t key = strtoull(argv[a], 0, 10), block[2];
        unsigned char bytes[16];
        memcpy(bytes, &key, 8); memcpy(bytes + 8, &seed, 8); memcpy(block, bytes, 16);
        const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
        uint64_t h1 = key ^ seed, h2 = seed, k1 = block[0], k2 = block[1];
        k1 *= c1; k1 = rotl(k1, 31); k1 *= c2; h1 ^= k1;
        h1 = rotl(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
        k2 *= c2; k2 = rotl(k2, 33); k2 *= c1; h2 ^= k2;
        h2 = rotl(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
        h1 ^= 16; h2 ^= 16; h1 += h2; h2 += h1;
        h1 = fmix(h1); h2 = fmix(h2); h1 += h2;
        uint64_t bits = (0x3FFULL << 52) | (h1 & 0xFFFFFFFFFFFFFULL);
        double d; memcpy(&d, &bits, 8);
        printf("%.17g\n", d - 1.0);
    }
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc for the C reference")
@pytest.mark.parametrize("seed", [126, 0, -1, 2**62 + 7])
def test_random_scores_equal_the_c_reference(tmp_path: Path, seed: int) -> None:
    source = tmp_path / "ref.c"
    source.write_text(_MURMUR_REFERENCE)
    subprocess.run(["gcc", "-O1", "-o", str(tmp_path / "ref"), str(source)], check=True)
    keys = [0, 1, 2, 41, -5, 2**62, -(2**63), 10**12]
    args = [str(seed % 2**64), *(str(k % 2**64) for k in keys)]
    run = subprocess.run([str(tmp_path / "ref"), *args], capture_output=True, text=True,
                         check=True)  # fmt: skip
    want = np.array([float(v) for v in run.stdout.split()], dtype=np.float64)
    got = random_scores(np.array(keys, dtype=np.int64), seed)
    assert got.tolist() == want.astype(np.float32).tolist()
    assert ((want >= 0) & (want < 1)).all()


def test_random_boost_multiplies_by_the_hashed_field(client: MilvusClient) -> None:
    query = [[0.3, 0.1, 0.9, 0.5]]
    ranker = _boost(2.0, filter="t < 100", random_score={"seed": 126, "field": "t"})
    got = client.search("c", query, anns_field="w", limit=10, ranker=ranker)[0]
    plain = client.search("c", query, anns_field="w", limit=10)[0]
    t = _values(client, "t")
    want = []
    for h in plain:
        d = np.float32(h["distance"])
        if t[h["id"]] < 100:
            r = random_scores(np.array([t[h["id"]]]), 126)[0]
            d = d * (r * np.float32(2.0))
        want.append((h["id"], float(d)))
    want.sort(key=lambda x: (x[1], x[0]))
    assert [h["id"] for h in got] == [pk for pk, _ in want]
    assert [h["distance"] for h in got] == pytest.approx([d for _, d in want], rel=1e-6)
    again = client.search("c", query, anns_field="w", limit=10, ranker=ranker)[0]
    assert again == got  # the same seed and field: the same scores
    other = _boost(2.0, filter="t < 100", random_score={"seed": 127, "field": "t"})
    moved = client.search("c", query, anns_field="w", limit=10, ranker=other)[0]
    assert [h["distance"] for h in moved] != [h["distance"] for h in got]
    rows = _boost(1.0, random_score={"seed": 5})  # no field: the rows' numbers, fixed
    first = client.search("c", query, anns_field="w", limit=10, ranker=rows)[0]
    assert client.search("c", query, anns_field="w", limit=10, ranker=rows)[0] == first
