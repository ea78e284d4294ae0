"""The byte vector types: FLOAT16, BFLOAT16, INT8 and BINARY vectors, in and out.

FLOAT16, BFLOAT16 and INT8 vectors are kept as float32 rows in the dense store (every value
of those types is exact in float32), so they search like FLOAT_VECTOR; their outputs turn
back into the bytes Milvus returns. BINARY vectors are packed bits, ``dim / 8`` bytes per
row, kept as an Arrow ``fixed_size_binary`` column.

What the server takes (pymilvus 3.0.2's entity_helper and Milvus's proxy): bytes of the
row width, or a NumPy array of the field's dtype; FLOAT16 and BFLOAT16 fields also take
float32 values, which the proxy rounds (float16 to nearest even, bfloat16 by truncation,
as typeutil.Float32ArrayToBFloat16Bytes does) and refuses when they become NaN or infinite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymilvus import DataType

from gpu_milvus import errors

BYTE_VECTOR_TYPES = frozenset(
    {DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR, DataType.INT8_VECTOR}
)
# Segcore's names for the vector types, in its "vector type must be the same" message.
_SEGCORE_NAMES = {
    DataType.FLOAT_VECTOR: "VECTOR_FLOAT",
    DataType.FLOAT16_VECTOR: "VECTOR_FLOAT16",
    DataType.BFLOAT16_VECTOR: "VECTOR_BFLOAT16",
    DataType.INT8_VECTOR: "VECTOR_INT8",
    DataType.BINARY_VECTOR: "VECTOR_BINARY",
    DataType.SPARSE_FLOAT_VECTOR: "VECTOR_SPARSE_U32_F32",
}
# The vector type pymilvus sends a NumPy array's rows as (its _NUMPY_DTYPE_TO_VECTOR_TYPE).
NUMPY_VECTOR_TYPES = {
    "float32": DataType.FLOAT_VECTOR,
    "float64": DataType.FLOAT_VECTOR,
    "float16": DataType.FLOAT16_VECTOR,
    "bfloat16": DataType.BFLOAT16_VECTOR,
    "int8": DataType.INT8_VECTOR,
    "uint8": DataType.BINARY_VECTOR,
}
_DTYPE_NAMES = {t: name for name, t in NUMPY_VECTOR_TYPES.items() if t in BYTE_VECTOR_TYPES}


def row_bytes(dtype: DataType, dim: int) -> int:
    """Bytes of one vector of ``dtype`` with ``dim`` dimensions."""
    if dtype == DataType.BINARY_VECTOR:
        return dim // 8
    return dim * (1 if dtype == DataType.INT8_VECTOR else 2 if dtype in BYTE_VECTOR_TYPES else 4)


def _from_bits(dtype: DataType, raw: np.ndarray) -> np.ndarray:
    """float32 values of ``raw`` little-endian bytes (rows, width) of a byte vector type."""
    if dtype == DataType.FLOAT16_VECTOR:
        return raw.view("<f2").astype(np.float32)
    if dtype == DataType.BFLOAT16_VECTOR:
        return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    return raw.view(np.int8).astype(np.float32)


def to_bytes(dtype: DataType, matrix: np.ndarray) -> list[bytes]:
    """Each float32 row of a FLOAT16/BFLOAT16/INT8 field as the bytes Milvus returns."""
    if dtype == DataType.FLOAT16_VECTOR:
        raw = matrix.astype("<f2")
    elif dtype == DataType.BFLOAT16_VECTOR:
        raw = (np.ascontiguousarray(matrix, dtype=np.float32).view(np.uint32) >> 16).astype("<u2")
    else:
        raw = matrix.astype(np.int8)
    return [row.tobytes() for row in raw]


def rounded(dtype: DataType, matrix: np.ndarray) -> np.ndarray:
    """float32 values as the proxy stores them in a FLOAT16 or BFLOAT16 field."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if dtype == DataType.FLOAT16_VECTOR:
        with np.errstate(over="ignore"):
            out = matrix.astype(np.float16).astype(np.float32)
    else:
        out = (matrix.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    if not np.isfinite(out).all():
        raise errors.invalid(
            f"float32 vector values become nan or infinity in {dtype.name}: invalid parameter"
        )
    return out


def _row_of(dtype: DataType, value: Any) -> bytes | None:
    """One inserted value as raw bytes, or None for float32 values (lists, float arrays);
    TypeError for a BINARY value that is not a sequence of bytes."""
    if isinstance(value, bytes):
        return value
    if dtype == DataType.BINARY_VECTOR:
        if not hasattr(value, "__len__"):  # bytes(3) would be three zero bytes
            raise TypeError(f"object of type '{type(value).__name__}' has no len()")
        return bytes(value)
    name = _DTYPE_NAMES[dtype]
    if isinstance(value, np.ndarray):
        if str(value.dtype) == name:
            return value.view(np.uint8).tobytes()
        if dtype != DataType.INT8_VECTOR and value.dtype in (np.float32, np.float64):
            return None
        raise errors.ParamError(
            message=f"invalid input for {name} vector. Expected an np.ndarray with dtype={name}"
        )
    if dtype != DataType.INT8_VECTOR and isinstance(value, list):
        return None
    label, wanted = (dtype.name, "") if dtype == DataType.INT8_VECTOR else (name, f"(dtype={name})")
    raise errors.ParamError(
        message=f"invalid input type for {label} vector. Expected bytes or np.ndarray{wanted}"
    )


def insert_column(name: str, dtype: DataType, dim: int, values: Sequence[Any]) -> np.ndarray:
    """Inserted values of a byte vector field: float32 rows (FLOAT16, BFLOAT16, INT8) or
    packed uint8 rows (BINARY)."""
    width = row_bytes(dtype, dim)
    per_element = width / dim
    raws: list[bytes] = []
    floats: list[Any] = []
    for v in values:
        if v is None:
            raise errors.invalid(f"the vector field {name} does not accept null values")
        try:
            raw = _row_of(dtype, v)
        except (TypeError, ValueError):
            raise errors.insert_type_mismatch(name, "binary_vector", v) from None
        if raw is None:
            floats.append(v)
        elif len(raw) != width:
            raise errors.dim_mismatch(name, int(len(raw) / per_element), dim)
        else:
            raws.append(raw)
    if floats and raws:  # pymilvus packs a field either way, never both
        raise errors.invalid(f"the vector field {name} mixes float32 values with {dtype.name}")
    if floats:
        try:
            with np.errstate(over="ignore"):  # past float32: inf, refused below
                matrix = np.asarray(floats, dtype=np.float32)
        except (TypeError, ValueError):
            raise errors.insert_type_mismatch(name, dtype.name.lower(), floats[0]) from None
        if matrix.ndim != 2 or matrix.shape[1] != dim:
            raise errors.dim_mismatch(name, int(np.asarray(floats[0]).size), dim)
        return rounded(dtype, matrix)
    raw = np.frombuffer(b"".join(raws), dtype=np.uint8).reshape(len(raws), width)
    if dtype == DataType.BINARY_VECTOR:
        return raw
    values = _from_bits(dtype, raw)
    if not np.isfinite(values).all():  # typeutil.VerifyFloats16 / 32
        raise errors.invalid(f"{dtype.name} values of field {name} are not a number or infinity")
    return values


@dataclass(frozen=True)
class ByteQueries:
    """Search vectors given as bytes or as a NumPy array of a byte type; ``kind`` is the
    array's vector type, or None for bytes (then the field's own type, as pymilvus 3.0 sends
    them)."""

    kind: DataType | None
    rows: tuple[bytes, ...]

    @property
    def shape(self) -> tuple[int]:
        return (len(self.rows),)


def byte_queries(data: Any) -> ByteQueries | None:
    """Search data of a byte vector type (bytes rows, or float16, bfloat16, int8 or uint8
    arrays), or None for anything else."""
    if isinstance(data, np.ndarray) and data.ndim == 2:
        kind = NUMPY_VECTOR_TYPES.get(str(data.dtype))
        if kind is None or kind == DataType.FLOAT_VECTOR:
            return None
        return ByteQueries(kind, tuple(row.view(np.uint8).tobytes() for row in data))
    if not isinstance(data, (list, tuple)) or not data:
        return None
    if all(isinstance(v, bytes) for v in data):
        return ByteQueries(None, tuple(data))
    if all(isinstance(v, np.ndarray) for v in data):
        kinds = {NUMPY_VECTOR_TYPES.get(str(v.dtype)) for v in data}
        if len(kinds) == 1 and (kind := kinds.pop()) not in (None, DataType.FLOAT_VECTOR):
            rows = tuple(np.ascontiguousarray(v).view(np.uint8).tobytes() for v in data)
            return ByteQueries(kind, rows)
    return None


def type_mismatch(field: str, field_type: DataType, query_type: DataType) -> Exception:
    """Segcore's refusal of search vectors of another type than the field's."""
    return errors.server(
        errors.SEGCORE_ERROR,
        f"vector type must be the same, field {field} - type {_SEGCORE_NAMES[field_type]}, "
        f"search info type {_SEGCORE_NAMES[query_type]}",
    )


def query_matrix(name: str, dtype: DataType, dim: int, data: Any) -> np.ndarray:
    """Search data for a dense or binary field: float32 (nq, dim), or packed uint8 rows for
    BINARY; float32 queries on FLOAT16 / BFLOAT16 fields are rounded as the proxy does."""
    if isinstance(data, ByteQueries):
        kind = data.kind or dtype
        if kind != dtype:
            raise type_mismatch(name, dtype, kind)
        width = row_bytes(dtype, dim)
        for row in data.rows:
            if len(row) != width:
                raise errors.search_dim_mismatch(width, len(row))
        raw = np.frombuffer(b"".join(data.rows), dtype=np.uint8).reshape(len(data.rows), width)
        return raw if dtype == DataType.BINARY_VECTOR else _from_bits(dtype, raw)
    if not isinstance(data, np.ndarray) or data.ndim != 2:  # sparse matrices, text
        kind = dtype.name.lower().removesuffix("_vector")
        raise errors.invalid(f"search data for field {name} must be {kind} vectors")
    if dtype in (DataType.BINARY_VECTOR, DataType.INT8_VECTOR):
        raise type_mismatch(name, dtype, DataType.FLOAT_VECTOR)
    if data.shape[1] != dim:
        raise errors.search_dim_mismatch(row_bytes(dtype, dim), row_bytes(dtype, data.shape[1]))
    return data if dtype == DataType.FLOAT_VECTOR else rounded(dtype, data)
