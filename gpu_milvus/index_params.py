"""pymilvus IndexParams in, validated ``IndexSpec`` out, and describe_index dicts.

Every vector index type Milvus accepts is accepted and recorded; the search itself is always
exact brute force (recall 1.0), so index parameters only affect what describe_index reports.
Defaults follow the server: an empty index_type is AUTOINDEX, a missing metric is COSINE for
dense vectors, HAMMING for binary and IP for sparse ones, and the index is named after its
field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pymilvus import DataType
from pymilvus.client.utils import dumps as pymilvus_dumps

from gpu_milvus import errors
from gpu_milvus.engine.backend import METRICS_BINARY, METRICS_DENSE, METRICS_SPARSE
from gpu_milvus.schema import CollectionSpec, FieldSpec
from gpu_milvus.structs import EMB_LIST_INDEXES, MAX_SIM_METRICS

DENSE_INDEX_TYPES = frozenset(
    {
        "FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "IVF_RABITQ", "HNSW", "HNSW_SQ", "HNSW_PQ",
        "HNSW_PRQ", "DISKANN", "SCANN", "AUTOINDEX", "GPU_CAGRA", "GPU_IVF_FLAT", "GPU_IVF_PQ",
        "GPU_BRUTE_FORCE",
    }
)  # fmt: skip
# knowhere's index table (index_table.h): which index types each byte vector type takes
_HNSW = {"HNSW", "HNSW_SQ", "HNSW_PQ", "HNSW_PRQ", "AUTOINDEX"}
_GPU = {"GPU_BRUTE_FORCE", "GPU_IVF_FLAT", "GPU_IVF_PQ", "GPU_CAGRA"}
INDEX_TYPES: dict[DataType, frozenset[str]] = {
    DataType.FLOAT_VECTOR: DENSE_INDEX_TYPES,
    DataType.FLOAT16_VECTOR: DENSE_INDEX_TYPES,
    DataType.BFLOAT16_VECTOR: DENSE_INDEX_TYPES - _GPU,
    DataType.INT8_VECTOR: frozenset(_HNSW | _GPU - {"GPU_BRUTE_FORCE"}),
    DataType.BINARY_VECTOR: frozenset(
        {"BIN_FLAT", "BIN_IVF_FLAT", "HNSW", "GPU_CAGRA", "AUTOINDEX", "MINHASH_LSH"}
    ),
}
# MinHash signatures: MHJACCARD on these indexes only, and MINHASH_LSH with no other metric
_MHJACCARD_INDEXES = frozenset({"BIN_FLAT", "MINHASH_LSH", "AUTOINDEX"})
SPARSE_INDEX_TYPES = frozenset({"SPARSE_INVERTED_INDEX", "SPARSE_WAND", "AUTOINDEX"})
SCALAR_INDEX_TYPES = frozenset(
    {"INVERTED", "STL_SORT", "Trie", "BITMAP", "AUTOINDEX", "NGRAM", "RTREE"}
)


@dataclass(frozen=True)
class IndexSpec:
    """One index on one field, as created."""

    index_name: str
    field_name: str
    index_type: str
    metric_type: str | None
    params: dict[str, Any] = field(default_factory=dict)

    def same_as(self, other: IndexSpec) -> bool:
        return (self.field_name, self.index_type, self.metric_type, self.params) == (
            other.field_name,
            other.index_type,
            other.metric_type,
            other.params,
        )


def index_spec(spec: CollectionSpec, index_param: Any) -> IndexSpec:
    """Validate one pymilvus IndexParam against the collection as the server does."""
    field_name = index_param.field_name
    f = spec.search_field(field_name) if isinstance(field_name, str) else None
    if f is None:
        raise errors.invalid(f"cannot create index on non-exist field: {field_name}")
    configs = dict(getattr(index_param, "_configs", {}) or {})
    index_type = index_param.index_type or configs.get("index_type") or ""
    metric = configs.get("metric_type")
    metric = str(metric).upper() if metric not in (None, "") else None
    name = index_param.index_name or field_name
    params = {k: v for k, v in configs.items() if k not in ("index_type", "metric_type")}
    if f.is_binary:
        index_type = index_type or "AUTOINDEX"
        _check_type(f, index_type, INDEX_TYPES[f.dtype])
        metric = metric or ("MHJACCARD" if f.is_function_output else "HAMMING")
        _check_binary(f, index_type, metric, params)
    elif f.is_dense:
        index_type = index_type or "AUTOINDEX"
        _check_type(f, index_type, INDEX_TYPES[f.dtype])
        metric = metric or "COSINE"
        _check_metric(f, metric, METRICS_DENSE)
    elif f.struct_vector:
        index_type = index_type or "AUTOINDEX"
        if index_type not in EMB_LIST_INDEXES:
            raise errors.invalid(
                f"data type ArrayOfVector can't build with this index {index_type}: "
                "invalid parameter"
            )
        metric = metric or "MAX_SIM_COSINE"
        if metric not in MAX_SIM_METRICS:
            raise errors.invalid(
                f"array of vectors index does not support metric type: {metric}: invalid "
                f"parameter[expected={' '.join(MAX_SIM_METRICS)}][actual={metric}]"
            )
    elif f.is_sparse:
        index_type = index_type or "AUTOINDEX"
        _check_type(f, index_type, SPARSE_INDEX_TYPES)
        metric = metric or ("BM25" if f.is_function_output else "IP")
        if (metric == "BM25") != f.is_function_output:
            raise errors.invalid(
                f"only BM25 function output fields support the BM25 metric and they support "
                f"no other, field: {f.name}, metric type: {metric}: invalid parameter"
            )
        _check_metric(f, metric, (*METRICS_SPARSE, "BM25"))
    else:
        index_type = index_type or "AUTOINDEX"
        _check_type(f, index_type, SCALAR_INDEX_TYPES)
        _check_scalar_index(f, index_type)
        metric = None
    return IndexSpec(name, field_name, index_type, metric, params)


def _check_type(f: FieldSpec, index_type: str, allowed: frozenset[str]) -> None:
    if index_type not in allowed:
        raise errors.invalid(
            f"invalid index type: {index_type}, field: {f.name}, data type: {f.dtype.name}: "
            "invalid parameter"
        )


def _check_metric(f: FieldSpec, metric: str, allowed: tuple[str, ...]) -> None:
    if metric not in allowed:
        kind = "sparse" if f.is_sparse else "binary" if f.is_binary else "float"
        raise errors.invalid(
            f"{kind} vector index does not support metric type: {metric}: invalid parameter"
            f"[expected={' '.join(allowed)}][actual={metric}]"
        )


def _check_binary(f: FieldSpec, index_type: str, metric: str, params: dict[str, Any]) -> None:
    """A binary index's metric, and a MinHash one's hash width."""
    if f.is_function_output and metric != "MHJACCARD":
        raise errors.invalid(
            "index metric type of MinHash function output field must be MHJACCARD, got "
            f"{metric}: invalid parameter"
        )
    allowed = METRICS_BINARY if index_type in _MHJACCARD_INDEXES else ("HAMMING", "JACCARD")
    _check_metric(f, metric, ("MHJACCARD",) if index_type == "MINHASH_LSH" else allowed)
    if metric == "MHJACCARD":
        mh_element_bits(f, params)


def mh_element_bits(f: FieldSpec, params: dict[str, Any]) -> int:
    """An MHJACCARD index's checked hash width in bits: ``mh_element_bit_width``, else 32
    for a MinHash function's output and knowhere's 8 for other signatures."""
    width = params.get("mh_element_bit_width", 32 if f.is_function_output else 8)
    try:
        bits = int(str(width))
    except ValueError:
        raise errors.invalid(
            f"wrong data type in json, key: 'mh_element_bit_width', value: '{width}': invalid "
            "parameter"
        ) from None
    if not 8 <= bits <= 256 or bits % 8 or (f.dim or 0) % bits:
        raise errors.invalid(
            f"mh_element_bit_width {bits} must be a multiple of 8 in [8, 256] that divides the "
            f"dim {f.dim} of field {f.name}: invalid parameter"
        )
    return bits


def _check_scalar_index(f: FieldSpec, index_type: str) -> None:
    numeric = f.dtype in {DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64}
    if index_type == "Trie" and f.dtype != DataType.VARCHAR:
        raise errors.invalid(f"TRIE are only supported on varchar field: {f.name}")
    if f.dtype == DataType.TIMESTAMPTZ and index_type not in ("STL_SORT", "AUTOINDEX"):
        raise errors.invalid(f"{index_type} are not supported on Timestamptz field")
    if f.dtype == DataType.GEOMETRY and index_type not in ("RTREE", "AUTOINDEX"):
        raise errors.invalid(f"{index_type} are not supported on Geometry field")
    if index_type == "RTREE" and f.dtype != DataType.GEOMETRY:
        raise errors.invalid(
            f"RTREE index can only be built on geometry field, got {f.dtype.name.title()}"
        )
    if index_type == "STL_SORT" and not (
        numeric
        or f.dtype in {DataType.FLOAT, DataType.DOUBLE, DataType.VARCHAR, DataType.TIMESTAMPTZ}
    ):
        raise errors.invalid(f"STL_SORT are only supported on numeric or varchar field: {f.name}")
    if index_type == "BITMAP" and f.dtype in {DataType.FLOAT, DataType.DOUBLE, DataType.JSON}:
        raise errors.invalid(f"bitmap index are not supported on {f.dtype.name} field")


def describe(index: IndexSpec, row_count: int) -> dict[str, Any]:
    """describe_index's dict: the index KVs as strings, then name, counts and state."""
    out: dict[str, Any] = {str(k): _kv_text(v) for k, v in index.params.items()}
    out["index_type"] = index.index_type
    if index.metric_type is not None:
        out["metric_type"] = index.metric_type
    out.update(
        field_name=index.field_name,
        index_name=index.index_name,
        total_rows=row_count,
        indexed_rows=row_count,
        pending_index_rows=0,
        state="Finished",
    )
    return out


def _kv_text(value: Any) -> Any:
    if isinstance(value, dict):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# The index params alter_index_properties may set (indexparams.configableIndexParams)
CONFIGURABLE = ("mmap.enabled", "indexoffsetcache.enabled", "warmup")
_BOOLS = ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False")


def check_configurable(add: dict[str, Any], drop: list[str]) -> None:
    """The proxy's alterIndexTask checks: only configurable keys."""
    if add and drop:
        raise errors.invalid("cannot provide both DeleteKeys and ExtraParams")
    for key in [*add, *drop]:
        if key not in CONFIGURABLE:
            raise errors.invalid(f"{key} is not configable index param")


def altered(index: IndexSpec, add: dict[str, Any], drop: list[str]) -> IndexSpec:
    """The index with properties set or removed (datacoord's ValidateIndexParams: the
    switches are booleans)."""
    params = {k: v for k, v in index.params.items() if k not in drop}
    for key, value in add.items():
        text = pymilvus_dumps(value)  # the request's text: str(True) is 'True'
        if key != "warmup" and text not in _BOOLS:
            raise errors.invalid(f"invalid {key} value: {text}, expected: true, false")
        params[key] = text
    return dataclasses.replace(index, params=params)
