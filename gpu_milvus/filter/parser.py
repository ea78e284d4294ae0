"""Pratt parser reproducing the precedence levels ANTLR derives from ``Plan.g4`` (server 2.6).

Higher level binds tighter; every binary operator is left-associative, so its right operand is
parsed at ``level + 1``. Prefix ``+ - ~ not`` parse their operand at 29 (so ``not a == b`` is
``(not a) == b``), ``exists`` at 35, ``like``'s pattern at 35. A range ``lo < col < hi`` is
recognised when ``col`` is an identifier or path token and both operators point the same way.
"""

from __future__ import annotations

from gpu_milvus.filter import ast
from gpu_milvus.filter.exc import FilterError, clip
from gpu_milvus.filter.lexer import (
    BOOL,
    EMPTY_ARRAY,
    EOF,
    FLOAT,
    IDENT,
    INT,
    ISNOTNULL,
    ISNULL,
    META,
    PATH,
    STR,
    Token,
    tokenize,
)

MAX_DEPTH = 200

_BINARY_LEVELS = {
    "OR": 3,
    "AND": 4,
    "BOR": 5,
    "BXOR": 6,
    "BAND": 7,
    "EQ": 8,
    "NE": 8,
    "LT": 9,
    "LE": 9,
    "GT": 9,
    "GE": 9,
    "IN": 25,
    "SHL": 26,
    "SHR": 26,
    "ADD": 27,
    "SUB": 27,
    "MUL": 28,
    "DIV": 28,
    "MOD": 28,
    "POW": 30,
    "LIKE": 34,
}
_RANGE_LEVEL = 11
_REVERSE_RANGE_LEVEL = 10
_UNARY_LEVEL = 29
_EXISTS_LEVEL = 35
_CONTAINS = {
    "JSON_CONTAINS",
    "JSON_CONTAINS_ALL",
    "JSON_CONTAINS_ANY",
    "ARRAY_CONTAINS",
    "ARRAY_CONTAINS_ALL",
    "ARRAY_CONTAINS_ANY",
}
_SPATIAL = {
    "ST_EQUALS",
    "ST_TOUCHES",
    "ST_OVERLAPS",
    "ST_CROSSES",
    "ST_CONTAINS",
    "ST_INTERSECTS",
    "ST_WITHIN",
}
_CMP = {"LT", "LE", "GT", "GE", "EQ", "NE"}


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.i = 0
        self.nesting = 0

    # -- token helpers -------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        try:
            return self.toks[self.i + k]
        except IndexError:
            return self.toks[-1]

    def next(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != EOF:
            self.i += 1
        return tok

    def error(self, tok: Token, what: str = "mismatched input") -> FilterError:
        shown = tok.text if tok.kind != EOF else "<EOF>"
        return FilterError(f"line 1:{tok.pos} {what} '{shown}'")

    def expect(self, kind: str) -> Token:
        tok = self.next()
        if tok.kind != kind:
            raise self.error(tok)
        return tok

    def end_of(self, tok: Token) -> int:
        return tok.pos + len(tok.text)

    def prev_end(self) -> int:
        return self.end_of(self.toks[self.i - 1]) if self.i else 0

    # -- expressions ---------------------------------------------------------------------
    def parse(self) -> ast.Node:
        node = self.expr(0)
        tok = self.peek()
        if tok.kind != EOF:
            raise FilterError(f"invalid expression: {clip(self.src)}")
        if node.depth > MAX_DEPTH:
            raise FilterError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)")
        return node

    def expr(self, min_level: int) -> ast.Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise FilterError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)")
        try:
            left = self.prefix()
            while True:
                tok = self.peek()
                kind = tok.kind
                if kind in ("LT", "LE") and min_level <= _RANGE_LEVEL and self._range_ahead():
                    left = self._range(left, reverse=False)
                    continue
                if (
                    kind in ("GT", "GE")
                    and min_level <= _REVERSE_RANGE_LEVEL
                    and (self._range_ahead())
                ):
                    left = self._range(left, reverse=True)
                    continue
                if kind == "NOT" and self.peek(1).kind == "IN":
                    level = _BINARY_LEVELS["IN"]
                else:
                    level = _BINARY_LEVELS.get(kind, -1)
                if level < 0 or level < min_level:
                    return left
                left = self._infix(left, level)
        finally:
            self.nesting -= 1

    def _range_ahead(self) -> bool:
        op = self.peek().kind
        mid, second = self.peek(1), self.peek(2).kind
        if mid.kind not in (IDENT, PATH):
            return False
        if op in ("LT", "LE"):
            return second in ("LT", "LE")
        return second in ("GT", "GE")

    def _range(self, left: ast.Node, reverse: bool) -> ast.Node:
        op1 = self.next()
        col_tok = self.next()
        col = self._column_token(col_tok)
        op2 = self.next()
        right = self.expr((_REVERSE_RANGE_LEVEL if reverse else _RANGE_LEVEL) + 1)
        span = (left.span[0], right.span[1])
        depth = ast.depth_of(left, right)
        if reverse:  # hi >(=) col >(=) lo
            return ast.Range(span, depth, right, col, left, op2.kind == "GE", op1.kind == "GE")
        return ast.Range(span, depth, left, col, right, op1.kind == "LE", op2.kind == "LE")

    def _infix(self, left: ast.Node, level: int) -> ast.Node:
        tok = self.next()
        kind = tok.kind
        if kind == "NOT":  # `not in`
            self.next()
            right = self.expr(level + 1)
            return ast.Term(
                (left.span[0], right.span[1]), ast.depth_of(left, right), left, right, True
            )
        if kind == "IN":
            right = self.expr(level + 1)
            return ast.Term(
                (left.span[0], right.span[1]), ast.depth_of(left, right), left, right, False
            )
        if kind in ("AND", "OR"):  # collect the whole same-operator chain in one node
            items = [left, self.expr(level + 1)]
            while self.peek().kind == kind:
                self.next()
                items.append(self.expr(level + 1))
            span = (left.span[0], items[-1].span[1])
            return ast.Logical(span, ast.depth_of(*items), kind, tuple(items))
        right = self.expr(level + 1)
        span = (left.span[0], right.span[1])
        if kind == "LIKE":
            return ast.Like(span, ast.depth_of(left, right), left, right)
        return ast.Binary(span, ast.depth_of(left, right), kind, left, right)

    def _column_token(self, tok: Token) -> ast.Node:
        span = (tok.pos, self.end_of(tok))
        if tok.kind == PATH:
            base, keys = tok.value
            return ast.Path(span, 1, base, keys)
        if tok.kind in (IDENT, META):
            return ast.Ident(span, 1, tok.value)
        raise self.error(tok)

    # -- primaries and prefix operators --------------------------------------------------
    def prefix(self) -> ast.Node:
        tok = self.next()
        kind = tok.kind
        start = tok.pos
        if kind in ("ADD", "SUB", "BNOT", "NOT"):
            operand = self.expr(_UNARY_LEVEL)
            return ast.Unary((start, operand.span[1]), operand.depth + 1, kind, operand)
        if kind == "EXISTS":
            operand = self.expr(_EXISTS_LEVEL)
            return ast.Exists((start, operand.span[1]), operand.depth + 1, operand)
        if kind in (INT, FLOAT, STR, BOOL):
            return ast.Lit((start, self.end_of(tok)), 1, kind, tok.value, tok.text)
        if kind == IDENT:
            nxt = self.peek().kind
            if nxt == "LPAREN":
                args = self._args(allow_trailing_comma=True)
                return ast.Call((start, self.prev_end()), ast.depth_of(*args), tok.value, args)
            if nxt in (ISNULL, ISNOTNULL):
                self.next()
                node = self._column_token(tok)
                return ast.IsNull((start, self.prev_end()), 2, node, nxt == ISNOTNULL)
            if (nxt in _CMP and self.peek(1).kind == "ISO") or (
                nxt in ("ADD", "SUB") and self.peek(1).kind == "INTERVAL"
            ):
                return self._timestamptz(start)
            return self._column_token(tok)
        if kind == META:
            return self._column_token(tok)
        if kind == PATH:
            if self.peek().kind in (ISNULL, ISNOTNULL):
                neg = self.next().kind == ISNOTNULL
                node = self._column_token(tok)
                return ast.IsNull((start, self.prev_end()), 2, node, neg)
            return self._column_token(tok)
        if kind == "LBRACE":
            name = self.expect(IDENT)
            self.expect("RBRACE")
            return ast.Tmpl((start, self.prev_end()), 1, name.value)
        if kind == "LPAREN":
            inner = self.expr(0)
            self.expect("RPAREN")
            return inner
        if kind == "LBRACK":
            items = [self._element()]
            while self.peek().kind == "COMMA":
                self.next()
                if self.peek().kind == "RBRACK":
                    break
                items.append(self._element())
            self.expect("RBRACK")
            return ast.ArrayLit((start, self.prev_end()), ast.depth_of(*items), tuple(items))
        if kind == EMPTY_ARRAY:
            return ast.ArrayLit((start, self.end_of(tok)), 1, ())
        if kind in _CONTAINS:
            self.expect("LPAREN")
            a = self.expr(0)
            self.expect("COMMA")
            b = self.expr(0)
            self.expect("RPAREN")
            return ast.Func((start, self.prev_end()), ast.depth_of(a, b), kind.lower(), (a, b))
        if kind == "ARRAY_LENGTH":
            self.expect("LPAREN")
            target = self.next()
            if target.kind not in (IDENT, PATH):
                raise self.error(target)
            col = self._column_token(target)
            self.expect("RPAREN")
            return ast.Func((start, self.prev_end()), 2, "array_length", (col,))
        if kind == "RANDOM_SAMPLE":
            self.expect("LPAREN")
            a = self.expr(0)
            self.expect("RPAREN")
            return ast.Func((start, self.prev_end()), a.depth + 1, "random_sample", (a,))
        if kind in ("TEXT_MATCH", "PHRASE_MATCH") or kind in _SPATIAL or kind == "ST_DWITHIN":
            return self._field_function(tok)
        if kind == "ISO":
            return self._timestamptz(start)
        raise self.error(
            tok, "no viable alternative at input" if kind == EOF else "extraneous input"
        )

    def _element(self) -> ast.Node:
        """An array-literal element; plain literals skip the operator loop (long id lists)."""
        tok = self.peek()
        if tok.kind in (INT, FLOAT, STR, BOOL) and self.peek(1).kind in ("COMMA", "RBRACK"):
            self.i += 1
            return ast.Lit((tok.pos, tok.pos + len(tok.text)), 1, tok.kind, tok.value, tok.text)
        return self.expr(0)

    def _args(self, allow_trailing_comma: bool) -> tuple[ast.Node, ...]:
        self.expect("LPAREN")
        args: list[ast.Node] = []
        if self.peek().kind != "RPAREN":
            args.append(self.expr(0))
            while self.peek().kind == "COMMA":
                self.next()
                if allow_trailing_comma and self.peek().kind == "RPAREN":
                    break
                args.append(self.expr(0))
        self.expect("RPAREN")
        return tuple(args)

    def _field_function(self, tok: Token) -> ast.Node:
        """text_match / phrase_match / st_* forms: ``name(field, expr[, ...])``."""
        kind = tok.kind
        self.expect("LPAREN")
        field = self.expect(IDENT)
        args: list[ast.Node] = [self._column_token(field)]
        self.expect("COMMA")
        args.append(self.expr(0))
        extra = None
        if kind == "TEXT_MATCH":
            if self.peek().kind == "COMMA":
                self.next()
                self.expect("MINIMUM_SHOULD_MATCH")
                self.expect("ASSIGN")
                extra = self.expect(INT)
        elif kind == "PHRASE_MATCH":
            if self.peek().kind == "COMMA":
                self.next()
                args.append(self.expr(0))
        elif kind == "ST_DWITHIN":
            self.expect("COMMA")
            args.append(self.expr(0))
        self.expect("RPAREN")
        depth = ast.depth_of(*args)
        return ast.Func((tok.pos, self.prev_end()), depth, kind.lower(), tuple(args), extra)

    def _timestamptz(self, start: int) -> ast.Node:
        """``id [+|- INTERVAL 'd'] op ISO 's'`` or ``ISO 's' op id [+|- INTERVAL 'd']``, the
        grammar's TimestamptzCompareForward/Reverse rules (``start`` is at their first token)."""
        self.i -= 1
        reverse = self.peek().kind == "ISO"
        if reverse:
            self.next()
            iso = self.expect(STR).value
            op = self._cmp_op()
            field = self.expect(IDENT).value
            shift, interval = self._interval()
            op = {"LT": "GT", "LE": "GE", "GT": "LT", "GE": "LE"}.get(op, op)
        else:
            field = self.expect(IDENT).value
            shift, interval = self._interval()
            op = self._cmp_op()
            self.expect("ISO")
            iso = self.expect(STR).value
        span = (start, self.prev_end())
        return ast.TzCompare(span, 1, field, op, iso, shift, interval)

    def _cmp_op(self) -> str:
        tok = self.next()
        if tok.kind not in _CMP:
            raise self.error(tok)
        return tok.kind

    def _interval(self) -> tuple[str | None, str]:
        if self.peek().kind in ("ADD", "SUB") and self.peek(1).kind == "INTERVAL":
            shift = self.next().kind
            self.next()
            return shift, self.expect(STR).value
        return None, ""


def parse(src: str) -> ast.Node:
    """Parse a non-empty filter expression into an untyped AST."""
    return _Parser(src).parse()
