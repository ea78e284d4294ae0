"""search(highlighter=LexicalHighlighter(...)): tagged fragments of each hit's text fields.

As Milvus 2.6.8+ (``internal/proxy/highlighter.go``, the delegator's ``GetHighlight``): a
token of the field's analyzer is highlighted when it is a token of the hit's BM25 query text
(``highlight_search_text``) or of a ``TextMatch`` ``highlight_query`` on that field. Matched
spans merge when they overlap or touch and are counted in characters. A fragment starts
``fragment_offset`` characters before its first span and runs ``fragment_size`` characters
(never cutting a span); a span past its end starts the next one, up to ``num_of_fragments``.
Tags cycle over ``pre_tags`` / ``post_tags`` by the span's place in its fragment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymilvus.client.types import HighlightType

from gpu_milvus import errors
from gpu_milvus.schema import CollectionSpec
from gpu_milvus.text import Analyzer

DEFAULTS = {"fragment_size": 100, "num_of_fragments": 5, "fragment_offset": 0}


@dataclass(frozen=True)
class FieldTask:
    """One field's highlighting: its analyzer, whether each query's search text counts, and
    the tokens of its ``highlight_query`` texts."""

    name: str
    analyzer: Analyzer
    search_text: bool = False
    query_tokens: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Highlight:
    tasks: tuple[FieldTask, ...]
    pre_tags: tuple[str, ...] = ("<em>",)
    post_tags: tuple[str, ...] = ("</em>",)
    fragment_size: int = 100
    num_of_fragments: int = 5
    fragment_offset: int = 0
    texts: tuple[str, ...] = field(default=())  # the search's query texts, one per query

    def fragments(self, task: FieldTask, text: str | None, query: int) -> list[str]:
        """The tagged fragments of one hit's ``text`` for the ``query``-th search text."""
        if not text:
            return []
        wanted = set(task.query_tokens)
        if task.search_text and query < len(self.texts):
            wanted |= set(task.analyzer.tokens(self.texts[query]))
        spans: list[list[int]] = []
        starts = _char_starts(text)
        for token, start, end, *_ in task.analyzer.positioned(text):
            if token in wanted:
                span = [starts[start], starts[end]]
                if spans and span[0] <= spans[-1][1]:  # overlapping or touching: one span
                    spans[-1][1] = max(spans[-1][1], span[1])
                else:
                    spans.append(span)
        return [self._tagged(text, frag) for frag in self._cut(spans, len(text))]

    def _cut(self, spans: list[list[int]], length: int) -> list[list[Any]]:
        out: list[list[Any]] = []
        frag: list[Any] | None = None  # [start, end, spans]
        for span in spans:
            if frag is not None and span[0] <= frag[1]:
                frag[2].append(span)
                frag[1] = max(frag[1], span[1])
                continue
            if frag is not None:
                out.append(frag)
            if len(out) >= self.num_of_fragments:
                return out
            start = max(0, span[0] - self.fragment_offset)
            frag = [start, min(max(span[1], start + self.fragment_size), length), [span]]
        if frag is not None:
            out.append(frag)
        return out

    def _tagged(self, text: str, frag: list[Any]) -> str:
        start, end, spans = frag
        parts, at = [], start
        for i, (a, b) in enumerate(spans):
            pre = self.pre_tags[i % len(self.pre_tags)]
            post = self.post_tags[i % len(self.post_tags)]
            parts += [text[at:a], pre, text[a:b], post]
            at = b
        parts.append(text[at:end])
        return "".join(parts)


def _char_starts(text: str) -> dict[int, int]:
    """UTF-8 byte offset -> character offset, at every character boundary (and the end)."""
    out, byte = {}, 0
    for i, ch in enumerate(text):
        out[byte] = i
        byte += len(ch.encode())
    out[byte] = len(text)
    return out


def _count(params: dict[str, Any], key: str, least: int) -> int:
    raw = params.get(key, DEFAULTS[key])
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < least:
        raise errors.invalid(f"invalid {key}: {raw}: invalid parameter")
    return raw


def _tags(params: dict[str, Any], key: str, default: str) -> tuple[str, ...]:
    raw = params.get(key)
    if raw is None:
        return (default,)
    if not isinstance(raw, (list, tuple)) or not all(isinstance(t, str) for t in raw):
        raise errors.invalid(f"unmarshal {key} as string array failed: {raw}: invalid parameter")
    if not raw:
        raise errors.invalid(f"{key} cannot be empty list: invalid parameter")
    return tuple(raw)


def parse(
    highlighter: Any, spec: CollectionSpec, anns: Any, metric: str, texts: Sequence[Any]
) -> Highlight:
    """The checked highlighting of one search on the field ``anns`` with ``metric``."""
    if getattr(highlighter, "type", None) != HighlightType.LEXICAL:
        raise errors.invalid(
            "only the lexical highlighter is supported by gpu_milvus (the semantic one calls "
            "a model service)"
        )
    params = dict(highlighter.params)
    search_text = params.get("highlight_search_text", False)
    if not isinstance(search_text, bool):
        raise errors.invalid(
            f"unmarshal highlight_search_text as bool failed: {search_text}: invalid parameter"
        )
    tasks: dict[str, FieldTask] = {}
    if search_text:
        if metric != "BM25":
            raise errors.invalid(
                f'Search highlight only support with metric type "BM25" but was: {metric}: '
                "invalid parameter"
            )
        source = spec.field(spec.function_for(anns.name).input)  # type: ignore[union-attr]
        assert source is not None
        tasks[source.name] = FieldTask(source.name, source.analyzer, search_text=True)
    for query in params.get("highlight_query") or []:
        if not isinstance(query, dict):
            raise errors.invalid(
                f"unmarshal highlight queries as json array failed: {query}: invalid parameter"
            )
        for key in ("type", "field", "text"):
            if key not in query:
                raise errors.invalid(
                    f"unmarshal highlight queries failed: must set `{key}` in query: "
                    "invalid parameter"
                )
        if query["type"] != "TextMatch":
            raise errors.invalid(
                "unmarshal highlight queries failed: invalid highlight query type: "
                f"{query['type']}: invalid parameter"
            )
        f = spec.field(query["field"])
        if f is None:
            raise errors.invalid(f"highlight field not found in schema: {query['field']}")
        if not f.params.get("enable_analyzer"):
            raise errors.invalid(
                f"get highlight failed, the highlight field not found, {f.name}:{f.field_id}"
            )
        old = tasks.get(f.name, FieldTask(f.name, f.analyzer))
        tokens = old.query_tokens | set(f.analyzer.tokens(str(query["text"])))
        tasks[f.name] = FieldTask(f.name, f.analyzer, old.search_text, frozenset(tokens))
    return Highlight(
        tuple(tasks.values()),
        _tags(params, "pre_tags", "<em>"),
        _tags(params, "post_tags", "</em>"),
        _count(params, "fragment_size", 1),
        _count(params, "num_of_fragments", 0),
        _count(params, "fragment_offset", 0),
        tuple(str(t) for t in texts) if search_text else (),
    )
