"""The asciifolding, decompounder and synonym filters and the dictionary files
(stop_words_file, word_list_file, synonyms_file), against what Milvus's sources and docs
print: tantivy's SplitCompoundWords doc example and tests, tantivy-binding's synonym,
decompounder and stop-words tests with their dictionary files, the synonym and asciifolding
guides, and Lucene's ASCIIFoldingFilter test sentence (Latin-1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymilvus import DataType, Function, FunctionType
from pymilvus.exceptions import MilvusException

from gpu_milvus import MilvusClient

LATIN1 = (
    "Des mot clés À LA CHAÎNE À Á Â Ã Ä Å Æ Ç È É Ê Ë Ì Í Î Ï Ĳ Ð Ñ Ò Ó Ô Õ Ö Ø Œ Þ Ù Ú Û Ü Ý Ÿ "
    "à á â ã ä å æ ç è é ê ë ì í î ï ĳ ð ñ ò ó ô õ ö ø œ ß þ ù ú û ü ý ÿ ﬁ ﬂ"
)
LATIN1_FOLDED = (
    "Des mot cles A LA CHAINE A A A A A A AE C E E E E I I I I IJ D N O O O O O O OE TH U U U U "
    "Y Y a a a a a a ae c e e e e i i i i ij d n o o o o o o oe ss th u u u u y y fi fl"
)


def _tokens(client: MilvusClient, params: dict[str, Any], text: str) -> list[str]:
    return client.run_analyzer(text, analyzer_params=params).tokens


def _local(path: Path, text: str) -> dict[str, str]:
    path.write_text(text, encoding="utf-8")
    return {"type": "local", "path": str(path)}


def test_asciifolding_gives_lucenes_forms(client: MilvusClient) -> None:
    params = {"tokenizer": "whitespace", "filter": ["asciifolding"]}
    assert _tokens(client, params, LATIN1) == LATIN1_FOLDED.split()
    # letter variants, enclosed and fullwidth forms, typographic punctuation
    text = "ǅ ᴀ ɐ ə ŀ ŋ ʒ ĸ ſ ı ƀ ȸ ʣ Ꜳ Ⓐ ⒜ ＡＢ９ ² ₃ ⓿ ❿ ⑳ ⒛ ⒇ “x” ‘y’ a–b ‼"
    want = "Dz A a a l n z q s i b db dz AA A (a) AB9 2 3 0 10 20 20. (20) \"x\" 'y' a-b !!"
    assert _tokens(client, params, text) == want.split()
    # other scripts stay as they are; the guide's example
    want = ["馬", "Привет", "άλφα", "naive", "i"]
    assert _tokens(client, params, "馬 Привет άλφα naïve í") == want


def test_decimaldigit_and_arabic_normalization_give_the_guides_outputs(
    client: MilvusClient,
) -> None:
    # Milvus 3.0's decimaldigit and arabic_normalization guides
    params = {"tokenizer": "standard", "filter": ["decimaldigit"]}
    text = "Arabic ١٢٣ Thai ๑๒๓ Devanagari १२३ Fullwidth １２３"
    want = ["Arabic", "123", "Thai", "123", "Devanagari", "123", "Fullwidth", "123"]
    assert _tokens(client, params, text) == want
    assert _tokens(client, params, "߁߂ ෧෨ ๔๕๖x") == ["߁߂", "෧෨", "456x"]  # NKo, Sinhala Lith kept
    params = {"tokenizer": "standard", "filter": ["arabic_normalization"]}
    text = "آدم أحمد إسلام مدرسة كبرى كِتَابٌ عـــربي"
    want = ["ادم", "احمد", "اسلام", "مدرسه", "كبري", "كتاب", "عربي"]
    assert _tokens(client, params, text) == want
    # the arabic analyzer's chain without its stop words: the guide's 'عرب' is the stemmer's
    params = {"tokenizer": "standard", "filter": [
        "lowercase", "decimaldigit", "arabic_normalization",
        {"type": "stemmer", "language": "arabic"}]}  # fmt: skip
    assert _tokens(client, params, "كِتَابٌ عـــربي ١٢٣") == ["كتاب", "عرب", "123"]


def test_decompounder_splits_words_its_list_covers(client: MilvusClient, tmp_path: Path) -> None:
    words = ["dampf", "schiff", "fahrt", "brot", "backen", "automat"]
    params = {"tokenizer": "standard", "filter": [{"type": "decompounder", "word_list": words}]}
    # tantivy's doc example: 'back' is not listed, so brotbackautomat stays whole
    assert _tokens(client, params, "dampfschifffahrt brotbackautomat") == [
        "dampf", "schiff", "fahrt", "brotbackautomat",
    ]  # fmt: skip
    params["filter"][0]["word_list"] = ["foo", "bar"]  # type: ignore[index]
    assert _tokens(client, params, "foobazbar foo bar foobar barfoo foobarbaz") == [
        "foobazbar", "foo", "bar", "foo", "bar", "bar", "foo", "foobarbaz",
    ]  # fmt: skip
    # the longest listed word at each point, and no backtracking (leftmost-longest)
    params["filter"][0]["word_list"] = ["ab", "abc", "cd", "d"]  # type: ignore[index]
    assert _tokens(client, params, "abcd abdd") == ["abc", "d", "ab", "d", "d"]
    params["filter"][0]["word_list"] = ["ab", "abc", "cd"]  # type: ignore[index]
    assert _tokens(client, params, "abcd") == ["abcd"]  # abc, then no word: ab + cd not tried
    # tantivy-binding's test: the word list read from a local file
    conf = _local(tmp_path / "dict.txt", "bank\nnote")
    params = {"tokenizer": "standard",
              "filter": [{"type": "decompounder", "word_list_file": conf}]}  # fmt: skip
    result = client.run_analyzer("a banknote", analyzer_params=params, with_detail=True)
    got = [(t["token"], t["start_offset"], t["end_offset"], t["position"]) for t in result.tokens]
    assert got == [("a", 0, 1, 0), ("bank", 2, 10, 1), ("note", 2, 10, 1)]  # the word's place


def test_synonym_rules_as_the_server_reads_them(client: MilvusClient, tmp_path: Path) -> None:
    # tantivy-binding's synonym test: escaped '=>' and backslash, expand false
    rules = ["trans => translate, \\=>", "\\\\test, test, tests"]
    params = {"tokenizer": "standard",
              "filter": [{"type": "synonym", "expand": False, "synonyms": rules}]}  # fmt: skip
    assert set(_tokens(client, params, "test trans synonym")) == {
        "\\test", "translate", "=>", "synonym",
    }  # fmt: skip
    # and its file test (expand defaults to true)
    conf = _local(tmp_path / "syn.txt", "distance, range, span, length\ninterval => gap")
    params = {"tokenizer": "standard", "filter": [{"type": "synonym", "synonyms_file": conf}]}
    assert set(_tokens(client, params, "distance interval")) == {
        "distance", "range", "span", "length", "interval", "gap",
    }  # fmt: skip
    # the synonym guide's rules in both modes
    rules = ["fast, quick => speedy", "happy, joyful, cheerful"]
    for expand, text, want in (
        (True, "fast", ["fast", "speedy"]),
        (False, "fast", ["speedy"]),
        (True, "happy", ["happy", "joyful", "cheerful"]),
        (False, "joyful", ["happy"]),
        (False, "happy", ["happy"]),
        (True, "slow", ["slow"]),
    ):
        params = {"tokenizer": "standard",
                  "filter": [{"type": "synonym", "synonyms": rules, "expand": expand}]}  # fmt: skip
        assert sorted(_tokens(client, params, text)) == sorted(want), (expand, text)
    result = client.run_analyzer("so fast", analyzer_params=params, with_detail=True)
    got = [(t["token"], t["position"]) for t in result.tokens]
    assert got == [("so", 0), ("fast", 1), ("speedy", 1)]  # the synonym has fast's place


def test_stop_words_file_adds_to_the_list(client: MilvusClient, tmp_path: Path) -> None:
    conf = _local(tmp_path / "stop.txt", "this\na\nan\nthe\nis\nin\nof\n")
    params = {"tokenizer": "standard", "filter": ["lowercase", {
        "type": "stop", "stop_words": ["simple"], "stop_words_file": conf}]}  # fmt: skip
    text = "this is a simple test of the stop words filter in an indexing system"
    want = ["test", "stop", "words", "filter", "indexing", "system"]
    assert _tokens(client, params, text) == want


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"type": "synonym", "expand": "yes"}, "`expand` must be bool"),
        ({"type": "synonym", "synonyms": "a, b"}, "`synonyms` must be array"),
        ({"type": "synonym", "synonyms": [1]}, "item in `synonyms` must be string"),
        ({"type": "synonym", "synonyms": ["a => b => c"]}, 'more than one "=>"'),
        ({"type": "synonym", "synonyms": ["new york, nyc"]}, "has space between words"),
        ({"type": "synonym", "synonyms": ["a\\x"]}, "invalid synonym escaped: \\\\x"),
        ({"type": "synonym", "synonyms": ["a\\"]}, "invalid synonym escaped in the end"),
        ({"type": "decompounder"}, "decompounder word list is empty"),
        ({"type": "decompounder", "word_list": "ab"}, "word list should be array"),
        ({"type": "decompounder", "word_list": [1]}, "word list item should be string"),
        ({"type": "stop", "stop_words_file": "f.txt"}, "file config of stop words dict file "
                                                       "must be object"),
        ({"type": "stop", "stop_words_file": {"path": "f"}}, "file type of .* must be set"),
        ({"type": "stop", "stop_words_file": {"type": "s3"}}, "unsupported file type s3"),
        ({"type": "stop", "stop_words_file": {"type": "local"}}, "file path of local file"),
        ({"type": "stop", "stop_words_file": {"type": "local", "path": "/nonexistent/x"}},
         "read stop words dict file failed"),
        ({"type": "synonym", "synonyms_file": {"type": "remote", "resource_name": "r"}},
         "file name of remote file"),
        ({"type": "synonym", "synonyms_file": {"type": "remote", "resource_name": "r",
                                               "file_name": "s.txt"}},
         "file resource: r not found"),
        ({"type": "stop", "stop_words": ["_french_"]}, "_french_ is not supported by gpu_milvus"),
        ({"type": "asciifolding"}, "unsupport filter type: asciifolding"),
        ({"type": "pinyin"}, "pinyin is not supported by gpu_milvus"),
        ("synonym", "filter not found :synonym"),
    ],
)  # fmt: skip
def test_bad_filter_params_fail_with_the_servers_words(
    client: MilvusClient, item: Any, message: str
) -> None:
    with pytest.raises(MilvusException, match=message):
        client.run_analyzer("x", analyzer_params={"tokenizer": "standard", "filter": [item]})


def _collection(client: MilvusClient, params: dict[str, Any]) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True,
                enable_match=True, analyzer_params=params)  # fmt: skip
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function(name="bm", function_type=FunctionType.BM25,
                            input_field_names=["text"], output_field_names=["sp"]))  # fmt: skip
    ip = client.prepare_index_params()
    ip.add_index("sp", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("c", schema=s, index_params=ip)


def test_search_and_match_read_the_filtered_tokens(client: MilvusClient) -> None:
    _collection(client, {"tokenizer": "standard", "filter": [
        "lowercase", "asciifolding", {"type": "decompounder", "word_list": ["bank", "note"]},
        {"type": "synonym", "synonyms": ["fast, quick => speedy"]}]})  # fmt: skip
    docs = ["a fast car", "a quick fox", "speedy delivery", "the banknote", "Café crème"]
    client.insert("c", [{"id": i, "text": t} for i, t in enumerate(docs)])

    def matched(expr: str) -> list[int]:
        return sorted(r["id"] for r in client.query("c", expr, output_fields=["id"]))

    assert matched("text_match(text, 'speedy')") == [0, 1, 2]  # rows 0 and 1 hold it too
    assert matched("text_match(text, 'fast')") == [0, 1, 2]  # 'fast' is fast and speedy
    assert matched("text_match(text, 'car')") == [0]
    assert matched("text_match(text, 'note')") == [3]
    assert matched("text_match(text, 'cafe')") == [4]
    assert matched("phrase_match(text, 'speedy car')") == [0]  # the synonym has fast's place
    assert matched("phrase_match(text, 'the bank')") == [3]
    hits = client.search("c", ["quick"], anns_field="sp", limit=5)[0]
    assert sorted(h["id"] for h in hits) == [0, 1, 2]  # quick's tokens: quick and speedy
