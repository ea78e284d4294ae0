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
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from gpu_milvus import errors


def _extra_alnum() -> list[tuple[int, int]]:
    """The code point ranges Rust counts alphanumeric and ``str.isalnum`` does not."""
    text = Path(__file__).with_name("other_alphabetic.txt").read_text(encoding="utf-8")
    words = [w for line in text.splitlines() if not line.startswith("#") for w in line.split()]
    bounds = [w.split("-") if "-" in w else (w, w) for w in words]
    return [(int(a, 16), int(b, 16)) for a, b in bounds]


_EXTRA = _extra_alnum()
_TOKEN = re.compile("(?:[^\\W_]|[" + "".join(f"\\U{a:08X}-\\U{b:08X}" for a, b in _EXTRA) + "])+")
# The same characters as an RE2 class (Arrow's regular expressions), for text_match.
RE2_ALNUM = "\\pL\\pN" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in _EXTRA)
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


def check_analyzer(field: str, params: dict[str, Any]) -> None:
    """Only the standard analyzer (the default) is available here."""
    raw = params.get("analyzer_params")
    if raw is None:
        return
    conf = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if conf not in ({"type": "standard"}, {"tokenizer": "standard", "filter": ["lowercase"]}):
        raise errors.invalid(
            f"analyzer_params {conf} of field {field} are not supported by gpu_milvus: only "
            "the standard analyzer is"
        )


def tokens(text: str) -> list[str]:
    """The standard analyzer's tokens: alphanumeric runs of ``text``, each lowercased."""
    return [t.lower() for t in _TOKEN.findall(text)]


def analyze(text: str) -> list[tuple[str, int, int]]:
    """``tokens(text)`` with each token's UTF-8 byte offsets in ``text``."""
    out, at, byte = [], 0, 0
    for m in _TOKEN.finditer(text):
        byte += len(text[at : m.start()].encode())
        end = byte + len(m.group().encode())
        out.append((m.group().lower(), byte, end))
        at, byte = m.end(), end
    return out


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


def term_vectors(texts: Sequence[str | None]) -> sp.csr_matrix:
    """One row of term frequencies per text, dimensions sorted, float32."""
    per_text = [[term_id(t) for t in tokens(text)] if text else [] for text in texts]
    lengths = np.fromiter(map(len, per_text), dtype=np.int64, count=len(texts))
    dims = np.fromiter((d for ids in per_text for d in ids), dtype=np.int64, count=lengths.sum())
    rows = np.repeat(np.arange(len(texts)), lengths)
    width = int(dims.max(initial=0)) + 1
    ones = np.ones(len(dims), np.float32)
    counts = sp.csr_matrix((ones, (rows, dims)), shape=(len(texts), width))
    counts.sum_duplicates()
    return counts
