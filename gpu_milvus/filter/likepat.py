"""LIKE pattern analysis: the canonical escape model the server's planner and matcher share.

A backslash escapes the next byte (whatever it is); an unescaped ``%`` or ``_`` is a wildcard.
Patterns whose only wildcards are leading/trailing ``%`` runs become equality, prefix, postfix
or substring matches; everything else stays a general match.
"""

from __future__ import annotations

from gpu_milvus.filter.exc import FilterError

EQ = "EQ"
PREFIX = "PREFIX"
POSTFIX = "POSTFIX"
INNER = "INNER"
MATCH = "MATCH"


def _scan(pattern: str) -> list[tuple[str, bool]]:
    """(char, is_wildcard) per logical character."""
    out: list[tuple[str, bool]] = []
    escaping = False
    for ch in pattern:
        if escaping:
            out.append((ch, False))
            escaping = False
        elif ch == "\\":
            escaping = True
        else:
            out.append((ch, ch in "%_"))
    if escaping:
        raise FilterError(f"invalid LIKE pattern (trailing escape character): {pattern}")
    return out


def translate(pattern: str) -> tuple[str, str]:
    """(kind, operand); for MATCH the operand is a canonical Arrow ``match_like`` pattern."""
    toks = _scan(pattern)
    if not toks:
        return EQ, ""
    lead = 0
    while lead < len(toks) and toks[lead] == ("%", True):
        lead += 1
    if lead == len(toks):
        return PREFIX, ""
    trail = 0
    while trail < len(toks) - lead and toks[len(toks) - 1 - trail] == ("%", True):
        trail += 1
    core = toks[lead : len(toks) - trail]
    if any(w for _, w in core):
        canon = "".join(c if w else ("\\" + c if c in "%_\\" else c) for c, w in toks)
        return MATCH, canon
    literal = "".join(c for c, _ in core)
    if lead and trail:
        return INNER, literal
    if lead:
        return POSTFIX, literal
    if trail:
        return PREFIX, literal
    return EQ, literal


def to_regex(canon: str) -> str:
    """A Python ``re`` pattern (bytes semantics expected by the caller) for a MATCH operand."""
    import re

    parts: list[str] = []
    escaping = False
    for ch in canon:
        if escaping:
            parts.append(re.escape(ch))
            escaping = False
        elif ch == "\\":
            escaping = True
        elif ch == "%":
            parts.append("(?s:.*)")
        elif ch == "_":
            parts.append("(?s:.)")
        else:
            parts.append(re.escape(ch))
    return "".join(parts)
