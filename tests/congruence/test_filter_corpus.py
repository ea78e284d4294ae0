"""The filter corpus (``filter_cases.json``) run on milvus-lite 3.2.2 and on gpu_milvus.

One six-row fixture collection ``t`` per module, built on both engines (FLAT / L2 on ``vec``,
loaded). Every case is ``query("t", filter=expr, output_fields=["id"], filter_params=...)``:

* ``agrees == "same"``: both engines return the same sorted ids, or both raise
  ``MilvusException``; the reference must also still give the recorded result;
* ``agrees == "DIFF"``: gpu_milvus follows Milvus 2.6 (``milvus_2_6``: the expected ids, or an
  error for the error verdicts) and milvus-lite still shows its recorded divergence
  (``milvus_lite_3_2_2``), so a change on either side shows up here;
* ``agrees == "n/a"`` (random sampling, schema options) is left to the unit golden tests.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("milvus_lite")

from pymilvus import CollectionSchema, DataType, MilvusClient, MilvusException

from .compare import Outcome, capture, compare_errors, expect_both_ok
from .conftest import Pair

_HERE = Path(__file__).resolve()
_CANDIDATES = [  # the shared spec sits next to the repo, or inside it on a device checkout
    _HERE.parents[3] / "shared/spec/filter_cases.json",
    _HERE.parents[2] / "shared/spec/filter_cases.json",
]
CASES_PATH = next((p for p in _CANDIDATES if p.exists()), _CANDIDATES[0])
DATA: dict[str, Any] = (
    json.loads(CASES_PATH.read_text(encoding="utf-8"))
    if CASES_PATH.exists()
    else {"fixture": {}, "cases": []}
)
ERROR_VERDICTS = {"invalid", "needs schema option", "parses, fails at run time"}

pytestmark = [
    pytest.mark.reference,
    pytest.mark.skipif(not CASES_PATH.exists(), reason="filter_cases.json not found"),
]


def _params(agrees: str) -> list[Any]:
    return [
        pytest.param(case, id=f"case{case['n']}")
        for case in DATA["cases"]
        if case["agrees"] == agrees
    ]


def fixture_schema(fixture: dict[str, Any]) -> CollectionSchema:
    """The corpus schema (``fixture.fields``) as a pymilvus schema."""
    schema = MilvusClient.create_schema(enable_dynamic_field=fixture["enable_dynamic_field"])
    for f in fixture["fields"]:
        kwargs: dict[str, Any] = {}
        for key in ("dim", "max_length", "max_capacity", "nullable"):
            if key in f:
                kwargs[key] = f[key]
        if f.get("primary"):
            kwargs["is_primary"] = True
        if "element_type" in f:
            kwargs["element_type"] = DataType[f["element_type"]]
        schema.add_field(f["name"], DataType[f["type"]], **kwargs)
    return schema


@pytest.fixture(scope="module")
def corpus(module_pair: Pair) -> Pair:
    """The fixture collection on both sides of the module's client pair."""
    fixture = DATA["fixture"]
    name = fixture["collection"]
    module_pair.create(name, fixture_schema(fixture), [("vec", "FLAT", "L2")])
    res_ref, res_sub = module_pair.both(lambda c: c.insert(name, copy.deepcopy(fixture["rows"])))
    n = len(fixture["rows"])
    assert res_ref["insert_count"] == n and res_sub["insert_count"] == n
    return module_pair


def query_ids(client: Any, case: dict[str, Any]) -> list[int]:
    """The corpus query of one case: sorted ids."""
    kwargs: dict[str, Any] = {}
    if case["filter_params"] is not None:
        kwargs["filter_params"] = case["filter_params"]
    rows = client.query(
        DATA["fixture"]["collection"], filter=case["expr"], output_fields=["id"], **kwargs
    )
    return sorted(int(row["id"]) for row in rows)


def expect(outcome: Outcome, ids: list[int] | None, ctx: str) -> None:
    """``ids`` is None: ``outcome`` must be a ``MilvusException``; else exactly these ids."""
    if ids is None:
        assert isinstance(outcome.error, MilvusException), (
            f"{ctx}: expected MilvusException, {outcome.describe()}"
        )
        return
    assert outcome.ok, f"{ctx}: expected ids {ids}, {outcome.describe()}"
    assert outcome.value == ids, f"{ctx}: ids {outcome.value} != expected {ids}"


def milvus_2_6_ids(case: dict[str, Any]) -> list[int] | None:
    """Milvus 2.6's expected ids, or None for the error verdicts."""
    verdict = case["milvus_2_6"]["verdict"]
    if verdict in ERROR_VERDICTS:
        return None
    assert verdict == "valid", f"case {case['n']}: unexpected verdict {verdict!r}"
    return [int(i) for i in json.loads(case["milvus_2_6"]["expected"])]


def lite_ids(case: dict[str, Any]) -> list[int] | None:
    """milvus-lite 3.2.2's recorded ids, or None when it raised."""
    lite = case["milvus_lite_3_2_2"]
    if lite["status"] == "ERR":
        return None
    return [int(i) for i in json.loads(lite["result"])]


def describe(case: dict[str, Any]) -> str:
    return f"case {case['n']} {case['expr']!r} ({case['meaning']})"


@pytest.mark.parametrize("case", _params("same"))
def test_same(corpus: Pair, case: dict[str, Any]) -> None:
    """Both engines agree: identical sorted ids, or both raise ``MilvusException``."""
    ctx = corpus.ctx(describe(case))
    ref, sub = corpus.run(lambda c: query_ids(c, case))
    expect(ref, lite_ids(case), f"{ctx}: harness error, reference differs from its record")
    if not ref.ok:
        compare_errors(ref, sub, ctx)
        return
    expect_both_ok(ref, sub, ctx)
    assert sub.value == ref.value, f"{ctx}: subject ids {sub.value} != reference {ref.value}"


@pytest.mark.parametrize("case", _params("DIFF"))
def test_diff(corpus: Pair, case: dict[str, Any]) -> None:
    """A documented divergence: gpu_milvus follows Milvus 2.6, milvus-lite its own record."""
    ctx = corpus.ctx(describe(case))
    ref = capture(lambda: query_ids(corpus.ref, case))
    sub = capture(lambda: query_ids(corpus.sub, case))
    expect(ref, lite_ids(case), f"{ctx}: milvus-lite no longer shows the recorded divergence")
    want = lite_ids(case) if corpus.sub_side.is_lite else milvus_2_6_ids(case)
    expect(sub, want, f"{ctx}: subject ({corpus.sub_side.name}) vs Milvus 2.6")
