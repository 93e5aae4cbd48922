"""Integer expressions in cells: ``<(1 << 4) (0x10 + 2*3)>``, evaluated like dtc.

dtc computes in unsigned 64-bit arithmetic and evaluates every operand (``?:``, ``&&``
and ``||`` do not short-circuit, so ``(0 && (1/0))`` is still a division by zero);
shifts by 64 or more give 0. The grammar and precedence are C's.
"""

from __future__ import annotations

from collections.abc import Callable

from kerf.dts.diagnostics import dts_error, expected
from kerf.dts.lexer import Mode, Tok, Token, TokenStream

MASK = 0xFFFF_FFFF_FFFF_FFFF
# Parentheses, unary operators and ?: nested deeper than this are refused: they only
# appear in hostile input, and Python's stack is finite.
MAX_DEPTH = 32


def _div(a: int, b: int) -> int:
    return a // b


def _mod(a: int, b: int) -> int:
    return a % b


def _shl(a: int, b: int) -> int:
    return (a << b) & MASK if b < 64 else 0


def _shr(a: int, b: int) -> int:
    return a >> b if b < 64 else 0


# Binary operators: text -> (precedence, function); higher binds tighter.
BINARY: dict[str, tuple[int, Callable[[int, int], int]]] = {
    "||": (1, lambda a, b: int(bool(a) or bool(b))),
    "&&": (2, lambda a, b: int(bool(a) and bool(b))),
    "|": (3, lambda a, b: a | b),
    "^": (4, lambda a, b: a ^ b),
    "&": (5, lambda a, b: a & b),
    "==": (6, lambda a, b: int(a == b)),
    "!=": (6, lambda a, b: int(a != b)),
    "<": (7, lambda a, b: int(a < b)),
    ">": (7, lambda a, b: int(a > b)),
    "<=": (7, lambda a, b: int(a <= b)),
    ">=": (7, lambda a, b: int(a >= b)),
    "<<": (8, _shl),
    ">>": (8, _shr),
    "+": (9, lambda a, b: (a + b) & MASK),
    "-": (9, lambda a, b: (a - b) & MASK),
    "*": (10, lambda a, b: (a * b) & MASK),
    "/": (10, _div),
    "%": (10, _mod),
}
UNARY: dict[str, Callable[[int], int]] = {
    "-": lambda a: (-a) & MASK,
    "~": lambda a: ~a & MASK,
    "!": lambda a: int(a == 0),
}


def _operator(token: Token) -> str | None:
    if token.kind in (Tok.OP, Tok.PUNCT) and token.text in BINARY:
        return token.text
    return None


class ExpressionParser:
    """Parses and evaluates one ``integer_prim``: a literal, a character or ``( expr )``."""

    def __init__(self, tokens: TokenStream) -> None:
        self.tokens = tokens
        self.depth = 0

    def primary(self, what: str) -> tuple[int, Token]:
        """A literal, character literal or parenthesised expression; its value and first
        token. ``what`` is what an error message says was expected."""
        token = self.tokens.next(Mode.VALUE)
        if token.kind in (Tok.LITERAL, Tok.CHAR):
            assert isinstance(token.value, int)
            return token.value, token
        if token.is_punct("("):
            self._enter(token)
            value = self.expression()
            close = self.tokens.next(Mode.VALUE)
            if not close.is_punct(")"):
                raise expected(close.location, "')' to close the expression", close.describe())
            self.depth -= 1
            return value, token
        hint = "write negative numbers in parentheses: (-1)" if token.is_punct("-") else None
        raise expected(token.location, what, token.describe(), hint)

    def expression(self) -> int:
        """``cond ? a : b`` or a binary expression."""
        condition = self._binary(1)
        question = self.tokens.peek(Mode.VALUE)
        if not question.is_punct("?"):
            return condition
        self.tokens.next(Mode.VALUE)
        self._enter(question)
        if_true = self.expression()
        colon = self.tokens.next(Mode.VALUE)
        if not colon.is_punct(":"):
            raise expected(colon.location, "':' of a '?:' expression", colon.describe())
        if_false = self.expression()
        self.depth -= 1
        return if_true if condition else if_false

    def _binary(self, min_precedence: int) -> int:
        left = self._unary()
        while True:
            token = self.tokens.peek(Mode.VALUE)
            op = _operator(token)
            if op is None or BINARY[op][0] < min_precedence:
                return left
            self.tokens.next(Mode.VALUE)
            precedence, function = BINARY[op]
            right = self._binary(precedence + 1)
            if op in ("/", "%") and right == 0:
                raise dts_error(token.location, "division by zero in expression")
            left = function(left, right)

    def _unary(self) -> int:
        token = self.tokens.peek(Mode.VALUE)
        if token.kind is Tok.PUNCT and token.text in UNARY:
            self.tokens.next(Mode.VALUE)
            self._enter(token)
            value = UNARY[token.text](self._unary())
            self.depth -= 1
            return value
        return self.primary("an integer, a character literal or '(' in the expression")[0]

    def _enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise dts_error(token.location, f"expression nested more than {MAX_DEPTH} levels deep")
