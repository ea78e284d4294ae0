"""query_iterator and search_iterator (sync client only, as in pymilvus).

Both page with a cursor, as pymilvus does against a server: the query iterator by primary key
(``pk > last`` and the user's filter, pk ascending); the search iterator by distance (a range
search starting at the last page's worst distance, excluding the keys already returned at
that distance). ``next()`` returns a page, empty once the iterator is exhausted or its
``limit`` is reached; ``close()`` ends it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pymilvus.exceptions import ParamError

MAX_BATCH_SIZE = 16384


def _check_batch_size(batch_size: Any) -> int:
    if not isinstance(batch_size, int) or batch_size < 0:
        raise ParamError(message="batch size cannot be less than zero")
    if batch_size > MAX_BATCH_SIZE:
        raise ParamError(message=f"batch size cannot be larger than {MAX_BATCH_SIZE}")
    return batch_size


def _literal(value: Any) -> str:
    """A primary-key value as a filter literal (strings double-quoted, escaped)."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(int(value))


def _and(*exprs: str | None) -> str:
    return " and ".join(f"({e})" for e in exprs if e)


class QueryIterator:
    """Pages of query rows in primary-key order."""

    def __init__(
        self, client: Any, collection_name: str, batch_size: Any, limit: Any, filter: Any,
        output_fields: Any, partition_names: Any, kwargs: dict[str, Any],
    ) -> None:  # fmt: skip
        self._client = client
        self._name = collection_name
        self._batch = _check_batch_size(batch_size)
        self._limit = limit if isinstance(limit, int) and limit >= 0 else -1
        self._filter = filter or ""
        fields = list(output_fields or [])
        if any(isinstance(f, str) and f.strip().lower() == "count(*)" for f in fields):
            raise ParamError(message="count entities with pagination is not allowed")
        self._fields = output_fields
        self._partitions = partition_names
        self._pk = client.describe_collection(collection_name)["fields"]
        self._pk_name = next(f["name"] for f in self._pk if f.get("is_primary"))
        self._last: Any = None
        self._returned = 0
        self._closed = False
        skip = int(kwargs.get("offset", 0) or 0)
        while skip > 0 and not self._closed:
            skipped = self._page(min(skip, MAX_BATCH_SIZE))
            if not skipped:
                break
            skip -= len(skipped)

    def _page(self, size: int) -> list[dict[str, Any]]:
        cursor = None if self._last is None else f"{self._pk_name} > {_literal(self._last)}"
        expr = _and(self._filter, cursor)
        rows = self._client.query(
            self._name, filter=expr, output_fields=self._fields,
            partition_names=self._partitions, limit=size,
        )  # fmt: skip
        if rows:
            self._last = rows[-1][self._pk_name]
        return rows  # type: ignore[no-any-return]

    def next(self) -> list[dict[str, Any]]:
        if self._closed or (self._limit >= 0 and self._returned >= self._limit):
            return []
        size = self._batch if self._limit < 0 else min(self._batch, self._limit - self._returned)
        if size <= 0:
            return []
        rows = self._page(size)
        self._returned += len(rows)
        return rows

    def close(self) -> None:
        self._closed = True


class SearchIterator:
    """Pages of one query vector's hits, best first, across the whole collection."""

    def __init__(
        self, client: Any, collection_name: str, data: Any, batch_size: Any, filter: Any,
        limit: Any, output_fields: Any, search_params: Any, partition_names: Any,
        anns_field: Any, round_decimal: int, external_filter_func: Callable[..., Any] | None,
    ) -> None:  # fmt: skip
        if data is None or len(data) == 0:
            raise ParamError(message="vector_data for search cannot be empty")
        if len(data) > 1:
            raise ParamError(
                message="Not support search iteration over multiple vectors at present"
            )
        self._client = client
        self._name = collection_name
        self._data = data
        self._batch = _check_batch_size(batch_size)
        self._limit = limit if isinstance(limit, int) and limit >= 0 else -1
        self._filter = filter or ""
        self._fields = output_fields
        self._params = dict(search_params or {})
        if "offset" in self._params:
            raise ParamError(message="Not support offset when searching iteration")
        self._partitions = partition_names
        self._anns_field = anns_field
        self._round = round_decimal
        self._external = external_filter_func
        self._pk_name = next(
            f["name"]
            for f in client.describe_collection(collection_name)["fields"]
            if f.get("is_primary")
        )
        self._bound: float | None = None
        self._at_bound: list[Any] = []
        self._returned = 0
        self._exhausted = False

    def _fetch(self, size: int) -> list[Any]:
        """The next ``size`` hits after the cursor, without the external filter."""
        params = dict(self._params)
        inner = dict(params.pop("params", None) or {})
        exclude = None
        if self._bound is not None:
            inner["range_filter"] = self._bound
            keys = ", ".join(_literal(k) for k in self._at_bound)
            exclude = f"{self._pk_name} not in [{keys}]" if self._at_bound else None
        params["params"] = inner
        hits = self._client.search(
            self._name, data=self._data, filter=_and(self._filter, exclude), limit=size,
            output_fields=self._fields, search_params=params,
            partition_names=self._partitions, anns_field=self._anns_field,
            round_decimal=self._round,
        )[0]  # fmt: skip
        for hit in hits:
            if self._bound is None or hit["distance"] != self._bound:
                self._bound = hit["distance"]
                self._at_bound = []
            self._at_bound.append(hit[self._pk_name])
        return list(hits)

    def next(self) -> list[Any]:
        if self._exhausted or (self._limit >= 0 and self._returned >= self._limit):
            return []
        want = self._batch if self._limit < 0 else min(self._batch, self._limit - self._returned)
        page: list[Any] = []
        while len(page) < want:
            hits = self._fetch(want - len(page))
            if not hits:
                self._exhausted = True
                break
            page.extend(self._external(hits) if self._external is not None else hits)
        self._returned += len(page)
        return page

    def close(self) -> None:
        self._exhausted = True
