"""The DTS lexer: a table of regular expressions, longest match wins (as in dtc's flex).

The lexer has three modes, chosen by the parser for each token: NAME where a node or
property name may come (after ``{``, ``;``, ``/delete-node/``), VALUE in property values
and everywhere else, BYTES inside ``[...]``. They differ only in what a run of letters
and digits is: a name, an integer literal, or a pair of hex digits. Comments, strings,
labels, references and keywords are the same in every mode. ``/include/ "file"`` is
handled here, below the parser, so an include may appear wherever dtc allows one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from kerf.dts.diagnostics import dts_error
from kerf.dts.sources import Includer, Source
from kerf.errors import SourceLocation

U64_MAX = 0xFFFF_FFFF_FFFF_FFFF


class Mode(Enum):
    """What the parser expects next (see the module docstring)."""

    NAME = "name"
    VALUE = "value"
    BYTES = "bytes"


class Tok(Enum):
    """Token kinds."""

    EOF = "end of file"
    NAME = "name"
    LABEL = "label"
    LITERAL = "integer"
    CHAR = "character literal"
    STRING = "string"
    REF = "reference"
    BYTE = "byte"
    KEYWORD = "keyword"
    OP = "operator"
    PUNCT = "character"
    INCLUDE = "include"


KEYWORDS = frozenset(
    {
        "/dts-v1/",
        "/multikernel-v1/",
        "/plugin/",
        "/memreserve/",
        "/bits/",
        "/delete-property/",
        "/delete-node/",
        "/omit-if-no-ref/",
        "/incbin/",
    }
)
TWO_CHAR_OPS = frozenset({"<<", ">>", "<=", ">=", "==", "!=", "&&", "||"})
NAME_CHARS = "a-zA-Z0-9,._+*#?@\\-"

_SPACE = re.compile(r"[ \t\n\v\f\r]+")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_LINE_MARKER = re.compile(r'#(?:line)?[ \t]+([0-9]+)[ \t]+"((?:[^\\"\n]|\\.)*)"(?:[ \t]+[0-9]+)*')
_STRING = re.compile(r'"((?:[^\\"]|\\.)*)"')
_KEYWORD = re.compile(r"/[a-z0-9-]+/")
_INCLUDE = re.compile(r'/include/[ \t\n\v\f\r]*"((?:[^\\"]|\\.)*)"')
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*:")
_NAME = re.compile(rf"\\?[{NAME_CHARS}]+")
_LITERAL = re.compile(r"(?:0[xX][0-9a-fA-F]+|[0-9]+)(?:ULL|UL|LL|U|L)?")
_BYTE = re.compile(r"[0-9a-fA-F]{2}")
_REF_LABEL = re.compile(r"&[a-zA-Z_][a-zA-Z0-9_]*")
_REF_PATH = re.compile(rf"&\{{/[{NAME_CHARS}/]*\}}")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{0,2}|[0-7]{1,3}|.)", re.DOTALL)
_DIRECTIVE_LIKE = re.compile(r"/[a-zA-Z][a-zA-Z0-9_-]*/")
_WORD = re.compile(rf"[{NAME_CHARS}]+")
# what a word is in each mode, and the kind of token it makes
_WORDS: dict[Mode, tuple[re.Pattern[str], Tok]] = {
    Mode.NAME: (_NAME, Tok.NAME),
    Mode.VALUE: (_LITERAL, Tok.LITERAL),
    Mode.BYTES: (_BYTE, Tok.BYTE),
}

_SIMPLE_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13}


@dataclass
class Token:
    """One token: its kind, text as written, decoded value and where it starts."""

    kind: Tok
    text: str
    offset: int
    source: Source
    value: int | bytes | str | None = None
    lexer: Lexer | None = field(default=None, repr=False, compare=False)

    @property
    def location(self) -> SourceLocation:
        """``file:line:col`` of the token's first character."""
        return self.source.location(self.offset)

    def is_punct(self, char: str) -> bool:
        """True for the single-character token ``char``."""
        return self.kind is Tok.PUNCT and self.text == char

    def is_op(self, op: str) -> bool:
        """True for the two-character operator ``op``."""
        return self.kind is Tok.OP and self.text == op

    def is_keyword(self, keyword: str) -> bool:
        """True for the keyword ``keyword`` (``/delete-node/``)."""
        return self.kind is Tok.KEYWORD and self.text == keyword

    def describe(self) -> str:
        """The token as an error message shows it (``'}'``, ``end of file``)."""
        # Bytes that were not UTF-8 in the file are shown escaped, never as surrogates.
        return self._describe().encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")

    def _describe(self) -> str:
        if self.kind is Tok.EOF:
            return "end of file"
        if self.kind is Tok.STRING:
            shown = self.text if len(self.text) <= 40 else self.text[:37] + '..."'
            return f"string {shown}"
        if self.kind is Tok.LABEL:
            return f"label '{self.text}'"
        if self.kind is Tok.REF:
            return f"reference '{self.text}'"
        if self.kind is Tok.PUNCT:
            # Show a whole word or directive rather than its first character.
            text = self.source.text
            for pattern in (_DIRECTIVE_LIKE, _WORD):
                match = pattern.match(text, self.offset)
                if match and len(match.group()) > 1:
                    return f"'{match.group()[:40]}'"
            if self.text == "\n":
                return "a line break"
            if 0xDC80 <= ord(self.text) <= 0xDCFF:
                return f"byte {ord(self.text) - 0xDC00:#04x} (not UTF-8 text)"
            if not self.text.isprintable():
                return f"character U+{ord(self.text):04X}"
        return f"'{self.text[:40]}'"


def unescape(raw: str, location: Callable[[], SourceLocation]) -> bytes:
    """The bytes of a string or character literal body, C escapes processed like dtc's."""
    if "\\" not in raw:
        return _encode(raw, location)
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(raw):
        out += _encode(raw[pos : match.start()], location)
        body = match.group(1)
        if body[0] == "x":
            if len(body) == 1:
                raise dts_error(location(), "\\x used with no following hex digits")
            out.append(int(body[1:], 16))
        elif body[0] in "01234567":
            out.append(int(body, 8) & 0xFF)
        elif body in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[body])
        else:
            out += _encode(body, location)
        pos = match.end()
    out += _encode(raw[pos:], location)
    return bytes(out)


def _encode(text: str, location: Callable[[], SourceLocation]) -> bytes:
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError as err:
        char = text[err.start]
        raise dts_error(location(), f"cannot encode character U+{ord(char):04X} in a string") from err


def literal_value(text: str, where: Callable[[], SourceLocation]) -> int:
    """The value of an integer literal, with dtc's rules (octal for a leading 0, U/L
    suffixes ignored, at most 64 bits). ``where`` gives the literal's location, for an
    error only (working it out for every literal is a fifth of parsing a host)."""
    digits = text.rstrip("UL")
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif len(digits) > 1 and digits[0] == "0":
        if any(c in "89" for c in digits):
            raise dts_error(
                where(),
                f"bad integer literal '{text}': a leading 0 means octal, which has no digit 8 or 9",
                hint="write decimal numbers without a leading 0, or hexadecimal with 0x",
            )
        value = int(digits, 8)
    elif len(digits) > 20:
        value = U64_MAX + 1
    else:
        value = int(digits)
    if value > U64_MAX:
        raise dts_error(where(), f"integer literal {text} does not fit in 64 bits")
    return value


class Lexer:
    """Tokens of one source file."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.text = source.text
        self.pos = 0

    def _token(self, kind: Tok, start: int, end: int, value: int | bytes | str | None = None) -> Token:
        self.pos = end
        return Token(kind, self.text[start:end], start, self.source, value, self)

    def _skip_space(self) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\n\v\f\r":
                match = _SPACE.match(text, self.pos)
                assert match is not None
                self.pos = match.end()
            elif text.startswith("/*", self.pos):
                match = _BLOCK_COMMENT.match(text, self.pos)
                if match is None:
                    raise dts_error(self.source.location(self.pos), "unterminated comment: '/*' without '*/'")
                self.pos = match.end()
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                if end < 0:
                    raise dts_error(
                        self.source.location(self.pos),
                        "'//' comment on the last line is not ended by a newline (dtc rejects it too)",
                        hint="end the file with a newline",
                    )
                self.pos = end + 1
            elif char == "#" and (self.pos == 0 or text[self.pos - 1] == "\n"):
                match = _LINE_MARKER.match(text, self.pos)
                if match is None:
                    return
                end = text.find("\n", match.end())
                next_line = len(text) if end < 0 else end + 1
                marks = self.source.line_marks
                if not marks or marks[-1][0] < next_line:
                    self.source.mark_line(next_line, match.group(2), int(match.group(1)))
                self.pos = match.end()
            else:
                return

    def next(self, mode: Mode) -> Token:
        """The next token in ``mode``; DtsError for lexical errors."""
        self._skip_space()
        text, start = self.text, self.pos
        if start >= len(text):
            return Token(Tok.EOF, "", start, self.source, None, self)
        char = text[start]
        if char == '"':
            return self._string(start)
        if char == "'":
            return self._char_literal(start)
        if char == "/":
            return self._slash(start)
        if char == "&":
            return self._ampersand(start)
        if text.startswith(tuple(TWO_CHAR_OPS), start):
            return self._token(Tok.OP, start, start + 2)
        return self._word(start, mode)

    def _string(self, start: int) -> Token:
        match = _STRING.match(self.text, start)
        if match is None:
            raise dts_error(self.source.location(start), "unterminated string")
        value = unescape(match.group(1), lambda: self.source.location(start))
        return self._token(Tok.STRING, start, match.end(), value)

    def _char_literal(self, start: int) -> Token:
        # dtc's pattern is '([^']|\\')*' with longest match: the literal runs to the last
        # quote reachable by passing only quotes that follow a backslash.
        text, end, pos = self.text, -1, start + 1
        while True:
            quote = text.find("'", pos)
            if quote < 0:
                break
            end = quote
            if text[quote - 1] != "\\":
                break
            pos = quote + 1
        location = self.source.location(start)
        if end < 0:
            raise dts_error(location, "unterminated character literal")
        value = unescape(text[start + 1 : end], lambda: location)
        if not value:
            raise dts_error(location, "empty character literal")
        if len(value) > 1:
            raise dts_error(
                location,
                f"character literal has {len(value)} characters instead of 1",
                hint="a character literal holds one byte, e.g. 'a' or '\\n'",
            )
        return self._token(Tok.CHAR, start, end + 1, value[0])

    def _slash(self, start: int) -> Token:
        text = self.text
        if text.startswith("/include/", start):
            match = _INCLUDE.match(text, start)
            if match is None:
                raise dts_error(self.source.location(start), "expected a file name in quotes after /include/")
            # Like dtc, the file name is taken as written (no escapes).
            return self._token(Tok.INCLUDE, start, match.end(), match.group(1))
        match = _KEYWORD.match(text, start)
        if match is not None and match.group() in KEYWORDS:
            return self._token(Tok.KEYWORD, start, match.end())
        # '/word/' is never valid DTS except as a directive (a path is always inside &{...}).
        unknown = _DIRECTIVE_LIKE.match(text, start)
        if unknown is not None:
            raise dts_error(
                self.source.location(start),
                f"unknown directive '{unknown.group()}'",
                hint="directives are " + ", ".join(sorted(KEYWORDS | {"/include/"})),
            )
        return self._token(Tok.PUNCT, start, start + 1)

    def _ampersand(self, start: int) -> Token:
        text = self.text
        if text.startswith("&&", start):
            return self._token(Tok.OP, start, start + 2)
        match = _REF_PATH.match(text, start) or _REF_LABEL.match(text, start)
        if match is not None:
            return self._token(Tok.REF, start, match.end(), match.group()[1:])
        return self._token(Tok.PUNCT, start, start + 1)

    def _word(self, start: int, mode: Mode) -> Token:
        text = self.text
        best_kind, best_end = Tok.PUNCT, start
        label = _LABEL.match(text, start)
        if label is not None:
            best_kind, best_end = Tok.LABEL, label.end()
        pattern, kind = _WORDS[mode]
        other = pattern.match(text, start)
        if other is not None and other.end() > best_end:
            best_kind, best_end = kind, other.end()
        if best_kind is Tok.LABEL:
            return self._token(Tok.LABEL, start, best_end, text[start : best_end - 1])
        if best_kind is Tok.NAME:
            name = text[start:best_end]
            return self._token(Tok.NAME, start, best_end, name[1:] if name.startswith("\\") else name)
        if best_kind is Tok.LITERAL:
            value = literal_value(text[start:best_end], lambda: self.source.location(start))
            return self._token(Tok.LITERAL, start, best_end, value)
        if best_kind is Tok.BYTE:
            return self._token(Tok.BYTE, start, best_end, int(text[start:best_end], 16))
        return self._token(Tok.PUNCT, start, start + 1)


class TokenStream:
    """Tokens across a file and its includes, with one token of lookahead."""

    def __init__(self, source: Source, includer: Includer) -> None:
        self.lexers = [Lexer(source)]
        self.includer = includer
        self._peeked: Token | None = None
        self._peeked_mode: Mode | None = None

    def peek(self, mode: Mode) -> Token:
        """The next token, not consumed."""
        if self._peeked is not None:
            if self._peeked_mode is mode:
                return self._peeked
            # Re-lex the same characters in the other mode.
            assert self._peeked.lexer is not None
            self._peeked.lexer.pos = self._peeked.offset
        self._peeked = self._read(mode)
        self._peeked_mode = mode
        return self._peeked

    def next(self, mode: Mode) -> Token:
        """The next token, consumed."""
        token = self.peek(mode)
        self._peeked = None
        return token

    def _read(self, mode: Mode) -> Token:
        while True:
            lexer = self.lexers[-1]
            token = lexer.next(mode)
            if token.kind is Tok.INCLUDE:
                assert isinstance(token.value, str)
                source = self.includer.open(token.value, lexer.source, token.location)
                self.lexers.append(Lexer(source))
                continue
            if token.kind is Tok.EOF and len(self.lexers) > 1:
                self.lexers.pop()
                self.includer.close()
                continue
            return token
