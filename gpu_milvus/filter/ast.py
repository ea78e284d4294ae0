"""Untyped syntax tree produced by the parser (schema-free, cacheable by expression text).

Every node carries ``span`` (start, end offsets in the source, for messages) and ``depth`` (the
height of its subtree, so that over-deep input is rejected before any recursive pass runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Node:
    span: tuple[int, int]
    depth: int


@dataclass(frozen=True, slots=True)
class Lit(Node):
    """A literal; ``kind`` is INT, FLOAT, STR or BOOL (INT values may exceed int64)."""

    kind: str
    value: Any
    text: str


@dataclass(frozen=True, slots=True)
class Ident(Node):
    """A bare identifier, or ``$meta``."""

    name: str


@dataclass(frozen=True, slots=True)
class Path(Node):
    """A path token ``base[k1][k2]``; each key is (is_integer, text)."""

    base: str
    keys: tuple[tuple[bool, str], ...]


@dataclass(frozen=True, slots=True)
class Tmpl(Node):
    """A ``{name}`` template placeholder."""

    name: str


@dataclass(frozen=True, slots=True)
class ArrayLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """Prefix ``+ - ~ not``; ``op`` is the token kind ADD, SUB, BNOT or NOT."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """Arithmetic, shift, bitwise or comparison operator; ``op`` is the token kind."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logical(Node):
    """A left-associative chain of ``and`` (op AND) or ``or`` (op OR)."""

    op: str
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Like(Node):
    left: Node
    pattern: Node


@dataclass(frozen=True, slots=True)
class Term(Node):
    left: Node
    right: Node
    negate: bool


@dataclass(frozen=True, slots=True)
class Range(Node):
    """``lower <(=) col <(=) upper`` (the reversed ``>`` form is normalised to this)."""

    lower: Node
    col: Node
    upper: Node
    lower_inclusive: bool
    upper_inclusive: bool


@dataclass(frozen=True, slots=True)
class Exists(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class IsNull(Node):
    target: Node
    negate: bool


@dataclass(frozen=True, slots=True)
class Func(Node):
    """A fixed-shape function form; ``name`` is the lower-case keyword (e.g. ``json_contains``).

    ``args`` holds the parsed argument nodes in order; ``extra`` holds a raw integer option
    (``minimum_should_match``) where the grammar has one.
    """

    name: str
    args: tuple[Node, ...]
    extra: Any = None


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A generic ``identifier(args)`` call (the server builds a plan that cannot run)."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class TzCompare(Node):
    """``field [+|- INTERVAL 'P..'] op ISO '...'`` (reverse forms arrive with ``op`` flipped)."""

    field: str
    op: str
    iso: str
    shift: str | None = None  # ADD or SUB
    interval: str = ""


def depth_of(*children: Node) -> int:
    return 1 + max((c.depth for c in children), default=0)
