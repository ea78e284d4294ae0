"""GEOMETRY values: WKT in, the server's WKT out, and the st_* filter predicates (shapely/GEOS).

The proxy parses WKT with go-geom and stores WKB; reads write WKT back with go-geom's
encoder (``POINT (1 2)``: a space after the type, ``", "`` between coordinates, each number
in its shortest exact decimal form, never an exponent). Here a value is kept as that
canonical text. Predicates follow segcore's ``GISFunctionFilterExpr``: ``stored.op(literal)``
with GEOS's predicates; ``st_dwithin`` is metres: haversine between points (x = longitude,
y = latitude, R = 6371000), else GEOS's planar distance in degrees scaled at the query
point's latitude (111320 m per degree of latitude).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from gpu_milvus import errors
from gpu_milvus.chunk_cache import ChunkCache

EARTH_RADIUS_M = 6371000.0
METERS_PER_DEGREE_LAT = 111320.0
PREDICATES = frozenset(
    {"st_equals", "st_touches", "st_overlaps", "st_crosses", "st_contains", "st_intersects"}
    | {"st_within"}
)
_NAMES = {
    0: "POINT",
    1: "LINESTRING",
    2: "LINESTRING",  # a LinearRing is written as a line
    3: "POLYGON",
    4: "MULTIPOINT",
    5: "MULTILINESTRING",
    6: "MULTIPOLYGON",
    7: "GEOMETRYCOLLECTION",
}
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_PLAIN_POINT = re.compile(rf"\s*POINT\s*\(\s*{_NUM}\s+{_NUM}\s*\)\s*", re.IGNORECASE)


def _number(x: float) -> str:
    """Go's ``strconv.FormatFloat(x, 'f', -1, 64)``: the shortest exact decimal, no exponent."""
    return str(np.format_float_positional(x, trim="-"))


def _coords(g: Any, z: bool, m: bool) -> str:
    rows = shapely.get_coordinates(g, include_z=z, include_m=m)
    return ", ".join(" ".join(_number(v) for v in row) for row in rows.tolist())


def _body(g: Any, z: bool, m: bool) -> str:
    kind = shapely.get_type_id(g)
    if kind in (0, 1, 2):
        return f"({_coords(g, z, m)})"
    if kind == 3:
        rings = [g.exterior, *g.interiors]
        return "(" + ", ".join(f"({_coords(r, z, m)})" for r in rings) + ")"
    if kind == 7:
        return "(" + ", ".join(to_wkt(part) for part in g.geoms) + ")"
    return "(" + ", ".join(_body(part, z, m) for part in g.geoms) + ")"


def to_wkt(g: Any) -> str:
    """go-geom's WKT of a geometry."""
    z, m = bool(shapely.has_z(g)), bool(shapely.has_m(g))
    dims = " ZM" if z and m else " Z" if z else " M" if m else ""
    name = _NAMES[int(shapely.get_type_id(g))] + dims
    return f"{name} EMPTY" if g.is_empty else f"{name} {_body(g, z, m)}"


def parse(text: str) -> Any:
    """A geometry from WKT; ValueError with GEOS's reason when it is not one."""
    try:
        with np.errstate(over="ignore"):
            g = shapely.from_wkt(text)
    except (shapely.errors.GEOSException, TypeError) as e:
        raise ValueError(str(e)) from None
    if g is None:
        raise ValueError("empty input")
    return g


def normalize(text: Any) -> str:
    """An inserted value as stored: its canonical WKT, or the proxy's error."""
    try:
        if not isinstance(text, str):
            raise ValueError(f"not a WKT string: {type(text).__name__}")
        point = _PLAIN_POINT.fullmatch(text)  # the common case, without GEOS
        if point is not None:
            x, y = float(point[1]), float(point[2])
            if math.isfinite(x) and math.isfinite(y):
                return f"POINT ({_number(x)} {_number(y)})"
        g = parse(text)
        if not np.isfinite(shapely.get_coordinates(g, include_z=bool(shapely.has_z(g)))).all():
            raise ValueError("a coordinate is out of range")
        return to_wkt(g)
    except ValueError as e:
        raise errors.invalid(
            f"invalid Geometry data, transform to wkb failed: {e}: invalid parameter"
        ) from None


@lru_cache(maxsize=256)
def literal(text: str) -> Any:
    """A filter's WKT literal, parsed and prepared once."""
    g = parse(text)
    shapely.prepare(g)
    return g


class _Chunk:
    """One Arrow chunk's geometries (None for nulls), and its points' coordinates. A chunk
    of stored points only is read from its text without parsing WKT; its GEOS points are
    made only for the predicates that need them."""

    def __init__(self, chunk: pa.Array) -> None:
        self.valid = np.asarray(chunk.is_valid(), dtype=bool)
        xy = _point_coordinates(chunk)
        self.all_points = xy is not None
        self._geoms: np.ndarray | None = None
        if xy is not None:
            self.x, self.y = xy
            self.points = self.valid.copy()
            return
        self._geoms = shapely.from_wkt(np.array(chunk.to_pylist(), dtype=object))
        kind = shapely.get_type_id(self._geoms)
        self.points = (kind == 0) & ~shapely.is_empty(self._geoms)
        self.x = shapely.get_x(np.where(self.points, self._geoms, None))
        self.y = shapely.get_y(np.where(self.points, self._geoms, None))

    @property
    def geoms(self) -> np.ndarray:
        if self._geoms is None:
            self._geoms = np.where(self.valid, shapely.points(self.x, self.y), None)
        return self._geoms


def _point_coordinates(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """x and y of a chunk whose values are all stored 2-D points (nulls read as 0), else None."""
    text = pc.fill_null(chunk, "POINT (0 0)")
    if not pc.all(pc.match_substring_regex(text, r"^POINT \([^ ()]+ [^ ()]+\)$")).as_py():
        return None
    inner = pc.utf8_slice_codeunits(text, 7, -1)  # between "POINT (" and ")"
    parts = pc.split_pattern(inner, " ")
    flat = pc.list_flatten(parts).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return flat[0::2], flat[1::2]


_cache: ChunkCache[_Chunk] = ChunkCache(max_rows=5_000_000)  # GEOS objects: ~1 GB at most


def _chunk(chunk: pa.Array) -> _Chunk:
    return _cache.get(chunk, None, _Chunk)


def _relate(c: _Chunk, op: str, lit: Any) -> np.ndarray:
    """``stored.op(literal)`` per row, with the prepared literal first where GEOS allows."""
    if c.all_points and op == "st_within":  # a point within L == L contains the point
        return np.asarray(shapely.contains_xy(lit, c.x, c.y))
    if c.all_points and op == "st_intersects":
        return np.asarray(shapely.intersects_xy(lit, c.x, c.y))
    geoms = c.geoms
    if op == "st_within":  # g within L == L contains g
        return np.asarray(shapely.contains(lit, geoms))
    if op == "st_contains":  # g contains L == L within g
        return np.asarray(shapely.within(lit, geoms))
    if op == "st_crosses":
        return np.asarray(shapely.crosses(geoms, lit))
    symmetric = {
        "st_equals": shapely.equals,
        "st_touches": shapely.touches,
        "st_overlaps": shapely.overlaps,
        "st_intersects": shapely.intersects,
    }
    return np.asarray(symmetric[op](lit, geoms))


def _haversine(lat1: Any, lon1: Any, lat2: float, lon2: float) -> Any:
    p1, p2 = np.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def _dwithin(c: _Chunk, point: Any, meters: float) -> np.ndarray:
    qx, qy = float(point.x), float(point.y)
    out = np.zeros(len(c.geoms), dtype=bool)
    pts = c.points
    with np.errstate(invalid="ignore"):
        out[pts] = _haversine(c.y[pts], c.x[pts], qy, qx) <= meters
    rest = c.valid & ~pts
    if rest.any():
        lat = math.radians(qy)
        per_degree = METERS_PER_DEGREE_LAT * math.sqrt((1 + math.cos(lat) ** 2) / 2)
        out[rest] = shapely.distance(c.geoms[rest], point) * per_degree <= meters
    return out


def evaluate(column: pa.ChunkedArray, op: str, wkt: str, distance: float | None) -> np.ndarray:
    """One bool per row (False for null rows) for ``op(column, wkt[, distance])``."""
    lit = literal(wkt)
    parts = []
    for chunk in column.chunks:
        c = _chunk(chunk)
        hit = _dwithin(c, lit, float(distance or 0)) if op == "st_dwithin" else _relate(c, op, lit)
        parts.append(hit & c.valid)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
