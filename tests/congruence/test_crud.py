"""Insert / upsert / delete / get / count(*) / stats, compared by whole-collection snapshots.

Not compared, because milvus-lite differs from the server there (milvus_lite_notes.md):
the return value of ``delete`` (lite: a list of pks; server: ``{'delete_count': n}``),
duplicate-pk inserts (lite dedups), ``get_collection_stats`` after deletes (lazily maintained
on a server), ``count(*)`` with an empty filter plus ``partition_names`` (lite ignores the
partition), ``delete(filter=, partition_name=)`` matching rows of other partitions (lite deletes
them too), and upserts that drop dynamic keys (lite keeps the old row's dynamic keys).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from .compare import compare_counts, compare_plain, compare_rows, compare_write_result
from .conftest import Pair, Side, open_pair
from .gen import FilterGen, full_schema, gen_rows, make_pk, make_rng

pytestmark = pytest.mark.reference

SPECS = [("vec", "FLAT", "L2"), ("sv", "SPARSE_INVERTED_INDEX", "IP")]
N = 160


def _all_filter(pk: str) -> str:
    return "id >= 0" if pk == "int" else 'id like "%"'


def check_state(pair: Pair, name: str, pk: str, what: str) -> None:
    """Snapshot (all rows, all fields) and count(*) must agree."""
    ref, sub = pair.both(lambda c: c.query(name, filter=_all_filter(pk), output_fields=["*"]))
    compare_rows(ref, sub, pair.ctx(f"snapshot after {what}"))
    ref, sub = pair.both(lambda c: c.query(name, filter="", output_fields=["count(*)"]))
    compare_counts(ref, sub, pair.ctx(f"count(*) after {what}"))


def insert_op(name: str, data: Any, **kw: Any) -> Any:
    """An insert op; each client gets its own deep copy of the rows."""
    return lambda c: c.insert(name, copy.deepcopy(data), **kw)


def upsert_op(name: str, data: Any, **kw: Any) -> Any:
    """An upsert op on a deep copy of the rows."""
    return lambda c: c.upsert(name, copy.deepcopy(data), **kw)


@pytest.mark.parametrize("pk", ["int", "str"])
def test_mutation_sequence(pair: Pair, pk: str) -> None:
    """insert (dict and list) -> upsert (replace + new) -> delete ids -> delete filter ->
    re-insert deleted pks; snapshot after each step."""
    rng = make_rng(pair.seed, f"crud-{pk}")
    name = f"crud_{pk}"
    pair.create(name, full_schema(pk=pk), SPECS)
    order = rng.permutation(N).tolist()
    rows = gen_rows(rng, [make_pk(i, pk) for i in order])

    ref, sub = pair.both(insert_op(name, rows[0]))
    compare_write_result(ref, sub, pair.ctx("insert(single dict)"), "insert_count")
    for lo, hi in ((1, 90), (90, N)):
        ref, sub = pair.both(insert_op(name, rows[lo:hi]))
        compare_write_result(ref, sub, pair.ctx(f"insert(rows[{lo}:{hi}])"), "insert_count")
    check_state(pair, name, pk, "inserts")
    ref, sub = pair.both(lambda c: c.get_collection_stats(name))
    compare_plain(ref, sub, pair.ctx("get_collection_stats after inserts"))

    # upsert: replace 30 existing rows with fresh data, add 10 new pks
    replaced = rng.choice(N, 30, replace=False).tolist()
    fresh = gen_rows(rng, [make_pk(i, pk) for i in replaced])
    for new in fresh:  # lite keeps the old row's dynamic keys on upsert; the server replaces
        old = next(r for r in rows if r["id"] == new["id"])
        for key in ("dyn_s", "dyn_f"):
            if key in old and key not in new:
                new[key] = old[key]
    fresh += gen_rows(rng, [make_pk(i, pk) for i in range(N, N + 10)])
    ref, sub = pair.both(upsert_op(name, fresh))
    compare_write_result(ref, sub, pair.ctx("upsert(30 replaced + 10 new)"), "upsert_count")
    check_state(pair, name, pk, "upsert")

    # delete by ids, some missing
    del_ids = [make_pk(i, pk) for i in rng.choice(N + 10, 20, replace=False).tolist()]
    del_ids += [make_pk(i, pk) for i in (N + 500, N + 501)]
    pair.both(lambda c: c.delete(name, ids=list(del_ids)))
    check_state(pair, name, pk, f"delete(ids={del_ids})")

    # flush on both (lite seals a segment; a no-op for an in-memory engine)
    pair.both(lambda c: c.flush(name))

    # delete by a generated filter that matches something but not everything
    fgen = FilterGen(rng, rows)
    expr = fgen.expr()
    for _ in range(50):
        ref_n = pair.ref.query(name, filter=expr, output_fields=["count(*)"])[0]["count(*)"]
        if 0 < ref_n < N // 2:
            break
        expr = fgen.expr()
    pair.both(lambda c: c.delete(name, filter=expr))
    check_state(pair, name, pk, f"delete(filter={expr!r})")

    # count(*) under generated filters
    for i in range(20):
        e = fgen.expr()
        ref, sub = pair.both(lambda c, e=e: c.query(name, filter=e, output_fields=["count(*)"]))
        compare_counts(ref, sub, pair.ctx(f"count #{i} filter={e!r}"))

    # re-insert the deleted ids (not duplicates: they are gone)
    back = gen_rows(rng, del_ids[:-2])
    ref, sub = pair.both(insert_op(name, back))
    compare_write_result(ref, sub, pair.ctx("re-insert deleted pks"), "insert_count")
    check_state(pair, name, pk, "re-insert")

    # get: present, deleted-then-reinserted and missing ids; several output_fields
    probe = [make_pk(i, pk) for i in rng.choice(N + 10, 15, replace=False).tolist()]
    probe += [make_pk(N + 999, pk)]
    for fields in (None, ["*"], ["s", "ni", "js", "dyn_s"], ["vec", "sv"], ["id"]):
        ref, sub = pair.both(lambda c, f=fields: c.get(name, ids=list(probe), output_fields=f))
        compare_rows(ref, sub, pair.ctx(f"get(ids={probe}, output_fields={fields})"))
    ref, sub = pair.both(lambda c: c.get(name, ids=probe[0]))
    compare_rows(ref, sub, pair.ctx(f"get(ids={probe[0]!r}) scalar id"))


def test_empty_writes(pair: Pair) -> None:
    """insert([]) / upsert([]) shapes and no state change."""
    pair.create("ew", full_schema(), SPECS)
    ref, sub = pair.both(lambda c: c.insert("ew", []))
    compare_plain(dict(ref), dict(sub), pair.ctx("insert([])"))
    ref, sub = pair.both(lambda c: c.upsert("ew", []))
    compare_plain(dict(ref), dict(sub), pair.ctx("upsert([])"))
    check_state(pair, "ew", "int", "empty writes")
    ref, sub = pair.both(lambda c: c.get_collection_stats("ew"))
    compare_plain(ref, sub, pair.ctx("get_collection_stats on an empty collection"))


def test_partitions(pair: Pair) -> None:
    """Partition-scoped insert / query / count / delete / get."""
    rng = make_rng(pair.seed, "crud-partitions")
    name = "parts"
    pair.create(name, full_schema(), SPECS)
    for p in ("p1", "p2"):
        pair.both(lambda c, p=p: c.create_partition(name, p))
    ref, sub = pair.both(lambda c: sorted(c.list_partitions(name)))
    compare_plain(ref, sub, pair.ctx("list_partitions"))
    chunks = {"_default": range(0, 40), "p1": range(40, 100), "p2": range(100, 130)}
    rows: list[dict[str, Any]] = []
    for part, ids in chunks.items():
        part_rows = gen_rows(rng, list(ids))
        rows += part_rows
        ref, sub = pair.both(insert_op(name, part_rows, partition_name=part))
        compare_write_result(ref, sub, pair.ctx(f"insert into {part}"), "insert_count")
    check_state(pair, name, "int", "partitioned inserts")
    fgen = FilterGen(rng, rows)
    for names in (["p1"], ["p2", "_default"], ["_default"], ["p1", "p2"]):
        ref, sub = pair.both(
            lambda c, n=names: c.query(name, filter="id >= 0", output_fields=["*"],
                                       partition_names=n)
        )  # fmt: skip
        compare_rows(ref, sub, pair.ctx(f"query partition_names={names}"))
        e = fgen.expr()
        ref, sub = pair.both(
            lambda c, n=names, e=e: c.query(name, filter=e, output_fields=["count(*)"],
                                            partition_names=n)
        )  # fmt: skip
        compare_counts(ref, sub, pair.ctx(f"count(*) filter={e!r} partition_names={names}"))
        ref, sub = pair.both(
            lambda c, n=names: c.get(name, ids=[0, 39, 40, 99, 100, 129], partition_names=n)
        )
        compare_rows(ref, sub, pair.ctx(f"get partition_names={names}"))
    # lite ignores partition_name on delete-by-filter, so the filter only matches p1 rows
    pair.both(lambda c: c.delete(name, filter="id >= 50 and id < 70", partition_name="p1"))
    check_state(pair, name, "int", "delete(filter='id >= 50 and id < 70', partition_name='p1')")
    ref, sub = pair.both(lambda c: c.get_partition_stats(name, "p2"))
    compare_plain(ref, sub, pair.ctx("get_partition_stats(p2)"))
    # the server refuses to drop a loaded partition, and lite cannot release one partition
    pair.both(lambda c: c.release_collection(name))
    pair.both(lambda c: c.drop_partition(name, "p2"))
    pair.both(lambda c: c.load_collection(name))
    ref, sub = pair.both(lambda c: sorted(c.list_partitions(name)))
    compare_plain(ref, sub, pair.ctx("list_partitions after drop_partition(p2)"))
    check_state(pair, name, "int", "drop_partition(p2)")


def _describe_view(d: dict[str, Any]) -> dict[str, Any]:
    """describe_collection minus what lite reports differently from the server: field ids
    (lite: 0), collection_id, the consistency level (lite: Strong; server default Bounded), and
    ``max_length`` of ARRAY(VARCHAR) fields (lite drops it)."""
    out = {k: v for k, v in d.items() if k not in ("collection_id", "consistency_level",
                                                   "consistency_level_name", "fields")}  # fmt: skip
    fields = []
    for f in d["fields"]:
        f = {k: v for k, v in f.items() if k != "field_id"}
        if f.get("element_type") is not None:
            f["params"] = {k: v for k, v in f["params"].items() if k != "max_length"}
        fields.append(f)
    out["fields"] = fields
    return out


@pytest.mark.parametrize("pk", ["int", "str"])
def test_describe(pair: Pair, pk: str) -> None:
    """describe_collection / list_indexes / describe_index / load state / listings agree.

    (Not describe_index of a missing name: the server answers None, lite returns every index,
    which pymilvus turns into AmbiguousIndexName.)
    """
    pair.create("desc", full_schema(pk=pk), SPECS)
    pair.both(lambda c: c.create_partition("desc", "p1"))
    ops = {
        "describe_collection": lambda c: _describe_view(c.describe_collection("desc")),
        "list_indexes": lambda c: sorted(c.list_indexes("desc")),
        "describe_index(vec)": lambda c: c.describe_index("desc", "vec"),
        "describe_index(sv)": lambda c: c.describe_index("desc", "sv"),
        "get_load_state": lambda c: str(c.get_load_state("desc")["state"]),
        "list_collections": lambda c: sorted(c.list_collections()),
        "list_partitions": lambda c: sorted(c.list_partitions("desc")),
        "has_partition(p1)": lambda c: c.has_partition("desc", "p1"),
        "has_collection": lambda c: c.has_collection("desc"),
    }
    for label, op in ops.items():
        ref, sub = pair.both(op)
        compare_plain(ref, sub, pair.ctx(label))


def test_reopen(tmp_path: Path, seed: int, subject_side: Side) -> None:
    """Write, close both clients, reopen the same paths: the data is still there."""
    rng = make_rng(seed, "crud-reopen")
    first = open_pair(tmp_path, seed, subject_side)
    first.create("keep", full_schema(), SPECS)
    rows = gen_rows(rng, list(range(60)))
    first.both(insert_op("keep", rows))
    first.both(lambda c: c.delete("keep", ids=[3, 4, 5]))
    first.both(upsert_op("keep", [dict(rows[10], i32=99)]))
    first.close()
    again = open_pair(tmp_path, seed, subject_side)
    try:
        ref, sub = again.both(lambda c: c.list_collections())
        compare_plain(sorted(ref), sorted(sub), again.ctx("list_collections after reopen"))
        check_state(again, "keep", "int", "close + reopen")
    finally:
        again.close()
