"""The DTS parser: one method per grammar rule, building dtc's live tree.

Grammar (dtc 1.6, plus kerf's ``/multikernel-v1/`` header)::

    file       = header+ memreserve* "/" body ( "/" body | [LABEL] REF body
                 | "/delete-node/" REF ";" | "/omit-if-no-ref/" REF ";" )*
    header     = ("/dts-v1/" | "/multikernel-v1/") ";"
    memreserve = LABEL* "/memreserve/" prim prim ";"
    body       = "{" prop* subnode* "}" ";"
    prop       = LABEL* ( NAME ["=" value] ";" | "/delete-property/" NAME ";" )
    subnode    = (LABEL | "/omit-if-no-ref/")* ( NAME body | "/delete-node/" NAME ";" )

:func:`parse` runs the whole pipeline: grammar, structural checks, reference
resolution, and returns a :class:`~kerf.dts.tree.Tree`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kerf.dts.checks import check_structure
from kerf.dts.diagnostics import dts_error, expected
from kerf.dts.expr import ExpressionParser
from kerf.dts.lexer import Mode, Tok, Token, TokenStream
from kerf.dts.livetree import (
    RawLabel,
    RawNode,
    RawProp,
    add_label,
    delete_node,
    merge_nodes,
    node_by_ref,
    to_tree_nodes,
)
from kerf.dts.references import resolve_parsed
from kerf.dts.sources import Includer, Source, source_directory
from kerf.dts.tree import Diagnostic, Tree, ref_path
from kerf.dts.values import ValueParser

# Nodes nested deeper than this are refused (real trees are under 10 deep); the limit
# keeps every recursive walk far from Python's stack limit.
MAX_NODE_DEPTH = 64
HEADER_KEYWORDS = {"/dts-v1/": "dts-v1", "/multikernel-v1/": "multikernel-v1"}


@dataclass
class ParsedSource:
    """What the grammar produces before checks: the live tree and the file's extras."""

    root: RawNode
    header: str
    memreserves: list[tuple[int, int]] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


class Parser:
    """Recursive-descent parser over a :class:`TokenStream`."""

    def __init__(self, tokens: TokenStream) -> None:
        self.tokens = tokens
        self.warnings: list[Diagnostic] = []
        self.header = "dts-v1"
        self.label_count = 0

    # --- helpers ----------------------------------------------------------------------

    def _next(self, mode: Mode = Mode.VALUE) -> Token:
        return self.tokens.next(mode)

    def _peek(self, mode: Mode = Mode.VALUE) -> Token:
        return self.tokens.peek(mode)

    def _expect_punct(self, char: str, what: str, mode: Mode = Mode.VALUE, hint: str | None = None) -> Token:
        token = self._next(mode)
        if not token.is_punct(char):
            raise expected(token.location, what, token.describe(), hint)
        return token

    def _label(self, token: Token) -> RawLabel:
        assert isinstance(token.value, str)
        self.label_count += 1
        return RawLabel(token.value, token.location, self.label_count)

    def _name(self, after: str) -> Token:
        token = self._next(Mode.NAME)
        if token.kind is not Tok.NAME:
            raise expected(token.location, f"a name after {after}", token.describe())
        return token

    # --- file -------------------------------------------------------------------------

    def parse_file(self) -> ParsedSource:
        """``file`` rule."""
        self._headers()
        memreserves = self._memreserves()
        first = self._next(Mode.NAME)
        if not first.is_punct("/"):
            raise expected(
                first.location,
                "the root node '/ {'",
                first.describe(),
                hint="a device tree starts with '/dts-v1/;' and then '/ { ... };'",
            )
        root = self._body(RawNode("", first.location), depth=0)
        while True:
            token = self._next(Mode.NAME)
            if token.kind is Tok.EOF:
                break
            if token.is_punct("/"):
                merge_nodes(root, self._body(RawNode("", token.location), depth=0))
            elif token.kind is Tok.LABEL or token.kind is Tok.REF:
                self._amend(root, token)
            elif token.is_keyword("/delete-node/") or token.is_keyword("/omit-if-no-ref/"):
                self._top_level_directive(root, token)
            elif token.is_keyword("/memreserve/"):
                raise dts_error(token.location, "/memreserve/ must come before the root node '/ { ... };'")
            else:
                raise expected(
                    token.location,
                    "'/ {', '&label {', '/delete-node/ &label;' or the end of the file",
                    token.describe(),
                    hint=_PREPROCESSOR_HINT if token.text in _PREPROCESSOR else None,
                )
        return ParsedSource(root, self.header, memreserves, self.warnings)

    def _headers(self) -> None:
        token = self._peek(Mode.NAME)
        if token.text not in HEADER_KEYWORDS or token.kind is not Tok.KEYWORD:
            raise expected(
                token.location,
                "'/dts-v1/;' or '/multikernel-v1/;' at the start of the file",
                token.describe(),
                hint="the first line of a device tree source is '/dts-v1/;'",
            )
        while token.kind is Tok.KEYWORD and token.text in HEADER_KEYWORDS:
            self._next(Mode.NAME)
            if HEADER_KEYWORDS[token.text] == "multikernel-v1":
                self.header = "multikernel-v1"
            self._expect_punct(";", f"';' after {token.text}", Mode.NAME)
            token = self._peek(Mode.NAME)
            if token.is_keyword("/plugin/"):
                raise dts_error(
                    token.location,
                    "/plugin/ (device tree overlay source) is not supported here",
                    hint="kerf builds its overlays itself; give a complete device tree",
                )

    def _memreserves(self) -> list[tuple[int, int]]:
        entries: list[tuple[int, int]] = []
        while True:
            token = self._peek(Mode.NAME)
            labelled = False
            while (
                token.kind is Tok.LABEL
            ):  # labels on /memreserve/ are allowed (several, like dtc) and unused
                self._next(Mode.NAME)
                token = self._peek(Mode.NAME)
                labelled = True
            if labelled and not token.is_keyword("/memreserve/"):
                raise expected(token.location, "/memreserve/ after a top-level label", token.describe())
            if not token.is_keyword("/memreserve/"):
                return entries
            self._next(Mode.NAME)
            expressions = ExpressionParser(self.tokens)
            address = expressions.primary("an address (integer or '(') after /memreserve/")[0]
            size = expressions.primary("a size (integer or '(') after the /memreserve/ address")[0]
            self._expect_punct(";", "';' after /memreserve/ address and size")
            entries.append((address, size))

    def _amend(self, root: RawNode, token: Token) -> None:
        """``[LABEL] REF body``: more properties and nodes for an existing node."""
        label = None
        if token.kind is Tok.LABEL:
            label = self._label(token)
            token = self._next(Mode.NAME)
            if token.kind is not Tok.REF:
                raise expected(token.location, "'&label {' after a top-level label", token.describe())
        target = self._target(root, token)
        if label is not None:
            add_label(target.labels, label)
        merge_nodes(target, self._body(RawNode(target.name, token.location), depth=_depth(target)))

    def _top_level_directive(self, root: RawNode, keyword: Token) -> None:
        token = self._next(Mode.NAME)
        if token.kind is not Tok.REF:
            raise expected(token.location, f"'&label' or '&{{/path}}' after {keyword.text}", token.describe())
        target = self._target(root, token)
        self._expect_punct(";", f"';' after {keyword.text} {token.text}", Mode.NAME)
        if keyword.is_keyword("/delete-node/"):
            delete_node(target)
        else:
            target.omit_if_no_ref = True

    def _target(self, root: RawNode, token: Token) -> RawNode:
        assert isinstance(token.value, str)
        target = node_by_ref(root, token.value)
        if target is None:
            path = ref_path(token.value)
            what = f"no node at path '{path}'" if path else f"unknown label '{token.value}'"
            raise dts_error(
                token.location,
                f"{what} in '{token.text}'",
                hint="a '&label' must refer to a label defined earlier in the file",
            )
        return target

    # --- nodes ------------------------------------------------------------------------

    def _body(self, node: RawNode, depth: int) -> RawNode:
        """``body``: ``{`` properties, then subnodes ``}`` ``;``; fills and returns ``node``."""
        if depth > MAX_NODE_DEPTH:
            raise dts_error(node.location, f"nodes nested more than {MAX_NODE_DEPTH} levels deep")
        self._expect_punct("{", "'{' to open the node", Mode.NAME)
        seen_subnode: Token | None = None
        while True:
            token = self._peek(Mode.NAME)
            if token.is_punct("}"):
                self._next(Mode.NAME)
                break
            labels: list[RawLabel] = []
            omit: Token | None = None
            while token.kind is Tok.LABEL or token.is_keyword("/omit-if-no-ref/"):
                self._next(Mode.NAME)
                if token.kind is Tok.LABEL:
                    labels.append(self._label(token))
                else:
                    omit = token
                token = self._peek(Mode.NAME)
            if token.is_keyword("/delete-node/"):
                self._next(Mode.NAME)
                name = self._name("/delete-node/")
                self._expect_punct(";", f"';' after /delete-node/ {name.text}", Mode.NAME)
                assert isinstance(name.value, str)
                node.add_child(RawNode(name.value, name.location, deleted=True))
                seen_subnode = seen_subnode or token
                continue
            if token.is_keyword("/delete-property/"):
                self._next(Mode.NAME)
                name = self._name("/delete-property/")
                self._no_prop_here(seen_subnode, omit, name)
                self._expect_punct(";", f"';' after /delete-property/ {name.text}", Mode.NAME)
                assert isinstance(name.value, str)
                node.props.append(RawProp(name.value, name.location, deleted=True))
                continue
            if token.kind is not Tok.NAME:
                raise expected(
                    token.location,
                    "a property, a child node or '}'",
                    token.describe(),
                    hint=_hint_for(token),
                )
            self._next(Mode.NAME)
            assert isinstance(token.value, str)
            after = self._peek(Mode.VALUE)
            if after.is_punct("{"):
                child = RawNode(token.value, token.location, labels=labels, omit_if_no_ref=omit is not None)
                node.add_child(self._body(child, depth + 1))
                seen_subnode = seen_subnode or token
                continue
            self._no_prop_here(seen_subnode, omit, token)
            node.props.append(self._property(token, labels))
        self._expect_punct(";", "';' after '}'", Mode.NAME, hint="every node ends with '};'")
        return node

    def _no_prop_here(self, seen_subnode: Token | None, omit: Token | None, name: Token) -> None:
        if omit is not None:
            raise expected(name.location, "a node after /omit-if-no-ref/", f"property '{name.text}'")
        if seen_subnode is not None:
            raise dts_error(
                name.location,
                f"property '{name.text}' comes after a child node; properties must precede subnodes",
                hint=f"move it above the first child node (line {seen_subnode.location.line})",
            )

    def _property(self, name: Token, labels: list[RawLabel]) -> RawProp:
        assert isinstance(name.value, str)
        prop = RawProp(name.value, name.location, labels=labels)
        token = self._next(Mode.VALUE)
        if token.is_punct(";"):
            return prop
        if not token.is_punct("="):
            raise expected(
                token.location,
                f"'=' or ';' after property name '{name.text}'",
                token.describe(),
                hint=_PREPROCESSOR_HINT if name.text in _PREPROCESSOR else None,
            )
        values = ValueParser(
            self.tokens, self._label, self.warnings.append, multikernel=self.header == "multikernel-v1"
        )
        value = values.parse(name.text)
        prop.value, prop.markers, prop.value_labels = bytes(value.data), value.markers, value.labels
        if value.wide:
            prop.written_cells = tuple(value.written)
        end = self._next(Mode.VALUE)
        if not end.is_punct(";"):
            raise expected(
                end.location,
                f"';' after property '{name.text}'",
                end.describe(),
                hint="separate the parts of a value with ','" if end.kind in _VALUE_STARTS else None,
            )
        return prop


_VALUE_STARTS = (Tok.STRING, Tok.REF, Tok.LITERAL)
_PREPROCESSOR = frozenset({"#include", "#define", "#undef", "#if", "#ifdef", "#ifndef", "#else", "#endif"})
_PREPROCESSOR_HINT = 'C preprocessor directives are not supported; use /include/ "file"'


def _hint_for(token: Token) -> str | None:
    if token.kind is Tok.EOF:
        return "a '}' is missing"
    return None


def _depth(node: RawNode) -> int:
    depth, current = 0, node
    while current.parent is not None:
        depth, current = depth + 1, current.parent
    return depth


def parse(text: str, filename: str = "<string>", *, include_dirs: Sequence[Path] = ()) -> Tree:
    """Parse DTS text into a :class:`Tree`; DtsError (with file:line:col) for bad input.

    ``/include/`` files are looked up next to ``filename`` first, then in ``include_dirs``.
    """
    directory = source_directory(filename)
    includer = Includer(include_dirs)
    includer.chain.append((filename, Path(filename).resolve() if directory is not None else None))
    source = Source(filename, text, directory)
    parsed = Parser(TokenStream(source, includer)).parse_file()
    check_structure(parsed.root)
    root, omitted = to_tree_nodes(parsed.root)
    tree = Tree(
        root=root,
        filename=filename,
        header=parsed.header,
        memreserves=parsed.memreserves,
        warnings=parsed.warnings,
    )
    resolve_parsed(tree, omitted)
    return tree
