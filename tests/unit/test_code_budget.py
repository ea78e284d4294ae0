"""House rule (design.md §2.1): small modules, and a compact package.

The benchmark suite (``gpu_milvus/benchmarks/``) is tooling, not the engine: it is left out
of the package total but its modules obey the same per-module limit.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gpu_milvus"
TOOLING = PACKAGE / "benchmarks"
MAX_MODULE_LINES = 600
MAX_PACKAGE_CODE_LINES = 13990  # 8000; 9000 durable storage; 9200 16-bit GPU scan; 9300 its GEMM;
# 9450 upsert in merge mode (partial_update, field_ops); 9720 aliases, properties, truncate and
# pymilvus's other methods as code 10; 9780 add_collection_field; 10050 full-text search;
# 10170 text_match / phrase_match; 10240 alter_collection_field and properties that act;
# 10560 FLOAT16, BFLOAT16, INT8 and BINARY vectors (HAMMING / JACCARD search);
# 10620 run_analyzer; 10690 nullable vector fields, and vector fields added to a collection;
# 10740 drop_collection_field; 10830 add_function_field / drop_function_field (BM25, backfilled);
# 10840 the server's standard tokenizer (Unicode alphanumeric runs); 10975 analyzer_params
# (lowercase, stop, length, alphanumonly filters; positions with gaps); 11005 the english
# analyzer and the stemmer filter (snowballstemmer); 11090 token postings for text_match /
# phrase_match on stems and sloppy phrases; 11100 nullable sparse vectors;
# 11105 the server's stop_words errors; 11485 TIMESTAMPTZ (time zones at three levels, ISO and
# INTERVAL filters with calendar arithmetic, time_fields); 11750 GEOMETRY (go-geom's WKT, the
# st_* predicates through shapely/GEOS, st_dwithin in metres); 11955 RERANK Functions on
# search and hybrid_search (decay, rrf, weighted); 12085 boost functions on search;
# 12105 column-wise token postings (3-4x faster builds); 12315 the lexical highlighter, and
# search's methods in their own module; 12335 one chunk cache bounded by rows, and RFC 3339
# text through Python's parser; 12645 arrays of structs and the embedding-list (MAX_SIM) search;
# 12670 its float32 scan with a float64 re-score of the best; 12675 CollectionSpec.search_field;
# 12700 point-only geometry chunks read from their text; 13000 MinHash: the MINHASH function
# (std::mt19937_64 permutations, XXH3 / SHA-1 shingles), MHJACCARD (the share of equal hashes
# and the LSH hit flag) and the MINHASH_LSH index; 13130 the jieba tokenizer (through the jieba
# package), the chinese analyzer, and the cncharonly / cnalphanumonly / removepunct filters;
# 13145 the whitespace tokenizer and the regex filter; 13275 multi-language analyzers
# (multi_analyzer_params, analyzer_name, run_analyzer's analyzer_names); 13515 the asciifolding,
# decompounder and synonym filters, and dictionary files (stop_words_file, word_list_file,
# synonyms_file); 13590 the random_score boost (segcore's MurmurHash3 of an INT64 field and seed)


def _code_lines(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def test_every_module_is_small() -> None:
    big = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"


def test_package_stays_compact() -> None:
    engine = [p for p in PACKAGE.rglob("*.py") if TOOLING not in p.parents]
    total = sum(_code_lines(p) for p in engine)
    assert 0 < total <= MAX_PACKAGE_CODE_LINES, total


def test_benchmark_suite_is_counted_apart() -> None:
    suite = list(TOOLING.glob("*.py"))
    assert suite, "gpu_milvus/benchmarks/ holds the suite"
    assert all(len(p.read_text(encoding="utf-8").splitlines()) <= MAX_MODULE_LINES for p in suite)
