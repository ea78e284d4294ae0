"""Which fields a read returns (Milvus's output_fields rules) and turning rows into dicts.

Rules (server): ``*`` is every schema field including vectors, plus every dynamic key, but
not a BM25 function's output, which no read returns (naming it is an error);
``$meta`` is every dynamic key, flattened; a name that is not a field is a dynamic key when
the dynamic field is on, else ``field X not exist``. Query always returns the primary key;
search puts it in ``entity`` only when asked for. Values come back as pymilvus decodes them:
float32 widened to Python float, JSON parsed, sparse vectors as ``{index: value}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from pymilvus import DataType

from gpu_milvus import errors, structs, timestamptz
from gpu_milvus.schema import META_FIELD, CollectionSpec
from gpu_milvus.storage.table import Table
from gpu_milvus.timestamptz import DEFAULT_TIMEZONE
from gpu_milvus.vectors import to_bytes


@dataclass(frozen=True)
class OutputPlan:
    """Resolved output fields: schema fields in schema order, then dynamic keys."""

    fields: tuple[str, ...] = ()
    all_dynamic: bool = False
    dynamic_keys: tuple[str, ...] = ()
    requested: tuple[str, ...] = field(default_factory=tuple)
    timezone: str = DEFAULT_TIMEZONE  # TIMESTAMPTZ values are text in this zone...
    time_parts: tuple[str, ...] = ()  # ...or these components of it (``time_fields``)
    struct_keys: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ``field[sub]`` outputs

    @property
    def empty(self) -> bool:
        return not self.fields and not self.all_dynamic and not self.dynamic_keys


def plan_outputs(
    spec: CollectionSpec,
    output_fields: Sequence[str] | None,
    *,
    always_pk: bool,
    timezone: str = DEFAULT_TIMEZONE,
    time_parts: tuple[str, ...] = (),
) -> OutputPlan:
    """Resolve ``output_fields`` against the schema."""
    names = list(output_fields or [])
    if always_pk and not names:
        names = ["*"]
    wanted: set[str] = set()
    subsets: dict[str, list[str]] = {}
    dynamic: list[str] = []
    all_dynamic = False
    for name in names:
        if not isinstance(name, str):
            raise errors.invalid(f"output field {name!r} must be a string")
        name = name.strip()
        if name == "*":  # every field whose raw data the server returns
            wanted |= {f.name for f in spec.fields if not (f.is_function_output and f.is_sparse)}
            all_dynamic = spec.enable_dynamic_field
        elif (sub := _struct_part(spec, name)) is not None:  # subsets: not in ``wanted``
            subsets.setdefault(sub[0], []).append(sub[1])
        elif name == META_FIELD:
            if not spec.enable_dynamic_field:
                raise errors.field_not_exist(name)
            all_dynamic = True
        elif (f := spec.field(name)) is not None:
            if f.is_function_output and f.is_sparse:  # the proxy's CanRetrieveRawFieldData
                raise errors.server(65535, f"not allowed to retrieve raw data of field {name}")
            wanted.add(name)
        elif spec.enable_dynamic_field and _is_plain_key(name):
            dynamic.append(name)
        else:
            raise errors.field_not_exist(name)
    if always_pk:
        wanted.add(spec.primary.name)
    picked = tuple((k, tuple(dict.fromkeys(v))) for k, v in subsets.items() if k not in wanted)
    ordered = tuple(f.name for f in spec.fields if f.name in wanted or f.name in subsets)
    keys = () if all_dynamic else tuple(dict.fromkeys(dynamic))
    return OutputPlan(ordered, all_dynamic, keys, tuple(names), timezone, time_parts, picked)


def _struct_part(spec: CollectionSpec, name: str) -> tuple[str, str] | None:
    """``("clips", "text")`` for an output ``clips[text]`` of a struct array's sub-field."""
    parts = structs.split_name(name) if "[" in name else None
    parent = spec.field(parts[0]) if parts else None
    if parts is None or parent is None or not parent.is_struct:
        return None
    if parts[1] not in {s.name for s in parent.struct_fields}:
        raise errors.field_not_exist(name)
    return parts


def _is_plain_key(name: str) -> bool:
    return name.replace("_", "a").isalnum() and not name[0].isdigit()


def _decode_json(texts: list[Any]) -> list[Any]:
    return [None if t is None else orjson.loads(t) for t in texts]


def materialize(
    table: Table, rows: np.ndarray, plan: OutputPlan, wrap_bytes: bool = False
) -> list[dict[str, Any]]:
    """One dict per row with the planned fields (dynamic keys flattened last). Byte vectors
    (binary, float16, bfloat16, int8) are bytes; ``wrap_bytes`` puts each in a one-item
    list, as pymilvus's query results do (its search results do not)."""
    n = len(rows)
    if n == 0 or plan.empty:
        return [{} for _ in range(n)]
    spec = table.spec
    names: list[str] = []
    columns: list[list[Any]] = []
    for name in plan.fields:
        f = spec.field(name)
        assert f is not None
        if f.is_dense:
            matrix = table.dense[name].take(rows)
            values: list[Any] = to_bytes(f.dtype, matrix) if f.returns_bytes else matrix.tolist()
        elif f.is_sparse:
            values = _sparse_rows(table, name, rows)
        else:
            values = table.take_scalars(name, rows)
            if f.dtype == DataType.JSON:
                values = _decode_json(values)
            elif f.dtype == DataType.TIMESTAMPTZ and plan.time_parts:
                values = timestamptz.to_parts(values, plan.timezone, plan.time_parts)
            elif f.dtype == DataType.TIMESTAMPTZ:
                values = timestamptz.to_text(values, plan.timezone)
            elif f.is_struct and (keys := dict(plan.struct_keys).get(name)):
                values = structs.select(values, keys)
        if f.valid_column:  # a nullable dense or sparse vector: None where it holds none
            present = table.present(name)[rows]  # type: ignore[index]
            values = [v if ok else None for v, ok in zip(values, present, strict=True)]
        if wrap_bytes and f.returns_bytes:
            values = [None if v is None else [v] for v in values]
        names.append(name)
        columns.append(values)
    out = [dict(zip(names, vals, strict=True)) for vals in zip(*columns, strict=True)]
    if not columns:
        out = [{} for _ in range(n)]
    if (plan.all_dynamic or plan.dynamic_keys) and table.has_meta:
        metas = _decode_json(table.take_scalars(META_FIELD, rows))
        for row, meta in zip(out, metas, strict=True):
            if plan.all_dynamic:
                row.update({k: v for k, v in meta.items() if k not in row})
            else:
                row.update({k: meta[k] for k in plan.dynamic_keys if k in meta and k not in row})
    return out


def _sparse_rows(table: Table, name: str, rows: np.ndarray) -> list[dict[int, float]]:
    csr = table.sparse[name].take(rows)
    out = []
    for i in range(csr.shape[0]):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        out.append(dict(zip(csr.indices[lo:hi].tolist(), csr.data[lo:hi].tolist(), strict=True)))
    return out
