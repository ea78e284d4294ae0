"""Rows in, one validated columnar ``Batch`` out — or an error, with nothing changed.

Checks, in pymilvus's order: a row must be a dict; a missing field needs nullable or a default
(``DataNotMatchException``); unknown keys need the dynamic field; each value must have the
field's Python type (code 1, pymilvus's wording); then the server's checks (code 1100): vector
dimension, VARCHAR byte length, ARRAY capacity, integer range, sparse vector validity.
Defaults are applied here; JSON and ``$meta`` become compact JSON text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from pymilvus import DataType
from pymilvus.exceptions import MilvusException

from gpu_milvus import errors, geometry, structs
from gpu_milvus.schema import META_FIELD, CollectionSpec, FieldSpec
from gpu_milvus.storage.table import Batch, binary_array, function_output
from gpu_milvus.timestamptz import DEFAULT_TIMEZONE
from gpu_milvus.timestamptz import parse as parse_timestamp
from gpu_milvus.vectors import BYTE_VECTOR_TYPES, insert_column

_MISSING = object()
_SPARSE_MAX_INDEX = 2**32 - 1
_INT_RANGES = {
    DataType.INT8: (-(2**7), 2**7 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
}


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def _is_bool(v: Any) -> bool:
    return isinstance(v, (bool, np.bool_))


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray))


_TYPE_CHECKS: dict[DataType, Callable[[Any], bool]] = {
    DataType.BOOL: _is_bool,
    DataType.INT8: _is_int,
    DataType.INT16: _is_int,
    DataType.INT32: _is_int,
    DataType.INT64: _is_int,
    DataType.FLOAT: _is_number,
    DataType.DOUBLE: _is_number,
    DataType.VARCHAR: _is_str,
    DataType.GEOMETRY: _is_str,  # already the server's WKT
    DataType.ARRAY: _is_list,
}


def to_json_text(value: Any) -> str:
    """A JSON field value as compact JSON text; a str is taken as JSON text (as pymilvus does)."""
    if isinstance(value, str):
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise errors.DataNotMatchException(
                message=f"Invalid JSON string: {exc!s}. Input string: {value[:200]!r}"
            ) from None
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError as exc:
        raise errors.DataNotMatchException(message=f"Invalid JSON value: {exc}") from None


def check_row_dicts(rows: Sequence[Any]) -> None:
    """Rows must be dicts (pymilvus's DataTypeInconsistent otherwise)."""
    for row in rows:
        if not isinstance(row, dict):
            raise errors.DataNotMatchException(
                message="The Input data type is inconsistent with defined schema, please check it."
            )


def build_batch(
    spec: CollectionSpec,
    rows: Sequence[Any],
    new_ids: Callable[[int], list[Any]] | None,
    *,
    given_pks: bool = False,
    timezone: str = DEFAULT_TIMEZONE,
) -> Batch:
    """Validate ``rows`` against ``spec`` and convert them to columns.

    ``new_ids(n)`` allocates primary keys when the collection uses auto_id; ``None`` means
    the caller supplies keys even under auto_id (not used by insert). TIMESTAMPTZ text
    without an offset is read in ``timezone``.
    """
    check_row_dicts(rows)
    known = {f.name for f in spec.fields}
    pk = spec.primary
    columns: dict[str, list[Any]] = {}
    for f in spec.fields:
        if f.is_primary and f.auto_id:
            if given_pks:  # allow_insert_auto_id: a row may bring its own key
                check_values(f, [row[f.name] for row in rows if row.get(f.name) is not None])
            elif any(f.name in row for row in rows):
                raise errors.invalid(
                    f"can not assign primary field data when auto id enabled {f.name}: "
                    "invalid parameter"
                )
            continue
        if f.is_function_output:  # computed below from the function's input
            if any(f.name in row for row in rows):
                raise errors.DataNotMatchException(
                    message=f"Attempt to insert an unexpected function output field `{f.name}` "
                    "to collection"
                )
            continue
        columns[f.name] = [row.get(f.name, _MISSING) for row in rows]
    meta: list[str] | None = None
    extra_keys = [k for row in rows for k in row if k not in known]
    if extra_keys:
        if not spec.enable_dynamic_field:
            raise errors.insert_unexpected_field(extra_keys[0])
        if META_FIELD in extra_keys:
            raise errors.invalid("dynamic field name cannot include the dynamic field name $meta")
    if spec.enable_dynamic_field:
        meta = [to_json_text({k: v for k, v in row.items() if k not in known}) for row in rows]

    n = len(rows)
    scalars: dict[str, pa.Array] = {}
    dense: dict[str, np.ndarray] = {}
    sparse: dict[str, sp.csr_matrix] = {}
    for f in spec.fields:
        if f.name not in columns:
            continue
        if f.dtype == DataType.TIMESTAMPTZ:  # to UTC microseconds, before defaults (also so)
            columns[f.name] = _timestamps(f, columns[f.name], timezone)
        elif f.dtype == DataType.GEOMETRY:
            columns[f.name] = _from_text(f, columns[f.name], geometry.normalize)
        values = columns[f.name] = _fill_missing(f, columns[f.name])
        if f.is_vector and not f.is_sparse:  # dense or binary, null rows kept apart
            present = np.fromiter((v is not None for v in values), dtype=bool, count=n)
            given = [v for v in values if v is not None] if not present.all() else values
            if f.is_binary:
                codes = np.zeros((n, (f.dim or 0) // 8), dtype=np.uint8)
                codes[present] = insert_column(f.name, f.dtype, f.dim or 0, given)
                scalars[f.name] = binary_array(f, codes, present)
                continue
            matrix = np.zeros((n, f.dim or 0), dtype=np.float32)
            matrix[present] = _dense_column(f, given) if given else matrix[:0]
            dense[f.name] = matrix
            if f.valid_column:
                scalars[f.valid_column] = pa.array(present)
        elif f.is_sparse:
            present = np.fromiter((v is not None for v in values), dtype=bool, count=n)
            sparse[f.name] = _sparse_column(f, [v if v is not None else {} for v in values])
            if f.valid_column:
                scalars[f.valid_column] = pa.array(present)
        else:
            scalars[f.name] = _scalar_column(f, values)
    for fn in spec.functions:  # a MINHASH output is a binary column, a BM25 one sparse
        out = function_output(spec, fn, columns.__getitem__)
        (scalars if fn.kind == "MINHASH" else sparse)[fn.output] = out
    if meta is not None:
        scalars[META_FIELD] = pa.array(meta, type=pa.string())
    if pk.auto_id:
        if new_ids is None:
            raise errors.invalid(f"must assign pk when upsert, primary field: {pk.name}")
        pks = new_ids(n)
        if given_pks:
            pks = [
                row[pk.name] if row.get(pk.name) is not None else new
                for row, new in zip(rows, pks, strict=True)
            ]
        scalars[pk.name] = pa.array(pks, type=pk.arrow_type)
    else:
        pks = [int(v) if pk.dtype == DataType.INT64 else v for v in columns[pk.name]]
    ordered = {name: scalars[name] for name in spec.arrow_schema().names if name in scalars}
    return Batch(num_rows=n, pks=pks, scalars=ordered, dense=dense, sparse=sparse)


def check_values(f: FieldSpec, values: list[Any]) -> None:
    """Raise the error an insert of these (non-null) values of ``f`` would raise."""
    if f.is_dense:
        _dense_column(f, values)
    elif f.is_binary:
        insert_column(f.name, f.dtype, f.dim or 0, values)
    elif f.is_sparse:
        _sparse_column(f, values)
    elif f.dtype == DataType.TIMESTAMPTZ:
        _timestamps(f, values, DEFAULT_TIMEZONE)
    elif f.dtype == DataType.GEOMETRY:
        _from_text(f, values, geometry.normalize)
    else:
        _scalar_column(f, values)


def _from_text(f: FieldSpec, values: list[Any], convert: Callable[[str], Any]) -> list[Any]:
    """TIMESTAMPTZ or GEOMETRY text values converted (missing and None values kept), after
    pymilvus's check that each is a string (its message, without the usual "Detail")."""
    out: list[Any] = []
    for v in values:
        if v is not _MISSING and v is not None:
            if not isinstance(v, str):
                raise errors.DataNotMatchException(
                    message="The Input data type is inconsistent with defined schema, "
                    f"{{{f.name}}} field should be a {f.type_name}, but got a {{{type(v)}}} "
                    "instead."
                )
            v = convert(v)
        out.append(v)
    return out


def _timestamps(f: FieldSpec, values: list[Any], timezone: str) -> list[Any]:
    """TIMESTAMPTZ text as UTC microseconds, read in ``timezone`` when it has no offset."""

    def micros(text: str) -> int:
        try:
            return parse_timestamp(text, timezone)
        except MilvusException:
            raise errors.invalid(
                f"got invalid timestamptz string '{text}': invalid timezone name; must be a "
                "valid IANA Time Zone ID (e.g., 'Asia/Shanghai' or 'UTC')"
            ) from None

    return _from_text(f, values, micros)


def _fill_missing(f: FieldSpec, values: list[Any]) -> list[Any]:
    """Apply default_value / nullable rules to missing keys and explicit None."""
    if not any(v is _MISSING or v is None for v in values):
        return values
    out = []
    for v in values:
        if v is _MISSING or v is None:
            if f.has_default:
                v = f.default_value
            elif f.nullable:
                v = None
            elif v is _MISSING:
                raise errors.insert_missed_field(f.name)
            elif f.is_struct:  # pymilvus's own check of a struct array
                raise structs.mismatch(f.name, v, f"Field '{f.name}': Expected list, got NoneType")
            else:
                raise errors.invalid(
                    f"the num_rows ({len(values) - 1}) of field ({f.name}) is not equal to "
                    f"passed num_rows ({len(values)}): invalid parameter"
                )
        out.append(v)
    return out


def _scalar_column(f: FieldSpec, values: list[Any]) -> pa.Array:
    if f.is_struct:
        return structs.column(f, values)
    if f.dtype == DataType.JSON:
        texts = [None if v is None else to_json_text(v) for v in values]
        return pa.array(texts, type=pa.string())
    if f.dtype == DataType.TIMESTAMPTZ:  # already microseconds
        return pa.array(values, type=pa.int64())
    check = _TYPE_CHECKS[f.dtype]
    for v in values:
        if v is not None and not check(v):
            raise errors.insert_type_mismatch(f.name, f.type_name, v)
    if f.dtype == DataType.ARRAY:
        return _array_column(f, values)
    if f.dtype in (DataType.FLOAT, DataType.DOUBLE):  # an int past int64 is still a number
        values = [v if v is None else float(v) for v in values]
    elif f.dtype in _INT_RANGES:  # past int64, Arrow cannot even hold it
        past = [v for v in values if v is not None and not -(2**63) <= v < 2**63]
        if past:
            raise _out_of_range(f, min(past) if min(past) < 0 else max(past))
    array = pa.array(values, type=pa.int64() if f.dtype in _INT_RANGES else f.arrow_type)
    if f.dtype in _INT_RANGES and f.dtype != DataType.INT64:
        _check_int_range(f, array)
        array = array.cast(f.arrow_type)
    if f.dtype == DataType.VARCHAR and f.max_length is not None:
        _check_lengths(f.name, array, f.max_length)
    return array


def _check_int_range(f: FieldSpec, array: pa.Array) -> None:
    if len(array) == array.null_count:
        return
    lo, hi = _INT_RANGES[f.dtype]
    bounds = pc.min_max(array)
    vmin, vmax = bounds["min"].as_py(), bounds["max"].as_py()
    if vmin < lo or vmax > hi:
        raise _out_of_range(f, vmin if vmin < lo else vmax)


def _out_of_range(f: FieldSpec, bad: int) -> MilvusException:
    lo, hi = _INT_RANGES[f.dtype]
    return errors.invalid(
        f"the value {bad} of field {f.name} is out of range for {f.dtype.name}: "
        f"invalid parameter[expected={lo}~{hi}][actual={bad}]"
    )


def _check_lengths(field: str, array: pa.Array, max_length: int) -> None:
    if len(array) == 0:
        return
    lengths = pc.binary_length(array).to_numpy(zero_copy_only=False)
    lengths = np.nan_to_num(lengths.astype(np.float64), nan=0)
    over = np.flatnonzero(lengths > max_length)
    if len(over):
        row = int(over[0])
        raise errors.varchar_too_long(field, row, int(lengths[row]), max_length)


def _array_column(f: FieldSpec, values: list[Any]) -> pa.Array:
    assert f.element_type is not None and f.max_capacity is not None
    check = _TYPE_CHECKS[f.element_type]
    lists: list[Any] = []
    for row, v in enumerate(values):
        if v is None:
            lists.append(None)
            continue
        items = v.tolist() if isinstance(v, np.ndarray) else list(v)
        if len(items) > f.max_capacity:
            raise errors.invalid(
                f"the length ({len(items)}) of {row}th array exceeds max capacity "
                f"({f.max_capacity}): invalid parameter"
            )
        for at, item in enumerate(items):
            if not check(item):
                raise errors.insert_type_mismatch(f.name, f.type_name, v)
            if f.max_length is not None and len(item.encode()) > f.max_length:
                raise errors.invalid(
                    f'length of Array array field "{f.name}" exceeds max length, row number: '
                    f"{row}, array index: {at}, length: {len(item.encode())}, max length: "
                    f"{f.max_length}: invalid parameter"
                )  # validate_util.go's wording for string arrays
        lists.append(items)
    elem = f.element_type
    wide = pa.list_(pa.int64()) if elem in _INT_RANGES else f.arrow_type
    array = pa.array(lists, type=wide)
    if elem in _INT_RANGES and elem != DataType.INT64:
        _check_int_range(
            FieldSpec(name=f.name, dtype=elem, field_id=f.field_id), pc.list_flatten(array)
        )
        array = array.cast(f.arrow_type)
    return array


def _dense_column(f: FieldSpec, values: list[Any]) -> np.ndarray:
    dim = f.dim or 0
    if f.dtype in BYTE_VECTOR_TYPES:
        return insert_column(f.name, f.dtype, dim, values)
    for v in values:
        if isinstance(v, np.ndarray) and v.dtype.kind != "f":
            raise errors.ParamError(
                message="invalid input for float32 vector. Expected an np.ndarray with "
                "dtype=float32"
            )
    try:
        with np.errstate(over="ignore"):  # past float32: inf, refused below
            matrix = np.asarray(values, dtype=np.float32)
        if matrix.ndim == 2 and matrix.shape[1] == dim:
            if not np.isfinite(matrix).all():  # typeutil.VerifyFloats32
                bad = matrix[~np.isfinite(matrix)][0]
                raise errors.invalid(f"value '{bad}' is not a number or infinity")
            return matrix
    except (TypeError, ValueError):
        pass
    for v in values:
        if v is None:
            raise errors.invalid(f"the vector field {f.name} does not accept null values")
        if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__len__"):
            raise errors.insert_type_mismatch(f.name, f.type_name, v)
        try:
            vec = np.asarray(v, dtype=np.float32)
        except (TypeError, ValueError):
            raise errors.insert_type_mismatch(f.name, f.type_name, v) from None
        if vec.ndim != 1 or len(vec) != dim:
            raise errors.dim_mismatch(f.name, int(vec.size), dim)
    raise errors.insert_type_mismatch(f.name, f.type_name, values[0])


def _int_like(key: Any) -> bool:
    """An int, a NumPy integer or a string of one (pymilvus's _is_int_type)."""
    if isinstance(key, str):
        try:
            int(key)
        except ValueError:
            return False
        return True
    return isinstance(key, (int, np.integer))


def sparse_row(value: Any) -> tuple[np.ndarray, np.ndarray]:
    """One sparse vector (dict, (index, value) pairs, or a 1-row scipy matrix) as sorted arrays."""
    if sp.issparse(value):
        row = sp.csr_matrix(value)
        if row.shape[0] != 1:
            raise errors.ParamError(message="expect 1 row for each sparse vector")
        row.sum_duplicates()
        indices, data = row.indices.astype(np.int64), row.data.astype(np.float64)
    elif isinstance(value, dict):
        if not all(_int_like(k) for k in value):  # pymilvus's entity_is_sparse_matrix
            raise errors.ParamError(
                message=f"input must be a sparse matrix in supported format: {value}"
            )
        indices = np.fromiter((int(k) for k in value), dtype=np.int64, count=len(value))
        data = np.fromiter((float(x) for x in value.values()), dtype=np.float64, count=len(value))
    elif isinstance(value, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in value
    ):
        indices = np.array([int(p[0]) for p in value], dtype=np.int64)
        data = np.array([float(p[1]) for p in value], dtype=np.float64)
    else:
        raise errors.ParamError(
            message=f"input must be a sparse matrix in supported format: {value}"
        )
    if len(indices) and (indices.min() < 0 or indices.max() >= _SPARSE_MAX_INDEX):
        raise errors.ParamError(
            message=f"sparse vector index must be positive and less than 2^32-1: {value}"
        )
    if np.isnan(data).any():
        raise errors.ParamError(message="sparse vector value must not be NaN")
    order = np.argsort(indices, kind="stable")
    indices, data = indices[order], data[order]
    if len(indices) > 1 and (np.diff(indices) == 0).any():
        raise errors.invalid("sparse vector indices must be unique: invalid parameter")
    return indices, data


def sparse_matrix(values: Sequence[Any], check_values: bool = True) -> sp.csr_matrix:
    """Several sparse vectors as one CSR matrix (float32)."""
    indptr = [0]
    all_idx: list[np.ndarray] = []
    all_val: list[np.ndarray] = []
    for v in values:
        idx, val = sparse_row(v)
        if check_values and len(val) and (not np.isfinite(val).all() or (val < 0).any()):
            raise errors.invalid(
                "sparse vector values must be finite and non-negative: invalid parameter"
            )
        all_idx.append(idx)
        all_val.append(val)
        indptr.append(indptr[-1] + len(idx))
    indices = np.concatenate(all_idx) if all_idx else np.empty(0, dtype=np.int64)
    data = np.concatenate(all_val) if all_val else np.empty(0)
    width = int(indices.max()) + 1 if len(indices) else 1
    return sp.csr_matrix(
        (data.astype(np.float32), indices, np.asarray(indptr, dtype=np.int64)),
        shape=(len(values), width),
    )


def _sparse_column(f: FieldSpec, values: list[Any]) -> sp.csr_matrix:
    for v in values:
        if v is None:
            raise errors.invalid(f"the vector field {f.name} does not accept null values")
    return sparse_matrix(values)
