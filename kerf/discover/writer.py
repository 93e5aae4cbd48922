"""A discovered host as commented DTS text in the multikernel-v1 binding (docs/binding.md).

The text uses standard ``/dts-v1/`` syntax only, so dtc compiles it too: 64-bit values
are ``/bits/ 64 <...>``, CPU lists are 32-bit cells. Comments say where each fact came
from, which Linux CPU each id is, which defaults were chosen and what was assumed, so a
reader can check the file before handing it to ``kerf init``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kerf.discover.model import (
    AddressSource,
    CacheKind,
    Discovery,
    IdKind,
    PciFact,
)
from kerf.discover.pci import ASSIGNABLE_CLASSES
from kerf.discover.text import format_bytes, format_cpulist
from planner.hardware import Device, Host, MemoryRange, NumaNode
from planner.policy import MemoryType

_WIDTH = 100


class _Out:
    """Indented lines of DTS text."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, text: str = "") -> None:
        self.lines.append(("\t" * self.depth + text) if text else "")

    def comment(self, text: str) -> None:
        for part in _wrap(_clean(text), _WIDTH - 8 * self.depth - 3):
            self.line(f"// {part}")

    def open(self, name: str, label: str | None = None) -> None:
        self.line(f"{label}: {name} {{" if label else f"{name} {{")
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.line("};")

    def prop(self, name: str, value: str, comment: str | None = None) -> None:
        text = f"{name} = {value};"
        self.line(f"{text}  // {_clean(comment)}" if comment else text)

    def cells(self, name: str, values: Sequence[int], comment: str | None = None) -> None:
        """A 32-bit cell list, wrapped so long CPU lists stay readable."""
        head = f"{name} = <"
        chunks = _wrap(" ".join(str(v) for v in values), _WIDTH - 8 * self.depth - len(head) - 2)
        if len(chunks) <= 1:
            self.prop(name, f"<{chunks[0] if chunks else ''}>", comment)
            return
        if comment:
            self.comment(comment)
        pad = " " * len(head)
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            self.line(f"{head if i == 0 else pad}{chunk}{'>;' if last else ''}")

    def leaf(self, node: str, name: str, values: Sequence[int], comment: str | None = None) -> None:
        """A node holding one short cell list, on one line when it fits."""
        text = f"{node} {{ {name} = <{' '.join(str(v) for v in values)}>; }};"
        if len(text) + 8 * self.depth <= _WIDTH:
            self.line(f"{text}  // {_clean(comment)}" if comment else text)
            return
        self.open(node)
        self.cells(name, values, comment)
        self.close()

    def u64(self, name: str, value: int, comment: str | None = None) -> None:
        self.prop(name, f"/bits/ 64 <0x{value:x}>", comment)

    def u64_pairs(self, name: str, ranges: Sequence[MemoryRange], comment: str | None = None) -> None:
        if comment:
            self.comment(comment)
        values = [f"0x{r.base:x} 0x{r.size:x}" for r in ranges]
        head = f"{name} = /bits/ 64 <"
        pad = " " * len(head)
        for i, pair in enumerate(values):
            last = i == len(values) - 1
            self.line(f"{head if i == 0 else pad}{pair}{'>;' if last else ''}")


def _clean(text: str) -> str:
    """Text safe inside a ``//`` comment: one line."""
    return " ".join(text.split())


def _wrap(text: str, width: int) -> list[str]:
    """Split words into lines of at most ``width`` characters (a long word stays whole)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > max(width, 20):
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def _quote(text: str) -> str:
    """A DTS string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else " " for c in escaped) + '"'


def render_dts(discovery: Discovery) -> str:
    """The host description of a discovery, ready for ``kerf validate`` and ``kerf init``."""
    out = _Out()
    host = discovery.host
    out.line("/dts-v1/;")
    out.line()
    _header(out, discovery)
    out.line()
    out.open("/")
    if host.model:
        out.prop("model", _quote(host.model))
        out.line()
    out.open("resources")
    _cpus(out, discovery)
    out.line()
    _memory(out, discovery)
    if host.devices or discovery.kept_devices:
        out.line()
        _devices(out, discovery)
    out.line()
    _topology(out, discovery)
    out.close()
    out.close()
    return "\n".join(out.lines) + "\n"


def _header(out: _Out, discovery: Discovery) -> None:
    facts, host = discovery.facts, discovery.host
    source = (
        "the running machine (/sys and /proc)"
        if facts.source == "sysfs"
        else f"the hwloc XML export {facts.source.removeprefix('hwloc:')}"
    )
    out.comment(f"Host description written by `kerf discover` from {source}.")
    if facts.id_kind is IdKind.APIC:
        out.comment(
            "CPU ids are x86 APIC ids (from /proc/cpuinfo), which is what the kernel takes; "
            "comments give Linux's logical CPU numbers."
        )
    else:
        out.comment("CPU ids are Linux's logical CPU numbers.")
    pool_cpus, all_cpus = len(host.available), len(host.cpus)
    out.comment(
        f"{_count(all_cpus, 'CPU')} in {_count(len(host.sockets), 'socket')}, "
        f"{_count(len(host.cores), 'core')}, {_count(len(host.numa_nodes), 'NUMA node')}, "
        f"{format_bytes(host.memory.total_bytes)} of memory; the pool holds "
        f"{_count(pool_cpus, 'CPU')} and {format_bytes(host.memory.pool_bytes)}."
    )
    if discovery.notes:
        out.comment("Notes:")
        for note in discovery.notes:
            out.comment(f"  {note}")
    out.comment("Check it with `kerf validate FILE`, adjust what the notes point at, then `kerf init`.")


def _count(n: int, word: str) -> str:
    """``1 socket``, ``2 sockets``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _logical(discovery: Discovery, ids: Iterable[int]) -> str:
    """``Linux CPUs 0-3,56-59`` for physical ids (empty when ids are logical numbers)."""
    if discovery.id_kind is not IdKind.APIC:
        return ""
    back = discovery.physical_to_logical
    return "Linux CPUs " + format_cpulist(back[i] for i in ids if i in back)


def _cpus(out: _Out, discovery: Discovery) -> None:
    host = discovery.host
    ids = [c.id for c in host.cpus]
    out.open("cpus")
    total = host.declared_total_cpus if host.declared_total_cpus is not None else len(ids)
    sparse = ids != list(range(total))
    about = "the highest id + 1; ids lists the CPUs" if sparse else f"ids 0-{total - 1}"
    out.prop("total", f"<{total}>", about)
    if sparse:
        out.cells("ids", ids, "the CPUs that exist")
    if discovery.id_kind is IdKind.APIC:
        pairs = " ".join(f"{p}:{lg}" for p, lg in sorted(discovery.physical_to_logical.items()))
        out.comment(f"APIC id:Linux CPU  {pairs}")
    if discovery.facts.offline:
        out.comment(
            f"offline, not described: Linux CPUs {format_cpulist(discovery.facts.offline)} "
            "(their topology and ids are hidden while offline)"
        )
    reserved = sorted(host.host_reserved)
    out.cells("host-reserved", reserved, _join("kept by the host kernel", _logical(discovery, reserved)))
    out.cells("available", sorted(host.available), "the pool instances draw from")
    smt = [core for core in host.cores if len(core.cpus) > 1]
    if smt:
        out.line()
        out.open("cores")
        out.comment("SMT sibling threads of each physical core")
        for core in smt:
            out.leaf(f"core@{core.id}", "cpus", core.cpus, _logical(discovery, core.cpus) or None)
        out.close()
    out.close()


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _memory(out: _Out, discovery: Discovery) -> None:
    memory = discovery.host.memory
    out.open("memory")
    if discovery.facts.address_source is AddressSource.PLACEHOLDER:
        out.comment(
            "PLACEHOLDER ADDRESSES: the source gave sizes only; bases below are made up "
            "(kerf discover on the machine itself, as root, writes real ones)"
        )
    elif discovery.facts.address_source is AddressSource.BLOCKS:
        out.comment("addresses are whole sysfs memory blocks (run as root for exact System RAM ranges)")
    out.u64("total-bytes", memory.total_bytes, format_bytes(memory.total_bytes))
    out.u64("host-reserved-bytes", memory.host_reserved_bytes, format_bytes(memory.host_reserved_bytes))
    pool = memory.pool
    if len(pool) == 1:
        out.u64("memory-pool-base", pool[0].base)
        out.u64("memory-pool-bytes", pool[0].size, format_bytes(pool[0].size))
    elif pool:
        nodes = discovery.host
        described = ", ".join(
            f"0x{r.base:x}+{format_bytes(r.size)} on node {nodes.node_of_address(r.base)}" for r in pool
        )
        out.u64_pairs("memory-pool-ranges", pool, f"(base size) pairs: {described}")
    else:
        out.u64("memory-pool-base", 0)
        out.u64("memory-pool-bytes", 0, "no pool")
    out.close()


def _devices(out: _Out, discovery: Discovery) -> None:
    out.open("devices")
    for device in discovery.host.devices:
        _device(out, device, discovery.device_facts.get(device.name))
    for fact in discovery.kept_devices:
        out.comment(
            f"kept by the host, not described: PCI {fact.address} {_class_name(fact)} "
            f"[{fact.vendor_id:04x}:{fact.device_id:04x}] ({'; '.join(fact.host_use)})"
        )
    out.close()


def _class_name(fact: PciFact) -> str:
    if fact.is_nvme:
        return "nvme"
    return ASSIGNABLE_CLASSES.get(fact.base_class, "device")


def _device(out: _Out, device: Device, fact: PciFact | None) -> None:
    out.open(device.node_name, device.name)
    if fact is not None:
        about = [f"{_class_name(fact)} class 0x{fact.class_code:06x}"]
        if fact.interfaces:
            about.append("interface " + ", ".join(fact.interfaces))
        if fact.block_devices and not fact.namespaces:
            about.append("disk " + ", ".join(fact.block_devices))
        if fact.driver:
            about.append(f"driver {fact.driver}")
        if fact.sriov_total_vfs:
            about.append(f"up to {fact.sriov_total_vfs} VFs, {fact.sriov_vfs} created")
        if fact.numa_node is None and device.numa_node is None:
            about.append("NUMA node unknown")
        out.comment(", ".join(about))
    out.prop("compatible", ", ".join(_quote(c) for c in device.compatible))
    out.prop("device-type", _quote(device.device_type))
    if device.pci_id is not None:
        out.prop("pci-id", _quote(device.pci_id))
    if device.vendor_id is not None:
        out.prop("vendor-id", f"<0x{device.vendor_id:04x}>")
    if device.device_id is not None:
        out.prop("device-id", f"<0x{device.device_id:04x}>")
    if device.numa_node is not None:
        out.prop("numa-node", f"<{device.numa_node}>")
    if device.sriov_vfs:
        out.prop("sriov-vfs", f"<{device.sriov_vfs}>", f"VF n is {device.name}_vfn")
        if device.host_reserved_vfs:
            out.cells("host-reserved-vf", device.host_reserved_vfs)
        out.cells("available-vfs", device.available_vfs)
        if device.vf_device_id is not None:
            out.prop("vf-device-id", f"<0x{device.vf_device_id:04x}>", "every VF's own PCI device id")
    if device.namespaces:
        names = ", ".join(f"{ns.nsid}={ns.name}" for ns in fact.namespaces) if fact is not None else ""
        out.prop("namespaces", f"<{device.namespaces}>", _join(f"namespace n is {device.name}_nsn", names))
        if device.host_reserved_ns:
            uses = "; ".join(u for ns in fact.namespaces for u in ns.host_use) if fact is not None else ""
            out.cells("host-reserved-ns", device.host_reserved_ns, uses or None)
        if device.available_ns:
            out.cells("available-ns", device.available_ns)
    for number in sorted({*device.vf_pci_ids, *device.vf_device_ids}):
        parts = []
        if number in device.vf_pci_ids:
            parts.append(f"pci-id = {_quote(device.vf_pci_ids[number])};")
        if number in device.vf_device_ids:
            parts.append(f"device-id = <0x{device.vf_device_ids[number]:04x}>;")
        out.line(f"vf@{number} {{ {' '.join(parts)} }};")
    out.close()


def _topology(out: _Out, discovery: Discovery) -> None:
    host = discovery.host
    out.open("topology")
    _sockets(out, discovery)
    out.line()
    out.open("numa-nodes")
    for node in host.numa_nodes:
        _numa_node(out, node, discovery)
    out.close()
    if host.distances:
        out.line()
        out.open("distance-map")
        ids = host.node_ids
        out.comment("<from to distance> (SLIT: 10 = local)")
        rows = [", ".join(f"<{a} {b} {host.distance(a, b)}>" for b in ids) for a in ids]
        head = "distance-matrix = "
        for i, row in enumerate(rows):
            end = ";" if i == len(rows) - 1 else ","
            out.line(f"{head if i == 0 else ' ' * len(head)}{row}{end}")
        out.close()
    _caches(out, discovery)
    out.close()


def _sockets(out: _Out, discovery: Discovery) -> None:
    dies: dict[int, set[int]] = {}
    for cpu in discovery.facts.cpus:
        if cpu.die is not None:
            dies.setdefault(cpu.package, set()).add(cpu.die)
    out.open("sockets")
    for socket in discovery.host.sockets:
        count = len(dies.get(socket.id, ()))
        about = _join(_logical(discovery, socket.cpus), f"{count} dies" if count > 1 else "")
        out.leaf(f"socket@{socket.id}", "cpus", socket.cpus, about or None)
    out.close()


def _numa_node(out: _Out, node: NumaNode, discovery: Discovery) -> None:
    host: Host = discovery.host
    out.open(f"node@{node.id}")
    pool = host.pool_bytes_of_node(node.id)
    out.comment(
        _join(
            f"{format_bytes(node.memory_bytes)}, {format_bytes(pool)} of it in the pool",
            "no CPUs (memory only)" if not node.cpus else _logical(discovery, node.cpus),
        )
    )
    out.prop("node-id", f"<{node.id}>")
    if len(node.memory) == 1:
        out.u64("memory-base", node.memory[0].base)
        out.u64("memory-size", node.memory[0].size, format_bytes(node.memory[0].size))
    elif node.memory:
        out.u64_pairs("memory-ranges", node.memory, "(base size) pairs")
    if node.memory_type is not MemoryType.DRAM or not node.cpus:
        out.prop("memory-type", _quote(node.memory_type.value))
    if node.cpus:
        out.cells("cpus", node.cpus)
    out.close()


def _caches(out: _Out, discovery: Discovery) -> None:
    host = discovery.host
    private = _private_caches(discovery)
    if not host.caches and not private:
        return
    out.line()
    out.open("caches")
    if private:
        out.comment(f"per core, not listed: {private}")
    for cache in host.caches:
        out.open(f"l{cache.level}@{cache.id}")
        out.prop("level", f"<{cache.level}>")
        if cache.size >> 32:
            out.u64("size", cache.size, format_bytes(cache.size))
        else:
            out.prop("size", f"<0x{cache.size:x}>", format_bytes(cache.size))
        out.cells("cpus", cache.cpus, _logical(discovery, cache.cpus) or None)
        out.close()
    out.close()


def _private_caches(discovery: Discovery) -> str:
    """``L1d 48 KiB, L1i 32 KiB, L2 1 MiB`` for the caches each core has to itself."""
    shared = {(c.level, c.size, c.cpus) for c in discovery.host.caches}
    physical = discovery.logical_to_physical
    names = {CacheKind.DATA: "d", CacheKind.INSTRUCTION: "i", CacheKind.UNIFIED: ""}
    seen: dict[str, int] = {}
    for cache in discovery.facts.caches:
        ids = tuple(sorted(physical[c] for c in cache.cpus if c in physical))
        if (cache.level, cache.size, ids) in shared:
            continue
        seen.setdefault(f"L{cache.level}{names[cache.kind]}", cache.size)
    return ", ".join(f"{name} {format_bytes(size)}" for name, size in sorted(seen.items()))
