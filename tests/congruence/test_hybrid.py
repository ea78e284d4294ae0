"""hybrid_search(): RRFRanker(k) and WeightedRanker(norm_score True / False), dense + sparse.

Fused scores are compared rank by rank and ids as sets with tie tolerance (RRF produces many
exact ties, e.g. two ids ranked first in one list each). ``output_fields`` is always given:
without it lite returns every field, the server none. milvus-lite 3.2.2 fuses like the
server here (milvus_lite_notes.md: "identical scores in both versions"; it also applies
``1 - 2*atan(d)/pi`` to L2 when norm_score=False mixes L2 with IP, as new servers do).
"""

from __future__ import annotations

from typing import Any

import pytest
from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

from .compare import compare_outcomes, compare_search
from .conftest import Pair
from .gen import FilterGen, dense_vector, full_schema, gen_rows, make_rng, sparse_vector

pytestmark = pytest.mark.reference

DIM = 8
VECTORS = {"vl2": DIM, "vip": DIM, "vcos": DIM}
FIELD = {"L2": "vl2", "IP": "vip", "COSINE": "vcos"}
SPECS = [
    ("vl2", "FLAT", "L2"),
    ("vip", "FLAT", "IP"),
    ("vcos", "FLAT", "COSINE"),
    ("sv", "SPARSE_INVERTED_INDEX", "IP"),
]
NAME = "hyb"
N = 250


@pytest.fixture(scope="module")
def hdata(module_pair: Pair) -> list[dict[str, Any]]:
    """The shared hybrid collection (never mutated); partition p1 holds ids >= 180."""
    rng = make_rng(module_pair.seed, "hybrid-data")
    module_pair.create(NAME, full_schema(vectors=VECTORS), SPECS)
    module_pair.both(lambda c: c.create_partition(NAME, "p1"))
    # no duplicated vectors: the order of tied hits inside a sub-search is unspecified (segcore
    # reduces by distance only), and a tie there changes the fused scores
    rows = gen_rows(rng, list(range(N)), vectors=VECTORS)
    module_pair.both(lambda c: c.insert(NAME, [dict(r) for r in rows[:180]]))
    module_pair.both(lambda c: c.insert(NAME, [dict(r) for r in rows[180:]], partition_name="p1"))
    return rows


def dense_req(rng: Any, metric: str, nq: int, limit: int, expr: str | None = None) -> Any:
    """An AnnSearchRequest on the dense field of ``metric``."""
    data = [dense_vector(rng, DIM) for _ in range(nq)]
    return AnnSearchRequest(data, FIELD[metric], {"metric_type": metric}, limit, expr=expr)


def sparse_req(rng: Any, nq: int, limit: int, expr: str | None = None) -> Any:
    """An AnnSearchRequest on the sparse field."""
    data = [sparse_vector(rng) for _ in range(nq)]
    return AnnSearchRequest(data, "sv", {"metric_type": "IP"}, limit, expr=expr)


def check(pair: Pair, label: str, op: Any, *, offset: bool = False) -> None:
    """Run a hybrid op on both sides and compare."""
    ref, sub = pair.run(op)
    compare_outcomes(
        ref,
        sub,
        pair.ctx(label),
        lambda r, s, ctx: compare_search(r, s, ctx, lower_boundary=offset),
    )


def describe(reqs: list[Any]) -> str:
    """Requests for assertion messages."""
    return "; ".join(f"{r.anns_field} limit={r.limit} expr={r.expr!r} data={r.data}" for r in reqs)


@pytest.mark.parametrize("nq", [1, 3])
@pytest.mark.parametrize("k", [1, 60, 200])
@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_rrf(module_pair: Pair, hdata: list, metric: str, k: int, nq: int) -> None:
    """RRFRanker(k), dense + sparse, sub-limits 10 / 20, final limit 10."""
    rng = make_rng(module_pair.seed, f"hybrid-rrf-{metric}-{k}-{nq}")
    reqs = [dense_req(rng, metric, nq, 10), sparse_req(rng, nq, 20)]
    check(
        module_pair,
        f"hybrid RRFRanker({k}) {describe(reqs)}",
        lambda c: c.hybrid_search(NAME, reqs, RRFRanker(k), limit=10, output_fields=["s"]),
    )


@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_weighted(module_pair: Pair, hdata: list, metric: str, norm: bool) -> None:
    """WeightedRanker(w1, w2, norm_score=norm), dense + sparse, nq 2."""
    rng = make_rng(module_pair.seed, f"hybrid-weighted-{metric}-{norm}")
    for trial in range(3):
        w = [round(float(x), 3) for x in rng.uniform(0.05, 1.0, 2)]
        reqs = [dense_req(rng, metric, 2, 12), sparse_req(rng, 2, 12)]
        check(
            module_pair,
            f"hybrid #{trial} WeightedRanker({w}, norm_score={norm}) {describe(reqs)}",
            lambda c, w=w, reqs=reqs: c.hybrid_search(
                NAME, reqs, WeightedRanker(*w, norm_score=norm), limit=10, output_fields=["i32"]
            ),
        )


def test_three_requests_filter_offset(module_pair: Pair, hdata: list) -> None:
    """Three requests with per-request filters, hybrid offset, output fields, partitions."""
    rng = make_rng(module_pair.seed, "hybrid-three")
    fgen = FilterGen(rng, hdata)
    failures = []
    for trial in range(8):
        exprs = [fgen.expr() for _ in range(3)]
        reqs = [
            dense_req(rng, "L2", 2, 15, exprs[0]),
            dense_req(rng, "IP", 2, 15, exprs[1]),
            sparse_req(rng, 2, 15, exprs[2]),
        ]
        ranker = RRFRanker(30) if trial % 2 else WeightedRanker(0.5, 0.3, 0.9)
        kwargs: dict[str, Any] = {"limit": 8, "output_fields": ["*"] if trial % 3 else ["s", "i32"]}
        if trial % 4 == 1:
            kwargs["offset"] = 3
        if trial % 4 == 2:
            kwargs["partition_names"] = ["p1"]
        try:
            check(
                module_pair,
                f"hybrid #{trial} {ranker} {kwargs} {describe(reqs)}",
                lambda c, reqs=reqs, r=ranker, kw=kwargs: c.hybrid_search(NAME, reqs, r, **kw),
                offset="offset" in kwargs,
            )
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)
