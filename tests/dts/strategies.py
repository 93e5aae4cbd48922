"""Hypothesis strategies: random DTS sources (for the dtc cross-check) and random trees
built with the Node helpers (for round trips)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from kerf.dts import Tree

NODE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-"
PROP_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-#?*"
LABEL_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
LABEL_REST = LABEL_FIRST + "0123456789"
BINARY_OPS = [
    "+",
    "-",
    "*",
    "/",
    "%",
    "<<",
    ">>",
    "&",
    "|",
    "^",
    "&&",
    "||",
    "<",
    ">",
    "<=",
    ">=",
    "==",
    "!=",
]

node_names = (
    st.text(NODE_CHARS, min_size=1, max_size=8)
    .filter(lambda s: not s.startswith("-"))
    .flatmap(lambda base: st.one_of(st.just(base), st.integers(0, 0xFFFF).map(lambda n: f"{base}@{n:x}")))
)
prop_names = st.text(PROP_CHARS, min_size=1, max_size=10).filter(lambda s: s not in ("name", "phandle"))
labels = st.builds(lambda a, b: a + b, st.sampled_from(LABEL_FIRST), st.text(LABEL_REST, max_size=6))
# Text for strings: printable ASCII, some escapes' targets, a little UTF-8.
string_text = st.text(
    st.one_of(st.characters(min_codepoint=32, max_codepoint=126), st.sampled_from("\t\n\r\x07é€")),
    max_size=12,
)


@dataclass
class Skeleton:
    """Node paths and labels, decided before values so references can point anywhere."""

    paths: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # label -> path


def _escape(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif char == "\x07":
            out.append("\\a")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@st.composite
def literals(draw: st.DrawFn, bits: int) -> str:
    """An integer literal in one of dtc's spellings, usually fitting ``bits``."""
    limit = (1 << bits) - 1
    value = draw(st.one_of(st.integers(0, min(limit, 255)), st.integers(0, limit)))
    form = draw(st.sampled_from(["dec", "hex", "HEX", "oct", "suffix"]))
    if form == "dec":
        return str(value)
    if form == "hex":
        return f"{value:#x}"
    if form == "HEX":
        return f"0X{value:X}"
    if form == "oct":
        return f"0{value:o}"
    return f"{value}{draw(st.sampled_from(['U', 'L', 'UL', 'LL', 'ULL']))}"


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    """A parenthesised C expression (values may fall outside a cell: dtc then rejects)."""
    kind = draw(st.sampled_from(["lit", "char", "unary", "binary", "ternary"] if depth < 3 else ["lit"]))
    if kind == "lit":
        return draw(literals(16))
    if kind == "char":
        return draw(st.sampled_from(["'a'", "'\\n'", "'\\x41'", "'\\101'", "'\\''", "'z'"]))
    if kind == "unary":
        return f"({draw(st.sampled_from(['-', '~', '!']))}{draw(expressions(depth + 1))})"
    if kind == "binary":
        op = draw(st.sampled_from(BINARY_OPS))
        return f"({draw(expressions(depth + 1))} {op} {draw(expressions(depth + 1))})"
    cond, a, b = (draw(expressions(depth + 1)) for _ in range(3))
    return f"({cond} ? {a} : {b})"


@st.composite
def cell_groups(draw: st.DrawFn, skeleton: Skeleton) -> str:
    bits = draw(st.sampled_from([8, 16, 32, 32, 64]))
    items = []
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.integers(0, 9))
        if bits == 32 and choice == 0 and skeleton.labels:
            items.append("&" + draw(st.sampled_from(sorted(skeleton.labels))))
        elif bits == 32 and choice == 1:
            items.append("&{" + draw(st.sampled_from(skeleton.paths)) + "}")
        elif choice in (2, 3):
            items.append(draw(expressions()))
        elif choice == 4:
            items.append(draw(st.sampled_from(["'a'", "'\\0'", "'\\xff'"])))
        else:
            items.append(draw(literals(bits)))
    prefix = "" if bits == 32 and draw(st.booleans()) else f"/bits/ {bits} "
    return f"{prefix}<{' '.join(items)}>"


@st.composite
def values(draw: st.DrawFn, skeleton: Skeleton) -> str:
    """The right-hand side of ``name = ...``: comma-separated chunks."""
    chunks = []
    for _ in range(draw(st.integers(1, 3))):
        # now and then a label inside the value
        label = f"V{draw(st.integers(0, 99))}: " if draw(st.integers(0, 9)) == 0 else ""
        kind = draw(st.sampled_from(["string", "cells", "cells", "bytes", "path"]))
        if kind == "string":
            chunk = _escape(draw(string_text))
        elif kind == "cells":
            chunk = draw(cell_groups(skeleton))
        elif kind == "bytes":
            data = draw(st.binary(max_size=6))
            spaced = draw(st.booleans())
            chunk = "[" + (" " if spaced else "").join(f"{b:02x}" for b in data) + "]"
        elif skeleton.labels and draw(st.booleans()):
            chunk = "&" + draw(st.sampled_from(sorted(skeleton.labels)))
        else:
            chunk = "&{" + draw(st.sampled_from(skeleton.paths)) + "}"
        chunks.append(label + chunk)
    return ", ".join(chunks)


@st.composite
def amendments(draw: st.DrawFn, skeleton: Skeleton, node_names_used: list[str]) -> list[str]:
    """A later block: ``&label { ... };``, ``&{/path} { ... };`` or ``/ { ... };`` with new,
    changed and deleted properties and nodes; or a top-level ``/delete-node/`` or
    ``/omit-if-no-ref/``."""
    kind = draw(st.integers(0, 9))
    if kind == 0 and skeleton.labels:
        return [f"/delete-node/ &{draw(st.sampled_from(sorted(skeleton.labels)))};"]
    if kind == 1 and skeleton.labels:
        return [f"/omit-if-no-ref/ &{draw(st.sampled_from(sorted(skeleton.labels)))};"]
    if kind < 5 and skeleton.labels:
        target = "&" + draw(st.sampled_from(sorted(skeleton.labels)))
    elif kind < 8:
        target = "&{" + draw(st.sampled_from(skeleton.paths)) + "}"
    else:
        target = "/"
    lines = [f"{target} {{"]
    for name in draw(st.lists(prop_names, max_size=2, unique=True)):
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"\t/delete-property/ {name};")
        else:
            lines.append(f"\t{name} = {draw(values(skeleton))};")
    if node_names_used and draw(st.integers(0, 3)) == 0:
        lines.append(f"\t/delete-node/ {draw(st.sampled_from(node_names_used))};")
    if draw(st.integers(0, 3)) == 0:
        child = draw(st.sampled_from(node_names_used)) if node_names_used and draw(st.booleans()) else "added"
        lines += [f"\t{child} {{", f"\t\tnew = {draw(values(skeleton))};", "\t};"]
    return [*lines, "};"]


@st.composite
def dts_sources(draw: st.DrawFn) -> str:
    """A random /dts-v1/ source: nodes with unit addresses and labels, properties with
    every kind of value (and labels), references forward and backward, explicit
    phandles, /omit-if-no-ref/, then later blocks that amend and delete."""
    skeleton = Skeleton(paths=["/"])
    shape: list[tuple[str, str, list[str]]] = []  # (path, name, labels)
    used_labels: set[str] = set()

    def grow(parent: str, depth: int) -> None:
        names = draw(st.lists(node_names, max_size=3 if depth < 3 else 0, unique=True))
        for name in names:
            path = f"{parent.rstrip('/')}/{name}"
            node_labels = [
                lab for lab in draw(st.lists(labels, max_size=2, unique=True)) if lab not in used_labels
            ]
            used_labels.update(node_labels)
            skeleton.paths.append(path)
            for label in node_labels:
                skeleton.labels[label] = path
            shape.append((path, name, node_labels))
            grow(path, depth + 1)

    grow("/", 0)

    def body(path: str, depth: int) -> list[str]:
        indent = "\t" * (depth + 1)
        lines = []
        for name in draw(st.lists(prop_names, max_size=3, unique=True)):
            label = f"P{draw(st.integers(0, 99))}: " if draw(st.integers(0, 5)) == 0 else ""
            if draw(st.integers(0, 4)) == 0:
                lines.append(f"{indent}{label}{name};")
            else:
                lines.append(f"{indent}{label}{name} = {draw(values(skeleton))};")
        if path != "/" and draw(st.integers(0, 7)) == 0:
            lines.append(f"{indent}phandle = <{draw(st.integers(1, 6))}>;")
        for child_path, child_name, child_labels in shape:
            if child_path.rsplit("/", 1)[0] == (path.rstrip("/") if path != "/" else ""):
                prefix = "".join(f"{lab}: " for lab in child_labels)
                omit = "/omit-if-no-ref/ " if draw(st.integers(0, 9)) == 0 else ""
                lines.append(f"{indent}{omit}{prefix}{child_name} {{")
                lines += body(child_path, depth + 1)
                lines.append(f"{indent}}};")
        return lines

    out = ["/dts-v1/;", ""]
    if draw(st.booleans()):
        out.append(f"/memreserve/ {draw(literals(64))} {draw(literals(64))};")
    out += ["/ {", *body("/", 0), "};"]
    for _ in range(draw(st.integers(0, 3))):
        out += draw(amendments(skeleton, [name for _, name, _ in shape]))
    return "\n".join(out) + "\n"


@st.composite
def built_trees(draw: st.DrawFn, header: str = "dts-v1") -> Tree:
    """A random tree made with the ``Node`` helpers, references included."""
    tree = Tree.empty(header)
    nodes = [tree.root]
    for _ in range(draw(st.integers(0, 8))):
        parent = draw(st.sampled_from(nodes))
        child = parent.add_node(draw(node_names))
        if child not in nodes:
            nodes.append(child)
    all_labels: list[str] = []
    for node in nodes[1:]:
        label = draw(labels)
        if label not in tree.label2node and label not in all_labels and draw(st.booleans()):
            node.add_label(label)
            all_labels.append(label)
    for node in nodes:
        for name in draw(st.lists(prop_names, max_size=4, unique=True)):
            kind = draw(st.integers(0, 8))
            if kind == 0:
                node.set_empty(name)
            elif kind == 1:
                node.set_u32(name, draw(st.integers(0, 0xFFFF_FFFF)))
            elif kind == 2:
                node.set_u64(name, draw(st.integers(0, 0xFFFF_FFFF_FFFF_FFFF)))
            elif kind == 3:
                bits = draw(st.sampled_from([8, 16, 32, 64]))
                node.set_cells(name, draw(st.lists(st.integers(0, (1 << bits) - 1), max_size=5)), bits)
            elif kind == 4:
                node.set_string(name, draw(string_text))
            elif kind == 5:
                node.set_strings(name, draw(st.lists(string_text, min_size=1, max_size=3)))
            elif kind == 6:
                node.set_bytes(name, draw(st.binary(max_size=9)))
            elif kind == 7 and all_labels:
                node.set_phandle_refs(
                    name, draw(st.lists(st.sampled_from(all_labels), min_size=1, max_size=3))
                )
            else:
                paths = [n.path for n in nodes]
                node.set_phandle_refs(name, draw(st.lists(st.sampled_from(paths), min_size=1, max_size=2)))
    return tree
