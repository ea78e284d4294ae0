"""TIMESTAMPTZ values: ISO 8601 text <-> UTC microseconds, time zones, and INTERVAL arithmetic.

Follows Milvus's ``pkg/util/timestamptz`` (Go): a value with an offset (``Z``, ``+08:00``, or
``+08`` after a space) is that instant; a naive value is read in the default time zone (the
query's, the collection's, the database's, else UTC). Values are stored as int64 UTC
microseconds and returned as Go's RFC3339Nano text in the reader's time zone. An INTERVAL is
added field by field in UTC and normalised as C's ``timegm`` does (segcore's
``TimestamptzArithCompareExpr``): Jan 31 + P1M is Mar 3 (or 2 in a leap year).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from gpu_milvus import errors

DEFAULT_TIMEZONE = "UTC"
TIMEZONE_KEY = "timezone"
_MAX_OFFSET_HOURS, _MIN_OFFSET_HOURS = 14, -12
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = 1_000_000
_ONE_MICROSECOND = timedelta(microseconds=1)
_FIRST_YEAR_1 = -62_135_596_800 * 1_000_000  # 0001-01-01T00:00:00Z
_LAST_YEAR_9999 = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
_DATE_TIME = r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
_AWARE = (  # Go's RFC3339Nano, then "2006-01-02 15:04:05Z07:00" and "...Z07"
    re.compile(_DATE_TIME.replace("[T ]", "T") + r"(Z|[+-]\d{2}:\d{2})"),
    re.compile(_DATE_TIME.replace("[T ]", " ") + r"(Z|[+-]\d{2}:\d{2}|[+-]\d{2})"),
)
_NAIVE = re.compile(_DATE_TIME)
_DURATION = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
TIME_PARTS = ("year", "month", "day", "hour", "minute", "second", "microsecond")


class Interval(NamedTuple):
    """An ISO 8601 duration's fields (planpb.Interval)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo | timezone:
    """Go's ``time.LoadLocation``: "" and "UTC" are UTC; otherwise an IANA name."""
    if name in ("", "UTC"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise KeyError(name) from None


def check_timezone(name: Any) -> str:
    """A valid time-zone name (Go's ``time.LoadLocation``; "" is refused), else the
    server's error."""
    if isinstance(name, str) and name:
        try:
            zone(name)
            return name
        except KeyError:
            pass
    raise errors.invalid(f"unknown or invalid IANA Time Zone ID: {name}: invalid parameter")


def _checked(match: re.Match[str]) -> datetime | None:
    """A datetime for a layout match, None when a field is out of range (Go rejects it)."""
    y, mo, d, h, mi, s = (int(match.group(i)) for i in range(1, 7))
    frac = (match.group(7) or "").ljust(6, "0")[:6]
    try:
        return datetime(y, mo, d, h, mi, s, int(frac))
    except ValueError:
        return None


def _offset(text: str) -> timedelta | None:
    if text == "Z":
        return timedelta(0)
    hours = int(text[1:3])
    minutes = int(text[4:6]) if len(text) > 3 else 0
    if hours > 24 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return -delta if text[0] == "-" else delta


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _ONE_MICROSECOND


def parse(text: str, default_tz: str = DEFAULT_TIMEZONE) -> int:
    """``ValidateAndReturnUnixMicroTz``: UTC microseconds of an ISO 8601 timestamp."""
    if _AWARE[0].fullmatch(text):  # RFC 3339, the common case: Python's own parser
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:  # a field out of range, or Python < 3.11 and a "Z": below
            moment = None
        offset = moment.utcoffset() if moment is not None else None
        if offset is not None and _MIN_OFFSET_HOURS * 3600 <= offset.total_seconds() <= (
            _MAX_OFFSET_HOURS * 3600
        ):
            return _micros(moment)  # type: ignore[arg-type]
    for layout in _AWARE:
        match = layout.fullmatch(text)
        naive = _checked(match) if match else None
        offset = _offset(match.group(8)) if match else None
        if naive is None or offset is None:
            continue
        hours = int(offset.total_seconds() / 3600)
        if not _MIN_OFFSET_HOURS * 3600 <= offset.total_seconds() <= _MAX_OFFSET_HOURS * 3600:
            raise errors.invalid(
                f"UTC offset hour {hours} is out of the valid range "
                f"[{_MIN_OFFSET_HOURS}, {_MAX_OFFSET_HOURS}]: invalid parameter"
            )
        return _micros(naive.replace(tzinfo=timezone(offset)))
    try:
        tz = zone(default_tz)
    except KeyError:
        raise errors.invalid(
            f"invalid default timezone string '{default_tz}': invalid parameter"
        ) from None
    match = _NAIVE.fullmatch(text)
    naive = _checked(match) if match else None
    if naive is None:
        raise errors.invalid(
            f"invalid timestamp string: '{text}'. Does not match any known format: "
            "invalid parameter"
        )
    return _micros(naive.replace(tzinfo=tz))


def _go_text(moment: datetime) -> str:
    """Go's RFC3339Nano: fraction without trailing zeros, ``Z`` for a zero offset."""
    text = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S")  # Go pads the year
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    offset = moment.utcoffset() or timedelta(0)
    if not offset:
        return text + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _moment(micros: int, tz: ZoneInfo | timezone) -> datetime:
    return (_EPOCH + timedelta(microseconds=micros)).astimezone(tz)


def to_text(values: list[Any], tz_name: str) -> list[str | None]:
    """Stored microseconds as the server returns them (``ConvertUnixMicroToTimezoneString``)."""
    tz = zone(tz_name)
    if tz is timezone.utc and values and None not in values:
        micros = np.asarray(values, dtype=np.int64)
        if micros.min() >= _FIRST_YEAR_1 and micros.max() <= _LAST_YEAR_9999:
            return _utc_texts(micros)
    return [None if v is None else _go_text(_moment(v, tz)) for v in values]


def _utc_texts(micros: np.ndarray) -> list[str]:
    """``_go_text`` in UTC for years 1-9999, vectorised: ISO text without trailing zeros."""
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    trimmed = np.char.rstrip(np.char.rstrip(text, "0"), ".")
    return [t + "Z" for t in trimmed.tolist()]


def to_parts(values: list[Any], tz_name: str, parts: tuple[str, ...]) -> list[list[int] | None]:
    """``time_fields``: the named components of each value, in the reader's time zone."""
    tz = zone(tz_name)
    out: list[list[int] | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        moment = _moment(v, tz)
        out.append([getattr(moment, p) for p in parts])
    return out


def parse_time_fields(spec: Any) -> tuple[str, ...]:
    """The ``time_fields`` parameter ("year, month, day"): names split at commas and spaces."""
    names = tuple(p.lower() for p in re.split(r"[, ]+", str(spec)) if p)
    for name in names:
        if name not in TIME_PARTS:
            raise errors.invalid(
                f"unsupported field for extraction: {name}, fields should be seprated by ',' "
                "or ' ': invalid parameter"
            )
    return names


def parse_interval(text: str) -> Interval:
    """An ISO 8601 duration (``P1Y2M3DT4H5M6S``; ``P`` and ``PT`` are zero)."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise errors.invalid(f"invalid ISO 8601 duration: {text}")
    return Interval(*(int(g) if g else 0 for g in match.groups()))


def shift(micros: np.ndarray, interval: Interval, sign: int) -> np.ndarray:
    """``micros`` plus (sign 1) or minus (sign -1) ``interval``, computed as segcore does:
    each calendar field moves in UTC, then ``timegm`` normalises, keeping the microseconds."""
    micros = np.asarray(micros, dtype=np.int64)
    secs = np.floor_divide(micros, _US)
    sub = micros - secs * _US
    days = np.floor_divide(secs, 86400)
    time_of_day = secs - days * 86400
    day_dates = days.astype("datetime64[D]")
    months = day_dates.astype("datetime64[M]")
    day_in_month = (day_dates - months.astype("datetime64[D]")).astype(np.int64)
    month_index = months.astype(np.int64) + sign * (interval.years * 12 + interval.months)
    month_start = month_index.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    new_days = month_start + day_in_month + sign * interval.days
    moved = sign * (interval.hours * 3600 + interval.minutes * 60 + interval.seconds)
    return (new_days * 86400 + time_of_day + moved) * _US + sub
