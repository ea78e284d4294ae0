"""Multi-language analyzers (a VARCHAR field's ``multi_analyzer_params``), as Milvus 2.6
runs them (``MultiAnalyzerBM25FunctionRunner``): each row's text is analyzed by the analyzer
its ``by_field`` value names (through ``alias``), a query's by the search's
``analyzer_name``, and an unknown or missing name falls back to ``default``. The checks and
wording are the proxy's ``validateMultiAnalyzerParams``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymilvus import DataType
from pymilvus.exceptions import MilvusException

from gpu_milvus import errors
from gpu_milvus.text import Analyzer, analyzer_for


@dataclass(frozen=True)
class MultiAnalyzer:
    """The named analyzers (``default`` among them), the aliases and the choosing field."""

    by_field: str
    analyzers: tuple[tuple[str, Analyzer], ...]
    alias: tuple[tuple[str, str], ...] = ()

    @functools.cached_property
    def _by_name(self) -> dict[str, Analyzer]:
        return dict(self.analyzers)

    @functools.cached_property
    def _aliases(self) -> dict[str, str]:
        return dict(self.alias)

    def pick(self, name: Any) -> Analyzer:
        """The analyzer ``name`` (or its alias) names, else the default one."""
        found = self._by_name  # keys are str: any other name falls back to the default
        return found.get(self._aliases.get(name, name), found["default"])


def of_field(field: str, params: dict[str, Any]) -> MultiAnalyzer | None:
    """A field's multi-language analyzers (None without ``multi_analyzer_params``)."""
    raw = params.get("multi_analyzer_params")
    if raw is None:
        return None
    return _parsed(field, raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _parsed(field: str, text: str) -> MultiAnalyzer:
    try:
        conf = json.loads(text)
    except ValueError as exc:
        raise errors.invalid(str(exc)) from None
    by = conf.get("by_field") if isinstance(conf, dict) else None
    if not isinstance(conf, dict) or "by_field" not in conf:
        raise errors.invalid(
            "multi analyzer params now must set by_field to specify with field decide analyzer"
        )
    if not isinstance(by, str):
        raise errors.invalid(
            f"multi analyzer params by_field must be string but now: {json.dumps(by)}"
        )
    alias = conf.get("alias", {})
    if not isinstance(alias, dict) or not all(isinstance(v, str) for v in alias.values()):
        raise errors.invalid(
            f"multi analyzer alias must be string map but now: {json.dumps(alias)}"
        )
    if "analyzers" not in conf:
        raise errors.invalid("multi analyzer params must set analyzers ")
    if not isinstance(conf["analyzers"], dict):
        raise errors.invalid("unmarshal analyzers failed: the analyzers must be a json map")
    analyzers = []
    for name, params in conf["analyzers"].items():
        try:
            analyzers.append((name, analyzer_for(field, {"analyzer_params": params})))
        except MilvusException as exc:  # the analyzer's own error, quoted
            raise errors.invalid(f"analyzer {name} params invalid: {exc.message}") from None
    if "default" not in conf["analyzers"]:
        raise errors.invalid("multi analyzer must set default analyzer for all unknown value")
    return MultiAnalyzer(by, tuple(analyzers), tuple(alias.items()))


def check(field: Any, fields: Sequence[Any], collection: str) -> None:
    """The proxy's checks of a text field's multi-language analyzers against its schema."""
    multi = of_field(field.name, field.params)
    if multi is None:
        return
    if field.params.get("enable_match"):
        raise errors.invalid(
            f"multi analyzer now only support for bm25, but now field {field.name} enable match"
        )
    if field.params.get("analyzer_params") is not None:
        raise errors.invalid(
            f"field {field.name} analyzer params should be none if has multi analyzer params"
        )
    by = next((f for f in fields if f.name == multi.by_field), None)
    if by is None:
        raise errors.invalid(
            f'multi analyzer dependent field "{multi.by_field}" not exist in collection '
            f"{collection}"
        )
    if by.dtype != DataType.VARCHAR:
        raise errors.invalid(
            f"multi analyzer params now only support by string field, but field {by.name} is "
            "not string"
        )
