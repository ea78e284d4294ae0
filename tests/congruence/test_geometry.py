"""GEOMETRY against milvus-lite: stored shapes and the spatial predicates lite shares.

milvus-lite 3.2.2 stores POINT and POLYGON only, returns the inserted text verbatim (the
server, and gpu_milvus, write go-geom's WKT: ``POINT (1 2)``), knows ST_CONTAINS,
ST_WITHIN and ST_INTERSECTS, and measures ST_DWITHIN in plane units where the server uses
metres. So outputs are compared as shapes, and st_dwithin, the other predicates and other
shapes stay in tests/unit/test_geometry.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pymilvus import DataType

from .conftest import Pair

pytestmark = pytest.mark.reference


def _shapes(rng: np.random.Generator, n: int) -> list[str | None]:
    out: list[str | None] = []
    for i in range(n):
        x, y = (round(float(v), 3) for v in rng.uniform(-20, 20, 2))
        if i % 9 == 4:
            out.append(None)
        elif i % 3 == 0:
            w, h = (round(float(v), 3) for v in rng.uniform(0.5, 8, 2))
            out.append(f"POLYGON(({x} {y}, {x + w} {y}, {x + w} {y + h}, {x} {y + h}, {x} {y}))")
        else:
            out.append(f"POINT({x} {y})")
    return out


@pytest.fixture
def loaded(pair: Pair) -> Pair:
    shapes = _shapes(np.random.default_rng(pair.seed), 90)
    rows = [{"id": i, "v": [float(i), 1.0], "g": g} for i, g in enumerate(shapes)]
    for client in (pair.ref, pair.sub):
        s = client.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        s.add_field("g", DataType.GEOMETRY, nullable=True)
        ip = client.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        client.create_collection("t", schema=s, index_params=ip)
        client.load_collection("t")
        client.insert("t", rows)
    return pair


def _same_shape(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(shapely.from_wkt(a).equals_exact(shapely.from_wkt(b), 0.0))


def test_stored_shapes(loaded: Pair) -> None:
    ref, sub = loaded.both(lambda c: c.query("t", "id >= 0", output_fields=["g"]))
    want = {r["id"]: r["g"] for r in ref}
    got = {r["id"]: r["g"] for r in sub}
    assert want.keys() == got.keys()
    assert all(_same_shape(want[k], got[k]) for k in want), loaded.ctx("shapes")


@pytest.mark.parametrize(
    "expr",
    [
        "ST_WITHIN(g, 'POLYGON((-10 -10, 10 -10, 10 10, -10 10, -10 -10))')",
        "st_within(g, 'POLYGON((0 0, 20 0, 20 20, 0 20, 0 0))')",
        "ST_INTERSECTS(g, 'POLYGON((-5 -5, 5 -5, 5 5, -5 5, -5 -5))')",
        "st_intersects(g, 'POINT(1 1)')",
        "ST_CONTAINS(g, 'POINT(0 0)')",
        "st_contains(g, 'POLYGON((1 1, 2 1, 2 2, 1 2, 1 1))')",
        "g is null",
        # not on a null row: lite says true, the server's three-valued logic unknown
        "not ST_WITHIN(g, 'POLYGON((-10 -10, 10 -10, 10 10, -10 10, -10 -10))') and g is not null",
    ],
)
def test_predicates(loaded: Pair, expr: str) -> None:
    loaded.assert_same_ids("t", expr)


def test_search_with_a_spatial_filter(loaded: Pair) -> None:
    expr = "ST_INTERSECTS(g, 'POLYGON((-15 -15, 15 -15, 15 15, -15 15, -15 -15))')"
    ref, sub = loaded.both(lambda c: c.search("t", [[30.3, 1.0]], limit=10, filter=expr))
    assert [h["id"] for h in sub[0]] == [h["id"] for h in ref[0]], loaded.ctx(expr)


@pytest.mark.parametrize("bad", ["garbage", "POINT(1)", 12])
def test_bad_values_fail_on_both(loaded: Pair, bad: object) -> None:
    ref, sub = loaded.run(lambda c: c.insert("t", [{"id": 999, "v": [0.0, 0.0], "g": bad}]))
    assert not ref.ok and not sub.ok, loaded.ctx(f"insert {bad!r}")
    if not isinstance(bad, str):  # pymilvus's own check: the same text on both
        assert str(sub.error) == str(ref.error)
