"""Reading an hwloc v2 XML export (``lstopo --of xml``) into :class:`MachineFacts`.

hwloc numbers PUs with Linux's logical CPU numbers (``os_index``), never APIC ids, so a
description built from XML uses logical numbers as CPU ids. NUMA nodes are memory
children attached to the object whose CPUs are local to them; a memory-only node (HBM,
CXL) shares its cpuset with a CPU node, and is recognised because another node
claims those CPUs first (see :func:`_assign_pus`). hwloc XML carries node sizes but no
physical addresses, so memory ranges are placeholders.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from kerf.discover.memory import placeholder_layout
from kerf.discover.model import (
    AddressSource,
    CacheFact,
    CacheKind,
    CpuFact,
    IdKind,
    MachineFacts,
    NamespaceFact,
    NodeFact,
    NoteLog,
    PciFact,
)
from kerf.discover.pci import ASSIGNABLE_CLASSES
from kerf.discover.text import cpus_phrase, format_bytes, format_cpulist
from kerf.errors import InputError, SourceLocation
from planner.policy import MemoryType

_IO_TYPES = {"Bridge", "PCIDev", "OSDev"}
_CACHE_TYPES = {f"L{n}Cache" for n in range(1, 6)} | {f"L{n}iCache" for n in range(1, 4)}
_CACHE_KIND = {0: CacheKind.UNIFIED, 1: CacheKind.DATA, 2: CacheKind.INSTRUCTION}
_OSDEV_BLOCK, _OSDEV_NETWORK = 0, 2
_LATENCY_KIND = 4  # HWLOC_DISTANCES_KIND_MEANS_LATENCY

# Ranges of the numbers taken from the XML. Each ends up in a device tree cell (32 or 64
# bits), so anything outside is refused instead of being written as a DTS nobody parses.
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
# CPU ids: Linux's largest NR_CPUS is 8192; the binding describes at most 1 << 16 CPUs.
CPU_ID_MAX = (1 << 16) - 1
# NUMA node ids: Linux's MAX_NUMNODES is at most 1 << 10; leave room, refuse absurd ones.
NODE_ID_MAX = (1 << 16) - 1
# NVMe namespace ids are 1-based; 0xffffffff is the broadcast id, never a namespace.
NSID_MAX = U32_MAX - 1
# The largest distance Linux keeps (numa_set_distance stores a u8); 10 is the local one.
DISTANCE_MAX = 255
LOCAL_DISTANCE = 10
# An XML input larger than this is refused before it is read (a topology export of a
# machine with thousands of CPUs and devices is a few MiB).
MAX_XML_BYTES = 64 * 1024 * 1024


@dataclass
class _Obj:
    """One ``<object>`` element with the bits of its ancestry discovery needs."""

    element: ET.Element
    type: str
    parent: _Obj | None
    pus: list[int] = field(default_factory=list)  # PUs in its subtree (normal children)

    def attr(self, name: str) -> str | None:
        return self.element.get(name)

    def int_attr(self, name: str, high: int = U32_MAX, low: int = 0) -> int | None:
        """The attribute as a number from ``low`` to ``high``; None when absent."""
        value = self.element.get(name)
        if value is None:
            return None
        try:
            number = int(value, 0)
        except ValueError:
            raise InputError(
                f"hwloc XML: {self.describe()} has {name}={value!r}, which is not a number"
            ) from None
        if not low <= number <= high:
            raise InputError(
                f"hwloc XML: {self.describe()}: {name}={value!r} is out of range ({low} to {high})",
                hint="the file is damaged or edited by hand; export it again with: lstopo --of xml FILE.xml",
            )
        return number

    def describe(self) -> str:
        """``<object type="PU" os_index="7">``: the element as it is written, for messages."""
        shown = " ".join(
            f'{key}="{self.element.get(key)}"'
            for key in ("type", "os_index", "name")
            if self.element.get(key) is not None
        )
        return f"<object {shown}>"

    def ancestor(self, *types: str) -> _Obj | None:
        node = self.parent
        while node is not None and node.type not in types:
            node = node.parent
        return node


def parse_bitmap(text: str) -> set[int]:
    """An hwloc bitmap (``0x000000ff,0xffffffff``: 32-bit words, most significant first).

    An infinite set (``0xf...f,...``) yields only its finite part. A malformed bitmap
    yields the empty set: bitmaps only refine what discovery knows (offline PUs, device
    locality), so a bad one means "unknown", not a broken file.
    """
    value = 0
    for chunk in text.strip().split(","):
        chunk = chunk.strip().lower()
        if chunk in ("0xf...f", ""):
            continue
        try:
            value = (value << 32) | int(chunk, 16)
        except ValueError:
            return set()
    return {bit for bit in range(value.bit_length()) if value >> bit & 1}


def load_xml(path: str | Path) -> ET.Element:
    """Read and parse the file; :class:`InputError` for unreadable files and bad XML."""
    name = str(path)
    try:
        with Path(path).open("rb") as stream:
            data = stream.read(MAX_XML_BYTES + 1)
    except OSError as err:
        raise InputError(
            f"cannot read hwloc XML file {name}: {err.strerror or err}",
            hint="export one with: lstopo --of xml FILE.xml",
        ) from None
    if len(data) > MAX_XML_BYTES:
        raise InputError(
            f"{name} is larger than {MAX_XML_BYTES // (1024 * 1024)} MiB, the most kerf reads as hwloc XML",
            hint="export the topology with: lstopo --of xml FILE.xml",
        )
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        line, col = err.position
        raise InputError(
            f"{name} is not well-formed XML ({_parse_reason(err)})",
            hint="export it again with: lstopo --of xml FILE.xml",
            location=SourceLocation(name, line, col + 1),
        ) from None
    if root.tag != "topology":
        raise InputError(
            f"{name} is not an hwloc topology: its root element is <{root.tag}>, expected <topology>",
            hint="export one with: lstopo --of xml FILE.xml",
        )
    version = root.get("version")
    major = version.split(".", 1)[0] if version else "1"
    if major != "2":
        shown = version or (
            '"" (an empty version attribute)' if version == "" else "1.x (no version attribute)"
        )
        raise InputError(
            f"{name} is hwloc XML version {shown}; kerf reads version 2.x only",
            hint="export the topology with hwloc 2.x: lstopo --of xml FILE.xml"
            if major != "1"
            else "re-export it with hwloc 2.x (lstopo --of xml), which also reads 1.x files",
        )
    return root


def _parse_reason(err: ET.ParseError) -> str:
    """The expat message without its ``line N, column M`` suffix (the location says it)."""
    return str(err).split(": line", 1)[0]


def read_hwloc_machine(path: str | Path, log: NoteLog) -> MachineFacts:
    """Everything an hwloc v2 XML export says about a machine, in kerf's terms."""
    root = load_xml(path)
    machine_el = root.find("object")
    if machine_el is None:
        raise InputError(f"{path}: the hwloc topology has no objects", hint="export it again with lstopo")
    objects = _walk(machine_el)
    machine = objects[0]
    pus = [o for o in objects if o.type == "PU"]
    if not pus:
        raise InputError(f"{path}: the hwloc topology has no PU (CPU) objects")
    log.info(
        "hwloc XML numbers CPUs with Linux's logical numbers (PU os_index): CPU ids are logical "
        "numbers, not APIC ids"
    )
    arch = _info(machine, "Architecture")
    if arch in ("x86_64", "i686", "x86"):
        log.warn(
            "the topology is from an x86 machine, whose kernel takes APIC ids: check the CPU ids "
            "(kerf discover on the machine itself reads them)"
        )

    cpus = _cpus(pus)
    nodes, pu_node = _numa_nodes(objects, [c.logical for c in cpus], log)
    cpus = [
        CpuFact(c.logical, c.physical, c.package, c.siblings, c.die, pu_node.get(c.logical)) for c in cpus
    ]
    offline = _offline(machine, {c.logical for c in cpus}, log)
    return MachineFacts(
        source=f"hwloc:{path}",
        id_kind=IdKind.LOGICAL,
        cpus=tuple(cpus),
        nodes=nodes,
        address_source=AddressSource.PLACEHOLDER,
        caches=_caches(objects),
        distances=_distances(root, objects, {n.id for n in nodes}, log),
        devices=_devices(objects, nodes, log),
        offline=offline,
        boot_cpu=min(c.logical for c in cpus),
        model=_model(objects),
    )


def _walk(machine: ET.Element) -> list[_Obj]:
    """Every object, parents before children, with PU lists filled in (iteratively:
    a hostile file cannot exhaust the stack)."""
    order: list[_Obj] = []
    stack: list[tuple[ET.Element, _Obj | None]] = [(machine, None)]
    while stack:
        element, parent = stack.pop()
        obj = _Obj(element, element.get("type", ""), parent)
        order.append(obj)
        children = [child for child in element if child.tag == "object"]
        stack.extend((child, obj) for child in reversed(children))
    for obj in reversed(order):
        if obj.type == "PU":
            os_index = obj.int_attr("os_index", CPU_ID_MAX)
            if os_index is None:
                raise InputError("hwloc XML: a PU object has no os_index")
            obj.pus.append(os_index)
        if obj.parent is not None and obj.type != "NUMANode":
            obj.parent.pus.extend(obj.pus)
    return order


def _cpus(pus: list[_Obj]) -> list[CpuFact]:
    """Each PU with its package, die and SMT siblings (the PUs of its core)."""
    facts: list[CpuFact] = []
    seen: set[int] = set()
    packages: dict[int, int] = {}  # id(element) -> package number, for packages without os_index
    for pu in pus:
        logical = pu.pus[0]
        if logical in seen:
            raise InputError(f"hwloc XML: PU os_index {logical} appears twice")
        seen.add(logical)
        core = pu.ancestor("Core")
        package_obj = pu.ancestor("Package")
        die_obj = pu.ancestor("Die")
        package = 0
        if package_obj is not None:
            package = package_obj.int_attr("os_index") or 0
            if package_obj.attr("os_index") is None:
                package = packages.setdefault(id(package_obj.element), len(packages))
        siblings = tuple(sorted(core.pus)) if core is not None else (logical,)
        die = die_obj.int_attr("os_index") if die_obj is not None else None
        facts.append(CpuFact(logical, logical, package, siblings, die))
    return sorted(facts, key=lambda c: c.logical)


def _memory_type(obj: _Obj) -> tuple[MemoryType, bool]:
    """A NUMA node's memory type from its hwloc subtype (``HBM``, ``MCDRAM``, ``CXL-DRAM``)."""
    subtype = (obj.attr("subtype") or "").upper()
    if "HBM" in subtype or "MCDRAM" in subtype:
        return MemoryType.HBM, True
    if "CXL" in subtype:
        return MemoryType.CXL, True
    return MemoryType.DRAM, bool(subtype)


def _numa_nodes(
    objects: list[_Obj], cpus: list[int], log: NoteLog
) -> tuple[tuple[NodeFact, ...], dict[int, int]]:
    """NUMA nodes with the CPUs they own, and PU -> node."""
    numa = [o for o in objects if o.type == "NUMANode"]
    if not numa:
        log.warn("the hwloc topology has no NUMA node: one node 0 holds every CPU, with no memory size")
        return (NodeFact(0, tuple(cpus), 0),), {c: 0 for c in cpus}
    local: dict[int, list[int]] = {}
    sizes: dict[int, int] = {}
    types: dict[int, tuple[MemoryType, bool]] = {}
    for obj in numa:
        node = obj.int_attr("os_index", NODE_ID_MAX)
        if node is None or node in local:
            raise InputError(f"hwloc XML: a NUMANode has a missing or repeated os_index ({node})")
        local[node] = sorted(obj.parent.pus) if obj.parent is not None else list(cpus)
        sizes[node] = obj.int_attr("local_memory", U64_MAX) or 0
        types[node] = _memory_type(obj)
    if sum(sizes.values()) > U64_MAX:
        raise InputError(
            f"hwloc XML: the NUMANode local_memory sizes add up to {sum(sizes.values()):#x} bytes, "
            "more than 64 bits can address",
            hint="the file is damaged or edited by hand; export it again with: lstopo --of xml FILE.xml",
        )
    pu_node = _assign_pus(local, types, cpus)
    if not any(sizes.values()):
        log.warn("the hwloc topology gives no NUMA node memory sizes: the description has no memory")
    placed = placeholder_layout(list(local), sizes)
    facts = []
    for node in sorted(local):
        owned = tuple(sorted(c for c, n in pu_node.items() if n == node))
        memory_type, known = types[node]
        if not owned and not known:
            log.warn(
                f"NUMA node {node} has {format_bytes(sizes[node])} of memory and no CPUs of its own "
                '(HBM or CXL memory?): described as memory-type "dram"; change it if it is "hbm" or "cxl"'
            )
        facts.append(
            NodeFact(node, owned, sum(r.size for r in placed[node]), placed[node], memory_type, known)
        )
    log.warn(
        "hwloc XML gives NUMA node sizes, not physical addresses: each node's memory is laid out "
        "back to back from address 0 as a placeholder (kerf discover on the machine reads real ones)"
    )
    return tuple(facts), pu_node


def _assign_pus(
    local: dict[int, list[int]], types: dict[int, tuple[MemoryType, bool]], cpus: list[int]
) -> dict[int, int]:
    """Give each PU to one NUMA node: among the nodes local to it, ordinary DRAM before
    HBM/CXL, then the most local (smallest cpuset), then the lowest os_index. Nodes that
    get no PU are memory-only, as Linux shows them."""
    owner: dict[int, int] = {}
    for cpu in cpus:
        candidates = [n for n, pus in local.items() if cpu in pus]
        if not candidates:
            continue
        owner[cpu] = min(candidates, key=lambda n: (types[n][0] is not MemoryType.DRAM, len(local[n]), n))
    return owner


def _caches(objects: list[_Obj]) -> tuple[CacheFact, ...]:
    """Every cache object with its level, kind, size and PUs."""
    caches = []
    for obj in objects:
        if obj.type not in _CACHE_TYPES or not obj.pus:
            continue
        level = obj.int_attr("depth") or int(obj.type[1])
        kind = _CACHE_KIND.get(obj.int_attr("cache_type") or 0, CacheKind.UNIFIED)
        if obj.type.endswith("iCache"):
            kind = CacheKind.INSTRUCTION
        size = obj.int_attr("cache_size", U64_MAX) or 0
        caches.append(CacheFact(level, kind, size, tuple(sorted(obj.pus))))
    return tuple(sorted(caches, key=lambda c: (c.level, c.kind, c.cpus)))


def _distances(
    root: ET.Element, objects: list[_Obj], nodes: set[int], log: NoteLog
) -> dict[tuple[int, int], int]:
    """The NUMA latency matrix (``NUMALatency``, or the first latency matrix of NUMA nodes)."""
    gp_to_os: dict[int, int] = {}
    for obj in objects:
        gp, os_index = obj.int_attr("gp_index", U64_MAX), obj.int_attr("os_index", U64_MAX)
        if obj.type == "NUMANode" and gp is not None and os_index is not None:
            gp_to_os[gp] = os_index
    matrices = [d for d in root.iter("distances2") if d.get("type") == "NUMANode"]
    matrices = [
        d for d in matrices if _int(d.get("kind"), 0) & _LATENCY_KIND or d.get("name") == "NUMALatency"
    ]
    matrices.sort(key=lambda d: d.get("name") != "NUMALatency")
    if not matrices:
        if len(nodes) > 1:
            log.warn(
                "the hwloc topology has no NUMA distance matrix: Linux defaults apply (10 local, 20 remote)"
            )
        return {}
    chosen = matrices[0]
    ignored = "the NUMA distance matrix is ignored (Linux defaults 10/20 apply)"
    try:
        count = int(chosen.get("nbobjs", "0"))
        indexes = [int(v) for el in chosen.iter("indexes") for v in (el.text or "").split()]
        values = [int(v) for el in chosen.iter("u64values") for v in (el.text or "").split()]
    except ValueError:
        log.warn(f"hwloc XML: the NUMA distance matrix holds something that is not a number; {ignored}")
        return {}
    if chosen.get("indexing") == "gp":
        indexes = [gp_to_os.get(i, -1) for i in indexes]
    if len(indexes) != count or len(values) != count * count:
        log.warn(
            f"hwloc XML: the NUMA distance matrix says {count} nodes but lists {len(indexes)} nodes "
            f"and {len(values)} values (expected {count * count}); {ignored}"
        )
        return {}
    matrix = f'<distances2 name="{chosen.get("name", "")}">'
    for value in values:
        if not 0 <= value <= U32_MAX:
            raise InputError(
                f"hwloc XML: {matrix} holds the distance {value}, out of range (0 to {U32_MAX})",
                hint="the file is damaged or edited by hand; export it again with: lstopo --of xml FILE.xml",
            )
    broken = _linux_refuses(indexes, values)
    if broken:
        log.warn(f"hwloc XML: {matrix}: {broken}, which Linux refuses; {ignored}")
        return {}
    unknown = sorted(set(indexes) - nodes)
    if unknown:
        log.warn(
            f"the distance matrix names NUMA nodes {format_cpulist(unknown)}, which are not in the topology"
        )
    return {
        (a, b): values[i * count + j]
        for i, a in enumerate(indexes)
        for j, b in enumerate(indexes)
        if a in nodes and b in nodes
    }


def _linux_refuses(indexes: list[int], values: list[int]) -> str | None:
    """Why Linux would refuse this distance matrix, or None.

    The kernel's device tree reader rejects the whole map when a node's distance to
    itself is not 10 or another node's is 10 or less; ``numa_set_distance`` drops values
    that do not fit in a byte.
    """
    count = len(indexes)
    for i, a in enumerate(indexes):
        for j, b in enumerate(indexes):
            value = values[i * count + j]
            if i == j and value != LOCAL_DISTANCE:
                return f"the distance of NUMA node {a} to itself is {value}, not {LOCAL_DISTANCE}"
            if i != j and value <= LOCAL_DISTANCE:
                return f"the distance from NUMA node {a} to {b} is {value}, not above {LOCAL_DISTANCE}"
            if value > DISTANCE_MAX:
                return f"the distance from NUMA node {a} to {b} is {value}, more than {DISTANCE_MAX}"
    return None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text, 0) if text is not None else default
    except ValueError:
        return default


def _devices(objects: list[_Obj], nodes: tuple[NodeFact, ...], log: NoteLog) -> tuple[PciFact, ...]:
    """Assignable PCI functions with their interfaces, namespaces and NUMA locality."""
    node_ids = {n.id for n in nodes}
    facts = []
    for obj in objects:
        if obj.type != "PCIDev":
            continue
        address, kind = obj.attr("pci_busid"), (obj.attr("pci_type") or "").split()
        if not address or len(kind) < 2:
            continue
        try:
            class_code = int(kind[0], 16) << 8
            vendor_text, device_text = kind[1].strip("[]").split(":")
            vendor, device = int(vendor_text, 16), int(device_text, 16)
        except ValueError:
            shown = obj.attr("pci_type")
            log.warn(f"hwloc XML: PCI device {address} has an unreadable pci_type {shown!r}; left out")
            continue
        if class_code >> 16 not in ASSIGNABLE_CLASSES:
            continue
        osdevs = [c for c in objects if c.parent is obj and c.type == "OSDev"]
        interfaces = tuple(
            sorted(o.attr("name") or "" for o in osdevs if o.int_attr("osdev_type") == _OSDEV_NETWORK)
        )
        blocks = sorted(o.attr("name") or "" for o in osdevs if o.int_attr("osdev_type") == _OSDEV_BLOCK)
        namespaces = tuple(
            NamespaceFact(_namespace_id(o), o.attr("name") or "")
            for o in sorted(osdevs, key=lambda o: o.attr("name") or "")
            if o.int_attr("osdev_type") == _OSDEV_BLOCK and _is_namespace_name(o.attr("name") or "")
        )
        facts.append(
            PciFact(
                address=address.lower(),
                class_code=class_code,
                vendor_id=vendor,
                device_id=device,
                numa_node=_locality(obj, node_ids),
                interfaces=interfaces,
                namespaces=namespaces if class_code >> 8 == 0x0108 else (),
                block_devices=tuple(blocks),
            )
        )
    if facts:
        log.warn(
            "hwloc XML says nothing about SR-IOV or which disks and interfaces the host uses: every "
            "device is described whole and in the pool; remove the host's own before kerf init"
        )
    return tuple(facts)


def _is_namespace_name(name: str) -> bool:
    """``nvme0n1``: a controller's namespace block device (a number after the last ``n``)."""
    return name.startswith("nvme") and name.rsplit("n", 1)[1].isdigit()


def _namespace_id(osdev: _Obj) -> int:
    """The namespace id of ``nvme0nN``, checked: NVMe numbers namespaces from 1."""
    number = int((osdev.attr("name") or "").rsplit("n", 1)[1])
    if not 1 <= number <= NSID_MAX:
        raise InputError(
            f"hwloc XML: {osdev.describe()} names namespace {number}, out of range (1 to {NSID_MAX})",
            hint="the file is damaged or edited by hand; export it again with: lstopo --of xml FILE.xml",
        )
    return number


def _locality(obj: _Obj, node_ids: set[int]) -> int | None:
    """The NUMA node of an I/O object: its first non-I/O ancestor's nodeset, if it is one node."""
    anchor = obj.parent
    while anchor is not None and anchor.type in _IO_TYPES:
        anchor = anchor.parent
    if anchor is None:
        return None
    nodeset = parse_bitmap(anchor.attr("nodeset") or "0x0") & node_ids
    if len(nodeset) == 1:
        return next(iter(nodeset))
    return next(iter(node_ids)) if len(node_ids) == 1 else None


def _info(obj: _Obj, name: str) -> str | None:
    for info in obj.element.findall("info"):
        if info.get("name") == name:
            return info.get("value")
    return None


def _model(objects: list[_Obj]) -> str:
    """``vendor product (cpu model)`` from the DMI and CPUModel infos, whatever is present."""
    machine = objects[0]
    product = " ".join(v for v in (_info(machine, "DMISysVendor"), _info(machine, "DMIProductName")) if v)
    cpu = next((m for o in objects if o.type == "Package" and (m := _info(o, "CPUModel"))), "")
    if product and cpu:
        return f"{product} ({cpu})"
    return product or cpu or (_info(machine, "SyntheticDescription") or "")


def _offline(machine: _Obj, present: set[int], log: NoteLog) -> tuple[int, ...]:
    """PUs in the machine's complete cpuset but not in the topology (offline or disallowed)."""
    complete = machine.attr("complete_cpuset")
    if complete is None:
        return ()
    missing = sorted(parse_bitmap(complete) - present)
    if missing:
        log.warn(f"offline or not allowed in this hwloc export, so left out: {cpus_phrase(missing)}")
    return tuple(missing)
