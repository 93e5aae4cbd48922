"""Rules on instances: names and ids, CPUs, memory, devices, exclusive cores.

Conflicts between two instances are reported once per pair, naming both, and located
at the later of the two (the one whose block the reader reaches second).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from kerf.validate.findings import (
    Collector,
    cpus_text,
    ids_text,
    instance_at,
    is_aligned,
    size_text,
)
from kerf.validate.inventory import INSTANCE_ID_MAX
from planner.hardware import Host, Instance, MemoryRange

NAME_MAX = 63
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]")
_DERIVED = re.compile(r"^(?P<device>.+)_(?P<kind>vf|ns)(?P<index>\d+)$")


@dataclass(frozen=True)
class Entry:
    """A name and id claimed by an instance or a request, for the global uniqueness rules."""

    kind: str  # "instance" | "request"
    name: str
    id: int | None


# --- names and ids -------------------------------------------------------------------


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an instance name (a directory under /sys/fs/multikernel), or None."""
    if not name:
        return "it is empty"
    if len(name) > NAME_MAX:
        return f"it is {len(name)} characters long (at most {NAME_MAX})"
    bad = sorted({ch for ch in name if not _NAME_CHARS.fullmatch(ch)})
    if bad:
        return "it contains " + ", ".join(repr(ch) for ch in bad)
    if name[0] in ".-":
        return f"it starts with {name[0]!r}"
    if ".." in name:
        return "it contains '..'"
    return None


def check_names_and_ids(entries: Sequence[Entry], out: Collector) -> None:
    """Valid and unique names; ids unique and in 1-2047."""
    for entry in entries:
        problem = name_problem(entry.name)
        if problem is not None:
            out.error(
                "instance-name-invalid",
                f"{entry.kind} {entry.name}",
                f"Instance name {entry.name!r} is not valid: {problem}",
                hint="use 1-63 letters, digits, '.', '_' or '-', not starting with '.' or '-'",
                at=instance_at(entry.name),
            )
        if entry.id is not None and not 1 <= entry.id <= INSTANCE_ID_MAX:
            out.error(
                "instance-id-invalid",
                f"{entry.kind} {entry.name}",
                f"Instance {entry.name}: id {entry.id} is outside 1-{INSTANCE_ID_MAX}"
                + (" (0 is the host kernel)" if entry.id == 0 else ""),
                hint="the kexec flags carry the id in 11 bits; leave id out to let the kernel choose",
                at=instance_at(entry.name, "id"),
            )
    counts = Counter(e.name for e in entries)
    for name, n in counts.items():
        if n > 1:
            out.error(
                "instance-name-duplicate",
                f"instance {name}",
                f"Instance name {name!r} is used {n} times",
                hint="every instance needs its own name",
                at=instance_at(name),
            )
    by_id: dict[int, list[str]] = defaultdict(list)
    for entry in entries:
        if entry.id is not None:
            by_id[entry.id].append(entry.name)
    for instance_id, names in sorted(by_id.items()):
        if len(names) > 1:
            out.error(
                "instance-id-duplicate",
                f"instance {names[-1]}",
                f"Instances {', '.join(names[:-1])} and {names[-1]} both have id {instance_id}",
                hint="give each instance its own id, or leave id out",
                at=instance_at(names[-1], "id"),
            )


# --- CPUs --------------------------------------------------------------------------------


def check_cpu_list(host: Host, name: str, cpus: Sequence[int], subject: str, out: Collector) -> None:
    """One instance's CPU list: not empty, no repeats, every CPU exists and is in the pool."""
    at = instance_at(name, "cpus")
    if not cpus:
        out.error(
            "cpu-list-empty",
            subject,
            f"Instance {name}: the CPU list is empty",
            hint="list the instance's CPUs (the first one boots), or use cpu-count to let kerf choose",
            at=at,
        )
        return
    repeated = sorted(c for c, n in Counter(cpus).items() if n > 1)
    if repeated:
        out.error(
            "cpu-repeated",
            subject,
            f"Instance {name}: {cpus_text(repeated)} {'is' if len(repeated) == 1 else 'are'} listed twice",
            hint="list each CPU once",
            at=at,
        )
    unknown = sorted({c for c in cpus if c not in host.cpu_by_id})
    if unknown:
        out.error(
            "cpu-unknown",
            subject,
            f"Instance {name}: {cpus_text(unknown)} {'does' if len(unknown) == 1 else 'do'} not exist "
            f"({_has_cpus(host)})",
            hint=f"pool CPUs: {ids_text(host.available)}",
            at=at,
        )
    reserved = sorted({c for c in cpus if c in host.host_reserved})
    if reserved:
        out.error(
            "cpu-host-reserved",
            subject,
            f"Instance {name}: {cpus_text(reserved)} {'is' if len(reserved) == 1 else 'are'} "
            "reserved for the host kernel",
            hint=f"pool CPUs: {ids_text(host.available)}",
            at=at,
        )
    aside = sorted(
        {c for c in cpus if c in host.cpu_by_id and c not in host.host_reserved and c not in host.available}
    )
    if aside:
        out.error(
            "cpu-not-in-pool",
            subject,
            f"Instance {name}: {cpus_text(aside)} {'is' if len(aside) == 1 else 'are'} not in the pool "
            "(offline or kept aside)",
            hint="add them to available = <...>; or pick pool CPUs",
            at=at,
        )


def check_cpu_conflicts(host: Host, instances: Sequence[Instance], out: Collector) -> None:
    """No CPU in two instances (one finding per pair); exclusive cores not shared."""
    for j, later in enumerate(instances):
        for earlier in instances[:j]:
            both = set(earlier.cpus) & set(later.cpus)
            if both:
                taken = {c for inst in instances for c in inst.cpus}
                free = sorted(host.available - taken)
                out.error(
                    "cpu-conflict",
                    f"instances {earlier.name}, {later.name}",
                    f"Instances {earlier.name} and {later.name} both use {cpus_text(both)}",
                    hint=f"give each CPU to one instance; free pool CPUs: {ids_text(free) or 'none'}",
                    at=instance_at(later.name, "cpus"),
                )
    _check_exclusive_cores(host, instances, out)


def _check_exclusive_cores(host: Host, instances: Sequence[Instance], out: Collector) -> None:
    core_of = {cpu: core for core in host.cores for cpu in core.cpus}
    for j, later in enumerate(instances):
        for earlier in instances[:j]:
            if not (earlier.exclusive_cores or later.exclusive_cores):
                continue
            mine, theirs = set(earlier.cpus), set(later.cpus)
            # Sharing the very same CPU is a cpu-conflict; here only siblings count.
            shared = sorted(
                {
                    core_of[c].id
                    for c in mine
                    if c in core_of and any(s in theirs and s not in mine for s in core_of[c].cpus)
                }
            )
            if not shared:
                continue
            who = earlier if earlier.exclusive_cores else later
            other = later if who is earlier else earlier
            cores = ", ".join(f"{c} (CPUs {ids_text(host.core_by_id[c].cpus)})" for c in shared)
            out.error(
                "exclusive-cores-shared",
                f"instances {earlier.name}, {later.name}",
                f"Instance {who.name} asks for exclusive cores, but shares "
                f"core{'s' if len(shared) > 1 else ''} {cores} with instance {other.name}",
                hint="give the SMT siblings of an exclusive instance's CPUs to no other instance",
                at=instance_at(later.name, "cpus"),
            )


# --- memory ------------------------------------------------------------------------------


def check_memory_of(host: Host, inst: Instance, subject: str, out: Collector) -> None:
    """One instance's memory: some, page-aligned, inside the pool, on the node it claims."""
    at = instance_at(inst.name, "memory-bytes")
    if inst.memory_bytes == 0 or any(r.size == 0 for r in inst.memory):
        out.error(
            "memory-size-zero",
            subject,
            f"Instance {inst.name}: memory size is 0",
            hint="give the instance memory, e.g. memory-bytes = <0x0 0x40000000>; for 1 GiB",
            at=at,
        )
    pool = _merged(host.memory.pool)
    for region in inst.memory:
        base_at = instance_at(inst.name, "memory-base") if len(inst.memory) == 1 else at
        if not is_aligned(region.size) or (region.base is not None and not is_aligned(region.base)):
            what = f"base 0x{region.base:x} " if region.base is not None else ""
            out.error(
                "memory-unaligned",
                subject,
                f"Instance {inst.name}: memory {what}size 0x{region.size:x} is not 4 KiB-aligned",
                hint="bases and sizes must be multiples of 4 KiB (0x1000)",
                at=base_at,
            )
        rng = region.range
        if rng is not None and rng.size > 0 and not any(p.contains(rng) for p in pool):
            out.error(
                "memory-outside-pool",
                subject,
                f"Instance {inst.name}: memory {rng} is not inside the memory pool "
                f"({', '.join(map(str, host.memory.pool)) or 'empty'})",
                hint="choose a base inside the pool, or leave memory-base out",
                at=base_at,
            )
        if region.numa_node is not None and region.numa_node not in host.node_by_id:
            out.error(
                "numa-unknown-node",
                subject,
                f"Instance {inst.name}: NUMA node {region.numa_node} does not exist in hardware topology",
                hint=f"NUMA nodes: {ids_text(host.node_ids)}",
                at=at,
            )
        elif region.numa_node is not None and rng is not None:
            actual = host.node_of_address(rng.base)
            if actual != region.numa_node:
                out.error(
                    "memory-wrong-node",
                    subject,
                    f"Instance {inst.name}: memory {rng} is said to be on NUMA node {region.numa_node}, "
                    f"but that address is {'on node ' + str(actual) if actual is not None else 'on no node'}",
                    hint="the node of a region must be the node holding its base address",
                    at=at,
                )


def _merged(ranges: Sequence[MemoryRange]) -> list[MemoryRange]:
    """Touching or overlapping ranges joined, so a region may straddle two adjacent ones."""
    out: list[MemoryRange] = []
    for r in sorted(ranges):
        if out and r.base <= out[-1].end:
            last = out[-1]
            out[-1] = MemoryRange(last.base, max(last.end, r.end) - last.base)
        else:
            out.append(r)
    return out


def check_memory_totals(host: Host, instances: Sequence[Instance], out: Collector) -> None:
    """Regions of two instances never overlap; the sum fits the pool and each node's share."""
    for j, later in enumerate(instances):
        for earlier in instances[:j]:
            # intersection, not overlaps(): an empty range shares no byte with anything
            common = [
                part
                for a in (r.range for r in earlier.memory)
                for b in (r.range for r in later.memory)
                if a is not None and b is not None and (part := a.intersection(b)) is not None
            ]
            if common:
                out.error(
                    "memory-overlap",
                    f"instances {earlier.name}, {later.name}",
                    f"Instances {earlier.name} and {later.name} overlap in memory: "
                    f"{', '.join(map(str, common))} ({size_text(sum(p.size for p in common))})",
                    hint="give each instance its own part of the pool",
                    at=instance_at(later.name, "memory-base") + instance_at(later.name, "memory-bytes"),
                )
    used = sum(inst.memory_bytes for inst in instances)
    if used > host.memory.pool_bytes:
        out.error(
            "memory-exceeds-pool",
            "instances",
            f"Instances use {size_text(used)} of memory in total, more than the pool's "
            f"{size_text(host.memory.pool_bytes)}",
            hint="shrink some instances or grow the pool",
            at=("/instances",),
        )
    _check_node_capacity(host, instances, out)


def _check_node_capacity(host: Host, instances: Sequence[Instance], out: Collector) -> None:
    """Per NUMA node: the regions known to be there fit the node's share of the pool."""
    demand: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for inst in instances:
        for region in inst.memory:
            node = region.numa_node
            if node is None and region.base is not None:
                node = host.node_of_address(region.base)
            if node is not None and node in host.node_by_id:
                demand[node][inst.name] += region.size
    for node, users in sorted(demand.items()):
        need, have = sum(users.values()), host.pool_bytes_of_node(node)
        if need > have:
            parts = ", ".join(f"{name} {size_text(n)}" for name, n in users.items())
            out.error(
                "memory-node-capacity",
                f"numa node {node}",
                f"NUMA node {node}: instances need {size_text(need)} of its pool memory ({parts}), "
                f"but its share of the pool is {size_text(have)}",
                hint="move some memory to another node or grow the node's part of the pool",
                at=("/instances",),
            )


# --- devices -----------------------------------------------------------------------------


def unit_problem(host: Host, label: str) -> tuple[str, str] | None:
    """Why ``label`` is not an assignable unit: (code, explanation), or None when it is."""
    if label in host.unit_by_label:
        return None
    devices = host.device_by_name
    device = devices.get(label)
    if device is not None:
        kind = "VF" if device.kind == "sriov" else "namespace"
        example = device.units()[0].label if device.units() else f"{label}_{kind[:2].lower()}1"
        return "device-unit-unavailable", f"{label} is shared out by {kind}; name one, e.g. {example}"
    m = _DERIVED.match(label)
    if m is None or m["device"] not in devices:
        return "device-unknown", f"device {label!r} does not exist"
    device = devices[m["device"]]
    n = int(m["index"])
    if m["kind"] == "vf":
        if device.sriov_vfs == 0:
            return "device-unit-unavailable", f"{device.name} has no SR-IOV VFs"
        if n in device.host_reserved_vfs:
            return "device-unit-unavailable", f"VF {n} of {device.name} is reserved for the host"
        available = ids_text(device.available_vfs) or "none"
        return (
            "device-unit-unavailable",
            f"VF {n} of {device.name} is not available (available VFs: {available})",
        )
    if device.namespaces == 0:
        return "device-unit-unavailable", f"{device.name} has no namespaces"
    if n in device.host_reserved_ns:
        return "device-unit-unavailable", f"namespace {n} of {device.name} is reserved for the host"
    available = ids_text(device.available_ns) or "none"
    return (
        "device-unit-unavailable",
        f"namespace {n} of {device.name} is not available (available namespaces: {available})",
    )


def known_units_hint(host: Host) -> str:
    """A short list of the units instances may name."""
    labels = list(host.unit_by_label)
    if not labels:
        return "this host describes no devices"
    shown = ", ".join(labels[:10]) + (f" and {len(labels) - 10} more" if len(labels) > 10 else "")
    return f"devices and units: {shown}"


def check_devices_of(host: Host, name: str, labels: Sequence[str], subject: str, out: Collector) -> None:
    """One instance's device list: every unit exists and is available, none twice."""
    at = instance_at(name, "devices")
    for label in dict.fromkeys(labels):
        problem = unit_problem(host, label)
        if problem is not None:
            code, why = problem
            out.error(code, subject, f"Instance {name}: {why}", hint=known_units_hint(host), at=at)
    repeated = sorted(label for label, n in Counter(labels).items() if n > 1)
    if repeated:
        out.error(
            "device-repeated",
            subject,
            f"Instance {name}: {', '.join(repeated)} listed twice",
            hint="list each device unit once",
            at=at,
        )


def check_device_conflicts(instances: Sequence[Instance], out: Collector) -> None:
    """No unit in two instances (one finding per pair)."""
    for j, later in enumerate(instances):
        for earlier in instances[:j]:
            both = sorted(set(earlier.devices) & set(later.devices))
            if both:
                out.error(
                    "device-conflict",
                    f"instances {earlier.name}, {later.name}",
                    f"Instances {earlier.name} and {later.name} both use {', '.join(both)}",
                    hint="a device unit belongs to one instance; give the other a different VF or namespace",
                    at=instance_at(later.name, "devices"),
                )


def _has_cpus(host: Host) -> str:
    """``the host has CPUs 0-7``, or that it has none (no empty list in the message)."""
    return f"the host has CPUs {ids_text(host.cpu_by_id)}" if host.cpu_by_id else "the host describes no CPUs"
