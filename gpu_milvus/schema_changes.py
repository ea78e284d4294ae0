"""Changes to a live collection's schema (Milvus's Alter Collection Schema rules): add,
drop and alter a field, add and drop a BM25 or MINHASH function. Each returns the new spec."""

from __future__ import annotations

import dataclasses
from typing import Any

from pymilvus import DataType

from gpu_milvus import errors, timestamptz
from gpu_milvus.schema import (
    META_FIELD,
    CollectionSpec,
    _bounded,
    _field_spec,
    check_collection_name,
    schema_function,
    struct_spec,
)

MAX_FIELDS = 64


def with_added_field(
    spec: CollectionSpec,
    field: Any,
    *,
    nullable_only: bool = True,
    zone: str = timestamptz.DEFAULT_TIMEZONE,
) -> CollectionSpec:
    """``spec`` plus a field added to the live collection (add_collection_field's rules;
    a function's output field is the one that is not nullable)."""
    name = field.name
    if spec.field(name) is not None or name == META_FIELD:
        raise errors.invalid(f"duplicated field name {name}: invalid parameter")
    if nullable_only and not getattr(field, "nullable", False):
        raise errors.invalid(
            f"added field must be nullable, please check it, field name = {name}: invalid parameter"
        )
    if getattr(field, "is_partition_key", False):
        raise errors.invalid(
            f"not support to add partition key field, field name  = {name}: invalid parameter"
        )
    if getattr(field, "is_clustering_key", False) and any(f.is_clustering_key for f in spec.fields):
        raise errors.invalid(
            f"already has another clustering key field, field name: {name}: invalid parameter"
        )
    _check_room(spec)
    new = _field_spec(field, max(f.field_id for f in spec.fields) + 1, False, zone)
    return dataclasses.replace(spec, fields=(*spec.fields, new), version=spec.version + 1)


def _check_room(spec: CollectionSpec) -> None:
    if len(spec.fields) >= MAX_FIELDS:
        raise errors.invalid(
            f"The number of fields has reached the maximum value {MAX_FIELDS}: invalid parameter"
        )


def with_added_struct_field(spec: CollectionSpec, st: Any) -> CollectionSpec:
    """``spec`` plus an array of structs added to the live collection (Milvus 3.0's
    rootcoord: nullable, sub-fields that are plain and named by the field-name rule, no name
    taken; ids after the largest one, the field's then its sub-fields')."""
    name = st.name
    if not st.nullable:
        raise errors.invalid(
            "added struct field must be nullable, please check it, struct field name = "
            f"{name}: invalid parameter"
        )
    check_collection_name(name, "field name")
    for sub in st.fields:
        check_collection_name(sub.name, "field name")
        for flag, what in (("is_primary", "primary key"), ("auto_id", "autoID"),
                           ("is_partition_key", "partition key"),
                           ("is_clustering_key", "clustering key"),
                           ("default_value", "default value"),
                           ("is_function_output", "function output")):  # fmt: skip
            if getattr(sub, flag, None) not in (None, False):
                raise errors.invalid(
                    f"{what} is not supported for struct field, field name = {sub.name}: "
                    "invalid parameter"
                )
    taken = {f.name for f in spec.fields} | {s.name for f in spec.fields for s in f.struct_fields}
    for new_name in (name, *(sub.name for sub in st.fields)):
        if new_name in taken or new_name == META_FIELD:
            raise errors.invalid(f"field already exists, name: {new_name}: invalid parameter")
    _check_room(spec)
    top = max(f.field_id for f in spec.fields for f in (f, *f.struct_fields))
    new = struct_spec(st, top + 1, top + 2)
    return dataclasses.replace(spec, fields=(*spec.fields, new), version=spec.version + 1)


def with_function_field(spec: CollectionSpec, field: Any, fn: Any) -> CollectionSpec:
    """``spec`` after add_function_field: a new BM25 or MINHASH function and its new output
    field (not nullable) over an existing VARCHAR field (Milvus 3.0's rules)."""
    if list(fn.output_field_names) != [field.name]:
        raise errors.invalid(
            f"function {fn.name} must output the new field {field.name}: invalid parameter"
        )
    if getattr(field, "nullable", False):
        raise errors.invalid(
            f"function output field {field.name} can not be nullable: invalid parameter"
        )
    if any(f.name == fn.name for f in spec.functions):
        raise errors.invalid(f"duplicate function name: {fn.name}: invalid parameter")
    grown = with_added_field(spec, field, nullable_only=False)
    function = schema_function(fn, grown.fields)
    fields = tuple(
        dataclasses.replace(f, is_function_output=True) if f.name == field.name else f
        for f in grown.fields
    )
    return dataclasses.replace(grown, fields=fields, functions=(*spec.functions, function))


def without_function(spec: CollectionSpec, name: str) -> CollectionSpec:
    """``spec`` after drop_function_field: the function and its output field gone."""
    fn = next((f for f in spec.functions if f.name == name), None)
    if fn is None:
        raise errors.invalid(f"function {name} not found: invalid parameter")
    rest = dataclasses.replace(spec, functions=tuple(f for f in spec.functions if f is not fn))
    return without_field(rest, fn.output)


def without_field(spec: CollectionSpec, name: str) -> CollectionSpec:
    """``spec`` after drop_collection_field (Milvus 3.0's rules: not the primary key, the
    partition or clustering key, a function's input or output, nor the last vector field)."""
    f = spec.field(name)
    if f is None:
        raise errors.field_not_exist(name)
    role = (
        "primary key" if f.is_primary else "partition key" if f.is_partition_key
        else "clustering key" if f.is_clustering_key else None
    )  # fmt: skip
    if role is not None:
        raise errors.invalid(f"can not drop the {role} field {name}: invalid parameter")
    for fn in spec.functions:
        if name in (fn.input, fn.output):
            raise errors.invalid(
                f"field {name} is an input or output of function {fn.name}, drop the function "
                "instead: invalid parameter"
            )
    if f.is_vector and len(spec.vector_fields) == 1:
        raise errors.invalid(f"can not drop the last vector field {name}: invalid parameter")
    fields = tuple(x for x in spec.fields if x is not f)
    return dataclasses.replace(spec, fields=fields, version=spec.version + 1)


def with_altered_field(
    spec: CollectionSpec, name: str, params: dict[str, Any], loaded: bool
) -> CollectionSpec:
    """``spec`` after alter_collection_field: max_length (strings, and arrays of them),
    max_capacity (arrays), mmap.enabled and field.description; only the first and the last
    while the collection is loaded (rootcoord's alter-field checks)."""
    f = spec.field(name)
    if f is None:
        raise errors.field_not_exist(name)
    if loaded and set(params) - {"max_length", "field.description"}:
        raise errors.invalid("can not alter collection field properties if collection loaded")
    changes: dict[str, Any] = {"params": dict(f.params)}
    for key, value in params.items():
        if key == "max_length":
            if DataType.VARCHAR not in (f.dtype, f.element_type):
                raise errors.invalid("can not modify the maxlength for non-string types")
            changes["max_length"] = changes["params"]["max_length"] = _bounded(name, key, value)
        elif key == "max_capacity" and f.dtype == DataType.ARRAY:
            changes["max_capacity"] = changes["params"]["max_capacity"] = _bounded(name, key, value)
        elif key == "mmap.enabled":
            changes["params"]["mmap.enabled"] = str(value)
        elif key == "field.description":
            changes["description"] = str(value)
        else:
            raise errors.invalid(f"{key} does not allow update in collection field param")
    fields = tuple(dataclasses.replace(x, **changes) if x is f else x for x in spec.fields)
    return dataclasses.replace(spec, fields=fields, version=spec.version + 1)
