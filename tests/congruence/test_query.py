"""query() / get() with generated filters, output_fields, limit / offset, ids.

The collections are shared by the module and never mutated. Rows are inserted in one batch in
ascending pk order, so a limited query has a defined order (pk ascending: the server merges
segment results by pk, and the only segment is in pk order) and is compared in order.
Not compared (lite differs from the server): empty filter without limit, count(*) with limit,
offset without limit, limit + offset above 16384, repeated pks in ``ids=`` / ``pk in [...]``
(lite returns the row once per repetition), limit / offset on a bare ``pk in [...]`` filter (lite
ignores both and keeps the list order).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from .compare import compare_counts, compare_errors, compare_rows, compare_search
from .conftest import Pair, Side
from .gen import DIM, FilterGen, dense_vector, full_schema, gen_rows, make_pk, make_rng

pytestmark = pytest.mark.reference

N = 150
SPECS = [("vec", "FLAT", "L2"), ("sv", "SPARSE_INVERTED_INDEX", "IP")]
OUTPUTS: list[list[str] | None] = [
    None,
    ["id"],
    ["*"],
    ["s", "ni", "js", "dyn_s", "ai"],
    ["count(*)"],
    ["b", "i8", "i16", "i32", "i64", "f", "d", "dflt"],
    ["ns", "nd", "nb", "njs", "nai", "sa"],
]


@pytest.fixture(scope="module")
def qdata(module_pair: Pair) -> dict[str, list[dict[str, Any]]]:
    """Collections ``q_int`` and ``q_str`` (same data shape, INT64 / VARCHAR pk)."""
    out = {}
    for pk in ("int", "str"):
        rng = make_rng(module_pair.seed, f"query-{pk}")
        rows = gen_rows(rng, [make_pk(i, pk) for i in range(N)])
        name = f"q_{pk}"
        module_pair.create(name, full_schema(pk=pk), SPECS)
        module_pair.both(lambda c, n=name, r=rows: c.insert(n, [dict(x) for x in r]))
        out[pk] = rows
    return out


def run_checks(pair: Pair, checks: list[tuple[str, Callable[[Any], Any], str]]) -> None:
    """Run (label, op, kind) on both sides; collect every mismatch, then fail once."""
    failures: list[str] = []
    for label, op, kind in checks:
        ref, sub = pair.run(op)
        ctx = pair.ctx(label)
        try:
            if not ref.ok:
                compare_errors(ref, sub, ctx)
            elif not sub.ok:
                raise AssertionError(f"{ctx}: subject {sub.describe()}; reference ok")
            elif kind == "count":
                compare_counts(ref.value, sub.value, ctx)
            else:
                compare_rows(ref.value, sub.value, ctx, ordered=kind == "ordered")
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, f"{len(failures)} of {len(checks)} checks failed:\n" + "\n".join(
        failures[:15]
    )


@pytest.mark.parametrize("pk", ["int", "str"])
def test_generated_filters(module_pair: Pair, qdata: dict[str, Any], pk: str) -> None:
    """100 generated filters, output_fields rotating over OUTPUTS."""
    rng = make_rng(module_pair.seed, f"query-filters-{pk}")
    fgen = FilterGen(rng, qdata[pk])
    name = f"q_{pk}"
    checks = []
    for i in range(100):
        expr = fgen.expr()
        fields = OUTPUTS[i % len(OUTPUTS)]
        kind = "count" if fields == ["count(*)"] else "rows"
        checks.append(
            (
                f"#{i} query(filter={expr!r}, output_fields={fields})",
                lambda c, e=expr, f=fields: c.query(name, filter=e, output_fields=f),
                kind,
            )
        )
    run_checks(module_pair, checks)


def test_limit_offset(module_pair: Pair, qdata: dict[str, Any]) -> None:
    """Limited queries on pk-ordered data compare in order."""
    rng = make_rng(module_pair.seed, "query-limit")
    fgen = FilterGen(rng, qdata["int"])
    checks = []
    for i in range(30):
        expr = fgen.expr() if i % 5 else "id >= 0"
        while re.match(r"id (in|IN) \[", expr):  # lite: pk lookup ignores limit / offset
            expr = fgen.expr()
        limit = int(rng.choice([1, 3, 10, 50, 400]))
        offset = int(rng.choice([0, 0, 2, 15, 120]))
        fields = OUTPUTS[i % 4]
        checks.append(
            (
                f"#{i} query(filter={expr!r}, limit={limit}, offset={offset}, "
                f"output_fields={fields})",
                lambda c, e=expr, lim=limit, off=offset, f=fields: c.query(
                    "q_int", filter=e, limit=lim, offset=off, output_fields=f
                ),
                "ordered",
            )
        )
    for limit in (1, 25, N + 5):
        checks.append(
            (
                f"query(filter='', limit={limit})",
                lambda c, lim=limit: c.query("q_int", filter="", limit=lim, output_fields=["id"]),
                "ordered",
            )
        )
    run_checks(module_pair, checks)


@pytest.mark.parametrize("pk", ["int", "str"])
def test_ids_and_get(module_pair: Pair, qdata: dict[str, Any], pk: str) -> None:
    """query(ids=...) and get(ids=...) with present, missing and repeated ids."""
    rng = make_rng(module_pair.seed, f"query-ids-{pk}")
    name = f"q_{pk}"
    checks = []
    for i in range(12):
        # distinct ids: lite returns a row once per repetition, the server once
        draw = rng.choice(N + 20, int(rng.integers(1, 12)), replace=False).tolist()
        ids = [make_pk(int(x), pk) for x in draw]
        fields = OUTPUTS[i % 4]
        checks.append(
            (
                f"get(ids={ids}, output_fields={fields})",
                lambda c, ids=ids, f=fields: c.get(name, ids=ids, output_fields=f),
                "rows",
            )
        )
        checks.append(
            (
                f"query(ids={ids}, output_fields={fields})",
                lambda c, ids=ids, f=fields: c.query(name, ids=ids, output_fields=f),
                "rows",
            )
        )
    run_checks(module_pair, checks)


def test_dynamic_output(module_pair: Pair, qdata: dict[str, Any]) -> None:
    """Dynamic keys by name, ``$meta``, keys absent from some rows, filters on dynamic keys."""
    checks = []
    for fields in (["dyn_i"], ["dyn_s", "dyn_f"], ["$meta"], ["s", "$meta"], ["nope_key"]):
        for expr in ("id < 40", "dyn_i == 3", 'dyn_s == "apple"', "dyn_i in [1, 2] and id > 100"):
            checks.append(
                (
                    f"query(filter={expr!r}, output_fields={fields})",
                    lambda c, e=expr, f=fields: c.query("q_int", filter=e, output_fields=f),
                    "rows",
                )
            )
    run_checks(module_pair, checks)


@pytest.mark.parametrize("pk", ["int", "str"])
def test_query_iterator(
    module_pair: Pair,
    qdata: dict[str, Any],
    pk: str,
    request: pytest.FixtureRequest,
    subject_side: Side,
) -> None:
    """query_iterator (sync only): pages in pk order, concatenated, with filter and limit."""
    rng = make_rng(module_pair.seed, f"query-iterator-{pk}")
    fgen = FilterGen(rng, qdata[pk])
    checks = []
    for i in range(4):
        expr = fgen.expr() if i else ""
        limit = [-1, 25, -1, 60][i]

        def drain(c: Any, e: str = expr, lim: int = limit) -> list[dict[str, Any]]:
            it = c.query_iterator(
                f"q_{pk}", batch_size=9, limit=lim, filter=e, output_fields=["id", "s", "js"]
            )
            rows: list[dict[str, Any]] = []
            while page := it.next():
                rows += [dict(r) for r in page]
            it.close()
            return rows

        checks.append(
            (f"query_iterator(filter={expr!r}, limit={limit}, batch 9)", drain, "ordered")
        )
    run_checks(module_pair, checks)


def test_search_varchar_pk(module_pair: Pair, qdata: dict[str, Any]) -> None:
    """Searches on the VARCHAR-pk collection: string ids in hits, filters on the pk."""
    rng = make_rng(module_pair.seed, "query-varchar-search")
    fgen = FilterGen(rng, qdata["str"])
    for i, expr in enumerate(["", 'id > "k00100"', 'id in ["k00003", "k00077"]', fgen.expr()]):
        data = [dense_vector(rng, DIM) for _ in range(2)]
        ref, sub = module_pair.both(
            lambda c, e=expr, d=data: c.search(
                "q_str", data=d, anns_field="vec", filter=e, limit=7, output_fields=["s", "id"]
            )
        )
        compare_search(ref, sub, module_pair.ctx(f"#{i} search q_str filter={expr!r} data={data}"))
