"""Hand-written lexer for the Milvus 2.6 filter grammar (``Plan.g4``).

Longest match wins, keyword rules beat identifiers on ties, keywords exist only in their exact
lower-case and UPPER-case spellings, ``is null`` / ``is not null`` are single tokens, and an
identifier (or ``$meta``) immediately followed by ``[key]`` parts is one path token.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from gpu_milvus.filter.exc import FilterError

# Token kinds that are not keywords or operators.
INT = "INT"
FLOAT = "FLOAT"
STR = "STR"
BOOL = "BOOL"
IDENT = "IDENT"
META = "META"
PATH = "PATH"
EMPTY_ARRAY = "EMPTY_ARRAY"
ISNULL = "ISNULL"
ISNOTNULL = "ISNOTNULL"
EOF = "EOF"

KEYWORDS: dict[str, str] = {}
for _kind, _word in (
    ("AND", "and"),
    ("OR", "or"),
    ("NOT", "not"),
    ("IN", "in"),
    ("LIKE", "like"),
    ("EXISTS", "exists"),
    ("TEXT_MATCH", "text_match"),
    ("PHRASE_MATCH", "phrase_match"),
    ("RANDOM_SAMPLE", "random_sample"),
    ("INTERVAL", "interval"),
    ("ISO", "iso"),
    ("MINIMUM_SHOULD_MATCH", "minimum_should_match"),
    ("JSON_CONTAINS", "json_contains"),
    ("JSON_CONTAINS_ALL", "json_contains_all"),
    ("JSON_CONTAINS_ANY", "json_contains_any"),
    ("ARRAY_CONTAINS", "array_contains"),
    ("ARRAY_CONTAINS_ALL", "array_contains_all"),
    ("ARRAY_CONTAINS_ANY", "array_contains_any"),
    ("ARRAY_LENGTH", "array_length"),
    ("ST_EQUALS", "st_equals"),
    ("ST_TOUCHES", "st_touches"),
    ("ST_OVERLAPS", "st_overlaps"),
    ("ST_CROSSES", "st_crosses"),
    ("ST_CONTAINS", "st_contains"),
    ("ST_INTERSECTS", "st_intersects"),
    ("ST_WITHIN", "st_within"),
    ("ST_DWITHIN", "st_dwithin"),
):
    KEYWORDS[_word] = _kind
    KEYWORDS[_word.upper()] = _kind
BOOL_WORDS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False}
BOOL_WORDS["FALSE"] = False

# Operators, longest first.
OPERATORS: tuple[tuple[str, str], ...] = (
    ("**", "POW"),
    ("<<", "SHL"),
    (">>", "SHR"),
    ("<=", "LE"),
    (">=", "GE"),
    ("==", "EQ"),
    ("!=", "NE"),
    ("&&", "AND"),
    ("||", "OR"),
    ("<", "LT"),
    (">", "GT"),
    ("=", "ASSIGN"),
    ("+", "ADD"),
    ("-", "SUB"),
    ("*", "MUL"),
    ("/", "DIV"),
    ("%", "MOD"),
    ("&", "BAND"),
    ("|", "BOR"),
    ("^", "BXOR"),
    ("~", "BNOT"),
    ("!", "NOT"),
    ("(", "LPAREN"),
    (")", "RPAREN"),
    ("[", "LBRACK"),
    ("]", "RBRACK"),
    ("{", "LBRACE"),
    ("}", "RBRACE"),
    (",", "COMMA"),
)
_OP2 = {text: kind for text, kind in OPERATORS if len(text) == 2}
_OP1 = {text: kind for text, kind in OPERATORS if len(text) == 1}

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_ELEMENT_RE = re.compile(r"\$\[[A-Za-z_][A-Za-z_0-9]*\]")
_WS_RE = re.compile(r"[ \t\r\n]+")
_EMPTY_ARRAY_RE = re.compile(r"\[[ \t\r\n]*\]")
_DEC_KEY_RE = re.compile(r"0|[1-9][0-9]*")
_NUMBER_RES = (
    (INT, re.compile(r"0[xX][0-9a-fA-F]+")),
    (INT, re.compile(r"0[bB][01]+")),
    (INT, re.compile(r"[1-9][0-9]*")),
    (INT, re.compile(r"0[0-7]*")),
    (FLOAT, re.compile(r"[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?")),
    (FLOAT, re.compile(r"[0-9]+\.(?:[eE][+-]?[0-9]+)?")),
    (FLOAT, re.compile(r"[0-9]+[eE][+-]?[0-9]+")),
    (FLOAT, re.compile(r"0[xX](?:[0-9a-fA-F]*\.[0-9a-fA-F]+|[0-9a-fA-F]+\.?)[pP][+-]?[0-9]+")),
)
_SIMPLE_ESCAPES = {
    "a": b"\a",
    "b": b"\b",
    "f": b"\f",
    "n": b"\n",
    "r": b"\r",
    "t": b"\t",
    "v": b"\v",
    "\\": b"\\",
    "'": b"'",
    '"': b'"',
}
_UNICODE_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")
_DIGITS = frozenset("0123456789")
MAX_TOKENS = 2_000_000  # bounds lexer memory; a 1M-id `pk in [...]` list is 2M tokens


class Token(NamedTuple):
    """One token; ``value`` holds the decoded literal, identifier text, or path parts."""

    kind: str
    text: str
    pos: int
    value: Any = None


def _error(pos: int, message: str) -> FilterError:
    return FilterError(f"line 1:{pos} {message}")


def decode_string(body: str, pos: int) -> str:
    """Decode a string literal's body with Go ``strconv.Unquote`` escape rules."""
    if "\\" not in body:
        return body
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            j = body.find("\\", i)
            j = n if j < 0 else j
            out += body[i:j].encode("utf-8", "surrogatepass")
            i = j
            continue
        if i + 1 >= n:
            raise FilterError(f"invalid string literal at position {pos}: trailing backslash")
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[e]
            i += 2
        elif e == "x":
            digits = body[i + 2 : i + 4]
            if len(digits) != 2 or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                raise FilterError(f"invalid string literal at position {pos}: bad \\x escape")
            out.append(int(digits, 16))
            i += 4
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(ch in "01234567" for ch in digits):
                raise FilterError(f"invalid string literal at position {pos}: bad octal escape")
            value = int(digits, 8)
            if value > 255:
                raise FilterError(f"invalid string literal at position {pos}: octal escape > 255")
            out.append(value)
            i += 4
        elif e in "uU":
            width = 4 if e == "u" else 8
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                raise FilterError(f"invalid string literal at position {pos}: bad \\{e} escape")
            cp = int(digits, 16)
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                raise FilterError(f"invalid string literal at position {pos}: invalid code point")
            out += chr(cp).encode("utf-8")
            i += 2 + width
        else:
            raise FilterError(
                f"invalid string literal at position {pos}: invalid escape sequence \\{e}"
            )
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise FilterError(f"invalid string literal at position {pos}: not valid UTF-8") from None


def _scan_string(src: str, pos: int) -> int:
    """End index (exclusive) of the quoted string starting at ``pos``; lexer-level checks only."""
    quote = src[pos]
    i, n = pos + 1, len(src)
    while i < n:
        c = src[i]
        if c == quote:
            return i + 1
        if c == "\\":
            if i + 1 >= n:
                break
            i += 3 if src.startswith("\r\n", i + 1) else 2
            continue
        if c in "\r\n":
            raise _error(pos, f"token recognition error at: '{src[pos : i + 1]}'")
        i += 1
    raise _error(pos, f"token recognition error at: '{src[pos:]}'")


def _scan_path(src: str, pos: int) -> tuple[int, tuple[tuple[bool, str], ...]] | None:
    """Parse ``([key])+`` at ``pos``; returns (end, keys) or None when no path part follows."""
    keys: list[tuple[bool, str]] = []
    i, n = pos, len(src)
    while i < n and src[i] == "[":
        j = i + 1
        if j < n and src[j] in "\"'":
            try:
                end = _scan_string(src, j)
            except FilterError:
                break
            if end >= n or src[end] != "]":
                break
            raw = src[j + 1 : end - 1]
            keys.append((False, _UNICODE_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), raw)))
            i = end + 1
            continue
        m = _DEC_KEY_RE.match(src, j)
        if m is None or m.end() >= n or src[m.end()] != "]":
            break
        keys.append((True, m.group()))
        i = m.end() + 1
    if not keys:
        return None
    return i, tuple(keys)


_DIGITS_RE = re.compile(r"[0-9]+")


def _scan_number(src: str, pos: int) -> Token | None:
    m = _DIGITS_RE.match(src, pos)
    if m is not None and (m.group()[0] != "0" or m.end() - pos == 1):
        end = m.end()
        if end >= len(src) or src[end] not in ".eExXbBpP":
            text = m.group()
            return Token(INT, text, pos, int(text))
    best: tuple[int, str] | None = None
    for kind, rx in _NUMBER_RES:
        m = rx.match(src, pos)
        if m is not None and (best is None or m.end() > best[0]):
            best = (m.end(), kind)
    if best is None:
        return None
    end, kind = best
    text = src[pos:end]
    if kind == INT:
        if len(text) > 1 and text[0] == "0" and text[1] not in "xXbB":
            value = int(text, 8)
        else:
            value = int(text, 0)
        return Token(INT, text, pos, value)
    try:
        value_f = float.fromhex(text) if text[:2] in ("0x", "0X") else float(text)
    except (ValueError, OverflowError):
        raise FilterError(f'strconv.ParseFloat: parsing "{text}": value out of range') from None
    if value_f in (float("inf"), float("-inf")):
        raise FilterError(f'strconv.ParseFloat: parsing "{text}": value out of range')
    return Token(FLOAT, text, pos, value_f)


def tokenize(src: str) -> list[Token]:
    """Split ``src`` into tokens, ending with an EOF token."""
    out: list[Token] = []
    i, n = 0, len(src)
    append = out.append
    while i < n:
        if len(out) > MAX_TOKENS:
            raise FilterError(f"expression has too many tokens (more than {MAX_TOKENS})")
        c = src[i]
        if c in " \t\r\n":
            i = _WS_RE.match(src, i).end()  # type: ignore[union-attr]
            continue
        if c.isascii() and (c.isalpha() or c == "_"):
            m = _IDENT_RE.match(src, i)
            assert m is not None
            word = m.group()
            end = m.end()
            if end < n and src[end] == "[":
                path = _scan_path(src, end)
                if path is not None:
                    append(Token(PATH, src[i : path[0]], i, (word, path[1])))
                    i = path[0]
                    continue
            if word in ("is", "IS"):
                for text, kind in ((" not null", ISNOTNULL), (" null", ISNULL)):
                    full = text if word == "is" else text.upper()
                    if src.startswith(full, end):
                        append(Token(kind, word + full, i))
                        i = end + len(full)
                        break
                else:
                    append(Token(IDENT, word, i, word))
                    i = end
                continue
            if word in ("u8", "u", "U", "L") and end < n and src[end] in "\"'":
                stop = _scan_string(src, end)
                append(Token(STR, src[i:stop], i, decode_string(src[end + 1 : stop - 1], i)))
                i = stop
                continue
            if word in BOOL_WORDS:
                append(Token(BOOL, word, i, BOOL_WORDS[word]))
            elif word in KEYWORDS:
                append(Token(KEYWORDS[word], word, i))
            else:
                append(Token(IDENT, word, i, word))
            i = end
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and src[i + 1] in _DIGITS):
            tok = _scan_number(src, i)
            if tok is not None:
                append(tok)
                i += len(tok.text)
                continue
        if c in "\"'":
            stop = _scan_string(src, i)
            append(Token(STR, src[i:stop], i, decode_string(src[i + 1 : stop - 1], i)))
            i = stop
            continue
        if c == "$" and (m := _ELEMENT_RE.match(src, i)) is not None:  # $[sub]: an element's
            append(Token(IDENT, m.group(), i, m.group()))
            i = m.end()
            continue
        if c == "$" and src.startswith("$meta", i):
            end = i + 5
            if end < n and src[end] == "[":
                path = _scan_path(src, end)
                if path is not None:
                    append(Token(PATH, src[i : path[0]], i, ("$meta", path[1])))
                    i = path[0]
                    continue
            append(Token(META, "$meta", i, "$meta"))
            i = end
            continue
        if c == "[":
            m = _EMPTY_ARRAY_RE.match(src, i)
            if m is not None:
                append(Token(EMPTY_ARRAY, m.group(), i))
                i = m.end()
                continue
        two = src[i : i + 2]
        if two in _OP2:
            append(Token(_OP2[two], two, i))
            i += 2
            continue
        if c in _OP1:
            append(Token(_OP1[c], c, i))
            i += 1
            continue
        raise _error(i, f"token recognition error at: '{c}'")
    out.append(Token(EOF, "<EOF>", n))
    return out
