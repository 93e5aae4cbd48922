"""Does a compiled DTB still say what its host description source says?

A DTB keeps no labels, no cell widths and no ``/multikernel-v1/`` wide literals, so a
source that is a valid host description can compile to a blob the binding reads as a
different host (device names fall back to node names, ``/bits/ 64`` CPU lists split
into pairs of 32-bit cells, derived references become 0xffffffff). ``kerf compile``
keeps writing exactly the bytes dtc writes and uses :func:`dtb_readback_problems` to
say, on stderr, when the result is not the same host description.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kerf.binding.description import HostDescription, read_host
from kerf.binding.values import looks_like_strings, read_strings
from kerf.dts.tree import MarkerKind, Tree
from kerf.errors import KerfError
from planner.hardware import Host

# The binding's properties that hold lists of 64-bit values: /bits/ 64 is kept there as
# 8-byte values, which read back the same from a DTB.
_U64_LIST_PROPS = frozenset({"memory-pool-ranges", "memory-ranges"})

# Readable names of the Host fields, for "what differs".
_HOST_FIELDS: dict[str, str] = {
    "cpus": "the CPU ids",
    "host_reserved": "the host-reserved CPUs",
    "available": "the pool CPUs",
    "numa_nodes": "the NUMA nodes",
    "sockets": "the sockets",
    "cores": "the cores",
    "memory": "the memory sizes and pool",
    "caches": "the caches",
    "distances": "the NUMA distances",
    "devices": "the devices",
    "declared_total_cpus": "the CPU total",
    "model": "the model",
}


@dataclass(frozen=True)
class ReadbackProblem:
    """What a DTB reads back differently, and how to write the source so that it does not."""

    message: str
    hint: str


def dtb_readback_problems(tree: Tree, blob: bytes) -> list[ReadbackProblem]:
    """Compare the host description in ``tree`` with what the binding reads from ``blob``.

    Returns nothing for trees that are no host description (no ``/resources``) or that
    the binding already refuses (``kerf validate`` explains those), and nothing when the
    DTB reads back as the same host, instances and requests.
    """
    from kerf.dts.dtb import from_dtb

    if tree.find_node("/resources") is None:
        return []
    try:
        source = read_host(tree)
    except KerfError:
        return []
    hint = _hint(tree)
    try:
        back = read_host(from_dtb(blob, filename=tree.filename))
    except KerfError as err:
        return [ReadbackProblem(f"the DTB does not read back as a host description: {err.message}", hint)]
    differences = _differences(source, back)
    if not differences:
        return []
    return [
        ReadbackProblem("the DTB reads back as a different host description: " + "; ".join(differences), hint)
    ]


def _differences(source: HostDescription, back: HostDescription) -> list[str]:
    out: list[str] = []
    out += _host_differences(source.host, back.host)
    out += _block_differences("instance", source.instances, back.instances)
    out += _block_differences("request", source.requests, back.requests)
    return out


def _host_differences(source: Host, back: Host) -> list[str]:
    out: list[str] = []
    names = [d.name for d in source.devices]
    back_names = [d.name for d in back.devices]
    if names != back_names and len(names) == len(back_names):
        renamed = [f"{a} -> {b}" for a, b in zip(names, back_names, strict=True) if a != b]
        out.append("device names " + ", ".join(renamed))
    for name, readable in _HOST_FIELDS.items():
        mine, theirs = getattr(source, name), getattr(back, name)
        if name == "devices" and len(mine) == len(theirs):
            # A renamed device is reported above; report the device only if more differs.
            theirs = tuple(dataclasses.replace(b, name=a.name) for a, b in zip(mine, theirs, strict=True))
        if mine != theirs:
            out.append(f"{readable} differ")
    return out


def _block_differences(kind: str, source: tuple[object, ...], back: tuple[object, ...]) -> list[str]:
    out: list[str] = []
    by_name = {getattr(b, "name", None): b for b in back}
    for block in source:
        name = getattr(block, "name", None)
        other = by_name.get(name)
        if other is None:
            out.append(f"{kind} {name} is missing")
            continue
        if block == other:
            continue
        fields = [
            f.name.replace("_", "-")
            for f in dataclasses.fields(block)  # type: ignore[arg-type]
            if getattr(block, f.name) != getattr(other, f.name)
        ]
        out.append(f"{kind} {name}: {', '.join(fields)} read back differently")
    return out


def _hint(tree: Tree) -> str:
    """Say how to write the source so that its DTB reads back the same, from what it uses."""
    advice: list[str] = []
    unaliased = _unaliased_labelled_devices(tree)
    if unaliased:
        label, path = unaliased[0]
        advice.append(
            f'give labelled devices an /aliases entry (aliases {{ {label} = "{path}"; }};), '
            "since a DTB keeps no labels"
        )
    if any(prop.written_cells is not None for node in tree.nodes() for prop in node.props.values()):
        advice.append("write 64-bit values as two cells <0x1 0x0> instead of wide literals")
    if _bits64_cell_lists(tree):
        advice.append("write CPU lists as 32-bit cells <1 2 3>: a DTB's cell lists are read as 32-bit cells")
    if tree.unresolved_refs:
        advice.append('name device units with strings (devices = "eth0_vf1";) instead of derived references')
    advice.append("or use the DTS file itself")
    return "; ".join(advice)


def _unaliased_labelled_devices(tree: Tree) -> list[tuple[str, str]]:
    """(label, path) of device nodes named by a label that neither /aliases nor /__symbols__ keeps."""
    devices = tree.find_node("/resources/devices")
    if devices is None:
        return []
    kept: set[str] = set()
    for holder in ("/aliases", "/__symbols__"):
        node = tree.find_node(holder)
        if node is not None:
            kept.update(
                v for prop in node.props.values() if looks_like_strings(prop) for v in read_strings(prop)
            )
    return [
        (child.labels[0], child.path)
        for child in devices.children.values()
        if child.labels and child.labels[0] != child.name and child.path not in kept
    ]


def _bits64_cell_lists(tree: Tree) -> bool:
    """True when a list of more than one value, outside the 64-bit list properties, uses /bits/ 64."""
    for node in tree.nodes():
        for prop in node.props.values():
            if prop.name in _U64_LIST_PROPS:
                continue
            if any(m.kind is MarkerKind.U64 for m in prop.markers) and len(prop.value) != 8:
                return True
            is_cpu_list = node.name == "cpus" or prop.name in ("cpus", "host-reserved", "available")
            if is_cpu_list and any(m.kind is MarkerKind.U64 for m in prop.markers):
                return True
    return False
