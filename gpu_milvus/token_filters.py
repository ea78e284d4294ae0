"""The analyzer filters that rewrite a token or make several of one, and the dictionary files
filters read.

- ``asciifolding`` (tantivy's AsciiFoldingFilter, Lucene's ASCIIFoldingFilter): each
  character outside ASCII that has an ASCII form becomes it: accents dropped, Latin letter
  variants (hooks, strokes, small capitals, ligatures) to their letters, circled, fullwidth,
  super- and subscript forms to their plain ones, typographic quotes and dashes to ASCII's.
  The forms are derived here from Unicode's decompositions and character names; other
  scripts are left as they are.
- ``decompounder`` (tantivy's SplitCompoundWords): a token that the word list covers end to
  end, reading the longest listed word at each point, becomes those words.
- ``synonym`` (tantivy-binding's synonym_filter.rs): rules ``a, b => c, d`` (a mapping) and
  ``a, b, c`` (an equivalence group), with ``expand``.
- Milvus 3.0's ``decimaldigit`` (other scripts' decimal digits to ASCII's) and
  ``arabic_normalization`` (Alef, Teh Marbuta and Alef Maksura variants; harakat and Tatweel
  removed).
The parts of a split or expanded token keep its position and offsets.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_milvus import errors

# Letters Unicode's names do not spell, in Lucene's ASCII forms
_NAMED = {"ETH": "d", "THORN": "th", "SCHWA": "a", "ENG": "n", "EZH": "z", "SHARP S": "ss",
          "KRA": "q", "ALPHA": "a", "ESH": "s", "YOGH": "z", "WYNN": "w"}  # fmt: skip
_LETTER = re.compile(
    r"LATIN (?:(CAPITAL|SMALL) )?(?:LETTER|LIGATURE) (?:(SMALL CAPITAL) |(?:TURNED|REVERSED|INSULAR"
    r"|DOTLESS|SCRIPT|CLOSED|OPEN|BARRED|STRETCHED|SIDEWAYS|INVERTED|BROKEN|LONG) )*"
    r"(?:([A-Z]{1,2})|(" + "|".join(sorted(_NAMED, key=len, reverse=True)) + r"))"
    r"(?: (?:WITH|DIGRAPH) .*| DIGRAPH)?"
)
_PUNCT = {"'": "‘’‚‛′‵‹›❛❜＇", '"': "«»“”„″‶❝❞❮❯＂", "-": "‐‑‒–—⁻₋－", "[": "⁅❲［",
          "]": "⁆❳］", "(": "⁽₍❨❪（", ")": "⁾₎❩❫）", "<": "❬❰＜", ">": "❭❱＞", "{": "❴｛",
          "}": "❵｝", "+": "⁺₊＋", "=": "⁼₌＝", "%": "⁒％", "*": "⁎＊", "/": "⁄／", ";": "⁏；",
          "^": "‸＾", "~": "⁓～", "((": "⸨", "))": "⸩", "!!": "‼", "!?": "⁉", "??": "⁇",
          "?!": "⁈"}  # fmt: skip
_PUNCT_FORMS = {c: plain for plain, chars in _PUNCT.items() for c in chars}
_KEEPS_NFKD = ("LATIN", "DIGIT", "NUMBER", "FULLWIDTH", "SUPERSCRIPT", "SUBSCRIPT", "LIGATURE")
_NUMBERS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "TEN",
            "ELEVEN", "TWELVE", "THIRTEEN", "FOURTEEN", "FIFTEEN", "SIXTEEN", "SEVENTEEN",
            "EIGHTEEN", "NINETEEN", "TWENTY")  # fmt: skip
_CIRCLED = re.compile(
    r"(?:DINGBAT )?(?:NEGATIVE |DOUBLE )?CIRCLED (?:SANS-SERIF )?(?:DIGIT|NUMBER) (\w+)"
)


def fold_ascii(token: str) -> str:
    """The asciifolding filter's token: ASCII tokens as they are."""
    return token if token.isascii() else "".join(map(_fold_char, token))


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char.isascii():
        return char
    if char in _PUNCT_FORMS:
        return _PUNCT_FORMS[char]
    name = unicodedata.name(char, "")
    decomposed = unicodedata.normalize("NFKD", char)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    canonical = unicodedata.normalize("NFD", char) != char  # an accented letter
    if plain.isascii() and plain and (canonical or any(w in name for w in _KEEPS_NFKD)):
        return plain
    circled = _CIRCLED.fullmatch(name)
    if circled and circled[1] in _NUMBERS:
        return str(_NUMBERS.index(circled[1]))
    found = _LETTER.fullmatch(name)
    if found is None:
        return char
    case, small_capital, letters, named = found.groups()
    text = letters or _NAMED[named]
    return text.upper() if case == "CAPITAL" or small_capital else text.lower()


def _digit_table() -> dict[int, int]:
    """The decimaldigit filter's digits: every decimal digit of the Basic Multilingual Plane
    but NKo's and Sinhala Lith's (tantivy-binding's decimal_digit_filter.rs lists the
    others' zeros), to ASCII's."""
    zeros = [
        c
        for c in range(0x80, 0x10000)
        if unicodedata.category(chr(c)) == "Nd" and unicodedata.decimal(chr(c)) == 0
    ]
    return {z + i: ord("0") + i for z in zeros if z not in (0x07C0, 0x0DE6) for i in range(10)}


_DIGITS = _digit_table()
# arabic_normalization: Alef with Madda / Hamza above / Hamza below to Alef, Teh Marbuta to
# Heh, Alef Maksura to Yeh; the harakat (U+064B-U+065F) and Tatweel removed
_ARABIC = {0x0622: 0x0627, 0x0623: 0x0627, 0x0625: 0x0627, 0x0629: 0x0647, 0x0649: 0x064A,
           0x0640: None, **dict.fromkeys(range(0x064B, 0x0660))}  # fmt: skip


def decimal_digits(token: str) -> str:
    return token if token.isascii() else token.translate(_DIGITS)


def arabic_normalized(token: str) -> str:
    return token if token.isascii() else token.translate(_ARABIC)


@dataclass(frozen=True)
class Decompounder:
    """The decompounder's word list (as tantivy's, matched on the token as it reads)."""

    words: frozenset[str]

    @functools.cached_property
    def _longest(self) -> int:
        return max(map(len, self.words), default=0)

    def split(self, token: str) -> list[str]:
        """The token's parts, or the token when the words do not cover it end to end."""
        parts, at = [], 0
        while at < len(token):
            for end in range(min(len(token), at + self._longest), at, -1):
                if token[at:end] in self.words:
                    parts.append(token[at:end])
                    at = end
                    break
            else:
                return [token]
        return parts


@dataclass(frozen=True)
class Synonyms:
    """Each token a rule names, with the tokens it becomes (itself among them when
    expanding), in the rules' order."""

    rules: tuple[tuple[str, tuple[str, ...]], ...]

    @functools.cached_property
    def _table(self) -> dict[str, tuple[str, ...]]:
        return dict(self.rules)

    def expand(self, token: str) -> tuple[str, ...]:
        return self._table.get(token) or (token,)


def synonyms(rows: list[str], expand: bool) -> Synonyms:
    """The rules of ``rows`` (the server's SynonymDictBuilder)."""
    table: dict[str, list[str]] = {}

    def add(key: str, words: list[str]) -> None:
        if key not in table:
            table[key] = [key] if expand else []
        table[key] += [w for w in words if w not in table[key]]

    for row in rows:
        left, right, mapping = _rule(row)
        for key in left:
            add(key, right if mapping else left if expand else left[:1])
    return Synonyms(tuple((k, tuple(v)) for k, v in table.items()))


def _rule(row: str) -> tuple[list[str], list[str], bool]:
    """One rule's left and right words, and whether it is a mapping: ``,`` separates words,
    ``=>`` the sides, a backslash escapes ``,``, ``\\``, a space or ``=>``."""
    sides: tuple[list[str], list[str]] = ([], [])
    mapping, spaced, current, i = False, False, "", 0
    while i < len(row):
        char = row[i]
        if char == "\\":
            if i + 1 >= len(row):
                raise ValueError(f"invalid synonym escaped in the end: {row}")
            if row[i + 1] in ", \\":
                current, i = current + row[i + 1], i + 2
                continue
            if row[i + 1 : i + 3] == "=>":
                current, i = current + "=>", i + 3
                continue
            raise ValueError(f"invalid synonym escaped: \\{row[i + 1]} in {row}")
        if char == " ":
            spaced = spaced or bool(current)
            i += 1
        elif char == "," or row[i : i + 2] == "=>":
            if char != "," and mapping:
                raise ValueError(f'read synonym dict failed, has more than one "=>" in {row}')
            if current:
                sides[mapping].append(current)
            mapping = mapping or char != ","
            current, spaced, i = "", False, i + (1 if char == "," else 2)
        elif spaced:
            raise ValueError(
                f"read synonym dict failed, has space between words {row}, please use \\ to "
                "escape space"
            )
        else:
            current, i = current + char, i + 1
    if current:
        sides[mapping].append(current)
    return sides[0], sides[1], mapping


def dictionary_lines(conf: Any, key: str) -> list[str]:
    """The lines of a filter's dictionary file (``{"type": "local", "path": ...}``), as
    tantivy-binding's get_resource_path reads the reference. A remote file resource names a
    file Milvus's object store holds; gpu_milvus has none."""
    if not isinstance(conf, dict):
        raise ValueError(f"file config of {key} must be object")
    kind = conf.get("type")
    if kind is None:
        raise ValueError(f"file type of {key} must be set")
    if not isinstance(kind, str):
        raise ValueError(f"file type of {key} must be string")
    if kind == "remote":
        for part, what in (("resource_name", "resource name"), ("file_name", "file name")):
            if part not in conf:
                raise ValueError(f"{what} of remote file `{key}` must be set")
        raise errors.invalid(
            f"file resource: {conf['resource_name']} not found in local resource list "
            "(gpu_milvus has no file resources: use a local file)"
        )
    if kind != "local":
        raise ValueError(f"unsupported file type {kind} of {key}")
    path = conf.get("path")
    if path is None:
        raise ValueError(f"file path of local file `{key}` must be set")
    if not isinstance(path, str):
        raise ValueError(f"file path of local file `{key}` must be string")
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"read {key} failed, error: {exc}") from None
    lines = text.split("\n")  # Rust's lines(): "\n" or "\r\n" ends a line
    lines = lines[:-1] if lines[-1] == "" else lines
    return [line.removesuffix("\r") for line in lines]
