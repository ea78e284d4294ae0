"""Normalise pymilvus-shaped results to plain Python and compare reference vs subject.

Conventions (design.md §4.2):

* search hits: distances rank by rank within ``rel_tol=1e-4, abs_tol=1e-5`` (float32); the
  *set* of ids must match except hits whose distance is within tolerance of a window boundary
  (the k-th hit, and the first hit when an offset is used); ids present on both sides must carry
  the same distance and deep-equal entities;
* query rows: compared as multisets sorted by primary key (or in order when the order is defined);
* values: floats and float vectors via ``isclose``/``allclose`` with a float32 tolerance, ``bool``
  never equal to ``int``, dict keys compared as sets;
* errors: both sides raise ``MilvusException``; codes only where the caller says they are
  comparable.

Every assertion message starts with the context string, which carries the seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymilvus import MilvusException

DIST_REL_TOL = 1e-4
DIST_ABS_TOL = 1e-5
VALUE_REL_TOL = 1e-6
VALUE_ABS_TOL = 1e-6


# --------------------------------------------------------------------------------------------
# outcomes


@dataclass
class Outcome:
    """The result of one operation on one client: a value or the exception it raised."""

    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the operation returned normally."""
        return self.error is None

    def describe(self) -> str:
        """Short text for assertion messages."""
        if self.error is not None:
            return f"raised {type(self.error).__name__}: {self.error}"
        text = repr(to_plain(self.value))
        return "returned " + (text if len(text) < 600 else text[:600] + " ...")


def capture(fn: Callable[[], Any]) -> Outcome:
    """Run ``fn`` and wrap its return value or exception."""
    try:
        return Outcome(value=fn())
    except Exception as exc:  # the comparison decides what is acceptable
        return Outcome(error=exc)


def expect_both_ok(ref: Outcome, sub: Outcome, ctx: str) -> None:
    """Fail unless neither side raised."""
    if ref.ok and sub.ok:
        return
    raise AssertionError(
        f"{ctx}: outcome differs\n  reference: {ref.describe()}\n  subject:   {sub.describe()}"
    )


def compare_errors(
    ref: Outcome,
    sub: Outcome,
    ctx: str,
    *,
    code: bool = False,
    same_type: bool = False,
) -> None:
    """Both sides must raise ``MilvusException``.

    ``code=True`` also compares ``.code`` (only where milvus-lite uses the server's code);
    ``same_type=True`` compares the exception class (for pymilvus client-side checks, which
    are the same code on both sides).
    """
    msg = f"{ctx}\n  reference: {ref.describe()}\n  subject:   {sub.describe()}"
    assert ref.error is not None, f"{ctx}: harness error, the reference did not raise\n{msg}"
    assert isinstance(ref.error, MilvusException), f"{ctx}: harness error, reference type\n{msg}"
    assert sub.error is not None, f"{ctx}: the subject did not raise\n{msg}"
    assert isinstance(sub.error, MilvusException), (
        f"{ctx}: the subject raised {type(sub.error).__name__}, not MilvusException\n{msg}"
    )
    if same_type:
        assert type(sub.error).__name__ == type(ref.error).__name__, (
            f"{ctx}: exception class differs\n{msg}"
        )
    if code:
        assert sub.error.code == ref.error.code, (
            f"{ctx}: error code {sub.error.code} != reference {ref.error.code}\n{msg}"
        )


def compare_outcomes(
    ref: Outcome,
    sub: Outcome,
    ctx: str,
    compare: Callable[[Any, Any, str], None],
    *,
    code: bool = False,
) -> None:
    """Both raise (compared as errors) or both return (compared with ``compare``)."""
    if ref.error is not None and isinstance(ref.error, MilvusException):
        compare_errors(ref, sub, ctx, code=code)
        return
    if ref.error is not None:
        raise AssertionError(f"{ctx}: harness error, reference raised {ref.describe()}")
    expect_both_ok(ref, sub, ctx)
    compare(ref.value, sub.value, ctx)


# --------------------------------------------------------------------------------------------
# plain values


def to_plain(x: Any) -> Any:
    """Recursively convert pymilvus / numpy / protobuf containers into plain Python values."""
    if x is None or isinstance(x, (bool, int, float, str, bytes)):
        if isinstance(x, bool):
            return bool(x)
        if isinstance(x, int):
            return int(x)
        if isinstance(x, float):
            return float(x)
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return [to_plain(v) for v in x.tolist()]
    if isinstance(x, Mapping):
        return {to_plain(k): to_plain(v) for k, v in x.items()}
    if hasattr(x, "toarray") and hasattr(x, "nnz"):  # scipy sparse row
        coo = x.tocoo()
        return {int(c): float(v) for c, v in zip(coo.col, coo.data, strict=True)}
    if isinstance(x, Iterable):
        return [to_plain(v) for v in x]
    return x


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def assert_values_equal(ref: Any, sub: Any, ctx: str, path: str = "") -> None:
    """Deep equality with float32 tolerance for floats and float lists."""
    where = f"{ctx}: at {path or '<root>'}: reference {ref!r} != subject {sub!r}"
    if isinstance(ref, bool) or isinstance(sub, bool):
        assert type(ref) is type(sub) and ref == sub, where
        return
    if isinstance(ref, float) or isinstance(sub, float):
        assert _num(ref) and _num(sub), where
        assert isinstance(ref, float) == isinstance(sub, float), where + " (int vs float)"
        if math.isnan(ref) or math.isnan(sub):
            assert math.isnan(ref) and math.isnan(sub), where
            return
        assert math.isclose(ref, sub, rel_tol=VALUE_REL_TOL, abs_tol=VALUE_ABS_TOL), where
        return
    if isinstance(ref, dict) or isinstance(sub, dict):
        assert isinstance(ref, dict) and isinstance(sub, dict), where
        assert set(ref) == set(sub), (
            f"{ctx}: at {path or '<root>'}: keys differ: only reference "
            f"{sorted(map(str, set(ref) - set(sub)))}, only subject "
            f"{sorted(map(str, set(sub) - set(ref)))}"
        )
        for key in ref:
            assert_values_equal(ref[key], sub[key], ctx, f"{path}[{key!r}]")
        return
    if isinstance(ref, list) or isinstance(sub, list):
        assert isinstance(ref, list) and isinstance(sub, list), where
        assert len(ref) == len(sub), where + f" (length {len(ref)} vs {len(sub)})"
        if ref and all(isinstance(v, float) for v in ref + sub):
            assert np.allclose(ref, sub, rtol=VALUE_REL_TOL, atol=VALUE_ABS_TOL), where
            return
        for i, (a, b) in enumerate(zip(ref, sub, strict=True)):
            assert_values_equal(a, b, ctx, f"{path}[{i}]")
        return
    assert type(ref) is type(sub) and ref == sub, where


# --------------------------------------------------------------------------------------------
# search


@dataclass
class NormHit:
    """One search hit: primary key, distance, entity and the key set of the hit dict."""

    pk: Any
    distance: float
    entity: dict[str, Any]
    keys: frozenset[str]


def normalize_search(result: Any, pk_field: str = "id") -> list[list[NormHit]]:
    """``SearchResult`` (nq lists of hits) -> nested lists of ``NormHit``."""
    out: list[list[NormHit]] = []
    for hits in result:
        row: list[NormHit] = []
        for hit in hits:
            plain = to_plain(dict(hit))
            assert pk_field in plain, f"hit without pk key {pk_field!r}: {plain!r}"
            row.append(
                NormHit(
                    pk=plain[pk_field],
                    distance=float(plain["distance"]),
                    entity=plain.get("entity") or {},
                    keys=frozenset(plain),
                )
            )
        out.append(row)
    return out


def dist_close(a: float, b: float) -> bool:
    """Distance equality at float32 tolerance."""
    return math.isclose(a, b, rel_tol=DIST_REL_TOL, abs_tol=DIST_ABS_TOL)


def compare_hits(
    ref: list[NormHit],
    sub: list[NormHit],
    ctx: str,
    *,
    entities: bool = True,
    lower_boundary: bool = False,
) -> None:
    """Compare the hits of one query (see module docstring)."""
    ref_view = [(h.pk, round(h.distance, 6)) for h in ref]
    sub_view = [(h.pk, round(h.distance, 6)) for h in sub]
    detail = f"\n  reference: {ref_view}\n  subject:   {sub_view}"
    assert len(ref) == len(sub), f"{ctx}: {len(ref)} hits vs {len(sub)}{detail}"
    if not ref:
        return
    for rank, (a, b) in enumerate(zip(ref, sub, strict=True)):
        assert dist_close(a.distance, b.distance), (
            f"{ctx}: distance at rank {rank}: {a.distance} vs {b.distance}{detail}"
        )
    sub_pks = [h.pk for h in sub]
    assert len(set(sub_pks)) == len(sub_pks), f"{ctx}: duplicate ids in subject hits{detail}"
    last = ref[-1].distance
    first = ref[0].distance

    def boundary(h: NormHit) -> bool:
        return dist_close(h.distance, last) or (lower_boundary and dist_close(h.distance, first))

    ref_core = {h.pk for h in ref if not boundary(h)}
    sub_core = {h.pk for h in sub if not boundary(h)}
    assert ref_core == sub_core, (
        f"{ctx}: id sets differ outside boundary ties: only reference "
        f"{sorted(ref_core - sub_core, key=str)}, only subject "
        f"{sorted(sub_core - ref_core, key=str)}{detail}"
    )
    by_pk = {h.pk: h for h in sub}
    for h in ref:
        other = by_pk.get(h.pk)
        if other is None:
            continue
        assert dist_close(h.distance, other.distance), (
            f"{ctx}: id {h.pk!r} has distance {h.distance} vs {other.distance}{detail}"
        )
        assert h.keys == other.keys, f"{ctx}: hit keys {sorted(h.keys)} vs {sorted(other.keys)}"
        if entities:
            assert_values_equal(h.entity, other.entity, ctx, f"hit {h.pk!r}.entity")


def compare_search(
    ref: Any,
    sub: Any,
    ctx: str,
    *,
    pk_field: str = "id",
    entities: bool = True,
    lower_boundary: bool = False,
) -> None:
    """Compare two ``SearchResult`` objects query by query."""
    r = normalize_search(ref, pk_field)
    s = normalize_search(sub, pk_field)
    assert len(r) == len(s), f"{ctx}: nq {len(r)} vs {len(s)}"
    for qi, (a, b) in enumerate(zip(r, s, strict=True)):
        compare_hits(a, b, f"{ctx} [query {qi}]", entities=entities, lower_boundary=lower_boundary)


# --------------------------------------------------------------------------------------------
# query / get


def _pk_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int) else (1, str(v))


def normalize_rows(rows: Any) -> list[dict[str, Any]]:
    """Query/get result -> list of plain dicts (order kept)."""
    out = to_plain(list(rows))
    assert all(isinstance(r, dict) for r in out), f"rows are not dicts: {out!r}"
    return out


def compare_rows(
    ref: Any,
    sub: Any,
    ctx: str,
    *,
    pk_field: str = "id",
    ordered: bool = False,
) -> None:
    """Compare query/get results as multisets sorted by pk (or in order if ``ordered``)."""
    r = normalize_rows(ref)
    s = normalize_rows(sub)
    if not ordered:
        r.sort(key=lambda row: _pk_key(row.get(pk_field)))
        s.sort(key=lambda row: _pk_key(row.get(pk_field)))
    r_ids = [row.get(pk_field) for row in r]
    s_ids = [row.get(pk_field) for row in s]
    if r_ids != s_ids:
        only_r = sorted(set(r_ids) - set(s_ids), key=str)[:20]
        only_s = sorted(set(s_ids) - set(r_ids), key=str)[:20]
        raise AssertionError(
            f"{ctx}: row ids differ ({len(r_ids)} vs {len(s_ids)} rows"
            f"{', order' if ordered and not only_r and not only_s else ''}): "
            f"only reference {only_r}, only subject {only_s}"
            + (
                f"\n  reference order: {r_ids[:30]}\n  subject order:   {s_ids[:30]}"
                if ordered
                else ""
            )
        )
    for a, b in zip(r, s, strict=True):
        assert_values_equal(a, b, ctx, f"row {a.get(pk_field)!r}")


def count_value(rows: Any) -> int:
    """The integer of a ``[{'count(*)': n}]`` query result."""
    plain = normalize_rows(rows)
    assert len(plain) == 1 and set(plain[0]) == {"count(*)"}, f"not a count result: {plain!r}"
    return int(plain[0]["count(*)"])


def compare_counts(ref: Any, sub: Any, ctx: str) -> None:
    """Compare two ``count(*)`` query results."""
    assert count_value(sub) == count_value(ref), (
        f"{ctx}: count(*) reference {count_value(ref)} vs subject {count_value(sub)}"
    )


def compare_plain(ref: Any, sub: Any, ctx: str) -> None:
    """Deep-compare any two results after ``to_plain``."""
    assert_values_equal(to_plain(ref), to_plain(sub), ctx)


def compare_write_result(ref: Any, sub: Any, ctx: str, count_key: str) -> None:
    """insert/upsert results: the count and the ids (in order)."""
    r, s = to_plain(dict(ref)), to_plain(dict(sub))
    assert s.get(count_key) == r.get(count_key), f"{ctx}: {count_key} {r!r} vs {s!r}"
    assert s.get("ids") == r.get("ids"), f"{ctx}: ids {r.get('ids')!r} vs {s.get('ids')!r}"
