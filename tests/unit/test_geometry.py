"""GEOMETRY: the server's WKT text, the st_* predicates and st_dwithin's metres.

References: go-geom's WKT encoder rules (the proxy writes results with it) checked against
fixed texts and against shapely's own WKT reader, shapely's per-object predicates
(``stored.op(literal)``, as segcore calls GEOS), and great-circle distances computed here
with the spherical law of cosines (not the haversine form the module uses).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pymilvus import DataType
from pymilvus.exceptions import DataNotMatchException, MilvusException

from gpu_milvus import MilvusClient, geometry


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("POINT(1 2)", "POINT (1 2)"),
        ("point ( -3.50 1e1 )", "POINT (-3.5 10)"),
        ("POINT(13.399710 52.518010)", "POINT (13.39971 52.51801)"),
        ("POINT(1e21 1e-7)", "POINT (1000000000000000000000 0.0000001)"),
        ("POINT(0.1 0.30000000000000004)", "POINT (0.1 0.30000000000000004)"),
        ("POINT Z (1 2 3)", "POINT Z (1 2 3)"),
        ("POINT EMPTY", "POINT EMPTY"),
        ("LINESTRING(0 0,10 10)", "LINESTRING (0 0, 10 10)"),
        (
            "POLYGON((0 0,4 0,4 4,0 4,0 0),(1 1,2 1,2 2,1 1))",
            "POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 1))",
        ),
        ("MULTIPOINT(1 1, 2 2)", "MULTIPOINT ((1 1), (2 2))"),
        ("MULTIPOLYGON(((0 0,1 0,1 1,0 0)))", "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)))"),
        (
            "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))",
            "GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1))",
        ),
    ],
)
def test_text_is_go_geoms(text: str, want: str) -> None:
    assert geometry.normalize(text) == want


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=300, deadline=None)
@given(finite, finite)
def test_points_keep_every_bit(x: float, y: float) -> None:
    """The fast path and the GEOS path agree, and the text reads back as the same doubles."""
    text = geometry.normalize(f"POINT({x!r} {y!r})")
    assert text == geometry.to_wkt(shapely.Point(x, y))
    assert "e" not in text.lower().replace("point", "")
    back = shapely.from_wkt(text)
    assert (back.x, back.y) == (x, y) or (back.x == x == 0 and back.y == y == 0)


@pytest.mark.parametrize(
    "text",
    ["garbage", "POINT(1)", "POLYGON((0 0, 1 0, 1 1))", "POINT(1e400 2)", "", "POINT(1 2) x"],
)
def test_bad_wkt(text: str) -> None:
    with pytest.raises(MilvusException, match="invalid Geometry data, transform to wkb failed"):
        geometry.normalize(text)


STORED = [
    "POINT (1 2)",
    "POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0))",
    "LINESTRING (0 0, 10 10)",
    None,
    "POINT (3.5 10)",
    "MULTIPOINT ((1 1), (2 2))",
    "POINT EMPTY",
    "POLYGON ((2 2, 6 2, 6 6, 2 6, 2 2))",
]
LITERALS = [
    "POLYGON((0 0, 5 0, 5 5, 0 5, 0 0))",
    "POINT(2 2)",
    "POINT(1 1)",
    "LINESTRING(0 5, 5 0)",
    "POLYGON((2 2, 6 2, 6 6, 2 6, 2 2))",
    "POINT(0 0)",
]
METHODS = {
    "st_equals": "equals",
    "st_touches": "touches",
    "st_overlaps": "overlaps",
    "st_crosses": "crosses",
    "st_contains": "contains",
    "st_intersects": "intersects",
    "st_within": "within",
}


@pytest.mark.parametrize("op", sorted(METHODS))
@pytest.mark.parametrize("wkt", LITERALS)
def test_predicates_are_stored_op_literal(op: str, wkt: str) -> None:
    column = pa.chunked_array([pa.array(STORED[:4]), pa.array(STORED[4:])])
    got = geometry.evaluate(column, op, wkt, None)
    lit = shapely.from_wkt(wkt)
    want = [
        False if s is None else bool(getattr(shapely.from_wkt(s), METHODS[op])(lit)) for s in STORED
    ]
    assert got.tolist() == want


def _great_circle(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return geometry.EARTH_RADIUS_M * math.acos(max(-1.0, min(1.0, c)))


def test_dwithin_is_metres_on_the_sphere_for_points() -> None:
    berlin, paris = (13.4050, 52.5200), (2.3522, 48.8566)
    d = _great_circle(*berlin, *paris)  # about 877 km
    column = pa.chunked_array([pa.array([f"POINT ({paris[0]} {paris[1]})", None])])
    wkt = f"POINT({berlin[0]} {berlin[1]})"
    assert geometry.evaluate(column, "st_dwithin", wkt, d + 1).tolist() == [True, False]
    assert geometry.evaluate(column, "st_dwithin", wkt, d - 1).tolist() == [False, False]


def test_dwithin_scales_planar_degrees_for_other_shapes() -> None:
    """A line 1 degree east of the query point, at latitude 60: segcore's approximation."""
    column = pa.chunked_array([pa.array(["LINESTRING (11 59, 11 61)"])])
    per_degree = 111320.0 * math.sqrt((1 + math.cos(math.radians(60)) ** 2) / 2)
    hits = [
        geometry.evaluate(column, "st_dwithin", "POINT(10 60)", per_degree * f)[0]
        for f in (0.999, 1.001)
    ]
    assert hits == [False, True]


# ---------------------------------------------------------------- through the client


@pytest.fixture
def client(tmp_path: Path) -> Any:
    c = MilvusClient(str(tmp_path / "geo.db"))
    yield c
    c.close()


def _create(client: MilvusClient, **field: Any) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("g", DataType.GEOMETRY, nullable=True, **field)
    ip = client.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    ip.add_index("g", index_type="RTREE")
    client.create_collection("c", schema=s, index_params=ip)


def _rows() -> list[dict[str, Any]]:
    return [
        {"id": i, "v": [float(i), 0.0], "g": "POINT(1  2)" if s == "POINT (1 2)" else s}
        for i, s in enumerate(STORED)
    ]


def _ids(client: MilvusClient, expr: str, **kw: Any) -> list[int]:
    return sorted(r["id"] for r in client.query("c", expr, **kw))


def test_client_round_trip_and_filters(client: MilvusClient) -> None:
    _create(client)
    client.insert("c", _rows())
    got = {r["id"]: r["g"] for r in client.query("c", "id >= 0", output_fields=["g"])}
    assert got == dict(enumerate(STORED))
    square = "POLYGON((0 0, 5 0, 5 5, 0 5, 0 0))"
    lit = shapely.from_wkt(square)
    within = [i for i, s in enumerate(STORED) if s and shapely.from_wkt(s).within(lit)]
    assert within == [0, 1, 5]
    assert _ids(client, f"ST_WITHIN(g, '{square}')") == within
    assert _ids(client, f"not st_within(g, '{square}')") == sorted(
        i for i, s in enumerate(STORED) if s is not None and i not in within
    )  # a null row is neither
    assert _ids(client, "st_within(g, {p})", filter_params={"p": square}) == within
    assert _ids(client, "g is null") == [3]
    # from (0, 0): POINT (1 2) is 249 km (haversine); the square and the line touch it; the
    # multipoint is 1.41 degrees (157 km), the far square 2.83 degrees (315 km); POINT (3.5 10)
    # is 1,180 km away, and an empty point has no distance
    assert _ids(client, "st_dwithin(g, 'POINT(0 0)', 300000)") == [0, 1, 2, 5]
    assert _ids(client, "st_dwithin(g, 'POINT(0 0)', 320000)") == [0, 1, 2, 5, 7]
    hits = client.search(
        "c", [[0.0, 0.0]], limit=3, filter=f"st_intersects(g, '{square}')", output_fields=["g"]
    )
    assert [h["entity"]["g"] for h in hits[0]] == [STORED[0], STORED[1], STORED[2]]
    client.delete("c", filter="st_equals(g, 'POINT(1 2)')")
    assert 0 not in _ids(client, "id >= 0")


@pytest.mark.parametrize(
    ("expr", "params", "message"),
    [
        ("st_within(g, 'garbage')", None, "invalid WKT string: garbage"),
        ("st_within(id, 'POINT(0 0)')", None, "spatial operation are only supported on geometry"),
        ("st_dwithin(id, 'POINT(0 0)', 1)", None, "ST_DWITHIN operation are only supported"),
        ("st_dwithin(g, 'POLYGON((0 0,1 0,1 1,0 0))', 1)", None, "only supports POINT geometry"),
        ("st_dwithin(g, 'POINT(0 0)', -1)", None, "distance parameter must be non-negative"),
        ("st_dwithin(g, 'POINT(0 0)', 'x')", None, "must be a numeric value"),
        ("st_dwithin(g, 'POINT(0 0)', id)", None, "must be a constant numeric value"),
        ("g == 'POINT(1 2)'", None, "comparisons between Geometry and VarChar are not supported"),
        ("st_within(g, {p})", {"p": 3}, "the value of GIS WKT template variable {p} is not string"),
    ],
)
def test_filter_errors(
    client: MilvusClient, expr: str, params: dict[str, Any] | None, message: str
) -> None:
    _create(client)
    with pytest.raises(MilvusException, match=message.replace("(", r"\(").replace(")", r"\)")):
        client.query("c", expr, filter_params=params)


def test_bad_values_default_index_and_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "geo.db")
    client = MilvusClient(path)
    _create(client, default_value="point(10 20)")
    field = client.describe_collection("c")["fields"][2]
    assert field["default_value"].string_data == "POINT (10 20)"
    with pytest.raises(DataNotMatchException, match=r"\{g\} field should be a geometry"):
        client.insert("c", [{"id": 1, "v": [0.0, 0.0], "g": 12}])
    with pytest.raises(MilvusException, match="transform to wkb failed"):
        client.insert("c", [{"id": 1, "v": [0.0, 0.0], "g": "POINT(1)"}])
    client.insert("c", [{"id": 1, "v": [0.0, 0.0]}, {"id": 2, "v": [1.0, 0.0], "g": "POINT(0 0)"}])
    client.flush("c")
    client.insert("c", [{"id": 3, "v": [0.0, 0.0], "g": "LINESTRING(0 0, 1 1)"}])
    for kind, message in [("STL_SORT", "are not supported on Geometry"), ("INVERTED", "Geometry")]:
        ip = client.prepare_index_params()
        ip.add_index("g", index_type=kind, index_name="x")
        with pytest.raises(MilvusException, match=message):
            client.create_index("c", ip)
    ip = client.prepare_index_params()
    ip.add_index("id", index_type="RTREE", index_name="y")
    with pytest.raises(MilvusException, match="RTREE index can only be built on geometry field"):
        client.create_index("c", ip)
    client.close()
    client = MilvusClient(path)
    got = {r["id"]: r["g"] for r in client.query("c", "id > 0", output_fields=["g"])}
    assert got == {1: "POINT (10 20)", 2: "POINT (0 0)", 3: "LINESTRING (0 0, 1 1)"}
    assert _ids(client, "st_intersects(g, 'POINT(0.5 0.5)')") == [3]
    client.close()


def test_cached_chunks_follow_new_data(client: MilvusClient) -> None:
    """Parsed chunks are cached; rows written later are still seen."""
    _create(client)
    client.insert("c", [{"id": 1, "v": [0.0, 0.0], "g": "POINT(1 1)"}])
    assert _ids(client, "st_dwithin(g, 'POINT(1 1)', 1)") == [1]
    client.insert("c", [{"id": 2, "v": [0.0, 0.0], "g": "POINT(1 1)"}])
    client.upsert("c", [{"id": 1, "v": [0.0, 0.0], "g": "POINT(50 50)"}])
    assert _ids(client, "st_dwithin(g, 'POINT(1 1)', 1)") == [2]
    assert np.array_equal(geometry.literal("POINT(1 1)").coords, [(1.0, 1.0)])


def test_error_text_keeps_spaces_inside_strings(client: MilvusClient) -> None:
    """ANTLR's GetText joins tokens: whitespace between them goes, a literal keeps its own."""
    _create(client)
    with pytest.raises(MilvusException) as info:
        client.query("c", "st_within( id , 'POINT(0 0)' )")
    assert "got: st_within(id,'POINT(0 0)')" in info.value.message


POINTS = ["POINT (0 0)", "POINT (10 5)", None, "POINT (5 5)", "POINT (-1 -1)", "POINT (2.5 10)"]


@pytest.mark.parametrize("op", sorted(METHODS))
@pytest.mark.parametrize("wkt", LITERALS)
def test_point_only_chunks_read_without_wkt_parsing(op: str, wkt: str) -> None:
    """A chunk of stored points is read from its text (and st_within / st_intersects use
    the x-y forms); boundary points and nulls must come out as GEOS's own predicates."""
    wkt = wkt.replace("5 0, 5 5, 0 5", "10 0, 10 10, 0 10")  # points on this boundary
    column = pa.chunked_array([pa.array(POINTS)])
    got = geometry.evaluate(column, op, wkt, None)
    lit = shapely.from_wkt(wkt)
    want = [
        False if s is None else bool(getattr(shapely.from_wkt(s), METHODS[op])(lit)) for s in POINTS
    ]
    assert got.tolist() == want
    assert geometry._chunk(column.chunks[0]).all_points
