"""Typed plan IR, mirroring the server's planpb expression nodes.

Values in the IR are constants from :mod:`gpu_milvus.filter.values`, already cast to the column
type; before templates are filled some value slots hold a :class:`~values.Tmpl` placeholder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SCALAR = "scalar"  # a plain scalar field
ARRAY = "array"  # a whole ARRAY field
ELEM = "elem"  # ARRAY field element ``arr[i]``
JSON = "json"  # JSON field / $meta, with a (possibly empty) key path


@dataclass(frozen=True, slots=True)
class Col:
    """A column reference: which Arrow column, and how a value is extracted per row."""

    name: str
    kind: str
    dtype: str
    elem: str = "None"
    path: tuple[str, ...] = ()
    index: int = 0
    nullable: bool = False
    is_pk: bool = False

    @property
    def value_type(self) -> str:
        """Type of the per-row value: element type for ``arr[i]``, JSON for paths."""
        if self.kind == ELEM:
            return self.elem
        return self.dtype


@dataclass(frozen=True, slots=True)
class Pred:
    """Base class of predicate nodes."""


@dataclass(frozen=True, slots=True)
class Const(Pred):
    value: bool


@dataclass(frozen=True, slots=True)
class Cmp(Pred):
    """``col op value`` (UnaryRangeExpr); op is EQ NE LT LE GT GE."""

    col: Col
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Range(Pred):
    col: Col
    lower: Any
    lower_inclusive: bool
    upper: Any
    upper_inclusive: bool


@dataclass(frozen=True, slots=True)
class In(Pred):
    """``col in values`` (TermExpr); ``values`` is a tuple, or a Tmpl before filling."""

    col: Col
    values: Any


@dataclass(frozen=True, slots=True)
class Like(Pred):
    """A LIKE after shape analysis: kind is EQ, PREFIX, POSTFIX, INNER or MATCH."""

    col: Col
    kind: str
    operand: Any


@dataclass(frozen=True, slots=True)
class ArithCmp(Pred):
    """``(col aop operand) op value`` (BinaryArithOpEvalRangeExpr)."""

    col: Col
    aop: str
    operand: Any
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class ShiftCmp(Pred):
    """``(col +/- interval) op value`` on a TIMESTAMPTZ column (TimestamptzArithCompareExpr);
    ``sign`` is 1 or -1, ``interval`` a :class:`gpu_milvus.timestamptz.Interval`."""

    col: Col
    sign: int
    interval: Any
    op: str
    value: int


@dataclass(frozen=True, slots=True)
class LenCmp(Pred):
    """``array_length(col) op value``."""

    col: Col
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Contains(Pred):
    """json_contains* / array_contains*: mode is ONE, ALL or ANY."""

    col: Col
    mode: str
    elements: Any


@dataclass(frozen=True, slots=True)
class TextMatch(Pred):
    """text_match (``slop`` None: at least ``least`` of the query's tokens) or phrase_match
    (the tokens in order, within ``slop`` moves); ``query`` may still be a template."""

    col: Col
    query: Any
    least: int = 1
    slop: int | None = None
    analyzer: Any = None  # the field's gpu_milvus.text.Analyzer


@dataclass(frozen=True, slots=True)
class Spatial(Pred):
    """An st_* predicate: ``op(col, wkt)``, or st_dwithin within ``distance`` metres;
    ``wkt`` may still be a template."""

    col: Col
    op: str
    wkt: Any
    distance: float | None = None


@dataclass(frozen=True, slots=True)
class Exists(Pred):
    col: Col


@dataclass(frozen=True, slots=True)
class IsNull(Pred):
    col: Col
    negate: bool


@dataclass(frozen=True, slots=True)
class ColCmp(Pred):
    """Two-column comparison (CompareExpr)."""

    left: Col
    op: str
    right: Col


@dataclass(frozen=True, slots=True)
class And(Pred):
    items: tuple[Pred, ...]


@dataclass(frozen=True, slots=True)
class Or(Pred):
    items: tuple[Pred, ...]


@dataclass(frozen=True, slots=True)
class Not(Pred):
    item: Pred


@dataclass(frozen=True, slots=True)
class Sample(Pred):
    """random_sample(factor), optionally applied to the rows matching ``pred``."""

    factor: float
    pred: Pred | None


@dataclass(frozen=True, slots=True)
class ElementMatch(Pred):
    """element_filter / MATCH_ANY / MATCH_ALL / MATCH_LEAST / MATCH_MOST / MATCH_EXACT over
    the array of structs ``col``: ``pred`` (its columns named ``$[sub]``) is evaluated per
    element, and a row matches by how many of its elements do (segcore's MatchSingleRow).
    ``pred`` is not a child: its columns are the elements', not the table's."""

    col: Col
    pred: Pred
    mode: str  # any, all, least, most, exact
    count: int = 0


def children(node: Pred) -> tuple[Pred, ...]:
    if isinstance(node, (And, Or)):
        return node.items
    if isinstance(node, Not):
        return (node.item,)
    if isinstance(node, Sample) and node.pred is not None:
        return (node.pred,)
    return ()


def walk(node: Pred) -> Iterator[Pred]:
    """All nodes, depth-first, without recursion."""
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        stack.extend(reversed(children(cur)))


def column_names(node: Pred) -> frozenset[str]:
    names: set[str] = set()
    for n in walk(node):
        for attr in ("col", "left", "right"):
            col = getattr(n, attr, None)
            if isinstance(col, Col):
                names.add(col.name)
    return frozenset(names)
