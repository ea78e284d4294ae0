"""TIMESTAMPTZ against milvus-lite: stored instants, ISO/INTERVAL filters, time_fields.

Compared as instants, not text: lite writes six fraction digits (``.250000Z``) where the
server (and gpu_milvus) trims them (``.25Z``). Kept out, where lite differs from the server:
naive text (lite refuses it; the server reads it in the collection's time zone), month and
year INTERVALs (lite refuses them), offsets beyond [-12, +14] (lite accepts them), and the
``timezone`` parameter (lite ignores it for outputs). tests/unit/test_timestamptz.py has those.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from pymilvus import DataType
from pymilvus.exceptions import DataNotMatchException, MilvusException

from .conftest import Pair

pytestmark = pytest.mark.reference

OFFSETS = ["Z", "+08:00", "-05:00", "+05:45", "-12:00", "+14:00"]


def _rows(rng: np.random.Generator, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        day = int(rng.integers(1, 28))
        hour, minute = int(rng.integers(0, 24)), int(rng.integers(0, 60))
        frac = ["", ".5", ".123456", ".25"][int(rng.integers(0, 4))]
        ts = f"2025-{int(rng.integers(1, 13)):02d}-{day:02d}T{hour:02d}:{minute:02d}:07{frac}"
        ts += OFFSETS[int(rng.integers(0, len(OFFSETS)))]
        rows.append({"id": i, "v": rng.random(2).tolist(), "ts": None if i % 7 == 3 else ts})
    return rows


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def loaded(pair: Pair) -> Pair:
    rows = _rows(np.random.default_rng(pair.seed), 60)
    for client in (pair.ref, pair.sub):
        s = client.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        s.add_field("ts", DataType.TIMESTAMPTZ, nullable=True)
        ip = client.prepare_index_params()
        ip.add_index("v", index_type="FLAT", metric_type="L2")
        client.create_collection("t", schema=s, index_params=ip)
        client.load_collection("t")
        client.insert("t", rows)
    return pair


def test_stored_instants(loaded: Pair) -> None:
    ref, sub = loaded.both(lambda c: c.query("t", "id >= 0", output_fields=["ts"]))
    want = {r["id"]: _instant(r["ts"]) for r in ref}
    assert {r["id"]: _instant(r["ts"]) for r in sub} == want, loaded.ctx("instants")
    assert all(t is None or t.utcoffset().total_seconds() == 0 for t in want.values())


@pytest.mark.parametrize(
    "expr",
    [
        "ts > ISO '2025-06-15T00:00:00Z'",
        "ts <= ISO '2025-06-15T08:00:00+08:00'",
        "ISO '2025-03-01T00:00:00-05:00' < ts",
        "ISO '2025-09-01T12:30:00+05:45' >= ts",
        "ts != ISO '2025-01-01T00:00:00Z'",
        "ts + INTERVAL 'P10D' > ISO '2025-07-01T00:00:00Z'",
        "ts - INTERVAL 'PT36H' < ISO '2025-04-01T00:00:00Z'",
        "ts + INTERVAL 'P2DT6H30M15S' >= ISO '2025-08-08T08:08:08Z'",
        "ts is null",
        "ts is not null and id < 30",
        "not (ts > ISO '2025-06-15T00:00:00Z') and id > 10",
    ],
)
def test_filters(loaded: Pair, expr: str) -> None:
    loaded.assert_same_ids("t", expr)


def test_time_fields(loaded: Pair) -> None:
    ref, sub = loaded.both(
        lambda c: c.query(
            "t", "id >= 0", output_fields=["ts"], time_fields="year, month, day, hour, minute"
        )
    )
    assert {r["id"]: r["ts"] for r in sub} == {r["id"]: r["ts"] for r in ref}


def test_search_with_a_time_filter(loaded: Pair) -> None:
    expr = "ts > ISO '2025-04-01T00:00:00+02:00'"
    ref, sub = loaded.both(
        lambda c: c.search("t", [[0.5, 0.5]], limit=8, filter=expr, output_fields=["ts"])
    )
    assert [h["id"] for h in sub[0]] == [h["id"] for h in ref[0]]
    assert [_instant(h["entity"]["ts"]) for h in sub[0]] == [
        _instant(h["entity"]["ts"]) for h in ref[0]
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [(12345, DataNotMatchException), ("garbage", MilvusException), ("2025-13-01T00:00:00Z", None)],
)
def test_bad_values_fail_on_both(loaded: Pair, value: object, kind: type | None) -> None:
    ref, sub = loaded.run(lambda c: c.insert("t", [{"id": 999, "v": [0.0, 0.0], "ts": value}]))
    assert not ref.ok and not sub.ok, loaded.ctx(f"insert {value!r}")
    if kind is DataNotMatchException:  # pymilvus's own check: the same exception and text
        assert type(sub.error) is type(ref.error) and str(sub.error) == str(ref.error)


@pytest.mark.parametrize("expr", ["ts > 5", "ts > '2025-01-01T00:00:00Z'", "ts in [1]"])
def test_plain_literals_are_refused_on_both(loaded: Pair, expr: str) -> None:
    ref, sub = loaded.run(lambda c: c.query("t", expr))
    assert not ref.ok and not sub.ok, loaded.ctx(expr)
