"""The persistence leg: write on both engines, close, reopen from the same paths, compare.

milvus-lite keeps a path uri on disk, as gpu_milvus now does; after a reopen both must hold
the same rows, the same load state and the same search answers as before the close.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from .compare import compare_counts, compare_plain, compare_rows
from .conftest import Pair, Side, open_pair
from .gen import full_schema, gen_rows, make_pk, make_rng

pytestmark = pytest.mark.reference

SPECS = [("vec", "FLAT", "L2"), ("sv", "SPARSE_INVERTED_INDEX", "IP")]
N = 120


def _check(pair: Pair, name: str, what: str) -> None:
    ref, sub = pair.both(lambda c: c.query(name, filter="id >= 0", output_fields=["*"]))
    compare_rows(ref, sub, pair.ctx(f"snapshot {what}"))
    ref, sub = pair.both(lambda c: c.query(name, filter="", output_fields=["count(*)"]))
    compare_counts(ref, sub, pair.ctx(f"count(*) {what}"))
    ref, sub = pair.both(lambda c: str(c.get_load_state(name)["state"]))
    compare_plain(ref, sub, pair.ctx(f"load state {what}"))
    ref, sub = pair.both(lambda c: sorted(c.list_partitions(name)))
    compare_plain(ref, sub, pair.ctx(f"partitions {what}"))


@pytest.mark.parametrize("flush", [False, True])
def test_close_and_reopen(tmp_path: Path, seed: int, subject_side: Side, flush: bool) -> None:
    rng = make_rng(seed, f"persist-{flush}")
    pair = open_pair(tmp_path, seed, subject_side)
    name = "kept"
    try:
        pair.create(name, full_schema(), SPECS)
        pair.both(lambda c: c.create_partition(name, "p1"))
        rows = gen_rows(rng, [make_pk(i, "int") for i in range(N)])
        pair.both(lambda c: c.insert(name, copy.deepcopy(rows[:80])))
        pair.both(lambda c: c.insert(name, copy.deepcopy(rows[80:]), partition_name="p1"))
        if flush:
            pair.both(lambda c: c.flush(name))
        gone = [make_pk(int(i), "int") for i in rng.choice(N, 25, replace=False)]
        pair.both(lambda c: c.delete(name, ids=list(gone)))
        _check(pair, name, "before close")
    finally:
        pair.close()
    reopened = open_pair(tmp_path, seed, subject_side)
    try:
        _check(reopened, name, "after reopen")
        query = [rows[3]["vec"]]
        ref, sub = reopened.both(
            lambda c: [[h["id"] for h in hits] for hits in c.search(
                name, data=query, anns_field="vec", limit=10, search_params={"metric_type": "L2"}
            )]
        )  # fmt: skip
        compare_plain(ref, sub, reopened.ctx("search after reopen"))
    finally:
        reopened.close()
