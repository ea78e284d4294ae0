"""TIMESTAMPTZ: text <-> UTC microseconds, INTERVAL arithmetic, and the field through the client.

References: Python's ``datetime.fromisoformat`` and ``zoneinfo`` for the instants, a
``calendar.timegm`` model of segcore's interval arithmetic (fields moved in UTC, then
normalised as C's timegm does), and the server's rules from Milvus's source
(``pkg/util/timestamptz``, ``parser_visitor.go``, the proxy's result conversion).
"""

from __future__ import annotations

import asyncio
import calendar
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymilvus import AnnSearchRequest, DataType, RRFRanker
from pymilvus.exceptions import DataNotMatchException, MilvusException

from gpu_milvus import MilvusClient, timestamptz

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _ref_micros(text: str, zone: str = "UTC") -> int:
    """The instant by Python's own ISO parser (a naive text read in ``zone``)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("2025-01-01T00:00:00Z", "UTC"),
        ("2025-05-01T23:59:59+08:00", "UTC"),
        ("2025-05-01T23:59:59-03:30", "Asia/Tokyo"),
        ("2025-01-02T08:30:00.25+08:00", "UTC"),
        ("2025-01-02T08:30:00.123456Z", "UTC"),
        ("2024-12-31 22:00:00Z", "UTC"),
        ("2024-12-31 22:00:00+05:45", "UTC"),
        ("2024-02-29T12:00:00", "Asia/Shanghai"),  # naive: the default zone
        ("2024-07-01 12:00:00.5", "America/New_York"),  # naive, in summer time
        ("1969-12-31T23:59:59.999999Z", "UTC"),
    ],
)
def test_parse_gives_the_instant(text: str, zone: str) -> None:
    assert timestamptz.parse(text, zone) == _ref_micros(text, zone)


def test_parse_short_offset_after_a_space() -> None:  # Go's "2006-01-02 15:04:05Z07"
    assert timestamptz.parse("2025-03-01 12:00:00+08") == _ref_micros("2025-03-01T04:00:00Z")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage", "invalid timestamp string: 'garbage'. Does not match any known format"),
        ("2025-13-01T00:00:00Z", "Does not match any known format"),
        ("2025-02-30T00:00:00Z", "Does not match any known format"),
        ("2025-01-01T24:00:00Z", "Does not match any known format"),
        ("2025-01-01", "Does not match any known format"),  # a date alone is not accepted
        ("2025-01-01T00:00:00+15:00", "UTC offset hour 15 is out of the valid range [-12, 14]"),
        ("2025-01-01T00:00:00-13:00", "UTC offset hour -13 is out of the valid range [-12, 14]"),
    ],
)
def test_parse_rejects_what_the_server_rejects(text: str, message: str) -> None:
    with pytest.raises(MilvusException, match=message.replace("[", r"\[").replace("]", r"\]")):
        timestamptz.parse(text)


def test_text_is_go_rfc3339nano_in_the_zone() -> None:
    us = _ref_micros("2025-03-20T10:30:00.123Z")
    assert timestamptz.to_text([us], "UTC") == ["2025-03-20T10:30:00.123Z"]
    assert timestamptz.to_text([us], "Asia/Kolkata") == ["2025-03-20T16:00:00.123+05:30"]
    assert timestamptz.to_text([us], "America/New_York") == ["2025-03-20T06:30:00.123-04:00"]
    assert timestamptz.to_text([_ref_micros("2025-01-01T00:00:00Z"), None], "UTC") == [
        "2025-01-01T00:00:00Z",
        None,
    ]
    assert timestamptz.to_text([-1], "UTC") == ["1969-12-31T23:59:59.999999Z"]
    # Go prints "Z" for any zero offset, Europe/London in winter included
    assert timestamptz.to_text([us - 60 * 86400 * 10**6], "Europe/London")[0].endswith("Z")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("P1Y2M3DT4H5M6S", (1, 2, 3, 4, 5, 6)),
        ("P3Y6M4D", (3, 6, 4, 0, 0, 0)),
        ("PT10H30M15S", (0, 0, 0, 10, 30, 15)),
        ("P2M", (0, 2, 0, 0, 0, 0)),
        ("PT2M", (0, 0, 0, 0, 2, 0)),
        ("P0D", (0,) * 6),
        ("P", (0,) * 6),
        ("PT", (0,) * 6),
    ],
)
def test_interval_fields(text: str, want: tuple[int, ...]) -> None:
    assert tuple(timestamptz.parse_interval(text)) == want


@pytest.mark.parametrize("text", ["1D", "P1H", "P1W", "PT1.5S", "", "-P1D", "p1d"])
def test_interval_rejections(text: str) -> None:
    with pytest.raises(MilvusException, match="invalid ISO 8601 duration"):
        timestamptz.parse_interval(text)


def _timegm_model(us: int, iv: timestamptz.Interval, sign: int) -> int:
    secs, sub = divmod(us, 1_000_000)
    t = datetime.fromtimestamp(secs, timezone.utc)
    year = t.year + sign * iv.years
    month0 = t.month - 1 + sign * iv.months
    year, month0 = year + month0 // 12, month0 % 12
    new = calendar.timegm(
        (
            year,
            month0 + 1,
            t.day + sign * iv.days,
            t.hour + sign * iv.hours,
            t.minute + sign * iv.minutes,
            t.second + sign * iv.seconds,
        )
    )
    return new * 1_000_000 + sub


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-(2**52), 2**52),
    st.tuples(*(st.integers(0, 40) for _ in range(6))),
    st.sampled_from([1, -1]),
)
def test_shift_is_segcore_timegm_arithmetic(us: int, fields: tuple[int, ...], sign: int) -> None:
    iv = timestamptz.Interval(*fields)
    got = timestamptz.shift(np.array([us]), iv, sign)
    assert int(got[0]) == _timegm_model(us, iv, sign)


def test_month_end_overflows_like_timegm() -> None:
    jan31 = np.array([_ref_micros("2025-01-31T10:00:00.5Z"), _ref_micros("2024-01-31T00:00:00Z")])
    got = timestamptz.shift(jan31, timestamptz.parse_interval("P1M"), 1)
    assert timestamptz.to_text(got.tolist(), "UTC") == [
        "2025-03-03T10:00:00.5Z",
        "2024-03-02T00:00:00Z",
    ]


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("year, month, day", ("year", "month", "day")),
        ("YEAR,Hour microsecond", ("year", "hour", "microsecond")),
    ],
)
def test_time_fields_split_at_commas_and_spaces(spec: str, want: tuple[str, ...]) -> None:
    assert timestamptz.parse_time_fields(spec) == want


def test_time_fields_unknown_name() -> None:
    with pytest.raises(MilvusException, match="unsupported field for extraction: week"):
        timestamptz.parse_time_fields("year, week")


# ---------------------------------------------------------------- through the client


@pytest.fixture
def client(tmp_path: Path) -> Any:
    c = MilvusClient(str(tmp_path / "tz.db"))
    yield c
    c.close()


ROWS = [
    {"id": 1, "v": [0.0, 0.0], "ts": "2025-01-01T00:00:00Z"},
    {"id": 2, "v": [1.0, 0.0], "ts": "2025-01-02 08:30:00"},  # naive: the collection's zone
    {"id": 3, "v": [1.0, 1.0]},  # the default
    {"id": 4, "v": [2.0, 1.0], "ts": "2025-01-31T12:00:00.25-05:00"},
    {"id": 5, "v": [3.0, 1.0], "ts": None},  # None with a default: the default
]


def _create(client: MilvusClient, name: str = "c", **kw: Any) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("ts", DataType.TIMESTAMPTZ, nullable=True, default_value="2025-06-01 00:00:00")
    s.add_field("tn", DataType.TIMESTAMPTZ, nullable=True)
    ip = client.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    ip.add_index("ts", index_type="STL_SORT")
    client.create_collection(name, schema=s, index_params=ip, **kw)


def _ts(rows: list[dict[str, Any]], key: str = "ts") -> dict[int, Any]:
    return {r["id"]: r[key] for r in rows}


def test_values_are_instants_shown_in_the_readers_zone(client: MilvusClient) -> None:
    _create(client, properties={"timezone": "Asia/Shanghai"})
    client.insert("c", ROWS)
    shanghai = _ts(client.query("c", "id > 0", output_fields=["ts"]))
    assert shanghai == {
        1: "2025-01-01T08:00:00+08:00",
        2: "2025-01-02T08:30:00+08:00",
        3: "2025-06-01T00:00:00+08:00",
        4: "2025-02-01T01:00:00.25+08:00",
        5: "2025-06-01T00:00:00+08:00",
    }
    utc = _ts(client.query("c", "id > 0", output_fields=["ts"], timezone="UTC"))
    for key, text in utc.items():  # the same instants, written in UTC
        assert text.endswith("Z") and _ref_micros(text) == _ref_micros(shanghai[key])
    assert _ts(client.query("c", "id > 0", output_fields=["tn"]), "tn") == dict.fromkeys(
        range(1, 6)
    )
    got = client.get("c", [4], output_fields=["ts"], timezone="America/New_York")
    assert got[0]["ts"] == "2025-01-31T12:00:00.25-05:00"


def test_default_is_read_in_the_zone_at_creation_and_shown_in_the_current_one(
    client: MilvusClient,
) -> None:
    _create(client, properties={"timezone": "Asia/Shanghai"})
    field = client.describe_collection("c")["fields"][2]
    assert field["default_value"].string_data == "2025-06-01T00:00:00+08:00"
    client.insert("c", ROWS[:3])
    client.alter_collection_properties("c", {"timezone": "UTC"})
    field = client.describe_collection("c")["fields"][2]
    assert field["default_value"].string_data == "2025-05-31T16:00:00Z"
    client.insert("c", [{"id": 9, "v": [0.0, 0.0], "ts": "2025-01-02 08:30:00"}])
    got = _ts(client.query("c", "id in [2, 3, 9]", output_fields=["ts"]))
    # stored instants keep their value; a later naive text is read in the new zone
    assert got == {
        2: "2025-01-02T00:30:00Z",
        3: "2025-05-31T16:00:00Z",
        9: "2025-01-02T08:30:00Z",
    }


def test_a_collection_takes_its_databases_zone(client: MilvusClient) -> None:
    client.create_database("tokyo", properties={"timezone": "Asia/Tokyo"})
    client.use_database("tokyo")
    _create(client)
    assert client.describe_collection("c")["properties"]["timezone"] == "Asia/Tokyo"
    client.insert("c", [{"id": 1, "v": [0.0, 0.0], "ts": "2025-01-01 09:00:00"}])
    assert client.query("c", "id == 1", output_fields=["ts"], timezone="UTC")[0]["ts"] == (
        "2025-01-01T00:00:00Z"
    )
    client.use_database("default")
    _create(client, "plain")
    assert "timezone" not in client.describe_collection("plain")["properties"]


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("ts > ISO '2025-01-01T12:00:00Z'", [2, 3, 4, 5]),
        ("ts == ISO '2025-01-01T08:00:00+08:00'", [1]),
        ("ts == ISO '2025-01-02 08:30:00'", [2]),  # naive: the collection's zone
        ("ISO '2025-01-02T00:30:00Z' <= ts", [2, 3, 4, 5]),  # the reverse form
        ("ISO '2025-01-02T00:30:00Z' > ts", [1]),
        ("ts != ISO '2025-06-01T00:00:00+08:00'", [1, 2, 4]),
        ("ts + INTERVAL 'P1D' < ISO '2025-01-03T01:00:00Z'", [1, 2]),
        ("ts - INTERVAL 'PT8H' == ISO '2025-01-01T00:00:00+08:00'", [1]),
        ("ISO '2025-03-02T00:00:00Z' < ts + INTERVAL 'P1M'", [3, 4, 5]),  # Jan 31 + 1M: Mar 3
        ("ts + INTERVAL 'P0D' != ISO '2025-01-01T00:00:00Z'", [2, 3, 4, 5]),
        ("tn is null and ts > ISO '2025-05-01T00:00:00Z'", [3, 5]),
        ("not (ts < ISO '2025-02-01T00:00:00Z') or id == 1", [1, 3, 5]),
    ],
)
def test_filter_forms(client: MilvusClient, expr: str, want: list[int]) -> None:
    _create(client, properties={"timezone": "Asia/Shanghai"})
    client.insert("c", ROWS)
    assert sorted(r["id"] for r in client.query("c", expr)) == want


def test_query_timezone_reads_the_filters_naive_text(client: MilvusClient) -> None:
    _create(client)
    client.insert("c", ROWS)
    expr = "ts == ISO '2025-01-01 09:00:00'"
    assert client.query("c", expr) == []
    assert [r["id"] for r in client.query("c", expr, timezone="Asia/Tokyo")] == [1]
    count = client.query("c", expr, output_fields=["count(*)"], timezone="Asia/Tokyo")
    assert count[0]["count(*)"] == 1


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("ts > '2025-01-01T00:00:00Z'", "comparisons between Timestamptz and VarChar"),
        ("ts > 5", "comparisons between Timestamptz and Int64 are not supported"),
        ("ts in [1]", "cannot be casted to Timestamptz"),
        ("id > ISO '2025-01-01T00:00:00Z'", "field 'id' is not a timestamptz datatype"),
        ("nope > ISO '2025-01-01T00:00:00Z'", "can not translate identifier: nope"),
        ("ts > ISO 'bad'", "invalid timestamp string: 'bad'"),
        ("ts + INTERVAL 'P1W' > ISO '2025-01-01T00:00:00Z'", "invalid ISO 8601 duration: P1W"),
        ("ts + 1 > ISO '2025-01-01T00:00:00Z'", "line 1:"),
    ],
)
def test_filter_errors(client: MilvusClient, expr: str, message: str) -> None:
    _create(client)
    with pytest.raises(MilvusException, match=message) as info:
        client.query("c", expr)
    assert info.value.code == 1100


def test_time_fields_are_components_in_the_zone(client: MilvusClient) -> None:
    _create(client)
    client.insert("c", ROWS)
    rows = client.query(
        "c", "id in [1, 4]", output_fields=["ts", "tn"], time_fields="year, month, day, hour",
        timezone="Asia/Shanghai",
    )  # fmt: skip
    assert _ts(rows) == {1: [2025, 1, 1, 8], 4: [2025, 2, 1, 1]}
    assert _ts(rows, "tn") == {1: None, 4: None}
    hits = client.search(
        "c", [[2.0, 1.0]], limit=1, output_fields=["ts"], time_fields="second microsecond"
    )
    assert hits[0][0]["entity"]["ts"] == [0, 250000]


def test_search_and_hybrid_search_outputs_and_filters(client: MilvusClient) -> None:
    _create(client)
    client.insert("c", ROWS)
    hits = client.search(
        "c", [[0.0, 0.0]], limit=3, output_fields=["ts"],
        filter="ts < ISO '2025-01-02 18:00:00'", timezone="Asia/Tokyo",
    )  # fmt: skip
    assert [(h["id"], h["entity"]["ts"]) for h in hits[0]] == [
        (1, "2025-01-01T09:00:00+09:00"),
        (2, "2025-01-02T17:30:00+09:00"),
    ]
    req = AnnSearchRequest([[0.0, 0.0]], "v", {}, limit=3, expr="ts > ISO '2025-01-02 09:00:00'")
    fused = client.hybrid_search(
        "c", [req], RRFRanker(), limit=2, output_fields=["ts"], timezone="Asia/Tokyo"
    )
    assert [(h["id"], h["entity"]["ts"]) for h in fused[0]] == [
        (2, "2025-01-02T17:30:00+09:00"),
        (3, "2025-06-01T09:00:00+09:00"),
    ]


def test_bad_values_and_zones(client: MilvusClient) -> None:
    _create(client)
    bad = [
        (12, DataNotMatchException, "{ts} field should be a string, but got a {<class 'int'>}"),
        ("soon", MilvusException, "got invalid timestamptz string 'soon'"),
        ("2025-01-01T00:00:00+15:00", MilvusException, "got invalid timestamptz string"),
    ]
    for value, kind, message in bad:
        with pytest.raises(kind, match=message.replace("{", r"\{").replace("(", r"\(")):
            client.insert("c", [{"id": 1, "v": [0.0, 0.0], "ts": value}])
    assert client.query("c", "id > 0") == []  # nothing was written
    zone_error = "unknown or invalid IANA Time Zone ID: Mars/Base"
    with pytest.raises(MilvusException, match=zone_error):
        client.query("c", "id > 0", timezone="Mars/Base")
    with pytest.raises(MilvusException, match=zone_error):
        client.alter_collection_properties("c", {"timezone": "Mars/Base"})
    with pytest.raises(MilvusException, match=zone_error):
        client.create_database("mars", properties={"timezone": "Mars/Base"})
    with pytest.raises(MilvusException, match=zone_error):
        _create(client, "other", properties={"timezone": "Mars/Base"})
    assert not client.has_collection("other")
    with pytest.raises(MilvusException, match="INVERTED are not supported on Timestamptz"):
        ip = client.prepare_index_params()
        ip.add_index("tn", index_type="INVERTED")
        client.create_index("c", ip)


def test_values_survive_reopen_and_delete_by_iso_filter(tmp_path: Path) -> None:
    path = str(tmp_path / "tz.db")
    client = MilvusClient(path)
    _create(client, properties={"timezone": "Asia/Shanghai"})
    client.insert("c", ROWS)
    client.flush("c")
    client.insert("c", [{"id": 6, "v": [0.0, 0.0], "ts": "2026-01-01T00:00:00Z"}])  # log only
    client.close()
    client = MilvusClient(path)
    rows = _ts(client.query("c", "id > 0", output_fields=["ts"], timezone="UTC"))
    assert rows[6] == "2026-01-01T00:00:00Z" and rows[2] == "2025-01-02T00:30:00Z"
    deleted = client.delete("c", filter="ts >= ISO '2025-06-01 00:00:00'")
    assert deleted["delete_count"] == 3
    assert sorted(r["id"] for r in client.query("c", "id > 0")) == [1, 2, 4]
    client.close()


async def test_concurrent_async_searches_keep_their_own_zone(tmp_path: Path) -> None:
    """Batched searches with different ``timezone``s: each filter and output uses its own."""
    from gpu_milvus import AsyncMilvusClient

    client = AsyncMilvusClient(str(tmp_path / "a.db"))
    s = AsyncMilvusClient.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("ts", DataType.TIMESTAMPTZ)
    ip = AsyncMilvusClient.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    await client.create_collection("c", schema=s, index_params=ip)
    await client.insert("c", [{"id": 1, "v": [0.0, 0.0], "ts": "2025-01-01T00:00:00Z"}])
    zones = ["Asia/Tokyo", "UTC", "Asia/Tokyo", "America/New_York"]
    expr = "ts == ISO '2025-01-01 09:00:00'"
    searches = [
        client.search("c", [[0.0, 0.0]], expr, 1, output_fields=["ts"], timezone=z) for z in zones
    ]
    results = await asyncio.gather(*searches)
    got = [[h["entity"]["ts"] for h in r[0]] for r in results]
    assert got == [["2025-01-01T09:00:00+09:00"], [], ["2025-01-01T09:00:00+09:00"], []]
    await client.close()


def test_utc_text_in_bulk_equals_the_per_value_text() -> None:
    """The vectorised UTC formatting (years 1-9999) against the per-value Go writer, whose
    year is zero-padded to four digits as Go's is."""
    rng = np.random.default_rng(0)
    first, last = timestamptz._FIRST_YEAR_1, timestamptz._LAST_YEAR_9999
    values = [*rng.integers(first, last, 50_000).tolist(), first, last, 0, -1, 1]
    utc = timestamptz.zone("UTC")
    slow = [timestamptz._go_text(timestamptz._moment(v, utc)) for v in values]
    assert timestamptz.to_text(values, "UTC") == slow
    assert timestamptz.to_text([first], "UTC") == ["0001-01-01T00:00:00Z"]
    assert timestamptz.to_text([_ref_micros("0410-09-11T17:26:40.09Z")], "UTC") == [
        "0410-09-11T17:26:40.09Z"
    ]
