"""DTB (flattened device tree) encoding and decoding, through pylibfdt.

:func:`to_dtb` writes the tree with libfdt's sequential writer (``FdtSw``), giving
referenced nodes phandles the way dtc does, then lays the blocks out as dtc does, so a
standard source compiles to the very bytes ``dtc -O dtb`` writes. :func:`from_dtb`
checks the blob fully (``fdt_check_full``) before reading it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from kerf.dts.guess import guess_markers
from kerf.dts.references import patched_value, plan_references
from kerf.dts.tree import Node, Property, Tree
from kerf.errors import DtbError

DTB_MAGIC = 0xD00DFEED
HEADER_SIZE = 40
MAX_DEPTH = 64
U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
_FDT_BEGIN_NODE, _FDT_END_NODE, _FDT_PROP, _FDT_NOP, _FDT_END = 1, 2, 3, 4, 9


def is_dtb(data: bytes) -> bool:
    """True when ``data`` starts with the DTB magic number."""
    return len(data) >= 4 and struct.unpack(">I", data[:4])[0] == DTB_MAGIC


# --- encoding --------------------------------------------------------------------------


def to_dtb(tree: Tree) -> bytes:
    """The tree as a DTB (version 17). References are resolved on the way out: the
    tree itself is not changed. DtbError when something cannot be encoded."""
    import libfdt  # lazy: keeps `kerf --help` from loading the C extension

    plan = plan_references(tree, lenient=tree.is_multikernel)
    cells: dict[int, list[tuple[int, int]]] = {}
    for prop, offset, phandle in plan.cells:
        cells.setdefault(id(prop), []).append((offset, phandle))
    new_phandles = {key: phandle for key, (_, phandle) in plan.new_phandles.items()}
    try:
        writer = libfdt.FdtSw(_size_hint(tree))
        for address, size in tree.memreserves:
            if not (0 <= address <= U64_MAX and 0 <= size <= U64_MAX):
                raise DtbError(f"/memreserve/ {address:#x} {size:#x} does not fit in 64 bits")
            writer.add_reservemap_entry(address, size)
        writer.finish_reservemap()
        _write_nodes(writer, tree.root, cells, new_phandles)
        fdt = writer.as_fdt()
        blob = bytes(fdt.as_bytearray()[: fdt.totalsize()])
    except libfdt.FdtException as err:
        raise DtbError(f"cannot encode the device tree: {libfdt.fdt_strerror(err.err)}") from err
    except UnicodeEncodeError as err:
        raise DtbError(f"cannot encode the device tree: a name is not valid text ({err.reason})") from err
    return dtc_layout(blob, len(tree.memreserves))


def _size_hint(tree: Tree) -> int:
    size = HEADER_SIZE + 16 * (len(tree.memreserves) + 1) + 64
    for node in tree.nodes():
        size += 8 + len(node.name) + 4 + 12  # begin, name, end, a possible phandle
        for prop in node.props.values():
            size += 12 + len(prop.value) + 3 + len(prop.name) + 1
    return size + 1024


def _write_nodes(
    writer: Any, root: Node, cells: dict[int, list[tuple[int, int]]], new_phandles: dict[int, int]
) -> None:
    stack: list[Node | None] = [root]
    while stack:
        node = stack.pop()
        if node is None:
            writer.end_node()
            continue
        writer.begin_node(node.name)
        for prop in node.props.values():
            value = patched_value(prop, cells[id(prop)]) if id(prop) in cells else prop.value
            writer.property(prop.name, value)
        phandle = new_phandles.get(id(node))
        if phandle is not None and "phandle" not in node.props:
            writer.property("phandle", struct.pack(">I", phandle))
        stack.append(None)
        stack.extend(reversed(node.children.values()))


def dtc_layout(blob: bytes, reserve_count: int) -> bytes:
    """The same tree laid out the way dtc writes it.

    libfdt's writer differs from dtc in two details that change the bytes but not the
    tree: it aligns the reserve map to 16 bytes (dtc: 8, right after the 40-byte
    header), and it stores property names last-first. Here the blocks are moved and
    the strings block is rebuilt in dtc's order (first use first, each name once,
    reusing the tail of a longer name), fixing every property's name offset.
    """
    (magic, _, off_struct, off_strings, off_rsv, version, last_comp, boot_cpu, size_strings, size_struct) = (
        struct.unpack(">10I", blob[:HEADER_SIZE])
    )
    # Counted, not scanned: an entry (0, 0) looks like the terminator but is written.
    reserve_map = blob[off_rsv : off_rsv + 16 * (reserve_count + 1)]
    old_strings = blob[off_strings : off_strings + size_strings]
    structure = bytearray(blob[off_struct : off_struct + size_struct])
    table = bytearray()
    for tag, pos in _struct_entries(structure):
        if tag == _FDT_PROP:
            (name_offset,) = struct.unpack_from(">I", structure, pos + 4)
            name = old_strings[name_offset : old_strings.index(b"\0", name_offset) + 1]
            found = table.find(name)
            if found < 0:
                found = len(table)
                table += name
            struct.pack_into(">I", structure, pos + 4, found)
    new_struct = HEADER_SIZE + len(reserve_map)
    new_strings = new_struct + len(structure)
    header = struct.pack(
        ">10I",
        magic,
        new_strings + len(table),
        new_struct,
        new_strings,
        HEADER_SIZE,
        version,
        last_comp,
        boot_cpu,
        len(table),
        len(structure),
    )
    return header + reserve_map + bytes(structure) + bytes(table)


def _struct_entries(structure: bytes | bytearray) -> Iterator[tuple[int, int]]:
    """(tag, offset of what follows the tag) for each entry of a structure block
    already checked by libfdt: BEGIN_NODE is followed by the name, PROP by length,
    name offset and value."""
    pos = 0
    while pos < len(structure):
        (tag,) = struct.unpack_from(">I", structure, pos)
        yield tag, pos + 4
        if tag == _FDT_BEGIN_NODE:
            pos = _align4(structure.index(b"\0", pos + 4) + 1)
        elif tag == _FDT_PROP:
            (length,) = struct.unpack_from(">I", structure, pos + 4)
            pos = _align4(pos + 12 + length)
        elif tag == _FDT_END:
            return
        else:
            pos += 4


def _undecodable_name(data: bytes | bytearray) -> bytes | None:
    """The first node or property name that is not UTF-8 text, or None.

    pylibfdt decodes names as it returns them and fails badly on bytes that are not
    UTF-8, so a checked blob is scanned for them first.
    """
    (off_struct, off_strings) = struct.unpack_from(">II", data, 8)
    (size_strings, size_struct) = struct.unpack_from(">II", data, 32)
    structure = data[off_struct : off_struct + size_struct]
    strings = data[off_strings : off_strings + size_strings]
    for tag, pos in _struct_entries(structure):
        if tag == _FDT_BEGIN_NODE:
            name = bytes(structure[pos : structure.index(b"\0", pos)])
        elif tag == _FDT_PROP:
            (name_offset,) = struct.unpack_from(">I", structure, pos + 4)
            name = bytes(strings[name_offset : strings.index(b"\0", name_offset)])
        else:
            continue
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            return name
    return None


def _align4(value: int) -> int:
    return (value + 3) & ~3


# --- decoding --------------------------------------------------------------------------


def _check_header(blob: bytes, filename: str) -> None:
    if len(blob) < HEADER_SIZE:
        raise DtbError(
            f"{filename}: not a DTB: {len(blob)} bytes is shorter than the {HEADER_SIZE}-byte header"
        )
    magic, total = struct.unpack(">II", blob[:8])
    if magic != DTB_MAGIC:
        raise DtbError(
            f"{filename}: not a DTB: bad magic {magic:#010x} (expected 0xd00dfeed)",
            hint="give a device tree blob compiled by dtc or 'kerf compile'",
        )
    if total > len(blob):
        raise DtbError(f"{filename}: truncated DTB: the header says {total} bytes, the file has {len(blob)}")
    (version,) = struct.unpack(">I", blob[20:24])
    if not 16 <= version <= 17:
        raise DtbError(f"{filename}: unsupported DTB version {version} (kerf reads versions 16 and 17)")


def from_dtb(blob: bytes, filename: str = "<dtb>") -> Tree:
    """Decode a DTB into a :class:`Tree` (header ``dts-v1``); DtbError on a bad blob."""
    import libfdt  # lazy, see to_dtb

    blob = bytes(blob)
    _check_header(blob, filename)
    total = struct.unpack(">I", blob[4:8])[0]
    data = bytearray(blob[:total])
    status = libfdt.fdt_check_full(data, len(data))
    if status:
        raise DtbError(f"{filename}: corrupt DTB: {libfdt.fdt_strerror(status)}")
    bad_name = _undecodable_name(data)
    if bad_name is not None:
        raise DtbError(f"{filename}: corrupt DTB: the name {bad_name!r} is not UTF-8 text")
    try:
        fdt = libfdt.Fdt(data)
        root = Node(name="")
        _read_nodes(fdt, root, filename)
        memreserves = [tuple(fdt.get_mem_rsv(i)) for i in range(fdt.num_mem_rsv())]
    except libfdt.FdtException as err:
        raise DtbError(f"{filename}: corrupt DTB: {libfdt.fdt_strerror(err.err)}") from err
    tree = Tree(root=root, filename=filename, header="dts-v1")
    tree.memreserves = [(int(a), int(s)) for a, s in memreserves]
    tree.reindex()
    return tree


def _read_nodes(fdt: Any, root: Node, filename: str) -> None:
    import libfdt

    quiet = (libfdt.NOTFOUND,)
    stack: list[tuple[int, Node, int]] = [(0, root, 0)]
    while stack:
        offset, node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DtbError(f"{filename}: nodes nested more than {MAX_DEPTH} levels deep at {node.path}")
        prop_offset = fdt.first_property_offset(offset, quiet)
        while prop_offset >= 0:
            raw = fdt.get_property_by_offset(prop_offset)
            if raw.name in node.props:
                raise DtbError(f"{filename}: corrupt DTB: property '{raw.name}' twice in {node.path}")
            value = bytes(raw)
            node.props[raw.name] = Property(raw.name, value, markers=guess_markers(value), node=node)
            prop_offset = fdt.next_property_offset(prop_offset, quiet)
        children: list[tuple[int, Node]] = []
        sub = fdt.first_subnode(offset, quiet)
        while sub >= 0:
            name = fdt.get_name(sub)
            if name in node.children:
                raise DtbError(f"{filename}: corrupt DTB: node '{name}' twice in {node.path}")
            child = Node(name=name, parent=node)
            node.children[name] = child
            children.append((sub, child))
            sub = fdt.next_subnode(sub, quiet)
        stack.extend((sub_offset, child, depth + 1) for sub_offset, child in reversed(children))
