"""LocalCore's search methods: search and hybrid_search, each split into the checks and
normalised request (``prepare_*``, run at once or batched by the async scheduler) and the
pymilvus result (``finish_search``), with the ranker and highlighter applied there."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pymilvus import AnnSearchRequest, Function, FunctionScore
from pymilvus.client.check import check_id_and_data
from pymilvus.exceptions import ParamError

from gpu_milvus import errors, highlight
from gpu_milvus.client import _args
from gpu_milvus.engine import reads, rescore
from gpu_milvus.engine.collection import Collection
from gpu_milvus.engine.output import plan_outputs
from gpu_milvus.highlight import Highlight
from gpu_milvus.rerank import Ranker, SearchRanker, parse_function_ranker, parse_search_ranker
from gpu_milvus.results import search_result


class SearchMethods:
    """Mixed into ``LocalCore``; every method has pymilvus 3.0's signature."""

    def _coll(self, name: str, *, describe_style: bool = False) -> Collection:
        raise NotImplementedError

    def search(
        self, collection_name: str, data: list | None = None, filter: str = "", limit: int = 10,
        output_fields: list[str] | None = None, search_params: dict | None = None,
        timeout: float | None = None, partition_names: list[str] | None = None,
        anns_field: str | None = None, ranker: Any = None, function_chains: Any = None,
        highlighter: Any = None, ids: list | str | int | None = None,
        search_aggregation: Any = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        """Exact top-k per query vector; returns pymilvus's SearchResult."""
        features = {
            "ranker": ranker,
            "function_chains": function_chains,
            "highlighter": highlighter,
            "search_aggregation": search_aggregation,
        }
        prepared = self.prepare_search(
            collection_name, data, filter, limit, output_fields, search_params,
            partition_names, anns_field, ids, features, kwargs,
        )  # fmt: skip
        outcome = reads.search_batch(prepared.coll, prepared.items)[0]
        if isinstance(outcome, Exception):
            raise outcome
        return self.finish_search(prepared, [outcome])

    def prepare_search(
        self, collection_name: str, data: Any, filter: Any, limit: Any, output_fields: Any,
        search_params: Any, partition_names: Any, anns_field: Any, ids: Any,
        features: dict[str, Any], kwargs: dict[str, Any],
    ) -> PreparedSearch:  # fmt: skip
        """pymilvus's client-side checks and the normalised request of one search call
        (``features``: the keyword features given; a ``ranker`` and a ``highlighter`` are
        taken, the others refused)."""
        ranker, highlighter = features.get("ranker"), features.get("highlighter")
        for name, value in features.items():
            if value is not None and name not in ("ranker", "highlighter"):
                raise errors.invalid(f"search with {name} is not supported by gpu_milvus yet")
        if ranker is not None and not isinstance(ranker, (Function, FunctionScore)):
            raise ParamError(message="The search ranker must be a Function or FunctionScore.")
        plain = None if ids is not None else _args.plain_dense(data)
        if plain is None:  # plain vectors pass pymilvus's checks anyway
            check_id_and_data(ids, data)
        else:
            data = plain  # converted once
        if kwargs or search_params:
            _args.consistency(kwargs)
            params = _args.merged_search_params(search_params)
            offset = _args.search_offset(kwargs, params)
            decimals = _args.round_decimal(kwargs)
        else:  # the common call: nothing to check beyond the data and limit
            params, offset, decimals = {}, 0, -1
        coll = self._coll(collection_name)
        if ids is not None:
            data = self._vectors_of(coll, _args.id_list(ids), anns_field)
        req = _args.vector_request(
            data, anns_field, limit, filter, kwargs.get("filter_params"), params
        )
        group_by = _args.group_by(kwargs, params) if kwargs or params else None
        zone, parts = _args.time_options(kwargs, params) if kwargs or params else (None, ())
        rerank = parse_search_ranker(ranker, coll.spec) if ranker is not None else None
        if rerank is not None and group_by is not None:
            raise errors.invalid(
                "don't support use segment scorer with group_by or search_iterator"
                if rerank.boosts
                else "Current rerank does not support grouping search"
            )
        window = (offset, req.limit)
        if rerank is not None and rerank.boosts:  # every candidate is rescored, then paged
            req, offset = dataclasses.replace(req, limit=req.limit + offset), 0
        item = reads.SearchItem(req, offset, output_fields, partition_names, group_by, zone, parts)
        marks = None
        if highlighter is not None:
            field = reads.anns_field(coll, req.anns_field)
            index = coll.index_for_field(field.name)
            metric = (index.metric_type or "") if index is not None else ""
            marks = highlight.parse(highlighter, coll.spec, field, metric, req.data)
        return PreparedSearch(coll, [item], decimals, rerank=rerank, window=window, highlight=marks)

    def finish_search(
        self, prepared: PreparedSearch, outcomes: list[tuple[list[reads.SearchHits], str]]
    ) -> Any:
        """Engine outcomes -> pymilvus SearchResult (fusing first for a hybrid search)."""
        coll = prepared.coll
        if prepared.fusion is None:
            hits = outcomes[0][0]
            if prepared.rerank is not None:
                item = prepared.items[0]
                rescore.rerank_pages(
                    coll, prepared.rerank, hits, outcomes[0][1], prepared.window, item.timezone
                )
            if prepared.highlight is not None:
                rescore.highlight_pages(coll, prepared.highlight, hits)
        else:
            hits = reads.fuse_and_fetch(
                coll, outcomes, prepared.fusion, prepared.limit, prepared.offset,
                prepared.output_fields, prepared.timezone, prepared.time_parts,
            )  # fmt: skip
        return search_result(hits, coll.spec.primary.name, prepared.round_decimal)

    def _vectors_of(self, coll: Collection, keys: list[Any], anns_field: str | None) -> Any:
        field = anns_field or (coll.spec.vector_fields[0].name if coll.spec.vector_fields else "")
        rows = reads.query(coll, "", None, [field], keys, None, None, 0, wrap_bytes=False)
        if len(rows) != len(keys):
            raise errors.invalid("some of the ids to search by do not exist")
        return [r[field] for r in rows]

    def hybrid_search(
        self, collection_name: str, reqs: list, ranker: Any, limit: int = 10,
        output_fields: list[str] | None = None, timeout: float | None = None,
        partition_names: list[str] | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        """Each AnnSearchRequest with its own filter and limit, fused by the ranker."""
        prepared = self.prepare_hybrid(
            collection_name, reqs, ranker, limit, output_fields, partition_names, kwargs
        )
        outcomes = reads.search_batch(prepared.coll, prepared.items)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return self.finish_search(prepared, outcomes)  # type: ignore[arg-type]

    def prepare_hybrid(
        self, collection_name: str, reqs: Any, ranker: Any, limit: Any, output_fields: Any,
        partition_names: Any, kwargs: dict[str, Any],
    ) -> PreparedSearch:  # fmt: skip
        """Checks and normalised sub-requests of one hybrid_search call."""
        if not reqs:
            raise ParamError(message="reqs should not be empty")
        if not all(isinstance(r, AnnSearchRequest) for r in reqs):
            raise ParamError(message="reqs should be a list of AnnSearchRequest")
        _args.consistency(kwargs)
        decimals = _args.round_decimal(kwargs)
        offset = kwargs.get("offset", 0) or 0
        requests = []
        for r in reqs:
            params = _args.merged_search_params(r.param)
            requests.append(
                _args.vector_request(r.data, r.anns_field, r.limit, r.expr, r.expr_params, params)
            )
        coll = self._coll(collection_name)
        fusion = parse_function_ranker(ranker, coll.spec, len(requests))
        reads.check_hybrid(requests, limit, offset)
        zone, parts = _args.time_options(kwargs)
        plan_outputs(coll.spec, output_fields, always_pk=False)
        items = [reads.SearchItem(r, 0, None, partition_names, None, zone) for r in requests]
        return PreparedSearch(
            coll, items, decimals, fusion, limit, offset, output_fields, zone, parts
        )


@dataclass(slots=True)
class PreparedSearch:
    """A checked search or hybrid search, ready for the engine (directly or batched)."""

    coll: Collection
    items: list[reads.SearchItem]
    round_decimal: int = -1
    fusion: Ranker | None = None  # a hybrid search's
    limit: int = 10
    offset: int = 0
    output_fields: Any = None
    timezone: str | None = None  # a hybrid search's, for its outputs
    time_parts: tuple[str, ...] = ()
    rerank: SearchRanker | None = None  # a plain search's ``ranker``
    window: tuple[int, int] = (0, 10)  # its (offset, limit)
    highlight: Highlight | None = None  # a plain search's ``highlighter``
