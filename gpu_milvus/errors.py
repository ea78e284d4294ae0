"""Every error the engine raises, built as pymilvus exceptions with Milvus's codes and wording.

Client-side checks (what pymilvus itself validates) use code 1 and pymilvus's subclasses;
server-side checks use the Milvus ``merr`` codes. All message templates live here so that
tests can compare codes with milvus-lite and the server.
"""

from __future__ import annotations

from typing import Any

from pymilvus.exceptions import (
    DataNotMatchException,
    DataTypeNotMatchException,
    DescribeCollectionException,
    MilvusException,
    ParamError,
    PrimaryKeyException,
)

# Milvus server error codes (pkg/util/merr).
MEMORY_LIMIT_EXCEEDED = 3
COLLECTION_NOT_FOUND = 100
COLLECTION_NOT_LOADED = 101
COLLECTION_LOADED = 104
ILLEGAL_SCHEMA = 105
PARTITION_NOT_FOUND = 200
INDEX_NOT_FOUND = 700
INDEX_NOT_SUPPORTED = 701
DATABASE_NOT_FOUND = 800
INVALID_PARAMETER = 1100
ALIAS_NOT_FOUND = 1600
ALIAS_NAME_CONFLICT = 1601
ALIAS_ALREADY_EXISTS = 1602
FIELD_NOT_FOUND = 1700
SEGCORE_ERROR = 2000
UNEXPECTED = 65535

__all__ = [
    "COLLECTION_NOT_FOUND",
    "COLLECTION_NOT_LOADED",
    "INVALID_PARAMETER",
    "DataNotMatchException",
    "DataTypeNotMatchException",
    "DescribeCollectionException",
    "MilvusException",
    "ParamError",
    "PrimaryKeyException",
]


def server(code: int, message: str) -> MilvusException:
    """A server-side error as pymilvus raises it: plain MilvusException(code, reason)."""
    return MilvusException(code=code, message=message)


def invalid(message: str) -> MilvusException:
    """Code 1100 'invalid parameter', the server's most common input error."""
    return MilvusException(code=INVALID_PARAMETER, message=message)


def unexpected(exc: BaseException) -> MilvusException:
    """What an exception the engine did not mean to raise becomes at the API edge: running
    out of host or GPU memory (CuPy's OutOfMemoryError) is Milvus's code 3, 'memory limit
    exceeded'; anything else an internal error, code 65535."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return MilvusException(
            code=MEMORY_LIMIT_EXCEEDED, message=f"memory limit exceeded: {detail}"
        )
    return MilvusException(code=UNEXPECTED, message=f"gpu_milvus internal error: {detail}")


def collection_not_found(name: str, db: str = "default") -> MilvusException:
    return server(COLLECTION_NOT_FOUND, f"collection not found[database={db}][collection={name}]")


def alias_not_found(alias: str, db: str) -> MilvusException:
    return server(ALIAS_NOT_FOUND, f"alias not found[database={db}][alias={alias}]")


def describe_not_found(name: str, db: str = "default") -> MilvusException:
    """pymilvus describes the collection first for insert/get/delete: this is that error."""
    return DescribeCollectionException(
        code=COLLECTION_NOT_FOUND,
        message=f"can't find collection[database={db}][collection={name}]",
    )


def collection_not_loaded(name: str) -> MilvusException:
    return server(
        COLLECTION_NOT_LOADED, f"failed to search/query: collection not loaded[collection={name}]"
    )


def partition_not_found(name: str) -> MilvusException:
    return server(PARTITION_NOT_FOUND, f"partition not found[partition={name}]")


def field_not_exist(name: str) -> MilvusException:
    return server(INVALID_PARAMETER, f"field {name} not exist: invalid parameter")


def no_vector_index(field: str) -> MilvusException:
    return server(
        INDEX_NOT_FOUND,
        f"there is no vector index on field: [{field}], please create index firstly",
    )


def bad_filter(expr: str, detail: str) -> MilvusException:
    return server(
        INVALID_PARAMETER,
        f"failed to create query plan: cannot parse expression: {expr}, error: {detail}",
    )


def insert_type_mismatch(field: str, type_name: str, got: Any) -> DataNotMatchException:
    return DataNotMatchException(
        message=(
            f"The Input data type is inconsistent with defined schema, {{{field}}} field should be "
            f"a {type_name}, but got a {{{type(got)}}} instead. Detail: {got!r}"
        )
    )


def insert_missed_field(field: str) -> DataNotMatchException:
    return DataNotMatchException(
        message=(
            f"Insert missed an field `{field}` to collection without set nullable==true "
            "or set default_value"
        )
    )


def insert_unexpected_field(field: str) -> DataNotMatchException:
    return DataNotMatchException(
        message=(
            f"Attempt to insert an unexpected field `{field}` to collection without "
            "enabling dynamic field"
        )
    )


def dim_mismatch(field: str, got: int, want: int) -> MilvusException:
    return invalid(
        f"the dim ({got}) of field data({field}) is not equal to schema dim ({want}): "
        f"invalid parameter[expected={want}][actual={got}]"
    )


def varchar_too_long(field: str, row: int, length: int, max_length: int) -> MilvusException:
    return invalid(
        f"length of varchar field {field} exceeds max length, row number: {row}, "
        f"length: {length}, max length: {max_length}: invalid parameter"
    )


def search_dim_mismatch(want_bytes: int, got_bytes: int) -> MilvusException:
    return server(
        SEGCORE_ERROR,
        f"vector dimension mismatch, expected vector size(byte) {want_bytes}, actual {got_bytes}.",
    )


def topk_out_of_range(topk: int) -> MilvusException:
    return invalid(f"topk [{topk}] is invalid, it should be in range [1, 16384], but got {topk}")


def query_window_out_of_range(window: int) -> MilvusException:
    return invalid(
        "invalid max query result window, (offset+limit) should be in range [1, 16384], "
        f"but got {window}"
    )


def metric_mismatch(expected: str, actual: str) -> MilvusException:
    return invalid(
        f"metric type not match: invalid parameter[expected={expected}][actual={actual}]"
    )


def should_create_connection() -> MilvusException:
    return MilvusException(message="should create connection first.")


def storage_write_failed(path: str, exc: OSError) -> MilvusException:
    """A durable write failed (disk full, I/O error); nothing of the call was applied."""
    reason = exc.strerror or str(exc)
    return MilvusException(
        code=UNEXPECTED,
        message=f"failed to write {path}: {reason}; the operation was not applied",
    )


def store_unavailable(path: str, detail: str) -> MilvusException:
    """A local store that cannot be opened: locked by another process, or damaged."""
    return MilvusException(code=UNEXPECTED, message=f"cannot open local store {path}: {detail}")
