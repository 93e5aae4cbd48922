"""CPUs, caches and NUMA nodes from /sys/devices/system.

Linux keeps a CPU's ``topology/`` and ``cache/`` directories only while it is online, so
offline CPUs are counted but cannot be described; their physical ids (APIC ids on x86)
are not shown anywhere either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kerf.discover.files import RootedFs
from kerf.discover.model import CacheFact, CacheKind, CpuFact, IdKind, NoteLog
from kerf.discover.procfs import CpuInfo, meminfo_total
from kerf.discover.text import cpus_phrase, parse_size
from kerf.errors import InputError

CPU_DIR = "devices/system/cpu"
NODE_DIR = "devices/system/node"
MEMORY_DIR = "devices/system/memory"

_CACHE_KINDS = {"unified": CacheKind.UNIFIED, "data": CacheKind.DATA, "instruction": CacheKind.INSTRUCTION}


@dataclass(frozen=True)
class CpuScan:
    """The online CPUs with their topology, the offline ones, and the id scheme."""

    cpus: tuple[CpuFact, ...]
    offline: tuple[int, ...]
    id_kind: IdKind
    boot_cpu: int


def online_cpus(sys: RootedFs, log: NoteLog) -> tuple[list[int], list[int]]:
    """(online, offline) logical CPU numbers, from the ``present``/``online``/``offline``
    lists or, when those are hidden, from the ``cpuN`` directories."""
    dirs = sys.numbered(CPU_DIR, "cpu")
    present = sys.cpulist(f"{CPU_DIR}/present")
    if present is None:
        present = dirs
    online = sys.cpulist(f"{CPU_DIR}/online")
    if online is None:
        # Per-CPU files; cpu0 usually has none because it cannot be taken offline.
        online = [c for c in present if sys.line(f"{CPU_DIR}/cpu{c}/online") in (None, "1")]
        if present:
            log.warn(
                f"{sys.shown(CPU_DIR + '/online')} is missing; took the online state from each "
                "cpuN/online file (CPUs without one are assumed online)"
            )
    offline = set(sys.cpulist(f"{CPU_DIR}/offline") or [])
    offline |= set(present) - set(online)
    offline -= set(online)
    return sorted(online), sorted(offline)


def scan_cpus(
    sys: RootedFs,
    cpuinfo: CpuInfo | None,
    node_of: dict[int, int],
    log: NoteLog,
    *,
    fallback_node: int = 0,
) -> CpuScan:
    """Describe every online CPU: package, die, SMT siblings, NUMA node and physical id.

    A CPU that no node lists (and that has no ``cpuN/nodeM`` link) goes to
    ``fallback_node``, with a note.
    """
    online, offline = online_cpus(sys, log)
    if not online and cpuinfo is not None and cpuinfo.processors:
        online = sorted(cpuinfo.processors)
        log.warn(
            f"{sys.shown(CPU_DIR)} lists no CPUs; took {len(online)} from /proc/cpuinfo "
            "without topology (one socket, no SMT)"
        )
    if not online:
        raise InputError(
            f"no online CPUs found: {sys.shown(CPU_DIR)} and /proc/cpuinfo list none",
            hint="run kerf discover on the host itself, or point --sysfs-root/--procfs-root "
            "at copies of its /sys and /proc",
        )
    if offline:
        log.warn(
            f"offline, so left out: {cpus_phrase(offline)} (Linux numbers); Linux hides the "
            "topology and physical ids of offline CPUs; bring them online "
            "(echo 1 > /sys/devices/system/cpu/cpuN/online) and discover again to include them"
        )

    id_kind, physical = _physical_ids(online, cpuinfo, log)
    online_set = set(online)
    no_topology: list[int] = []
    no_node: list[int] = []
    facts: list[CpuFact] = []
    for cpu in online:
        base = f"{CPU_DIR}/cpu{cpu}/topology"
        package = sys.integer(f"{base}/physical_package_id")
        siblings = sys.cpulist(f"{base}/core_cpus_list")
        if siblings is None:
            siblings = sys.cpulist(f"{base}/thread_siblings_list")
        if package is None or siblings is None:
            no_topology.append(cpu)
        die = sys.integer(f"{base}/die_id")
        node = node_of.get(cpu)
        if node is None:
            node = _node_from_link(sys, cpu)
            if node is None:
                no_node.append(cpu)
                node = fallback_node
        sibling_set = sorted((set(siblings or []) & online_set) | {cpu})
        facts.append(
            CpuFact(
                logical=cpu,
                physical=physical[cpu],
                # Some architectures write -1 when firmware gives no package number.
                package=package if package is not None and package >= 0 else 0,
                siblings=tuple(sibling_set),
                die=die if die is not None and die >= 0 else None,
                numa_node=node,
            )
        )
    if no_topology:
        log.warn(
            f"no topology for {cpus_phrase(no_topology)} under {sys.shown(CPU_DIR)}/cpuN/"
            "topology: assumed package 0 and no SMT siblings for them"
        )
    if no_node and node_of:
        log.warn(f"in no NUMA node's cpulist: {cpus_phrase(no_node)}; assumed node {fallback_node}")
    boot = 0 if 0 in online_set else online[0]
    return CpuScan(tuple(facts), tuple(offline), id_kind, boot)


def _physical_ids(online: list[int], cpuinfo: CpuInfo | None, log: NoteLog) -> tuple[IdKind, dict[int, int]]:
    """APIC ids from /proc/cpuinfo when it has one for every online CPU, else logical numbers."""
    logical = {cpu: cpu for cpu in online}
    if cpuinfo is None:
        log.warn(
            "/proc/cpuinfo is unreadable: CPU ids are Linux logical numbers; on x86 the kernel "
            "takes APIC ids, so check them before kerf init"
        )
        return IdKind.LOGICAL, logical
    if not cpuinfo.apic_ids:
        log.info("/proc/cpuinfo has no apicid lines (not x86): CPU ids are Linux logical numbers")
        return IdKind.LOGICAL, logical
    missing = [cpu for cpu in online if cpu not in cpuinfo.apic_ids]
    if missing:
        log.warn(
            f"/proc/cpuinfo gives no apicid for {cpus_phrase(missing)}: CPU ids are "
            "Linux logical numbers instead of APIC ids; check them before kerf init"
        )
        return IdKind.LOGICAL, logical
    apic = {cpu: cpuinfo.apic_ids[cpu] for cpu in online}
    if len(set(apic.values())) != len(apic):
        log.warn("/proc/cpuinfo lists the same apicid twice: CPU ids are Linux logical numbers instead")
        return IdKind.LOGICAL, logical
    return IdKind.APIC, apic


def _node_from_link(sys: RootedFs, cpu: int) -> int | None:
    """The NUMA node of a CPU from its ``cpuN/nodeM`` link, if present."""
    for node in sys.numbered(f"{CPU_DIR}/cpu{cpu}", "node"):
        return node
    return None


def scan_caches(sys: RootedFs, cpus: Iterable[int], log: NoteLog) -> tuple[CacheFact, ...]:
    """Every distinct cache (level, kind, sharing CPUs) of the given online CPUs."""
    online = set(cpus)
    seen: dict[tuple[int, CacheKind, tuple[int, ...]], CacheFact] = {}
    without: list[int] = []
    for cpu in sorted(online):
        base = f"{CPU_DIR}/cpu{cpu}/cache"
        indexes = sys.numbered(base, "index")
        if not indexes:
            without.append(cpu)
        for index in indexes:
            path = f"{base}/index{index}"
            level = sys.integer(f"{path}/level")
            kind = _CACHE_KINDS.get((sys.line(f"{path}/type") or "").lower())
            size_text = sys.line(f"{path}/size")
            shared = sys.cpulist(f"{path}/shared_cpu_list")
            if level is None or kind is None or size_text is None:
                continue
            try:
                size = parse_size(size_text)
            except ValueError:
                continue
            sharing = tuple(sorted((set(shared or []) & online) | {cpu}))
            key = (level, kind, sharing)
            seen.setdefault(key, CacheFact(level, kind, size, sharing))
    if without and len(without) < len(online):
        log.warn(f"no cache information for {cpus_phrase(without)}")
    elif without:
        log.warn(f"no cache information under {sys.shown(CPU_DIR)}/cpuN/cache: caches are not described")
    return tuple(sorted(seen.values(), key=lambda c: (c.level, c.kind, c.cpus)))


@dataclass(frozen=True)
class NodeScan:
    """The NUMA nodes as /sys/devices/system/node shows them."""

    ids: tuple[int, ...]
    cpus: dict[int, tuple[int, ...]]
    distances: dict[tuple[int, int], int]
    meminfo_bytes: dict[int, int]
    blocks: dict[int, tuple[int, ...]]  # node -> memory block numbers
    block_size: int | None


def scan_nodes(sys: RootedFs, log: NoteLog) -> NodeScan | None:
    """NUMA nodes: CPUs, distances, sizes, memory blocks; ``None`` when the kernel shows no
    node directory (a kernel without NUMA support, or a container hiding it)."""
    ids = sys.cpulist(f"{NODE_DIR}/online") or sys.numbered(NODE_DIR, "node")
    ids = [n for n in ids if sys.is_dir(f"{NODE_DIR}/node{n}")]
    if not ids:
        return None
    cpus: dict[int, tuple[int, ...]] = {}
    sizes: dict[int, int] = {}
    blocks: dict[int, tuple[int, ...]] = {}
    rows: dict[int, list[int]] = {}
    for node in ids:
        base = f"{NODE_DIR}/node{node}"
        cpus[node] = tuple(sys.cpulist(f"{base}/cpulist") or ())
        size = meminfo_total(sys.text(f"{base}/meminfo") or "")
        if size is not None:
            sizes[node] = size
        blocks[node] = tuple(_block_numbers(sys, base))
        row_text = sys.line(f"{base}/distance")
        if row_text:
            try:
                rows[node] = [int(v) for v in row_text.split()]
            except ValueError:
                log.warn(f"{sys.shown(base + '/distance')} is not a list of numbers; ignored")
    return NodeScan(
        tuple(ids),
        cpus,
        _distances(ids, rows, sys, log),
        sizes,
        blocks,
        sys.hex_integer(f"{MEMORY_DIR}/block_size_bytes"),
    )


def _block_numbers(sys: RootedFs, node_dir: str) -> list[int]:
    """The memory block numbers under a node directory (``memoryN`` links).

    ``memoryN/phys_index`` (hex) is the block number; ``N`` is used when it is missing.
    """
    numbers = []
    for n in sys.numbered(node_dir, "memory"):
        index = sys.hex_integer(f"{node_dir}/memory{n}/phys_index")
        numbers.append(n if index is None else index)
    return sorted(numbers)


def _distances(
    ids: list[int], rows: dict[int, list[int]], sys: RootedFs, log: NoteLog
) -> dict[tuple[int, int], int]:
    """The distance matrix; each node's ``distance`` row lists every online node in order."""
    distances: dict[tuple[int, int], int] = {}
    for node, row in rows.items():
        if len(row) != len(ids):
            log.warn(
                f"{sys.shown(f'{NODE_DIR}/node{node}/distance')} has {len(row)} entries for "
                f"{len(ids)} nodes; its row is ignored (Linux defaults 10/20 apply)"
            )
            continue
        for other, value in zip(ids, row, strict=True):
            distances[(node, other)] = value
    missing = [n for n in ids if n not in rows]
    if missing and len(ids) > 1:
        log.warn(
            f"no distance row for nodes {','.join(map(str, missing))}: "
            "Linux defaults apply (10 local, 20 remote)"
        )
    return distances


def node_of_cpu(scan: NodeScan | None) -> dict[int, int]:
    """Logical CPU -> NUMA node from the nodes' cpulists (first node wins)."""
    if scan is None:
        return {}
    owner: dict[int, int] = {}
    for node in scan.ids:
        for cpu in scan.cpus.get(node, ()):
            owner.setdefault(cpu, node)
    return owner
