"""Self-checks of the comparison helpers and generators (no engine involved).

A comparison that accepts everything would let every congruence test pass; these cases pin
what ``compare.py`` accepts and what it rejects.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pymilvus import MilvusException
from pymilvus.exceptions import ParamError

from .compare import (
    Outcome,
    assert_values_equal,
    compare_errors,
    compare_rows,
    compare_search,
)
from .gen import FilterGen, gen_rows, make_rng

pytestmark = pytest.mark.reference


def hits(*pairs: tuple[Any, float], entity: dict | None = None) -> list[list[dict]]:
    """One query's hits in SearchResult shape."""
    return [[{"id": i, "distance": d, "entity": dict(entity or {})} for i, d in pairs]]


def test_search_accepts_equal_and_tolerance() -> None:
    """Same hits, float32-level distance noise."""
    compare_search(hits((1, 0.5), (2, 0.7)), hits((1, 0.5000001), (2, 0.7)), "t")


def test_search_accepts_boundary_tie_swap() -> None:
    """Different ids tied at the k-th distance are accepted."""
    compare_search(hits((1, 0.1), (2, 0.9), (3, 0.9)), hits((1, 0.1), (3, 0.9), (4, 0.9)), "t")


def test_search_accepts_reordered_inner_ties() -> None:
    """Tied hits in the middle may come in either order."""
    compare_search(
        hits((1, 0.1), (2, 0.5), (3, 0.5), (4, 0.9)),
        hits((1, 0.1), (3, 0.5), (2, 0.5), (4, 0.9)),
        "t",
    )


@pytest.mark.parametrize(
    "sub",
    [
        hits((1, 0.1), (5, 0.5), (3, 0.9)),  # wrong id inside the window
        hits((1, 0.1), (2, 0.51), (3, 0.9)),  # wrong distance
        hits((1, 0.1), (2, 0.5)),  # missing hit
        hits((2, 0.1), (1, 0.5), (3, 0.9)),  # ids swapped across distinct distances
        hits((1, 0.1), (2, 0.5), (3, 0.9), entity={"x": 1}),  # extra entity field
    ],
)
def test_search_rejects(sub: Any) -> None:
    """Anything but tie reordering fails."""
    with pytest.raises(AssertionError, match="seed=7"):
        compare_search(hits((1, 0.1), (2, 0.5), (3, 0.9)), sub, "seed=7")


def test_search_lower_boundary_only_with_offset() -> None:
    """A tie at the first hit is a boundary only when an offset is used."""
    ref, sub = hits((1, 0.1), (2, 0.1), (3, 0.9)), hits((4, 0.1), (2, 0.1), (3, 0.9))
    compare_search(ref, sub, "t", lower_boundary=True)
    with pytest.raises(AssertionError):
        compare_search(ref, sub, "t")


@pytest.mark.parametrize(
    ("a", "b", "ok"),
    [
        (1.0, 1.0000001, True),
        (1.0, 1.001, False),
        (True, 1, False),
        (1, 1.0, False),
        ([0.1, 0.2], [0.1, 0.2000001], True),
        ({"a": 1, "b": None}, {"a": 1}, False),
        ({1: 0.5}, {1: 0.5}, True),
        ("a", "a ", False),
        (None, 0, False),
    ],
)
def test_values(a: Any, b: Any, ok: bool) -> None:
    """Deep equality rules."""
    if ok:
        assert_values_equal(a, b, "t")
    else:
        with pytest.raises(AssertionError):
            assert_values_equal(a, b, "t")


def test_rows_multiset_and_order() -> None:
    """Rows compare sorted by pk unless ordered=True."""
    r = [{"id": 2, "x": 1}, {"id": 1, "x": 0}]
    compare_rows(r, list(reversed(r)), "t")
    with pytest.raises(AssertionError):
        compare_rows(r, list(reversed(r)), "t", ordered=True)
    with pytest.raises(AssertionError):
        compare_rows(r, [*r, {"id": 3, "x": 0}], "t")
    with pytest.raises(AssertionError):
        compare_rows(r, [{"id": 2, "x": 1}, {"id": 1, "x": 5}], "t")


def test_errors() -> None:
    """Both must raise MilvusException; code and class only on request."""
    a = Outcome(error=MilvusException(code=100, message="x"))
    b = Outcome(error=MilvusException(code=1100, message="y"))
    compare_errors(a, b, "t")
    with pytest.raises(AssertionError):
        compare_errors(a, b, "t", code=True)
    with pytest.raises(AssertionError):
        compare_errors(a, Outcome(value=[]), "t")
    with pytest.raises(AssertionError):
        compare_errors(a, Outcome(error=ValueError("x")), "t")
    with pytest.raises(AssertionError):
        compare_errors(Outcome(error=ParamError(message="p")), a, "t", same_type=True)


def test_filter_generator_is_seeded_and_in_subset() -> None:
    """Same seed -> same expressions; none of the constructs lite3 and the server disagree on."""
    rows = gen_rows(make_rng(1, "rows"), list(range(50)))
    one = [FilterGen(make_rng(3, "f"), rows).expr() for _ in range(1)]
    a = FilterGen(make_rng(3, "f"), rows)
    b = FilterGen(make_rng(3, "f"), rows)
    exprs = [a.expr() for _ in range(500)]
    assert exprs == [b.expr() for _ in range(500)]
    assert exprs[:1] == one
    for e in exprs:
        assert "{" not in e and "**" not in e, e
        assert not re.search(r"\b(i8|i16|i32|i64|dflt|ni|id) [<>=!]+ -?\d+\.\d", e), e
        assert not re.search(r"\b(ni|ns|nd|nb) (not in|in|IN)\b", e), e
        assert not re.search(r"-?\d+ [<>]=? \w+ [<>]=?", e), e  # chained range
        for m in re.finditer(r"(not |NOT |!)\(", e):
            depth, i = 1, m.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(e[i], 0)
                i += 1
            inner = e[m.end() : i - 1]
            assert "js[" not in inner and "dyn_i" not in inner, e
