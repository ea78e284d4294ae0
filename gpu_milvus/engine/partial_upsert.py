"""Upsert in merge mode: ``partial_update=True``, or ``field_ops`` with ARRAY_APPEND/REMOVE.

Each row is laid over the stored row with its key in the target partition, read under the
same write lock that writes the result (Milvus 2.6.2+: the proxy queries the rows, merges,
then deletes and inserts). Dynamic keys merge key by key; a JSON field is replaced whole;
a key not stored yet is a plain insert, whose missing fields must be nullable or defaulted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pymilvus import DataType
from pymilvus.client.field_ops import FieldOpType, normalize_field_ops
from pymilvus.exceptions import DataNotMatchException
from pymilvus.grpc_gen.schema_pb2 import DataType as ProtoDataType

from gpu_milvus import errors
from gpu_milvus.engine.collection import DEFAULT_PARTITION, Collection
from gpu_milvus.engine.output import materialize, plan_outputs
from gpu_milvus.engine.reads import check_loaded
from gpu_milvus.schema import CollectionSpec, FieldSpec
from gpu_milvus.storage.ingest import check_row_dicts, check_values

APPEND = FieldOpType.ARRAY_APPEND


def upsert(
    coll: Collection, rows: Sequence[Any], partition_name: str | None, field_ops: Any
) -> list[Any]:
    """Merge ``rows`` into the stored rows and write them as one upsert; the new keys."""
    ops = {name: op.op for name, op in normalize_field_ops(field_ops).items()}
    check_row_dicts(rows)
    _check_same_fields(coll.spec, rows)
    for f in coll.spec.fields:  # pymilvus packs (so checks) every given value first
        values = [row[f.name] for row in rows if row.get(f.name) is not None]
        if values:
            check_values(f, values)
    _check_ops(coll.spec, ops, rows)
    pk = coll.spec.primary
    if any(row.get(pk.name) is None for row in rows):
        raise errors.invalid(
            f"must assign pk when upsert, primary field: {pk.name}: invalid parameter"
        )

    def merged(pid: int) -> list[dict[str, Any]]:
        check_loaded(coll, [partition_name or DEFAULT_PARTITION])
        return _merge(coll, rows, pid, ops)

    return coll.upsert(rows, partition_name, merge=merged)


def _check_same_fields(spec: CollectionSpec, rows: Sequence[dict[str, Any]]) -> None:
    """pymilvus's check: in merge mode every schema field is given by all rows or by none."""
    counts = {f.name: sum(f.name in row for row in rows) for f in spec.fields}
    if spec.enable_dynamic_field:
        counts["$meta"] = len(rows)
    lengths = list({n for n in counts.values() if n > 0})
    if len(lengths) > 1:
        raise DataNotMatchException(
            message="The data fields length is inconsistent. previous length is "
            f"{lengths[0]}, current length is {lengths[1]}"
        )


def _check_ops(spec: CollectionSpec, ops: Mapping[str, int], rows: Sequence[dict]) -> None:
    """The proxy's checks of ``field_ops``: array fields present in the data, never the key."""
    for name, op in ops.items():
        op_name = FieldOpType.Name(op)
        f = spec.field(name)
        if f is None:
            raise errors.field_not_exist(name)
        if f.is_primary:
            raise errors.invalid(
                f'field "{name}" is the primary key and cannot carry a partial-update op: '
                "invalid parameter"
            )
        if f.dtype != DataType.ARRAY:
            raise errors.invalid(
                f'op {op_name} requires Array field, but field "{name}" is '
                f"{ProtoDataType.Name(int(f.dtype))}: invalid parameter"
            )
        if not rows or name not in rows[0]:
            raise errors.invalid(
                f'partial-update op targets field "{name}" not present in fields_data: '
                "invalid parameter"
            )


def _merge(
    coll: Collection, rows: Sequence[dict[str, Any]], pid: int, ops: Mapping[str, int]
) -> list[dict[str, Any]]:
    spec, table = coll.spec, coll.table
    pk = spec.primary
    keys = [r[pk.name] for r in rows]
    found = table.rows_for_keys(keys)
    found = found[table.partition.view[found] == pid]
    stored = materialize(table, found, plan_outputs(spec, ["*"], always_pk=True))
    by_key = {row[pk.name]: row for row in stored}
    out = []
    for key, row in zip(keys, rows, strict=True):
        base = by_key.get(key)
        if base is None:
            _check_required(spec, row)
            out.append(row)
            continue
        new = dict(base)  # without function outputs ("*" leaves them out): recomputed
        for name, value in row.items():
            field = spec.field(name) if name in ops else None
            new[name] = value if field is None else _apply(ops[name], base[name], value, field)
        out.append(new)
    return out


def _check_required(spec: CollectionSpec, row: dict[str, Any]) -> None:
    """A key not stored yet is inserted: the server asks for every required field."""
    for f in spec.fields:
        required = not (f.nullable or f.has_default or f.is_primary)
        if required and f.name not in row:
            raise errors.invalid(f'missing required field "{f.name}": invalid parameter')


def _apply(op: int, base: list | None, payload: Any, field: FieldSpec) -> Any:
    """ARRAY_APPEND adds the payload after the stored elements; ARRAY_REMOVE drops every
    stored element equal to one in the payload (float32 equality on FLOAT arrays)."""
    if payload is None:  # a null payload leaves the row as it is
        return base
    stored = list(base or [])
    if op == APPEND:
        return stored + list(payload)
    if field.element_type == DataType.FLOAT:
        drop = np.float32(list(payload))
        return [v for v in stored if not (np.float32(v) == drop).any()]
    gone = list(payload)
    return [v for v in stored if v not in gone]
