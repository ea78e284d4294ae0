"""Client-side argument checks and normalisation, as pymilvus does them before an RPC.

Each function takes what a user passed to a MilvusClient method and returns the engine's
inputs, or raises the exception pymilvus would (code 1, pymilvus's classes and wording).
pymilvus's own checkers are reused where they exist.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from pymilvus.client.check import check_pass_param
from pymilvus.client.embedding_list import EmbeddingList
from pymilvus.exceptions import InvalidConsistencyLevel

from gpu_milvus import errors, timestamptz
from gpu_milvus.engine.bm25 import TextQueries
from gpu_milvus.engine.reads import GroupBy, VectorRequest
from gpu_milvus.storage.ingest import sparse_matrix
from gpu_milvus.structs import EmbeddingLists
from gpu_milvus.vectors import ByteQueries, byte_queries

_CONSISTENCY = {"strong": 0, "session": 1, "bounded": 2, "eventually": 3, "customized": 4}
_NAMES = {0: "Strong", 1: "Session", 2: "Bounded", 3: "Eventually", 4: "Customized"}


class WrongArgumentType(TypeError):
    """The TypeError pymilvus raises for a wrongly typed ``data`` or ``ids`` argument."""


def consistency(kwargs: dict[str, Any], default: int = 2) -> int:
    """Validate a ``consistency_level`` kwarg; reads are always Strong locally."""
    level = kwargs.get("consistency_level", default)
    if isinstance(level, str) and level.lower() in _CONSISTENCY:
        return _CONSISTENCY[level.lower()]
    if isinstance(level, int) and not isinstance(level, bool) and level in _NAMES:
        return level
    raise InvalidConsistencyLevel(message=f"invalid consistency level: {level}")


def consistency_name(level: int) -> str:
    return _NAMES[level]


def rows_of(data: Any) -> list[Any]:
    """insert/upsert ``data``: a dict or a list of dicts (TypeError otherwise, as pymilvus)."""
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise WrongArgumentType(
        f"wrong type of argument 'data',expected 'Dict' or list of 'Dict', "
        f"got '{type(data).__name__}'"
    )


def id_list(ids: Any) -> list[Any]:
    """delete/get ``ids``: int, str or a list of them."""
    if isinstance(ids, (int, str)) and not isinstance(ids, bool):
        return [ids]
    if isinstance(ids, (list, tuple, np.ndarray)):
        out = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        for i in out:
            if not isinstance(i, (int, str)) or isinstance(i, bool):
                raise WrongArgumentType(
                    f"wrong type of argument ids, expect list, int or str, got '{type(i).__name__}'"
                )
        return out
    raise WrongArgumentType(
        f"wrong type of argument ids, expect list, int or str, got '{type(ids).__name__}'"
    )


def check_filter(expr: Any) -> str:
    if not isinstance(expr, str):
        raise errors.DataTypeNotMatchException(
            message=f"The type of expr must be string ,but {type(expr)} is given."
        )
    return expr


def _is_sparse_like(item: Any) -> bool:
    return isinstance(item, dict) or sp.issparse(item)


def _checked_sparse(queries: sp.csr_matrix) -> sp.csr_matrix:
    """Segcore validates sparse search rows: finite, non-negative values."""
    if not np.isfinite(queries.data).all():
        raise errors.server(errors.SEGCORE_ERROR, "Invalid sparse row: non-finite value")
    if (queries.data < 0).any():
        raise errors.server(errors.SEGCORE_ERROR, "Invalid sparse row: negative value")
    return queries


def plain_dense(data: Any) -> np.ndarray | None:
    """The common case, a list of numeric vectors, without pymilvus's per-item type probing
    (which accepts exactly these); None for anything else."""
    if type(data) is not list or not data or not isinstance(data[0], (list, np.ndarray)):
        return None
    if isinstance(data[0], np.ndarray) and data[0].dtype not in (np.float32, np.float64):
        return None  # float16, int8, uint8...: a byte vector type
    try:
        matrix = np.asarray(data)
    except ValueError:  # ragged
        return None
    if matrix.ndim != 2 or matrix.shape[1] == 0 or matrix.dtype.kind not in "fi":
        return None
    return np.ascontiguousarray(matrix, dtype=np.float32)


def search_vectors(data: Any) -> np.ndarray | sp.csr_matrix | TextQueries | ByteQueries:
    """Query vectors as a float32 (nq, dim) matrix, a CSR matrix, text, or the bytes of a
    byte vector type, after pymilvus's checks."""
    if isinstance(data, np.ndarray) and data.ndim == 2 and data.dtype == np.float32:
        return np.ascontiguousarray(data)  # pymilvus accepts these as they are
    if isinstance(data, list) and data and all(isinstance(q, EmbeddingList) for q in data):
        return EmbeddingLists(np.asarray(q.to_flat_array(), dtype=np.float32) for q in data)
    plain = plain_dense(data)
    if plain is not None:
        return plain
    typed = byte_queries(data)
    if typed is not None:
        return typed
    if sp.issparse(data):
        return _checked_sparse(sp.csr_matrix(data, dtype=np.float32))
    check_pass_param(search_data=data)
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise errors.ParamError(message=f"`search_data` value {data} is illegal")
        return np.ascontiguousarray(data, dtype=np.float32)
    items = list(data)
    if not items:
        raise errors.ParamError(message=f"`search_data` value {data} is illegal")
    if all(isinstance(i, str) for i in items):
        return TextQueries(items)  # full-text search (a BM25 function's output field)
    if all(_is_sparse_like(i) for i in items) or (
        isinstance(items[0], (list, tuple)) and items[0] and isinstance(items[0][0], (list, tuple))
    ):
        return _checked_sparse(sparse_matrix(items, check_values=False))
    try:
        matrix = np.asarray(items, dtype=np.float32)
    except (TypeError, ValueError):
        raise errors.ParamError(message=f"`search_data` value {data} is illegal") from None
    if matrix.ndim != 2:
        raise errors.ParamError(message=f"`search_data` value {data} is illegal")
    return matrix


def merged_search_params(search_params: dict[str, Any] | None) -> dict[str, Any]:
    """Flatten ``search_params`` and its ``params`` into one dict, as pymilvus 2.5+ does."""
    top = dict(search_params or {})
    inner = top.pop("params", None) or {}
    if not isinstance(inner, dict):
        raise errors.ParamError(message=f"search_params['params'] must be a dict, got {inner!r}")
    for key, value in inner.items():
        if key in top and top[key] != value:
            raise errors.ParamError(
                message=f"ambiguous parameter: {key}, in search_param: {top[key]}, "
                f"in search_param.params: {value}"
            )
        top[key] = value
    return top


def time_options(*sources: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """A read's ``timezone`` (None: the collection's) and ``time_fields`` components, from
    the first of ``sources`` (kwargs, then search params) that has each."""
    zone = next((src["timezone"] for src in sources if src.get("timezone") is not None), None)
    parts = next((src["time_fields"] for src in sources if src.get("time_fields")), None)
    return (
        timestamptz.check_timezone(zone) if zone is not None else None,
        timestamptz.parse_time_fields(parts) if parts is not None else (),
    )


def vector_request(
    data: Any,
    anns_field: str | None,
    limit: Any,
    filter_expr: Any,
    filter_params: dict[str, Any] | None,
    params: dict[str, Any],
) -> VectorRequest:
    """One normalised ANN request (search or a hybrid sub-request)."""
    if not (type(limit) is int and limit > 0 and (anns_field is None or type(anns_field) is str)):
        check_pass_param(limit=limit, anns_field=anns_field)  # raises pymilvus's error
    expr = check_filter(filter_expr if filter_expr is not None else "")
    vectors = search_vectors(data)
    drop = params.get("drop_ratio_search")
    if drop is not None and sp.issparse(vectors):
        vectors = _drop_small(vectors, float(drop))
    return VectorRequest(
        anns_field=anns_field,
        data=vectors,
        limit=limit,
        filter=expr,
        filter_params=filter_params,
        metric_type=params.get("metric_type"),
        radius=_float_or_none(params.get("radius")),
        range_filter=_float_or_none(params.get("range_filter")),
        mh_search_with_jaccard=str(params.get("mh_search_with_jaccard")).lower() == "true",
        analyzer_name=params.get("analyzer_name"),
    )


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise errors.invalid(f"range search parameter {value!r} must be a number") from None


def _drop_small(queries: sp.csr_matrix, ratio: float) -> sp.csr_matrix:
    """drop_ratio_search: drop the smallest ``ratio`` of each query's values."""
    if not 0 <= ratio < 1:
        raise errors.invalid(f"drop_ratio_search must be in range [0, 1), got {ratio}")
    if ratio == 0:
        return queries
    q = queries.tolil()
    for i in range(q.shape[0]):
        values = np.asarray(q.data[i], dtype=np.float32)
        drop = int(len(values) * ratio)
        if drop:
            keep = np.sort(np.argsort(np.abs(values), kind="stable")[drop:])
            q.rows[i] = [q.rows[i][j] for j in keep]
            q.data[i] = [q.data[i][j] for j in keep]
    return q.tocsr()


def search_offset(kwargs: dict[str, Any], params: dict[str, Any]) -> int:
    if "offset" in kwargs and "offset" in params:
        raise errors.ParamError(message="Provide offset both in kwargs and param, expect just one")
    offset = kwargs.get("offset", params.get("offset", 0)) or 0
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise errors.ParamError(message=f"`offset` value {offset} is illegal")
    return offset


def round_decimal(kwargs: dict[str, Any]) -> int:
    """The ``round_decimal`` kwarg (-1 = no rounding, else 0..6 decimals)."""
    if "round_decimal" not in kwargs:
        return -1
    value = kwargs["round_decimal"]
    check_pass_param(round_decimal=value)
    return int(value)


def rounded(distances: list[float], decimals: int) -> list[float]:
    """The server rounds float32 distances half away from zero; pymilvus then applies round()."""
    if decimals < 0:
        return distances
    scale = 10.0**decimals
    values = np.asarray(distances, dtype=np.float64) * scale
    server = (np.sign(values) * np.floor(np.abs(values) + 0.5) / scale).astype(np.float32)
    out = server.tolist()
    return [round(x, decimals) for x in out] if decimals > 0 else out


def group_by(kwargs: dict[str, Any], params: dict[str, Any]) -> GroupBy | None:
    """search's grouping kwargs (``group_by_field`` may also sit in search_params)."""
    field = kwargs.get("group_by_field", params.get("group_by_field"))
    if not field:
        return None
    if not isinstance(field, str):
        raise errors.ParamError(message=f"group_by_field must be a str, got {field!r}")
    size = kwargs.get("group_size", params.get("group_size", 1))
    strict = kwargs.get("strict_group_size", params.get("strict_group_size", False))
    return GroupBy(field, size if isinstance(size, int) else -1, bool(strict))
