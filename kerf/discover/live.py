"""Reading a running machine: /sys and /proc (or copies of them) into :class:`MachineFacts`."""

from __future__ import annotations

from pathlib import Path

from kerf.discover.files import RootedFs
from kerf.discover.memory import locate_node_memory
from kerf.discover.model import AddressSource, MachineFacts, NodeFact, NoteLog
from kerf.discover.pci import scan_pci
from kerf.discover.procfs import read_cpuinfo, read_host_use, read_iomem_ram, read_memtotal
from kerf.discover.sysfs import CPU_DIR, MEMORY_DIR, node_of_cpu, scan_caches, scan_cpus, scan_nodes
from kerf.discover.text import format_bytes
from kerf.errors import InputError


def read_live_machine(sysfs_root: str | Path, procfs_root: str | Path, log: NoteLog) -> MachineFacts:
    """Everything /sys and /proc say about the machine; notes for what was missing."""
    for root, name in ((sysfs_root, "sysfs"), (procfs_root, "procfs")):
        if not Path(root).is_dir():
            raise InputError(
                f"the {name} root {root} is not a directory",
                hint="pass the directory that holds a copy of /sys (--sysfs-root) or /proc (--procfs-root)",
            )
    sys = RootedFs(sysfs_root, "/sys")
    proc = RootedFs(procfs_root, "/proc")
    if not sys.is_dir(CPU_DIR):
        log.warn(f"{sys.shown(CPU_DIR)} is missing (is sysfs mounted?)")

    cpuinfo = read_cpuinfo(proc)
    nodes = scan_nodes(sys, log)
    node_ids = list(nodes.ids) if nodes is not None else [0]
    scan = scan_cpus(sys, cpuinfo, node_of_cpu(nodes), log, fallback_node=node_ids[0])
    online = [c.logical for c in scan.cpus]
    caches = scan_caches(sys, online, log)
    iomem = read_iomem_ram(proc)

    if nodes is None:
        log.warn(
            f"{sys.shown('devices/system/node')} is missing (kernel without NUMA, or hidden): "
            "one NUMA node holds every CPU and all memory"
        )
        total = read_memtotal(proc) or 0
        sizes = {0: total}
        blocks = {0: tuple(sys.numbered(MEMORY_DIR, "memory"))}
        block_size = sys.hex_integer(f"{MEMORY_DIR}/block_size_bytes")
        distances: dict[tuple[int, int], int] = {}
    else:
        sizes, blocks, block_size, distances = (
            nodes.meminfo_bytes,
            nodes.blocks,
            nodes.block_size,
            nodes.distances,
        )

    located = locate_node_memory(
        node_ids, blocks=blocks, block_size=block_size, iomem=iomem, sizes=sizes, log=log
    )
    if located.source is AddressSource.PLACEHOLDER:
        log.warn(
            "memory addresses are unknown (no memory blocks in sysfs and no readable /proc/iomem): "
            "each node's memory is laid out back to back from address 0 as a placeholder; sizes are "
            "right, addresses are not (run as root on the host for real ones)"
        )
    if not any(sizes.values()) and not any(located.ranges.values()):
        raise InputError(
            "no memory found: /proc/meminfo, the NUMA nodes' meminfo and /proc/iomem give no size",
            hint="run kerf discover on the host itself, or point --procfs-root at a copy of its /proc",
        )

    cpus_of: dict[int, list[int]] = {n: [] for n in node_ids}
    for cpu in scan.cpus:
        cpus_of.setdefault(cpu.numa_node if cpu.numa_node is not None else node_ids[0], []).append(
            cpu.logical
        )
    facts_nodes: list[NodeFact] = []
    for node in node_ids:
        ranges = located.ranges.get(node, ())
        size = sum(r.size for r in ranges)
        if not cpus_of.get(node) and not size:
            log.info(f"NUMA node {node} has neither CPUs nor memory; left out")
            continue
        if not cpus_of.get(node):
            log.warn(
                f"NUMA node {node} has {format_bytes(size)} of memory and no CPUs (HBM or CXL memory?): "
                'described as memory-type "dram"; change it if it is "hbm" or "cxl"'
            )
        facts_nodes.append(NodeFact(node, tuple(sorted(cpus_of.get(node, []))), size, ranges))

    described = {n.id for n in facts_nodes}
    distances = {pair: d for pair, d in distances.items() if set(pair) <= described}
    use = read_host_use(proc)
    devices = scan_pci(sys, use, log)
    _note_unreadable(sys, proc, log)
    return MachineFacts(
        source="sysfs",
        id_kind=scan.id_kind,
        cpus=scan.cpus,
        nodes=tuple(facts_nodes),
        address_source=located.source,
        caches=caches,
        distances=distances,
        devices=devices,
        offline=scan.offline,
        boot_cpu=scan.boot_cpu,
        model=_model(sys, cpuinfo.model_name if cpuinfo else ""),
    )


def _model(sys: RootedFs, cpu_model: str) -> str:
    """``vendor product (cpu model)`` from DMI and /proc/cpuinfo, whatever is known."""
    product = " ".join(
        part
        for part in (sys.line("class/dmi/id/sys_vendor"), sys.line("class/dmi/id/product_name"))
        if part and part.lower() not in ("", "to be filled by o.e.m.", "default string")
    )
    if product and cpu_model:
        return f"{product} ({cpu_model})"
    return product or cpu_model


def _note_unreadable(sys: RootedFs, proc: RootedFs, log: NoteLog) -> None:
    """One note listing files that exist but could not be read (permissions, containers)."""
    paths = sorted(set(sys.unreadable + proc.unreadable))
    if paths:
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        log.warn(f"could not read {shown}")
