"""text_match and phrase_match filters: Milvus's phrase-match guide's examples (slop 0 exact,
slop 1 one word between, slop 2 the two words reversed), minimum_should_match, templates,
nulls, and the server's errors (planparserv2's wording). Plain text_match is compared with
milvus-lite in tests/congruence/test_full_text.py.
"""

from __future__ import annotations

import pytest
from pymilvus import DataType, MilvusException

from gpu_milvus import MilvusClient

DOCS = {
    1: "Machine learning boosts efficiency",
    2: "learning machine models",
    3: "Deep learning machine vision",
    4: "machine deep learning",
    5: "robotics machine learning models",
    6: None,
    7: "machine_learning: an underscore splits tokens",  # as on a server, not milvus-lite
}


@pytest.fixture
def c(client: MilvusClient) -> MilvusClient:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True,
                enable_match=True, nullable=True)  # fmt: skip
    s.add_field("plain", DataType.VARCHAR, max_length=20, enable_analyzer=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    ip = client.prepare_index_params()
    ip.add_index("v", metric_type="L2")
    client.create_collection("c", schema=s, index_params=ip)
    client.insert("c", [{"id": i, "text": t, "plain": "x", "v": [0.0, float(i)]}
                        for i, t in DOCS.items()])  # fmt: skip
    return client


def _ids(client: MilvusClient, expr: str, **kwargs) -> list[int]:
    return sorted(r["id"] for r in client.query("c", expr, output_fields=["id"], **kwargs))


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("phrase_match(text, 'machine learning')", [1, 5, 7]),
        ("phrase_match(text, 'machine learning', 0)", [1, 5, 7]),
        ("phrase_match(text, 'machine learning', 1)", [1, 4, 5, 7]),  # one word between
        ("phrase_match(text, 'machine learning', 2)", [1, 2, 3, 4, 5, 7]),  # reversed too
        ("phrase_match(text, 'robotics machine learning')", [5]),
        ("phrase_match(text, 'learning robotics', 2)", []),  # needs 3 moves
        ("phrase_match(text, 'learning robotics', 3)", [5]),
        ("text_match(text, 'machine')", [1, 2, 3, 4, 5, 7]),
        ("text_match(text, 'vision robotics')", [3, 5]),
        ("text_match(text, 'deep vision models', minimum_should_match=2)", [3]),
        ("text_match(text, 'machine learning deep', minimum_should_match=3)", [3, 4]),
        ("text_match(text, 'underscore_splits', minimum_should_match=2)", [7]),
        ("not text_match(text, 'deep')", [1, 2, 5, 7]),  # the null row is neither
        ("text_match(text, '')", []),
        ("text_match(text, 'learn')", []),  # whole tokens only
        ("phrase_match(text, 'chine learn')", []),
        ("phrase_match(text, 'learning_machine')", [2, 3]),
    ],
)
def test_matches(c: MilvusClient, expr: str, want: list[int]) -> None:
    assert _ids(c, expr) == want


def test_templates_and_search_filters(c: MilvusClient) -> None:
    got = _ids(c, "phrase_match(text, {p}, 1)", filter_params={"p": "machine learning"})
    assert got == [1, 4, 5, 7]
    assert _ids(c, "text_match(text, {q}) and id > 2", filter_params={"q": "Vision"}) == [3]
    hits = c.search("c", [[0.0, 0.0]], filter="text_match(text, 'models')", limit=5)[0]
    assert [h["id"] for h in hits] == [2, 5]
    c.delete("c", filter="phrase_match(text, 'machine deep')")
    assert _ids(c, "id >= 0") == [1, 2, 3, 5, 6, 7]


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ("text_match(plain, 'x')", 'field "plain" does not enable match'),
        ("text_match(id, 'x')", "text match operation on non-string is unsupported"),
        ("text_match(text, 'a', minimum_should_match=0)", "should be >= 1, got 0"),
        ("text_match(text, 'a', minimum_should_match=1001)", "should be <= 1000, got 1001"),
        ("phrase_match(text, 'a b', -1)", '"slop" should not be a negative interger'),
        ("phrase_match(text, 'a b', 4294967296)", '"slop" exceeds the range of "uint32"'),
        ("phrase_match(text, 'a b', id)", '"slop" should be a const integer expression'),
        ("text_match(text, 3)", "text match query must be a string"),
    ],
)  # fmt: skip
def test_errors(c: MilvusClient, expr: str, text: str) -> None:
    with pytest.raises(MilvusException) as exc:
        c.query("c", expr)
    assert exc.value.code == 1100 and text in exc.value.message
