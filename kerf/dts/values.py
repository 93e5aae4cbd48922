"""Property values: ``"strings"``, ``<cells>``, ``/bits/ N <...>``, ``[bytes]``, ``&refs``.

A value is built as raw bytes plus markers saying what each chunk was. References are
left as placeholders (0xffffffff cells, empty path strings) and filled in once the whole
tree is known (:mod:`kerf.dts.references`), because a label may be defined after its use.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from kerf.dts.diagnostics import dts_error, expected
from kerf.dts.expr import ExpressionParser
from kerf.dts.lexer import Mode, Tok, Token, TokenStream
from kerf.dts.livetree import RawLabel
from kerf.dts.tree import UNRESOLVED_PHANDLE, Diagnostic, Marker, MarkerKind

U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
CELL_KINDS = {8: MarkerKind.U8, 16: MarkerKind.U16, 32: MarkerKind.U32, 64: MarkerKind.U64}
CELL_FORMATS = {8: ">B", 16: ">H", 32: ">I", 64: ">Q"}


@dataclass
class Value:
    """A property value under construction."""

    data: bytearray = field(default_factory=bytearray)
    markers: list[Marker] = field(default_factory=list)
    labels: list[RawLabel] = field(default_factory=list)
    # Integers of the 32-bit groups as written; kept when one of them was too wide.
    written: list[int] = field(default_factory=list)
    wide: bool = False


class ValueParser:
    """Parses the data after ``name =`` up to (not including) the ``;``.

    ``make_label`` turns a label token into a :class:`RawLabel` (with its definition
    order); ``warn`` records a diagnostic; ``multikernel`` enables the wide-literal rule.
    """

    def __init__(
        self,
        tokens: TokenStream,
        make_label: Callable[[Token], RawLabel],
        warn: Callable[[Diagnostic], None],
        *,
        multikernel: bool,
    ) -> None:
        self.tokens = tokens
        self.make_label = make_label
        self.warn = warn
        self.multikernel = multikernel
        self.expressions = ExpressionParser(tokens)

    def parse(self, prop_name: str) -> Value:
        """One complete value: chunks separated by commas, labels anywhere between."""
        value = Value()
        while True:
            self._labels(value)
            token = self.tokens.next(Mode.VALUE)
            if token.kind is Tok.STRING:
                assert isinstance(token.value, bytes)
                value.markers.append(Marker(len(value.data), MarkerKind.STRING))
                value.data += token.value + b"\0"
            elif token.is_punct("<"):
                self._cells(value, 32, prop_name)
            elif token.is_keyword("/bits/"):
                self._bits(value, prop_name)
            elif token.is_punct("["):
                self._bytes(value)
            elif token.kind is Tok.REF:
                assert isinstance(token.value, str)
                value.markers.append(Marker(len(value.data), MarkerKind.PATH, token.value, token.location))
            elif token.is_keyword("/incbin/"):
                raise dts_error(
                    token.location,
                    "/incbin/ is not supported",
                    hint="write the bytes as a byte string [..] instead",
                )
            else:
                raise expected(
                    token.location,
                    f"a value for property '{prop_name}' (\"string\", <cells>, [bytes] or &label)",
                    token.describe(),
                )
            self._labels(value)
            if not self.tokens.peek(Mode.VALUE).is_punct(","):
                return value
            self.tokens.next(Mode.VALUE)

    def _labels(self, value: Value) -> None:
        while self.tokens.peek(Mode.VALUE).kind is Tok.LABEL:
            token = self.tokens.next(Mode.VALUE)
            label = self.make_label(token)
            value.labels.append(label)
            value.markers.append(Marker(len(value.data), MarkerKind.LABEL, label.name, token.location))

    def _bits(self, value: Value, prop_name: str) -> None:
        size = self.tokens.next(Mode.VALUE)
        if size.kind is not Tok.LITERAL:
            raise expected(size.location, "a cell width (8, 16, 32 or 64) after /bits/", size.describe())
        if size.value not in CELL_KINDS:
            raise dts_error(
                size.location,
                f"cell width must be 8, 16, 32 or 64 bits, found {size.text}",
            )
        opening = self.tokens.next(Mode.VALUE)
        if not opening.is_punct("<"):
            raise expected(opening.location, f"'<' after /bits/ {size.text}", opening.describe())
        assert isinstance(size.value, int)
        self._cells(value, size.value, prop_name)

    def _cells(self, value: Value, bits: int, prop_name: str) -> None:
        """The inside of ``<...>`` after the ``<``, up to and including ``>``."""
        value.markers.append(Marker(len(value.data), CELL_KINDS[bits]))
        while True:
            token = self.tokens.peek(Mode.VALUE)
            if token.is_punct(">"):
                self.tokens.next(Mode.VALUE)
                return
            if token.kind is Tok.LABEL:
                self._labels(value)
            elif token.kind is Tok.REF:
                self.tokens.next(Mode.VALUE)
                if bits != 32:
                    raise dts_error(
                        token.location,
                        f"references are only allowed in 32-bit cells, not in /bits/ {bits}",
                    )
                assert isinstance(token.value, str)
                value.markers.append(Marker(len(value.data), MarkerKind.PHANDLE, token.value, token.location))
                value.data += struct.pack(">I", UNRESOLVED_PHANDLE)
                value.written.append(UNRESOLVED_PHANDLE)
            elif token.kind is Tok.EOF or token.is_punct(";") or token.is_punct("}"):
                raise expected(
                    token.location, f"'>' to close the cells of property '{prop_name}'", token.describe()
                )
            else:
                number, first = self.expressions.primary(
                    f"an integer, a character literal, '(' or '>' in the cells of property '{prop_name}'"
                )
                self._cell(value, bits, number, first)

    def _cell(self, value: Value, bits: int, number: int, first: Token) -> None:
        if bits == 64 or number <= (1 << bits) - 1 or (number | ((1 << bits) - 1)) == U64_MAX:
            # In range, or a negative number that fits as two's complement (dtc's rule).
            value.data += struct.pack(CELL_FORMATS[bits], number & ((1 << bits) - 1))
            if bits == 32:
                value.written.append(number & 0xFFFF_FFFF)
            return
        shown = first.text if first.kind is Tok.LITERAL else f"{number:#x}"
        what = "integer literal" if first.kind is Tok.LITERAL else "value"
        high, low = number >> 32, number & 0xFFFF_FFFF
        portable = f"<{high:#x} {low:#x}> or /bits/ 64 <{shown}>"
        if bits == 32 and self.multikernel:
            self.warn(
                Diagnostic(
                    first.location,
                    f"{what} {shown} is wider than a 32-bit cell; it is stored as two cells "
                    f"<{high:#x} {low:#x}>",
                    hint=f"write the 64-bit value portably as {portable}",
                )
            )
            value.data += struct.pack(">II", high, low)
            value.written.append(number)
            value.wide = True
            return
        hint = f"write a 64-bit value as {portable}" if bits == 32 else None
        article = "an" if bits == 8 else "a"
        raise dts_error(first.location, f"{what} {shown} does not fit in {article} {bits}-bit cell", hint)

    def _bytes(self, value: Value) -> None:
        """The inside of ``[...]`` after the ``[``, up to and including ``]``."""
        value.markers.append(Marker(len(value.data), MarkerKind.BYTES))
        while True:
            token = self.tokens.next(Mode.BYTES)
            if token.is_punct("]"):
                return
            if token.kind is Tok.BYTE:
                assert isinstance(token.value, int)
                value.data.append(token.value)
            elif token.kind is Tok.LABEL:
                label = self.make_label(token)
                value.labels.append(label)
                value.markers.append(Marker(len(value.data), MarkerKind.LABEL, label.name, token.location))
            else:
                raise expected(
                    token.location,
                    "two hex digits or ']' in a byte string",
                    token.describe(),
                    hint="write bytes as pairs of hex digits: [00 ff 0a] or [00ff0a]",
                )
