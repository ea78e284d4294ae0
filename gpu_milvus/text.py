r"""Full-text search's analyzer and term vectors (the BM25 function's input side).

The "standard" analyzer is Milvus's: its tokenizer keeps each run of alphanumeric characters
(Rust's ``char::is_alphanumeric``: Unicode Alphabetic or Numeric; an underscore splits) and
each token is then lowercased (tantivy's SimpleTokenizer and LowerCaser, the server's
tantivy-binding). milvus-lite lowercases first and keeps runs of ``\w`` (underscores
included), so the two differ on 'snake_case' words and on combining vowel signs. A token's
dimension is the 32-bit FNV-1a hash of its UTF-8 bytes, as milvus-lite 3.2.2 stores it (a
server uses CRC-32, which no read shows: see ``server_hash``).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import snowballstemmer

from gpu_milvus import errors, jieba_tokens, token_filters


def _extra_alnum() -> list[tuple[int, int]]:
    """The code point ranges Rust counts alphanumeric and ``str.isalnum`` does not."""
    text = Path(__file__).with_name("other_alphabetic.txt").read_text(encoding="utf-8")
    words = [w for line in text.splitlines() if not line.startswith("#") for w in line.split()]
    bounds = [w.split("-") if "-" in w else (w, w) for w in words]
    return [(int(a, 16), int(b, 16)) for a, b in bounds]


_EXTRA = _extra_alnum()
_TOKEN = re.compile("(?:[^\\W_]|[" + "".join(f"\\U{a:08X}-\\U{b:08X}" for a, b in _EXTRA) + "])+")
_ASCII_TOKEN = re.compile(r"[^\W_]+")  # the same runs in ASCII text, 3x faster
_WORDS = re.compile("[^ \t\n\r\x0c]+").finditer  # the whitespace tokenizer's tokens


def _runs(text: str) -> re.Pattern[str]:
    return _ASCII_TOKEN if text.isascii() else _TOKEN


# The same characters as an RE2 class (Arrow's regular expressions), for text_match.
RE2_ALNUM = "\\pL\\pN" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in _EXTRA)
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


# Lucene's English stop words, Milvus's "_english_" (tantivy-binding stop_words.rs)
ENGLISH_STOP_WORDS = frozenset(
    ("a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
     "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
     "they", "this", "to", "was", "will", "with")
)  # fmt: skip
# The stop word lists Milvus names (tantivy-binding's stop_words.rs): only English's here
_STOP_LISTS = {f"_{lang}_" for lang in ("english", "chinese", "danish", "dutch", "finnish",
               "french", "german", "hungarian", "italian", "norwegian", "portuguese",
               "russian", "spanish", "swedish")}  # fmt: skip
_STOP_FILE = "stop words dict file"
_REWRITES = {
    "asciifolding": token_filters.fold_ascii,
    "decimaldigit": token_filters.decimal_digits,
    "arabic_normalization": token_filters.arabic_normalized,
}
_MULTIPLYING = {
    "decompound": token_filters.Decompounder.split,
    "synonym": token_filters.Synonyms.expand,
}
# Unicode's Han script (\p{Han}, Unicode 15), for the cncharonly and cnalphanumonly filters
_HAN = (
    "\u2e80-\u2e99\u2e9b-\u2ef3\u2f00-\u2fd5\u3005\u3007\u3021-\u3029\u3038-\u303b"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufa6d\ufa70-\ufad9\U00016fe2\U00016fe3"
    "\U00016ff0\U00016ff1\U00020000-\U0002a6df\U0002a700-\U0002ebef"
    "\U0002f800-\U0002fa1d\U00030000-\U000323af"
)
_KEEPS = {"cncharonly": re.compile(f"[{_HAN}]"), "cnalphanumonly": re.compile(f"[{_HAN}a-zA-Z0-9]")}
# tantivy's stemmer languages (Milvus's stemmer_filter.rs), all Snowball algorithms
_STEMMED = ("arabic", "danish", "dutch", "english", "finnish", "french", "german", "greek",
            "hungarian", "italian", "norwegian", "portuguese", "romanian", "russian",
            "spanish", "swedish", "tamil", "turkish")  # fmt: skip


@dataclass(frozen=True)
class Analyzer:
    """A tokenizer (``"standard"``, ``"whitespace"`` or a jieba one) and a chain of token
    filters, in order:
    ``("lowercase",)``, ``("stop", words)``, ``("length", max_bytes)``, ``("stem",
    language)`` (Snowball's algorithm, as tantivy's Stemmer), ``("alphanumonly",)``,
    ``("cncharonly",)``, ``("cnalphanumonly",)``, ``("removepunct",)`` or ``("regex",
    pattern)``. A standard
    position counts the tokenizer's tokens, a jieba one is the token's first character, so a
    token a filter removes leaves a gap (tantivy's)."""

    steps: tuple[tuple[Any, ...], ...] = (("lowercase",),)
    tokenizer: jieba_tokens.JiebaConfig | str = "standard"

    @property
    def lowercases(self) -> bool:
        return ("lowercase",) in self.steps

    @property
    def removes(self) -> bool:
        return any(step[0] != "lowercase" for step in self.steps)

    @property
    def rewrites(self) -> bool:
        """Whether a token's text can differ from its lowercased source (a stemmer, ASCII
        folding, a decompounder or synonyms)."""
        return any(step[0] in ("stem", *_REWRITES, *_MULTIPLYING) for step in self.steps)

    @property
    def plain_runs(self) -> bool:
        """Whether the tokens are the text's alphanumeric runs, as they read (lowercased):
        a regular expression over the text finds them."""
        return self.tokenizer == "standard" and not self.rewrites

    def tokens(self, text: str) -> list[str]:
        if self == STANDARD:  # the common case
            if text.isascii():  # lowercasing first changes no ASCII run
                return _ASCII_TOKEN.findall(text.lower())
            return [t.lower() for t in _TOKEN.findall(text)]
        return [t for t, _ in self.sequence(text)]

    def raw_tokens(self, text: str) -> list[tuple[str, int]]:
        """The tokenizer's tokens (before the filters) with their positions."""
        if self.tokenizer != "standard":
            return [(t, pos) for t, _, _, pos, _ in self._pieces(text)]
        return [(t, pos) for pos, t in enumerate(_runs(text).findall(text))]

    def _pieces(self, text: str) -> list[tuple[str, int, int, int, int]]:
        """A whitespace or jieba tokenizer's tokens: text, first and past-last characters,
        position, position length."""
        if self.tokenizer == "whitespace":  # tantivy's: runs of non-ASCII-whitespace
            return [(m.group(), m.start(), m.end(), i, 1) for i, m in enumerate(_WORDS(text))]
        assert isinstance(self.tokenizer, jieba_tokens.JiebaConfig)
        return [(t, a, b, a, b - a) for t, a, b in jieba_tokens.tokenize(self.tokenizer, text)]

    def sequence(self, text: str) -> list[tuple[str, int]]:
        """Each kept token with its position (``positioned`` without the offsets)."""
        if self == STANDARD:
            return [(t.lower(), i) for i, t in enumerate(_runs(text).findall(text))]
        return [(out, pos) for t, pos in self.raw_tokens(text) for out in self._kept(t)]

    @functools.cached_property
    def _memo(self) -> dict[str, tuple[str, ...]]:
        return {}

    def _kept(self, token: str) -> tuple[str, ...]:
        """The tokens a token becomes through every filter: none once one removes it, several
        when a decompounder splits it or a synonym filter adds to it (remembered: words
        repeat)."""
        found = self._memo.get(token)
        if found is None:
            if len(self._memo) >= 1 << 16:
                self._memo.clear()
            found = self._memo[token] = self._through_filters(token)
        return found

    def _through_filters(self, token: str) -> tuple[str, ...]:
        tokens = [token]
        for step in self.steps:
            if step[0] in _MULTIPLYING:
                tokens = [out for t in tokens for out in _MULTIPLYING[step[0]](step[1], t)]
            else:
                tokens = [out for t in tokens if (out := _filtered(step, t)) is not None]
        return tuple(tokens)

    def positioned(self, text: str) -> list[tuple[str, int, int, int, int]]:
        """Each kept token with its UTF-8 byte offsets in ``text``, its position and its
        position length (a jieba token's: its characters)."""
        if self.tokenizer != "standard":
            ends = np.cumsum([0] + [len(c.encode()) for c in text]).tolist()
            pieces = self._pieces(text)
            return [(o, ends[a], ends[b], p, n) for t, a, b, p, n in pieces for o in self._kept(t)]
        out, at, byte = [], 0, 0
        for pos, m in enumerate(_runs(text).finditer(text)):
            byte += len(text[at : m.start()].encode())
            end = byte + len(m.group().encode())
            at, start, byte = m.end(), byte, end
            out += [(token, start, end, pos, 1) for token in self._kept(m.group())]
        return out


def _filtered(step: tuple[Any, ...], token: str) -> str | None:
    kind = step[0]
    if kind == "lowercase":
        return token.lower()
    if kind == "stop":
        return None if token in step[1] else token
    if kind == "length":  # tantivy's RemoveLongFilter::limit(max + 1)
        return token if len(token.encode()) <= step[1] else None
    if kind == "stem":
        return _stem(step[1], token)
    if kind in _REWRITES:
        return _REWRITES[kind](token)
    if kind == "regex":  # kept when the expression matches somewhere in it
        return token if step[1].search(token) else None
    if kind in _KEEPS:  # the server's unanchored regex: one such character keeps it
        return token if _KEEPS[kind].search(token) else None
    if kind == "removepunct":  # [\p{Punct}\s]+ anywhere in it removes it
        return None if any(c.isspace() or _is_punct(c) for c in token) else token
    return token if token.isascii() and token.isalnum() else None  # alphanumonly


def _is_punct(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


STANDARD = Analyzer()


def analyzer_for(field: str, params: dict[str, Any]) -> Analyzer:
    """A field's analyzer from its ``analyzer_params`` (the standard one without), with the
    checks and wording of Milvus's tantivy-binding (analyzer.rs, filter.rs)."""
    raw = params.get("analyzer_params")
    if raw is None:
        return STANDARD
    try:
        return _parsed(raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True))
    except ValueError as exc:
        raise errors.invalid(f"invalid analyzer params of field {field}: {exc}") from None


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Analyzer:
    conf = json.loads(text)
    if not isinstance(conf, dict):
        raise ValueError("params should be a json map")
    if not conf:
        return STANDARD
    if "type" in conf:
        kind = conf["type"]
        if not isinstance(kind, str):
            raise ValueError("analyzer type shoud be string")
        if kind not in ("standard", "english", "chinese"):
            _refuse(kind, f"unknown build-in analyzer type: {kind}")
        steps: list[tuple[Any, ...]] = [("lowercase",)]
        if kind == "english":  # build_in_analyzer.rs: stem, then the English stop words
            steps += [("stem", "english"), ("stop", ENGLISH_STOP_WORDS)]
        config: Any = "standard"
        if kind == "chinese":  # jieba's defaults, then cnalphanumonly (no lowercasing)
            steps, config = [("cnalphanumonly",)], jieba_tokens.JiebaConfig()
        words = _stop_words(conf.get("stop_words", []))
        return Analyzer(tuple([*steps, ("stop", words)] if words else steps), config)
    tokenizer = conf.get("tokenizer")
    if tokenizer is None:
        raise ValueError("tokenizer name or type must be set")
    name = tokenizer.get("type") if isinstance(tokenizer, dict) else tokenizer
    config = None
    config: Any = name
    if name == "jieba":
        config = jieba_tokens.parse(tokenizer if isinstance(tokenizer, dict) else {})
    elif name not in ("standard", "whitespace") or (
        isinstance(tokenizer, dict) and tokenizer.get("uax29")
    ):
        _refuse(str(name), f"unsupported tokenizer: {name}")
    steps = []
    for key, value in conf.items():
        if key not in ("tokenizer", "filter"):
            raise ValueError(f"unknown analyzer option key: {key}")
        if key == "filter":
            if not isinstance(value, list):
                raise ValueError("filter params should be array")
            steps = [step for item in value if (step := _filter_step(item, config)) is not None]
    return Analyzer(tuple(steps), config)


def _filter_step(item: Any, tokenizer: Any = "standard") -> tuple[Any, ...] | None:
    if isinstance(item, str):
        if item in ("lowercase", "alphanumonly", "cncharonly", "cnalphanumonly"):
            return (item,)
        if item in _REWRITES:
            return (item,)
        if item == "removepunct":  # standard tokens hold no punctuation: nothing to do
            return (item,) if tokenizer != "standard" else None
        _refuse(item, f"build analyzer failed, filter not found :{item}")
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind is None:
        raise ValueError("no type field in filter params")
    if kind == "stop":
        words = _stop_words(item.get("stop_words", []))
        if "stop_words_file" in item:
            words |= set(token_filters.dictionary_lines(item["stop_words_file"], _STOP_FILE))
        return ("stop", words)
    if kind == "decompounder":
        return ("decompound", token_filters.Decompounder(frozenset(_decompounder_words(item))))
    if kind == "synonym":
        expand = item.get("expand", True)
        if not isinstance(expand, bool):
            raise ValueError("create synonym filter failed, `expand` must be bool")
        failed = "create synonym filter failed, "
        wrong = (f"{failed}`synonyms` must be array", f"{failed}item in `synonyms` must be string")
        rules = _listed(item, "synonyms", "synonyms dict file", wrong)
        return ("synonym", token_filters.synonyms(rules, expand))
    if kind == "stemmer":
        language = item.get("language")
        if not isinstance(language, str):
            raise ValueError("stemmer language field should be string")
        if language.lower() not in _STEMMED:
            raise ValueError(f"create stemmer failed : unsupport language: {language.lower()}")
        return ("stem", language.lower())
    if kind == "regex":  # fancy_regex on the server; Python's re here (no \p{...} classes)
        expr = item.get("expr")
        if expr is None:
            raise ValueError("must set expr for regex filter")
        if not isinstance(expr, str):
            raise ValueError("expr must be string")
        try:
            return ("regex", re.compile(expr))
        except re.error as exc:
            raise ValueError(f"regex expression invalid, expr:{expr}, err: {exc}") from None
    if kind == "length":
        limit = item.get("max")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError("lenth max param was none or not uint")
        return ("length", limit)
    _refuse(str(kind), f"unsupport filter type: {kind}")
    return None


@functools.lru_cache(maxsize=1 << 16)
def _stem(language: str, token: str) -> str:
    return _stemmer(language).stemWord(token)


@functools.lru_cache(maxsize=32)
def _stemmer(language: str) -> Any:
    return snowballstemmer.stemmer(language)


def _stop_words(words: Any) -> frozenset[str]:
    if not isinstance(words, list):  # get_string_list's wording
        raise ValueError("filter stop_words should be array")
    if not all(isinstance(w, str) for w in words):
        raise ValueError("filter stop_words list item should be string")
    lists = set(words) & _STOP_LISTS
    if lists - {"_english_"}:
        raise errors.invalid(
            f"stop words list {sorted(lists - {'_english_'})[0]} is not supported by gpu_milvus "
            "(list the words, or use Milvus for it)"
        )
    found = set(words) - {"_english_"}
    return frozenset(found | (ENGLISH_STOP_WORDS if "_english_" in words else set()))


def _decompounder_words(item: dict[str, Any]) -> list[str]:
    """The decompounder's word list and file (the server's SplitCompoundWords::from_json)."""
    name = "decompounder word list"
    wrong = (f"{name} should be array", f"{name} item should be string")
    words = _listed(item, "word_list", f"{name} file", wrong)
    if not words:
        raise ValueError("decompounder word list is empty")
    return [w for w in words if w]


def _listed(item: dict[str, Any], key: str, label: str, wrong: tuple[str, str]) -> list[str]:
    """A filter's inline string list ``key`` then the lines of its ``key + "_file"``
    (``wrong``: the server's errors for a list that is not one, or holds a non-string)."""
    values = item.get(key, [])
    if not isinstance(values, list):
        raise ValueError(wrong[0])
    if not all(isinstance(v, str) for v in values):
        raise ValueError(wrong[1])
    if f"{key}_file" in item:
        values = [*values, *token_filters.dictionary_lines(item[f"{key}_file"], label)]
    return values


def _refuse(name: str, server_error: str) -> None:
    """An analyzer part Milvus has and gpu_milvus does not, or one neither knows."""
    if name in ("lindera", "icu", "standard", "language_identifier", "arabic", "thai", "pinyin"):
        raise errors.invalid(f"analyzer {name} is not supported by gpu_milvus (use Milvus for it)")
    raise ValueError(server_error)


def server_hash(token: str) -> int:
    """The hash Milvus's RunAnalyzer reports (typeutil.HashString2LessUint32): the CRC-32
    (IEEE) of the token's first 100 bytes, modulo 2^32 - 1."""
    return zlib.crc32(token.encode()[:100]) % 0xFFFFFFFF


@functools.lru_cache(maxsize=1 << 18)  # words repeat: most tokens are hashed once
def term_id(token: str) -> int:
    h = _FNV_OFFSET
    for byte in token.encode():
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def term_vectors(
    texts: Sequence[str | None], analyzer: Analyzer | Sequence[Analyzer] = STANDARD
) -> sp.csr_matrix:
    """One row of term frequencies per text, dimensions sorted, float32 (``analyzer``: one
    for every text, or each text's own)."""
    each = [analyzer] * len(texts) if isinstance(analyzer, Analyzer) else analyzer
    per_text = [
        [term_id(t) for t in an.tokens(text)] if text else []
        for text, an in zip(texts, each, strict=True)
    ]
    lengths = np.fromiter(map(len, per_text), dtype=np.int64, count=len(texts))
    dims = np.fromiter((d for ids in per_text for d in ids), dtype=np.int64, count=lengths.sum())
    rows = np.repeat(np.arange(len(texts)), lengths)
    width = int(dims.max(initial=0)) + 1
    ones = np.ones(len(dims), np.float32)
    counts = sp.csr_matrix((ones, (rows, dims)), shape=(len(texts), width))
    counts.sum_duplicates()
    return counts
