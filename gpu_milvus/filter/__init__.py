"""Milvus boolean filter expressions: compile against a schema, evaluate over Arrow columns.

``compile_filter(expr, spec, params)`` lexes, parses (Pratt parser with the server's precedence
levels), type-checks against the collection schema as the Milvus 2.6 server does, fills
``filter_params`` templates and returns a cached :class:`CompiledFilter`. ``evaluate(table)``
returns a NumPy bool mask with SQL three-valued logic (UNKNOWN rows are dropped).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from pymilvus.exceptions import MilvusException

from gpu_milvus import errors
from gpu_milvus.filter import ast, ir
from gpu_milvus.filter.binder import Binder
from gpu_milvus.filter.evaluate import Evaluator
from gpu_milvus.filter.exc import FilterError, clip, to_milvus
from gpu_milvus.filter.fill import fill
from gpu_milvus.filter.parser import parse
from gpu_milvus.schema import CollectionSpec
from gpu_milvus.timestamptz import DEFAULT_TIMEZONE

__all__ = ["CompiledFilter", "compile_filter"]

MAX_EXPR_LENGTH = 16 * 1024 * 1024  # generated `pk in [...]` filters can be long
_CACHEABLE_LENGTH = 64 * 1024
_CACHEABLE_PARAMS = 4096  # values in filter_params
_PARSE_CACHE_SIZE = 1024
_PLAN_CACHE_SIZE = 1024


@dataclass(frozen=True, eq=False)
class CompiledFilter:
    """A compiled filter. ``evaluate(table)`` gives one bool per row (UNKNOWN -> False)."""

    expr: str
    root: ir.Pred | None
    columns: frozenset[str] = field(default_factory=frozenset)
    pk_values: list[Any] | None = None
    always_true: bool = False

    def evaluate(self, table: pa.Table) -> np.ndarray:
        n = table.num_rows
        if self.root is None:
            return np.ones(n, dtype=bool)
        try:
            mask = Evaluator(table).mask(self.root)
        except MilvusException:
            raise
        except (pa.ArrowException, ValueError, TypeError, OverflowError, KeyError) as e:
            raise errors.server(
                errors.SEGCORE_ERROR, f"failed to evaluate filter {clip(self.expr)!r}: {e}"
            ) from e
        return np.array(mask, dtype=bool)  # always a fresh array the caller may modify


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


_parse_cache = _LRU(_PARSE_CACHE_SIZE)
_plan_cache = _LRU(_PLAN_CACHE_SIZE)


def _freeze(v: Any, budget: list[int]) -> Any:
    """A hashable, type-tagged copy of ``filter_params`` (1, 1.0 and True stay distinct).

    Raises TypeError for unhashable values or when the params are too large to be worth caching.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise TypeError("too large to cache")
    if isinstance(v, dict):
        return ("D", tuple(sorted((repr(k), _freeze(x, budget)) for k, x in v.items())))
    if isinstance(v, (list, tuple)):
        return ("L", tuple(_freeze(x, budget) for x in v))
    hash(v)
    return (type(v).__name__, v)


def _schema_key(spec: CollectionSpec) -> tuple[Any, ...]:
    return (
        spec.name,
        spec.version,
        spec.enable_dynamic_field,
        tuple(
            (
                f.name,
                f.dtype,
                f.element_type,
                f.nullable,
                f.is_primary,
                str(f.params.get("enable_match", "")),
            )
            for f in spec.fields
        ),
    )


def _parse(expr: str) -> ast.Node:
    cacheable = len(expr) <= _CACHEABLE_LENGTH
    hit = _parse_cache.get(expr) if cacheable else None
    if isinstance(hit, FilterError):
        raise hit
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    try:
        node = parse(expr)
    except FilterError as e:
        if cacheable:
            _parse_cache.put(expr, e)
        raise
    if cacheable:
        _parse_cache.put(expr, node)
    return node


def _pk_values(root: ir.Pred) -> list[Any] | None:
    if isinstance(root, ir.Cmp) and root.col.is_pk and root.op == "EQ":
        return [root.value]
    if isinstance(root, ir.In) and root.col.is_pk:
        return list(dict.fromkeys(root.values))
    return None


def _compile(
    expr: str, spec: CollectionSpec, params: dict[str, Any] | None, timezone: str
) -> CompiledFilter:
    if not expr.strip():
        return CompiledFilter(expr, None, always_true=True)
    if len(expr) > MAX_EXPR_LENGTH:
        raise FilterError(f"expression is too long ({len(expr)} > {MAX_EXPR_LENGTH} characters)")
    try:
        expr.encode("utf-8")
    except UnicodeEncodeError:
        raise FilterError("expression is not valid UTF-8") from None
    node = _parse(expr)
    root = Binder(spec, expr, timezone).bind(node)
    root = fill(root, params)
    for n in ir.walk(root):
        for attr in ("col", "left", "right"):
            col = getattr(n, attr, None)
            f = spec.field(col.name) if isinstance(col, ir.Col) else None
            if f is not None and f.is_vector:
                raise FilterError(f"vector field {col.name} cannot be used in a filter")
    # A constant plan still needs a column so the engine's table carries the row count.
    columns = ir.column_names(root) or frozenset({spec.primary.name})
    return CompiledFilter(expr, root, columns, _pk_values(root))


def compile_filter(
    expr: str,
    spec: CollectionSpec,
    params: dict[str, Any] | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> CompiledFilter:
    """Compile ``expr`` (a Milvus ``filter=`` string) against ``spec``; cached. ``timezone``
    reads TIMESTAMPTZ ``ISO`` text that has no offset.

    Raises pymilvus ``MilvusException`` (code 1100, the server's message format) for any
    invalid input, and nothing else.
    """
    if not isinstance(expr, str):
        raise errors.invalid(f"filter expression must be a string, got {type(expr).__name__}")
    if params is not None and not isinstance(params, dict):
        raise errors.invalid("filter_params must be a dict")
    try:
        key: Any = (
            expr,
            _schema_key(spec),
            _freeze(params or {}, [_CACHEABLE_PARAMS]),
            timezone,
        )
    except TypeError:
        key = None
    if key is not None and len(expr) <= _CACHEABLE_LENGTH:
        plan = _plan_cache.get(key)
        if plan is not None:
            return plan  # type: ignore[no-any-return]
    else:
        key = None
    try:
        plan = _compile(expr, spec, params, timezone)
    except FilterError as e:
        raise to_milvus(expr, e) from None
    except MilvusException:
        raise
    except RecursionError:
        raise errors.bad_filter(
            expr, "expression is nested too deeply: invalid parameter"
        ) from None
    except Exception:  # the server turns a visitor panic into this message
        raise errors.bad_filter(
            expr, f"unsupported expression: {expr}: invalid parameter"
        ) from None
    if key is not None:
        _plan_cache.put(key, plan)
    return plan
