"""Aliases, truncate_collection and collection/database properties, against milvus-lite.

Only what lite shares with the server is compared (milvus_lite_notes.md, probed again for
these calls): lite lets a collection be dropped through an alias or while it has aliases,
answers ``list_aliases``/``describe_alias`` without ``db_name``, and words its errors its own
way. Those cases, and Milvus's error codes and wording, are in tests/unit/test_client_admin.py.
"""

from __future__ import annotations

import pytest

from .conftest import Pair

pytestmark = pytest.mark.reference


def _setup(pair: Pair) -> None:
    for c in (pair.ref, pair.sub):
        c.create_collection("a", dimension=4)
        c.create_collection("b", dimension=4)
        c.insert("a", [{"id": i, "vector": [i, 1.0, 0.0, 0.5], "tag": i % 3} for i in range(12)])
        c.insert("b", [{"id": 100 + i, "vector": [0.0, i, 1.0, 0.0]} for i in range(5)])


def _ids(rows: list) -> list:
    return sorted(r["id"] for r in rows)


def test_aliases_route_reads_and_writes_like_the_collection(pair: Pair) -> None:
    _setup(pair)
    pair.both(lambda c: c.create_alias("a", "live"))
    ref, sub = pair.both(lambda c: c.describe_alias("live")["collection_name"])
    assert ref == sub == "a"
    ref, sub = pair.both(lambda c: c.list_aliases("a")["aliases"])
    assert ref == sub == ["live"]
    pair.both(lambda c: c.insert("live", [{"id": 50, "vector": [1.0, 1.0, 1.0, 1.0]}]))
    ref, sub = pair.both(lambda c: _ids(c.query("live", "tag == 1 or id == 50")))
    assert ref == sub == [1, 4, 7, 10, 50]
    ref, sub = pair.both(
        lambda c: [h["id"] for h in c.search("live", [[9, 1, 0, 0.5]], limit=3)[0]]
    )
    assert ref == sub
    ref, sub = pair.both(lambda c: c.has_collection("live"))
    assert ref is sub is True
    ref, sub = pair.both(lambda c: sorted(c.list_collections()))
    assert ref == sub == ["a", "b"]
    # Re-point the alias: the same name now reads the other collection.
    pair.both(lambda c: c.alter_alias("b", "live"))
    ref, sub = pair.both(lambda c: _ids(c.query("live", "id >= 0")))
    assert ref == sub == [100, 101, 102, 103, 104]
    pair.both(lambda c: c.drop_alias("live"))
    pair.both(lambda c: c.drop_alias("live"))  # dropping a missing alias is not an error
    ref, sub = pair.both(lambda c: c.list_aliases()["aliases"])
    assert ref == sub == []
    ref, sub = pair.run(lambda c: c.describe_alias("live"))
    assert not ref.ok and not sub.ok


def test_alias_conflicts_fail_on_both(pair: Pair) -> None:
    _setup(pair)
    pair.both(lambda c: c.create_alias("a", "al"))
    for op in (
        lambda c: c.create_alias("b", "al"),  # already points elsewhere
        lambda c: c.create_alias("a", "b"),  # a collection's name
        lambda c: c.create_alias("missing", "al2"),
        lambda c: c.create_collection("al", dimension=4),
        lambda c: c.alter_alias("b", "nope"),
    ):
        ref, sub = pair.run(op)
        assert not ref.ok and not sub.ok, (ref.describe(), sub.describe())
    ref, sub = pair.both(lambda c: c.describe_alias("al")["collection_name"])
    assert ref == sub == "a"


def test_truncate_empties_and_keeps_the_collection_usable(pair: Pair) -> None:
    _setup(pair)
    pair.both(lambda c: c.truncate_collection("a"))
    ref, sub = pair.both(lambda c: c.query("a", "", output_fields=["count(*)"])[0]["count(*)"])
    assert ref == sub == 0
    pair.both(lambda c: c.insert("a", [{"id": 7, "vector": [0.0, 0.0, 1.0, 0.0]}]))
    ref, sub = pair.both(lambda c: _ids(c.query("a", "id >= 0")))
    assert ref == sub == [7]
    ref, sub = pair.both(lambda c: c.query("b", "", output_fields=["count(*)"])[0]["count(*)"])
    assert ref == sub == 5
    ref, sub = pair.run(lambda c: c.truncate_collection("missing"))
    assert ref.error.code == sub.error.code == 100  # type: ignore[union-attr]


def test_collection_and_database_properties(pair: Pair) -> None:
    _setup(pair)
    pair.both(lambda c: c.alter_collection_properties("a", {"collection.ttl.seconds": 60}))
    ref, sub = pair.both(lambda c: c.describe_collection("a")["properties"])
    assert ref == sub == {"collection.ttl.seconds": "60"}
    pair.both(lambda c: c.drop_collection_properties("a", ["collection.ttl.seconds"]))
    ref, sub = pair.both(lambda c: c.describe_collection("a")["properties"])
    assert ref == sub == {}
    pair.both(lambda c: c.alter_database_properties("default", {"database.max.collections": 9}))
    ref, sub = pair.both(lambda c: c.describe_database("default"))
    assert ref == sub == {"name": "default", "database.max.collections": "9"}
    pair.both(lambda c: c.drop_database_properties("default", ["database.max.collections"]))
    ref, sub = pair.both(lambda c: c.describe_database("default"))
    assert ref == sub == {"name": "default"}
    ref, sub = pair.both(lambda c: c.get_compaction_state(c.compact("a")))
    assert ref == sub == "Completed"
