"""search(highlighter=LexicalHighlighter(...)) against the outputs Milvus's own e2e tests and
the Text Highlighter guide (2.6.8+) show, and the proxy's checks (``highlighter.go``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymilvus import DataType, Function, FunctionType, LexicalHighlighter
from pymilvus.exceptions import MilvusException

from gpu_milvus import MilvusClient

TEXTS = {
    1: "I have the seat full of water! Like, full of water!",
    2: "my first test doc. Milvus is an open-source vector database built for GenAI applications.",
    3: "nothing here",
    4: "東京の水 water, «WATER» ünïcode water_way",
    5: "4321 keyword",
    6: "water water",
}


@pytest.fixture
def client(tmp_path: Path) -> Any:
    c = MilvusClient(str(tmp_path / "hl.db"))
    s = c.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=1000, enable_analyzer=True)
    s.add_field("note", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    s.add_field("plain", DataType.VARCHAR, max_length=200)
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_function(Function(name="bm", function_type=FunctionType.BM25,
                            input_field_names=["text"], output_field_names=["sp"]))  # fmt: skip
    ip = c.prepare_index_params()
    ip.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    ip.add_index("v", metric_type="L2")
    c.create_collection("c", schema=s, index_params=ip)
    c.insert(
        "c",
        [
            {"id": k, "text": t, "note": f"note {k} about water", "plain": "water",
             "v": [float(k), 0.0]}
            for k, t in TEXTS.items()
        ],
    )  # fmt: skip
    yield c
    c.close()


def _marks(client: MilvusClient, query: str, **kw: Any) -> dict[int, list[str]]:
    hl = LexicalHighlighter(highlight_search_text=True, **kw)
    hits = client.search("c", [query], anns_field="sp", limit=5, highlighter=hl)[0]
    return {h["id"]: h["highlight"]["text"]["fragments"] for h in hits}


def test_milvus_e2e_fragments(client: MilvusClient) -> None:
    """tests/python_client: fragment_size 9 over the 'water' sentence."""
    got = _marks(client, "water", pre_tags=["{"], post_tags=["}"], fragment_size=9)
    assert got[1] == ["{water}! Li", "{water}!"]


def test_guide_fragment_offset_example(client: MilvusClient) -> None:
    """The guide's third example: fragment_offset=20, fragment_size=60."""
    got = _marks(client, "Milvus", pre_tags=["{"], post_tags=["}"], fragment_offset=20,
                 fragment_size=60)  # fmt: skip
    assert got[2] == ["my first test doc. {Milvus} is an open-source vector database "]


def test_defaults_tags_and_limits(client: MilvusClient) -> None:
    assert _marks(client, "water")[1] == [
        "<em>water</em>! Like, full of <em>water</em>!"  # one 100-character fragment
    ]
    assert _marks(client, "water", fragment_size=1, num_of_fragments=1)[1] == ["<em>water</em>"]
    assert _marks(client, "water", num_of_fragments=0)[1] == []
    # a match starting where the fragment ends joins it (server: a new one only past the end)
    assert _marks(client, "water", pre_tags=["{"], post_tags=["}"], fragment_size=6)[6] == [
        "{water} {water}"
    ]
    cycled = _marks(client, "water like", pre_tags=["{", "["], post_tags=["}", "]", ">"])
    assert cycled[1] == ["{water}! [Like], full of {water>!"]
    # tests/python_client: fragment_offset=5, fragment_size=1 on "4321 keyword"
    got = _marks(client, "keyword", pre_tags=["{"], post_tags=["}"], fragment_offset=5,
                 fragment_size=1)  # fmt: skip
    assert got[5] == ["4321 {keyword}"]


def test_offsets_are_characters(client: MilvusClient) -> None:
    """Byte offsets of the analyzer become character offsets: the fragment cut after the
    match counts characters of a mixed-script text; an underscore splits water_way."""
    got = _marks(client, "water", pre_tags=["{"], post_tags=["}"], fragment_size=7)[4]
    assert got == ["{water}, ", "{WATER}» ", "{water}_w"]


def test_highlight_query_on_another_field(client: MilvusClient) -> None:
    hl = LexicalHighlighter(
        pre_tags=["<b>"], post_tags=["</b>"],
        highlight_query=[{"type": "TextMatch", "field": "note", "text": "about"}],
    )  # fmt: skip
    hits = client.search("c", [[3.0, 0.0]], anns_field="v", limit=2, highlighter=hl)[0]
    assert [h["highlight"] for h in hits] == [
        {"note": {"fragments": ["<b>about</b> water"], "scores": []}},  # from the match on
        {"note": {"fragments": ["<b>about</b> water"], "scores": []}},
    ]
    assert all("entity" in h and h["entity"] == {} for h in hits)  # no field is added


def test_search_text_and_query_share_a_field(client: MilvusClient) -> None:
    hl = LexicalHighlighter(
        highlight_search_text=True, pre_tags=["{"], post_tags=["}"],
        highlight_query=[{"type": "TextMatch", "field": "text", "text": "seat"}],
    )  # fmt: skip
    hits = client.search(
        "c", ["water", "nothing"], anns_field="sp", limit=1, filter="id in [1, 3]",
        highlighter=hl,
    )  # fmt: skip
    # the fragment starts at the first match (fragment_offset 0)
    assert hits[0][0]["highlight"]["text"]["fragments"] == [
        "{seat} full of {water}! Like, full of {water}!"
    ]
    assert hits[1][0]["highlight"]["text"]["fragments"] == ["{nothing} here"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"fragment_size": 0}, "invalid fragment_size: 0"),
        ({"num_of_fragments": -1}, "invalid num_of_fragments: -1"),
        ({"fragment_offset": -2}, "invalid fragment_offset: -2"),
        ({"pre_tags": []}, "pre_tags cannot be empty list"),
        ({"post_tags": []}, "post_tags cannot be empty list"),
        ({"highlight_query": [{"type": "Phrase", "field": "text", "text": "x"}]},
         "invalid highlight query type: Phrase"),
        ({"highlight_query": [{"type": "TextMatch", "field": "text"}]}, "must set `text`"),
        ({"highlight_query": [{"type": "TextMatch", "field": "zz", "text": "x"}]},
         "highlight field not found in schema: zz"),
        ({"highlight_query": [{"type": "TextMatch", "field": "plain", "text": "x"}]},
         "the highlight field not found, plain:"),
    ],
)  # fmt: skip
def test_errors(client: MilvusClient, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(MilvusException, match=message):
        client.search("c", ["water"], anns_field="sp", highlighter=LexicalHighlighter(**kw))


def test_search_text_needs_a_bm25_search(client: MilvusClient) -> None:
    hl = LexicalHighlighter(highlight_search_text=True)
    with pytest.raises(MilvusException, match='only support with metric type "BM25" but was: L2'):
        client.search("c", [[1.0, 0.0]], anns_field="v", highlighter=hl)
