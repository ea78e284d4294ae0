"""Collection schemas: pymilvus CollectionSchema in, frozen internal specs out.

``spec_from_schema`` applies the checks the Milvus server makes on CreateCollection (pymilvus's
``verify()`` covers only the client-side subset) and produces a ``CollectionSpec``. The engine,
storage and filter modules work on these specs, never on pymilvus objects.

Arrow layout of a collection's scalar columns (``arrow_type``): numbers and BOOL as their Arrow
types, VARCHAR as ``utf8``, JSON as ``utf8`` JSON text, ARRAY as ``list_<element>``, and the
dynamic field as a ``utf8`` JSON-object column named ``$meta``. Vectors are not Arrow columns.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pymilvus import CollectionSchema, DataType

from gpu_milvus import errors, geometry, minhash, multi_analyzer, structs, timestamptz
from gpu_milvus.text import Analyzer, analyzer_for
from gpu_milvus.vectors import BYTE_VECTOR_TYPES

META_FIELD = "$meta"
VALID_PREFIX = "$valid:"  # + a nullable dense vector field's name: its hidden validity column
MAX_DIM = 32768
MAX_VARCHAR_LENGTH = 65535
MAX_ARRAY_CAPACITY = 4096

# Dense vectors live in the backend's float32 store (FLOAT16, BFLOAT16, INT8 values are exact
# there); BINARY vectors are packed bits in an Arrow column (see gpu_milvus.vectors).
DENSE_VECTOR_TYPES = frozenset(
    {DataType.FLOAT_VECTOR, DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR, DataType.INT8_VECTOR}
)
VECTOR_TYPES = DENSE_VECTOR_TYPES | {DataType.SPARSE_FLOAT_VECTOR, DataType.BINARY_VECTOR}
INT_TYPES = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})
FLOAT_TYPES = frozenset({DataType.FLOAT, DataType.DOUBLE})
SCALAR_TYPES = frozenset(
    INT_TYPES
    | FLOAT_TYPES
    | {DataType.BOOL, DataType.VARCHAR, DataType.JSON, DataType.ARRAY, DataType.TIMESTAMPTZ}
    | {DataType.GEOMETRY}
)
ARRAY_ELEMENT_TYPES = frozenset(INT_TYPES | FLOAT_TYPES | {DataType.BOOL, DataType.VARCHAR})

_ARROW_TYPES: dict[DataType, pa.DataType] = {
    DataType.BOOL: pa.bool_(),
    DataType.INT8: pa.int8(),
    DataType.INT16: pa.int16(),
    DataType.INT32: pa.int32(),
    DataType.INT64: pa.int64(),
    DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
    DataType.VARCHAR: pa.string(),
    DataType.JSON: pa.string(),
    DataType.TIMESTAMPTZ: pa.int64(),  # UTC microseconds
    DataType.GEOMETRY: pa.string(),  # the server's WKT of the value
}

# Names pymilvus uses in its "field should be a <type>" insert messages.
TYPE_NAMES: dict[DataType, str] = {
    DataType.BOOL: "bool",
    DataType.INT8: "int",
    DataType.INT16: "int",
    DataType.INT32: "int",
    DataType.INT64: "int64",
    DataType.FLOAT: "float",
    DataType.DOUBLE: "double",
    DataType.VARCHAR: "varchar",
    DataType.JSON: "json",
    DataType.ARRAY: "array",
    DataType.TIMESTAMPTZ: "string",
    DataType.GEOMETRY: "geometry",
    DataType.FLOAT_VECTOR: "float_vector",
    DataType.SPARSE_FLOAT_VECTOR: "sparse_float_vector",
}

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class FieldSpec:
    """One validated schema field."""

    name: str
    dtype: DataType
    field_id: int
    description: str = ""
    is_primary: bool = False
    auto_id: bool = False
    nullable: bool = False
    has_default: bool = False
    default_value: Any = None
    dim: int | None = None
    max_length: int | None = None
    element_type: DataType | None = None
    max_capacity: int | None = None
    is_partition_key: bool = False
    is_clustering_key: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    is_function_output: bool = False  # a BM25 function's output (term frequencies)
    struct_fields: tuple[FieldSpec, ...] = ()  # an array of structs' sub-fields

    @property
    def is_struct(self) -> bool:
        return self.element_type == DataType.STRUCT

    @property
    def struct_vector(self) -> bool:
        """A struct array's vector sub-field, as an index or a search names it."""
        return self.dtype == DataType._ARRAY_OF_VECTOR

    @property
    def is_vector(self) -> bool:
        return self.dtype in VECTOR_TYPES

    @property
    def is_dense(self) -> bool:
        return self.dtype in DENSE_VECTOR_TYPES

    @property
    def is_sparse(self) -> bool:
        return self.dtype == DataType.SPARSE_FLOAT_VECTOR

    @property
    def analyzer(self) -> Analyzer:
        """The analyzer of a VARCHAR field with ``enable_analyzer`` (standard by default; a
        multi-language field's ``default``)."""
        return self.analyzer_named(None)

    @property
    def multi_analyzer(self) -> multi_analyzer.MultiAnalyzer | None:
        return multi_analyzer.of_field(self.name, self.params)

    def analyzer_named(self, name: Any) -> Analyzer:
        """A multi-language field's analyzer that ``name`` picks; any other field's one."""
        multi = self.multi_analyzer
        return analyzer_for(self.name, self.params) if multi is None else multi.pick(name)

    @property
    def is_binary(self) -> bool:
        return self.dtype == DataType.BINARY_VECTOR

    @property
    def returns_bytes(self) -> bool:
        """Binary, float16, bfloat16 and int8 vectors come back as bytes."""
        return self.is_binary or self.dtype in BYTE_VECTOR_TYPES

    @property
    def has_column(self) -> bool:
        """Whether the field is an Arrow column: scalars and binary vectors."""
        return not self.is_vector or self.is_binary

    @property
    def valid_column(self) -> str | None:
        """A nullable dense or sparse vector field's hidden column: which rows hold a vector
        (their null rows are zeros, or empty, in the vector store)."""
        held_apart = self.is_dense or self.is_sparse
        return VALID_PREFIX + self.name if self.nullable and held_apart else None

    @property
    def arrow_type(self) -> pa.DataType:
        """Arrow type of this field's column (see ``has_column``)."""
        if self.is_binary:
            return pa.binary((self.dim or 0) // 8)
        if self.is_struct:
            return structs.arrow_type(self)
        if self.dtype == DataType.ARRAY:
            assert self.element_type is not None
            return pa.list_(_ARROW_TYPES[self.element_type])
        return _ARROW_TYPES[self.dtype]

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.dtype, self.dtype.name.lower())


@dataclass(frozen=True)
class FunctionSpec:
    """A schema function: BM25 (``output`` holds the term frequencies of the text in
    ``input``) or MINHASH (``output`` holds its MinHash signature; ``params`` as given)."""

    name: str
    input: str
    output: str
    description: str = ""
    kind: str = "BM25"
    params: dict[str, Any] = field(default_factory=dict)

    def minhash_params(self, dim: int) -> minhash.MinHashParams:
        return minhash.parse_params(self.params, dim, self.output)


@dataclass(frozen=True)
class CollectionSpec:
    """A validated collection schema. ``version`` changes whenever the schema does."""

    name: str
    fields: tuple[FieldSpec, ...]
    description: str = ""
    enable_dynamic_field: bool = False
    version: int = 0
    functions: tuple[FunctionSpec, ...] = ()

    @property
    def primary(self) -> FieldSpec:
        return next(f for f in self.fields if f.is_primary)

    @property
    def auto_id(self) -> bool:
        return self.primary.auto_id

    def field(self, name: str) -> FieldSpec | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def search_field(self, name: str) -> FieldSpec | None:
        """A field an index or a search names: a field, or ``parent[sub]``, a struct array's
        vector sub-field (as an array of vectors)."""
        parts = structs.split_name(name) if "[" in name else None
        parent = self.field(parts[0]) if parts else None
        if parts is None or parent is None or not parent.is_struct:
            return self.field(name)
        for sub in parent.struct_fields:
            if sub.name == parts[1] and sub.dtype == DataType.FLOAT_VECTOR:
                return structs.vector_field(parent, sub)
        return None

    @property
    def vector_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.is_vector)

    @property
    def scalar_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if not f.is_vector)

    def arrow_schema(self) -> pa.Schema:
        """Arrow schema of the columns (scalars, binary vectors), ``$meta`` last when the
        dynamic field is on."""
        cols = [pa.field(f.name, f.arrow_type, nullable=True) for f in self.fields if f.has_column]
        cols += [pa.field(c, pa.bool_()) for f in self.fields if (c := f.valid_column)]
        if self.enable_dynamic_field:
            cols.append(pa.field(META_FIELD, pa.string(), nullable=False))
        return pa.schema(cols)

    def renamed(self, name: str) -> CollectionSpec:
        return dataclasses.replace(self, name=name)

    def function_for(self, output: str) -> FunctionSpec | None:
        return next((fn for fn in self.functions if fn.output == output), None)

    def function_source(self, output: str) -> FieldSpec:
        """The text field a function's output field is computed from."""
        fn = self.function_for(output)
        source = self.field(fn.input) if fn is not None else None
        assert source is not None, output
        return source

    def function_analyzer(self, output: str) -> Analyzer:
        """The analyzer of the text field a function's output field is computed from."""
        return self.function_source(output).analyzer


def _default_from_proto(value: Any) -> tuple[bool, Any]:
    """pymilvus stores default_value as a protobuf ValueField; return (present, python value)."""
    if value is None:
        return False, None
    which = value.WhichOneof("data") if hasattr(value, "WhichOneof") else None
    if which is None:
        return (False, None) if hasattr(value, "WhichOneof") else (True, value)
    return True, getattr(value, which)


def _int_param(field_name: str, key: str, raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise errors.server(
            errors.ILLEGAL_SCHEMA if key == "dim" else errors.INVALID_PARAMETER,
            f"type param({key}) should be specified for the field({field_name}) "
            f"of collection: invalid parameter",
        ) from None


def _bounded(name: str, key: str, raw: Any) -> int:
    """A field's max_length or max_capacity, within the server's range for it."""
    value = _int_param(name, key, raw)
    top = MAX_VARCHAR_LENGTH if key == "max_length" else MAX_ARRAY_CAPACITY
    if not 1 <= value <= top:
        raise errors.invalid(
            f"the maximum length specified for the field({name}) should be in (0, {top}], "
            f"but got {value} instead: invalid parameter"
            if key == "max_length"
            else f"the maximum capacity specified for a Array should be in (0, {top}], "
            f"but got {value}"
        )
    return value


def _dim(name: str, dtype: DataType, params: dict[str, Any]) -> int:
    """A dense or binary vector field's dimension, in the proxy's range for its type."""
    if "dim" not in params:
        raise errors.invalid(f"dimension is not defined in field type params of {name}")
    dim = _int_param(name, "dim", params["dim"])
    binary = dtype == DataType.BINARY_VECTOR
    kind, top = ("binary", MAX_DIM * 8) if binary else ("float", MAX_DIM)
    if dim <= 1:
        raise errors.invalid(f"invalid dimension: {dim}. should be in range 2 ~ {MAX_DIM}")
    if binary and dim % 8:
        raise errors.invalid(
            f"invalid dimension: {dim} of field {name}. binary vector dimension should be "
            "multiple of 8. "
        )
    if dim > top:
        raise errors.invalid(
            f"invalid dimension: {dim} of field {name}. {kind} vector dimension should be in "
            f"range 2 ~ {top}"
        )
    return dim


def _field_spec(
    f: Any, field_id: int, schema_auto_id: bool, zone: str = timestamptz.DEFAULT_TIMEZONE
) -> FieldSpec:
    dtype = DataType(f.dtype)
    name = f.name
    params = dict(getattr(f, "_type_params", None) or getattr(f, "params", {}) or {})
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise errors.invalid(
            f"Invalid field name: {name}. the first character of a field name must be an "
            "underscore or letter"
        )
    if dtype not in SCALAR_TYPES | VECTOR_TYPES:
        raise errors.invalid(f"data type {dtype.name} is not supported by gpu_milvus yet")
    has_default, default = _default_from_proto(getattr(f, "default_value", None))
    if dtype == DataType.TIMESTAMPTZ and has_default:  # stored as UTC microseconds
        if not isinstance(default, str):
            raise errors.invalid(
                f"type (Timestamptz) of field ({name}) is not equal to the type of default_value"
            )
        default = timestamptz.parse(default, zone)
    if dtype == DataType.GEOMETRY and has_default:
        try:
            default = geometry.normalize(default)
        except errors.MilvusException:
            raise errors.invalid("invalid default value for geometry field") from None
    spec: dict[str, Any] = {
        "name": name,
        "dtype": dtype,
        "field_id": field_id,
        "description": getattr(f, "description", "") or "",
        "is_primary": bool(f.is_primary),
        "auto_id": bool(f.is_primary and (f.auto_id or schema_auto_id)),
        "nullable": bool(getattr(f, "nullable", False)),
        "has_default": has_default,
        "default_value": default,
        "is_partition_key": bool(getattr(f, "is_partition_key", False)),
        "is_clustering_key": bool(getattr(f, "is_clustering_key", False)),
    }
    if dtype in DENSE_VECTOR_TYPES or dtype == DataType.BINARY_VECTOR:
        spec["dim"] = params["dim"] = _dim(name, dtype, params)
    if dtype == DataType.SPARSE_FLOAT_VECTOR and "dim" in params:
        raise errors.invalid(f"dim should not be specified for sparse vector field {name}")
    if dtype == DataType.VARCHAR or (
        dtype == DataType.ARRAY and f.element_type == DataType.VARCHAR
    ):
        if "max_length" not in params:
            raise errors.invalid(
                f"type param(max_length) should be specified for the field({name}) of "
                "collection: invalid parameter"
            )
        max_length = _bounded(name, "max_length", params["max_length"])
        spec["max_length"] = params["max_length"] = max_length
    if dtype == DataType.ARRAY:
        element_type = getattr(f, "element_type", None)
        if element_type is None or DataType(element_type) not in ARRAY_ELEMENT_TYPES:
            raise errors.invalid(f"element data type {element_type} is not valid")
        spec["element_type"] = DataType(element_type)
        if "max_capacity" not in params:
            raise errors.invalid(
                f"type param(max_capacity) should be specified for array field {name}"
            )
        capacity = _bounded(name, "max_capacity", params["max_capacity"])
        spec["max_capacity"] = params["max_capacity"] = capacity
    spec["params"] = params
    out = FieldSpec(**spec)
    if dtype == DataType.VARCHAR and params.get("enable_analyzer"):
        _ = out.analyzer  # the server's checks of the analyzer params, at creation
    if out.is_primary:
        if dtype not in (DataType.INT64, DataType.VARCHAR):
            raise errors.server(
                errors.ILLEGAL_SCHEMA,
                "the data type of primary key should be Int64 or VarChar",
            )
        if out.nullable:
            raise errors.invalid(f"primary field not support null, field: {name}")
        if has_default:
            raise errors.invalid(f"primary field not support default_value, field: {name}")
    if out.is_vector and has_default:
        raise errors.invalid(f"vector field {name} does not support default_value")
    return out


def spec_from_schema(
    name: str,
    schema: CollectionSchema,
    version: int = 0,
    zone: str = timestamptz.DEFAULT_TIMEZONE,
) -> CollectionSpec:
    """Validate a pymilvus CollectionSchema as the server would and freeze it (TIMESTAMPTZ
    defaults without an offset are read in the time zone ``zone``)."""
    fields = list(schema.fields)
    primaries = [f for f in fields if f.is_primary]
    if not primaries:
        raise errors.server(errors.ILLEGAL_SCHEMA, "primary key is not specified")
    if len(primaries) > 1:
        raise errors.server(errors.ILLEGAL_SCHEMA, "there are more than one primary key")
    names = [f.name for f in fields]
    for n in names:
        if names.count(n) > 1:
            raise errors.invalid(f"duplicated field name {n} found")
        if n == META_FIELD:
            raise errors.invalid(f"Invalid field name: {n}")
    schema_auto_id = bool(getattr(schema, "auto_id", False))
    specs = tuple(_field_spec(f, 100 + i, schema_auto_id, zone) for i, f in enumerate(fields))
    specs += _struct_specs(getattr(schema, "struct_fields", None) or [], 100 + len(specs))
    functions = tuple(schema_function(fn, specs) for fn in getattr(schema, "functions", None) or [])
    for f in specs:  # multi-language analyzers: checked against the other fields
        multi_analyzer.check(f, specs, name)
    outputs = {fn.output for fn in functions}
    specs = tuple(dataclasses.replace(f, is_function_output=f.name in outputs) for f in specs)
    if not any(s.is_vector or any(f.is_vector for f in s.struct_fields) for s in specs):
        raise errors.invalid("schema does not contain vector field: invalid parameter")
    if sum(s.is_partition_key for s in specs) > 1:
        raise errors.invalid("there are more than one partition key")
    return CollectionSpec(
        name=name,
        fields=specs,
        description=getattr(schema, "description", "") or "",
        enable_dynamic_field=bool(getattr(schema, "enable_dynamic_field", False)),
        version=version,
        functions=functions,
    )


def _struct_specs(structs_: list[Any], first_id: int) -> tuple[FieldSpec, ...]:
    """Arrays of structs (Milvus 2.6.4+; nullable since 3.0; no default, 2.6's sub-field
    types): their ids first, then their sub-fields'."""
    out: list[FieldSpec] = []
    next_id = first_id + len(structs_)
    for i, st in enumerate(structs_):
        out.append(struct_spec(st, first_id + i, next_id))
        next_id += len(st.fields)
    return tuple(out)


def struct_spec(st: Any, field_id: int, first_sub_id: int) -> FieldSpec:
    """One array of structs (pymilvus's StructFieldSchema) and its numbered sub-fields."""
    capacity = _bounded(st.name, "max_capacity", st.max_capacity)
    subs = []
    for i, sub in enumerate(st.fields):
        spec = _field_spec(sub, first_sub_id + i, False)
        structs.check_sub_field(st.name, spec)
        subs.append(spec)
    return FieldSpec(
        st.name, DataType.ARRAY, field_id, description=st.description or "",
        nullable=bool(getattr(st, "nullable", False)), element_type=DataType.STRUCT,
        max_capacity=capacity, struct_fields=tuple(subs),
    )  # fmt: skip


def schema_function(fn: Any, fields: tuple[FieldSpec, ...]) -> FunctionSpec:
    """A schema Function as the server checks a BM25 or a MINHASH one; other kinds are not
    available."""
    kind = getattr(fn.type, "name", str(fn.type))
    by_name = {f.name: f for f in fields}
    inputs, outputs = list(fn.input_field_names), list(fn.output_field_names)
    description = getattr(fn, "description", "") or ""
    if kind == "MINHASH":
        source, target = (by_name.get(n[0]) if n else None for n in (inputs, outputs))
        minhash.check_fields(source, target, inputs, outputs)
        params = dict(getattr(fn, "params", None) or {})
        minhash.parse_params(params, target.dim or 0, target.name)  # type: ignore[union-attr]
        return FunctionSpec(fn.name, inputs[0], outputs[0], description, kind, params)
    if kind != "BM25":
        raise errors.invalid(
            f"function type {kind} is not supported by gpu_milvus: only BM25 and MINHASH are"
        )
    if len(inputs) != 1 or len(outputs) != 1:
        raise errors.invalid(
            f"BM25 function should have exactly one input field and one output field, "
            f"function: {fn.name}: invalid parameter"
        )
    source, target = by_name.get(inputs[0]), by_name.get(outputs[0])
    if source is None or target is None:
        missing = inputs[0] if source is None else outputs[0]
        raise errors.invalid(f"function {fn.name} uses a field that does not exist: {missing}")
    if source.dtype != DataType.VARCHAR or not source.params.get("enable_analyzer"):
        raise errors.invalid(
            f"BM25 function input field must be a VARCHAR field with enable_analyzer=True, "
            f"field: {source.name}: invalid parameter"
        )
    if target.dtype != DataType.SPARSE_FLOAT_VECTOR:
        raise errors.invalid(
            f"BM25 function output field must be a SPARSE_FLOAT_VECTOR field, field: "
            f"{target.name}: invalid parameter"
        )
    return FunctionSpec(fn.name, source.name, target.name, description)


def check_collection_name(name: Any, noun: str = "collection name") -> None:
    """The server's collection-name rule (validate_util.go); aliases follow it too."""
    if not isinstance(name, str) or not name:
        raise errors.invalid(f"Invalid {noun}: {name}. {noun} should not be empty")
    if len(name) > 255:
        raise errors.invalid(
            f"Invalid {noun}: {name}. the length of a {noun} must be less than 255 characters"
        )
    if not (name[0] == "_" or (name[0].isascii() and name[0].isalpha())):
        raise errors.invalid(
            f"Invalid {noun}: {name}. the first character of a {noun} must be an underscore "
            "or letter"
        )
    if not _NAME_RE.match(name):
        raise errors.invalid(
            f"Invalid {noun}: {name}. {noun} can only contain numbers, letters and underscores"
        )


def check_partition_name(name: str) -> None:
    """The proxy's validatePartitionTag (strict): trimmed, a letter, digit or underscore
    first, then those or hyphens."""
    name = name.strip()
    invalid = f"Invalid partition name: {name}. "
    if not name:
        raise errors.invalid(f"{invalid}Partition name should not be empty.: invalid parameter")
    if len(name) > 255:
        raise errors.invalid(
            f"{invalid}The length of a partition name must be less than 255 characters."
            ": invalid parameter"
        )
    if not (name[0] == "_" or (name[0].isascii() and name[0].isalnum())):
        raise errors.invalid(
            f"{invalid}The first character of a partition name must be an underscore or "
            "letter.: invalid parameter"
        )
    if not all(c in "_-" or (c.isascii() and c.isalnum()) for c in name[1:]):
        raise errors.invalid(
            f"{invalid}Partition name can only contain numbers, letters and underscores."
            ": invalid parameter"
        )
