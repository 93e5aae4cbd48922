"""Rules on the host itself: CPU inventory, memory pool, topology, distances, devices."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from kerf.validate.findings import (
    Collector,
    cpus_text,
    ids_text,
    is_aligned,
    resources_at,
    size_text,
)
from planner.hardware import LOCAL_DISTANCE, Device, Host, MemoryRange

INSTANCE_ID_MAX = 2047
# Physical addresses are 64-bit: a range ends at 2^64 at the latest.
ADDRESS_LIMIT = 1 << 64
# The largest NUMA distance Linux keeps (a u8 in numa_set_distance).
DISTANCE_MAX = 255
# DDDD:BB:SS.F; the slot (device number) is 5 bits, 00-1f.
PCI_ID = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[01][0-9a-fA-F]\.[0-7]$")
CPUS = "/resources/cpus"
MEMORY = "/resources/memory"
NUMA_AT = "/resources/topology/numa-nodes/node@{}"


def check_inventory(host: Host, out: Collector) -> None:
    """Every rule about the host's description, before any instance is looked at."""
    check_cpus(host, out)
    check_memory(host, out)
    check_numa(host, out)
    check_groups(host, out)
    check_distances(host, out)
    check_devices(host, out)


def check_cpus(host: Host, out: Collector) -> None:
    """The CPU inventory: ids, total, reserved vs available, pool not empty, offline CPUs."""
    ids = [c.id for c in host.cpus]
    exists = set(ids)
    total = host.declared_total_cpus
    if not ids:
        out.error(
            "cpu-inventory-empty",
            CPUS,
            "The host describes no CPUs",
            hint="write total = <N>; with the number of CPUs",
            at=resources_at("cpus", "total"),
        )
        return
    if total is not None and ids != list(range(total)) and total not in (len(ids), max(ids) + 1):
        out.warning(
            "cpu-total-mismatch",
            CPUS,
            f"total is {total}, but 'ids' lists {len(ids)} CPUs (highest id {max(ids)})",
            hint="with sparse ids, make total the number of ids listed",
            at=resources_at("cpus", "total"),
        )
    for name, listed in (("host-reserved", host.host_reserved), ("available", host.available)):
        unknown = sorted(set(listed) - exists)
        if unknown:
            out.error(
                "cpu-not-in-inventory",
                CPUS,
                f"'{name}' lists {cpus_text(unknown)}, which the host does not have "
                f"(its CPUs: {ids_text(ids)})",
                hint="list only CPUs below total (or in 'ids')",
                at=resources_at("cpus", name),
            )
    both = sorted(host.host_reserved & host.available)
    if both:
        out.error(
            "cpu-reserved-and-available",
            CPUS,
            f"{cpus_text(both)} {'is' if len(both) == 1 else 'are'} both host-reserved and available",
            hint="a CPU stays with the host kernel or goes to the pool, not both",
            at=resources_at("cpus", "available"),
        )
    if not host.available & exists:
        out.error(
            "cpu-pool-empty",
            CPUS,
            "No CPU is available for instances (the pool is empty)",
            hint="list the CPUs instances may use in available = <...>;",
            at=resources_at("cpus", "available"),
        )
    aside = sorted(exists - host.host_reserved - host.available)
    if aside:
        out.info(
            "cpu-offline",
            CPUS,
            f"{cpus_text(aside)} {'is' if len(aside) == 1 else 'are'} neither host-reserved nor available: "
            "offline or kept aside",
            hint="list them in available = <...>; to give them to instances",
            at=resources_at("cpus", "available"),
        )


def check_memory(host: Host, out: Collector) -> None:
    """Total, pool ranges (non-empty, page-aligned, disjoint) and the accounting of both."""
    memory = host.memory
    if memory.total_bytes == 0:
        out.error(
            "memory-total-invalid",
            MEMORY,
            "total-bytes is 0",
            hint="write the host's memory size, e.g. total-bytes = <0x4 0x0>; for 16 GiB",
            at=resources_at("memory", "total-bytes"),
        )
    pool_at = resources_at("memory", "memory-pool-ranges", "memory-pool-bytes")
    if memory.pool_bytes == 0:
        out.error(
            "memory-pool-empty",
            MEMORY,
            "The memory pool is empty: instances have no memory to draw from",
            hint="give memory-pool-base and memory-pool-bytes (page-aligned, non-zero)",
            at=pool_at,
        )
    for r in memory.pool:
        if r.size == 0 and memory.pool_bytes > 0:
            out.error(
                "memory-pool-range-empty",
                MEMORY,
                f"a pool range at 0x{r.base:x} has size 0",
                hint="leave the empty range out of memory-pool-ranges",
                at=resources_at("memory", "memory-pool-ranges", "memory-pool-bytes"),
            )
        _check_addressable(
            r, "pool range", MEMORY, resources_at("memory", "memory-pool-ranges", "memory-pool-base"), out
        )
        if not (is_aligned(r.base) and is_aligned(r.size)):
            out.error(
                "memory-pool-unaligned",
                MEMORY,
                f"pool range base 0x{r.base:x} size 0x{r.size:x} is not 4 KiB-aligned",
                hint=f"use base 0x{_up(r.base):x} and a size that is a multiple of 0x1000",
                at=resources_at("memory", "memory-pool-ranges", "memory-pool-base"),
            )
    for a, b in _overlapping(memory.pool):
        out.error(
            "memory-pool-overlap",
            MEMORY,
            f"pool ranges {a} and {b} overlap",
            hint="list each part of the pool once",
            at=pool_at,
        )
    if memory.host_reserved_bytes + memory.pool_bytes > memory.total_bytes:
        out.error(
            "memory-overcommitted",
            MEMORY,
            f"host-reserved-bytes ({size_text(memory.host_reserved_bytes)}) plus the pool "
            f"({size_text(memory.pool_bytes)}) exceed total-bytes ({size_text(memory.total_bytes)})",
            hint="the host's share and the pool must fit in the machine's memory",
            at=resources_at("memory", "host-reserved-bytes", "total-bytes"),
        )


def _check_addressable(r: MemoryRange, what: str, subject: str, at: tuple[str, ...], out: Collector) -> None:
    """A range must end within the 64-bit physical address space."""
    if r.base + r.size > ADDRESS_LIMIT:
        out.error(
            "memory-range-overflow",
            subject,
            f"{what} base 0x{r.base:x} size 0x{r.size:x} runs past the end of the 64-bit address space",
            hint="base + size must be at most 2^64; check the base and the size",
            at=at,
        )


def _up(value: int) -> int:
    return -(-value // 4096) * 4096


def _overlapping(ranges: Sequence[MemoryRange]) -> list[tuple[MemoryRange, MemoryRange]]:
    ordered = sorted(ranges)
    return [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :] if a.intersection(b) is not None]


def check_numa(host: Host, out: Collector) -> None:
    """NUMA nodes: disjoint CPU sets inside the inventory, every pool CPU placed, memory
    ranges disjoint and holding the pool."""
    exists = {c.id for c in host.cpus}
    owners: dict[int, list[int]] = defaultdict(list)
    for node in host.numa_nodes:
        for cpu in node.cpus:
            owners[cpu].append(node.id)
        unknown = sorted(set(node.cpus) - exists)
        if unknown:
            out.error(
                "numa-cpu-unknown",
                f"numa node {node.id}",
                f"NUMA node {node.id} lists {cpus_text(unknown)}, which the host does not have",
                hint="list only CPUs of the inventory",
                at=(f"{NUMA_AT.format(node.id)}:cpus", NUMA_AT.format(node.id)),
            )
    shared: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for cpu, nodes in owners.items():
        if len(nodes) > 1:
            shared[tuple(nodes)].append(cpu)
    for node_ids, both in sorted(shared.items()):
        out.error(
            "numa-cpu-overlap",
            f"numa node {node_ids[-1]}",
            f"{cpus_text(both)} {'is' if len(both) == 1 else 'are'} in NUMA nodes "
            f"{' and '.join(map(str, node_ids))}",
            hint="a CPU belongs to exactly one NUMA node",
            at=(f"{NUMA_AT.format(node_ids[-1])}:cpus", NUMA_AT.format(node_ids[-1])),
        )
    homeless = sorted(c.id for c in host.cpus if c.numa_node is None and c.id in host.available)
    if homeless:
        out.error(
            "numa-cpu-missing",
            CPUS,
            f"pool {cpus_text(homeless)} {'is' if len(homeless) == 1 else 'are'} in no NUMA node",
            hint="list every pool CPU in the cpus of one NUMA node",
            at=("/resources/topology/numa-nodes", *resources_at("cpus", "available")),
        )
    ranged = [(node.id, r) for node in host.numa_nodes for r in node.memory]
    for node_id, r in ranged:
        at = (f"{NUMA_AT.format(node_id)}:memory-base", NUMA_AT.format(node_id))
        _check_addressable(r, f"NUMA node {node_id} memory", f"numa node {node_id}", at, out)
    for i, (na, a) in enumerate(ranged):
        for nb, b in ranged[i + 1 :]:
            if a.intersection(b) is not None:
                out.error(
                    "numa-memory-overlap",
                    f"numa node {nb}",
                    f"memory {a} of NUMA node {na} overlaps memory {b} of NUMA node {nb}",
                    hint="every physical address belongs to one NUMA node",
                    at=(f"{NUMA_AT.format(nb)}:memory-base", NUMA_AT.format(nb)),
                )
    if not ranged:
        return
    described = sum(r.size for _, r in ranged)
    if described > host.memory.total_bytes:
        out.warning(
            "numa-memory-exceeds-total",
            MEMORY,
            f"the NUMA nodes hold {size_text(described)} of memory, more than total-bytes "
            f"({size_text(host.memory.total_bytes)})",
            hint="make total-bytes the machine's memory size, or correct the nodes' memory-size",
            at=resources_at("memory", "total-bytes"),
        )
    for r in host.memory.pool:
        outside = _uncovered(r, [m for _, m in ranged])
        if outside:
            out.error(
                "memory-pool-outside-numa",
                MEMORY,
                f"pool range {r} is not inside the memory of any NUMA node "
                f"({', '.join(map(str, outside))} is not)",
                hint="the pool must lie in memory that a NUMA node describes",
                at=resources_at("memory", "memory-pool-ranges", "memory-pool-base"),
            )


def _uncovered(target: MemoryRange, cover: Iterable[MemoryRange]) -> list[MemoryRange]:
    """The parts of ``target`` that no range of ``cover`` holds."""
    parts = [target]
    for cut in cover:
        rest: list[MemoryRange] = []
        for p in parts:
            if not p.overlaps(cut):
                rest.append(p)
                continue
            if p.base < cut.base:
                rest.append(MemoryRange(p.base, cut.base - p.base))
            if cut.end < p.end:
                rest.append(MemoryRange(cut.end, p.end - cut.end))
        parts = rest
    return [p for p in parts if p.size > 0]


def check_groups(host: Host, out: Collector) -> None:
    """Sockets, cores and caches: CPUs inside the inventory, no CPU in two groups of a kind."""
    exists = {c.id for c in host.cpus}
    kinds: list[tuple[str, str, list[tuple[str, tuple[int, ...]]]]] = [
        ("socket", "/resources/topology/sockets", [(f"socket {s.id}", s.cpus) for s in host.sockets]),
        ("core", "/resources/cpus/cores", [(f"core {c.id}", c.cpus) for c in host.cores]),
    ]
    for level in sorted({c.level for c in host.caches}):
        caches = [(f"L{level} cache {c.id}", c.cpus) for c in host.caches if c.level == level]
        kinds.append((f"L{level} cache", "/resources/topology/caches", caches))
    for kind, path, groups in kinds:
        seen: dict[int, str] = {}
        for name, cpus in groups:
            unknown = sorted(set(cpus) - exists)
            if unknown:
                out.error(
                    "topology-cpu-unknown",
                    name,
                    f"{name[0].upper() + name[1:]} lists {cpus_text(unknown)}, which the host does not have",
                    hint="list only CPUs of the inventory",
                    at=(path,),
                )
            clash: dict[str, list[int]] = defaultdict(list)
            for cpu in cpus:
                if cpu in seen and seen[cpu] != name:
                    clash[seen[cpu]].append(cpu)
                seen.setdefault(cpu, name)
            for other, cpus_both in clash.items():
                out.error(
                    "topology-cpu-overlap",
                    name,
                    f"{cpus_text(cpus_both)} {'is' if len(cpus_both) == 1 else 'are'} "
                    f"in both {other} and {name}",
                    hint=f"a CPU belongs to exactly one {kind}",
                    at=(path,),
                )


def check_distances(host: Host, out: Collector) -> None:
    """The distance map: known nodes, 10 on the diagonal, nothing below 10, complete, symmetric."""
    if not host.distances:
        return
    nodes = set(host.node_ids)
    # The distance map, or else the older flat matrix inside one of the NUMA nodes.
    legacy = tuple(f"{NUMA_AT.format(n)}:distance-matrix" for n in sorted(nodes))
    at = ("/resources/topology/distance-map:distance-matrix", "/resources/topology/distance-map", *legacy)
    unknown = sorted({n for pair in host.distances for n in pair} - nodes)
    if unknown:
        out.error(
            "distance-unknown-node",
            "distance map",
            f"the distance map names NUMA node{'s' if len(unknown) > 1 else ''} {ids_text(unknown)}, "
            "which the topology does not describe",
            hint="list distances only between described NUMA nodes",
            at=at,
        )
    for (a, b), d in sorted(host.distances.items()):
        if a == b and d != LOCAL_DISTANCE:
            out.error(
                "distance-diagonal",
                "distance map",
                f"the distance of NUMA node {a} to itself is {d}, not 10",
                hint="Linux's convention: 10 for a node to itself",
                at=at,
            )
        elif a != b and d < LOCAL_DISTANCE and not (a > b and host.distances.get((b, a)) == d):
            out.error(
                "distance-below-local",
                "distance map",
                f"the distance from NUMA node {a} to node {b} is {d}, below the local distance 10",
                hint="remote distances are above 10 (typically 12-40)",
                at=at,
            )
        elif a != b and d == LOCAL_DISTANCE and not (a > b and host.distances.get((b, a)) == d):
            # drivers/of/of_numa.c refuses the whole map for a remote distance <= 10.
            out.error(
                "distance-remote-local",
                "distance map",
                f"the distance from NUMA node {a} to node {b} is 10, the local distance; "
                "Linux rejects the whole distance map",
                hint="remote distances are above 10 (typically 12-40)",
                at=at,
            )
        if d > DISTANCE_MAX and not (a > b and host.distances.get((b, a)) == d):
            # numa_set_distance keeps a u8 and drops anything larger.
            out.error(
                "distance-too-large",
                "distance map",
                f"the distance from NUMA node {a} to node {b} is {d}, more than {DISTANCE_MAX}; "
                "Linux stores distances in a byte and ignores this one",
                hint=f"distances go from 10 to {DISTANCE_MAX} ({DISTANCE_MAX} means unreachable)",
                at=at,
            )
    known = sorted(nodes)
    missing = [(a, b) for a in known for b in known if a < b and (a, b) not in host.distances]
    if missing:
        shown = ", ".join(f"{a}-{b}" for a, b in missing[:8]) + (" ..." if len(missing) > 8 else "")
        out.warning(
            "distance-missing",
            "distance map",
            f"the distance map has no distance for node pairs {shown}; 20 is assumed",
            hint="give a distance for every pair of NUMA nodes",
            at=at,
        )
    for (a, b), d in sorted(host.distances.items()):
        back = host.distances.get((b, a))
        if a < b and back is not None and back != d:
            out.warning(
                "distance-asymmetric",
                "distance map",
                f"the distance from NUMA node {a} to {b} is {d}, but from {b} to {a} it is {back}",
                hint="distances are normally symmetric; check the values",
                at=at,
            )


def check_devices(host: Host, out: Collector) -> None:
    """Devices: unique names, PCI ids, NUMA node, VF and namespace ranges."""
    counts = Counter(d.name for d in host.devices)
    for name, n in sorted(counts.items()):
        if n > 1:
            out.error(
                "device-duplicate-name",
                f"device {name}",
                f"{n} devices are named {name}",
                hint="give every device its own label",
                at=("/resources/devices",),
            )
    for device in host.devices:
        _check_device(host, device, out)
    _check_pci_functions(host.devices, out)


def _check_pci_functions(devices: Sequence[Device], out: Collector) -> None:
    """Each PCI function (a device's own address, a VF's address) belongs to one device or VF:
    two holders of one function would give it to two instances."""
    holders: dict[str, list[tuple[str, str, tuple[str, ...]]]] = defaultdict(list)
    for device in devices:
        path = f"devices/{device.node_name}"
        if device.pci_id is not None:
            holders[device.pci_id.lower()].append(
                (f"device {device.name}", device.name, resources_at(path, "pci-id"))
            )
        for number, pci_id in sorted(device.vf_pci_ids.items()):
            at = (*resources_at(f"{path}/vf@{number}", "pci-id"), *resources_at(path))
            holders[pci_id.lower()].append((f"VF {number} of device {device.name}", device.name, at))
    for pci_id, found in sorted(holders.items()):
        if len(found) < 2:
            continue
        names = [what for what, _, _ in found]
        _, device_name, at = found[-1]
        out.error(
            "device-pci-duplicate",
            f"device {device_name}",
            f"PCI function {pci_id} is given to {', '.join(names[:-1])} and {names[-1]}",
            hint="each PCI function is one device or one VF: check the pci-id values (lspci -D)",
            at=at,
        )


def _check_device(host: Host, device: Device, out: Collector) -> None:
    path = f"devices/{device.node_name}"
    subject = f"device {device.name}"
    if device.pci_id is not None and not PCI_ID.match(device.pci_id):
        out.error(
            "device-pci-id-format",
            subject,
            f'device {device.name}: pci-id "{device.pci_id}" is not of the form DDDD:BB:SS.F',
            hint='for example pci-id = "0000:3b:00.0";',
            at=resources_at(path, "pci-id"),
        )
    if device.device_type == "pci":
        missing = [
            name
            for name, value in (
                ("pci-id", device.pci_id),
                ("vendor-id", device.vendor_id),
                ("device-id", device.device_id),
            )
            if value is None
        ]
        if missing:
            out.warning(
                "device-pci-incomplete",
                subject,
                f"device {device.name} has no {', '.join(missing)}: "
                "the kernel needs them to take a PCI device",
                hint="copy them from lspci -nn -D",
                at=resources_at(path),
            )
        _check_vf_device_ids(device, out)
    if device.numa_node is not None and device.numa_node not in host.node_by_id:
        out.error(
            "device-numa-unknown",
            subject,
            f"device {device.name} is on NUMA node {device.numa_node}, which the topology does not describe",
            hint=f"NUMA nodes: {ids_text(host.node_ids)}",
            at=resources_at(path, "numa-node"),
        )
    _check_units(
        device,
        out,
        kind="VF",
        valid=range(device.sriov_vfs),
        reserved=device.host_reserved_vfs,
        available=device.available_vfs,
        props=("host-reserved-vf", "available-vfs"),
        code="device-vf-range",
        limit=f"sriov-vfs = <{device.sriov_vfs}>: VFs are numbered 0-{device.sriov_vfs - 1}"
        if device.sriov_vfs
        else "the device declares no sriov-vfs",
    )
    _check_units(
        device,
        out,
        kind="namespace",
        valid=range(1, device.namespaces + 1),
        reserved=device.host_reserved_ns,
        available=device.available_ns,
        props=("host-reserved-ns", "available-ns"),
        code="device-ns-range",
        limit=f"namespaces = <{device.namespaces}>: namespace ids are 1-{device.namespaces}"
        if device.namespaces
        else "the device declares no namespaces",
    )


def _check_vf_device_ids(device: Device, out: Collector) -> None:
    """Available VFs with their own pci-id need a device id for the kernel too: a VF's
    id is not its PF's, and without it ``kerf init`` keeps them from the kernel."""
    unknown = [
        n for n in device.available_vfs if n in device.vf_pci_ids and device.vf_device_id_of(n) is None
    ]
    if not unknown:
        return
    many = len(unknown) > 1
    out.warning(
        "device-vf-device-id-missing",
        f"device {device.name}",
        f"device {device.name}: VF{'s' if many else ''} {ids_text(unknown)} "
        f"{'have' if many else 'has'} a pci-id but no PCI device id; "
        "the kernel needs it to take a VF, so kerf keeps "
        f"{'them' if many else 'it'} from the kernel",
        hint="add vf-device-id = <0x...>; to the device (the PF's sriov_vf_device in sysfs, "
        "or lspci -nn on a VF)",
        at=resources_at(f"devices/{device.node_name}"),
    )


def _check_units(
    device: Device,
    out: Collector,
    *,
    kind: str,
    valid: range,
    reserved: Sequence[int],
    available: Sequence[int],
    props: tuple[str, str],
    code: str,
    limit: str,
) -> None:
    path = f"devices/{device.node_name}"
    subject = f"device {device.name}"
    for prop, listed in zip(props, (reserved, available), strict=True):
        bad = sorted(set(v for v in listed if v not in valid))
        if bad:
            out.error(
                code,
                subject,
                f"device {device.name}: '{prop}' lists {kind} {ids_text(bad)}, out of range",
                hint=limit,
                at=resources_at(path, prop),
            )
    both = sorted(set(reserved) & set(available))
    if both:
        out.error(
            "device-reserved-and-available",
            subject,
            f"device {device.name}: {kind} {ids_text(both)} {'is' if len(both) == 1 else 'are'} "
            "both host-reserved and available",
            hint=f"a {kind} stays with the host or goes to the pool, not both",
            at=resources_at(path, props[1]),
        )
