"""From what a source said (:class:`MachineFacts`) to a :class:`Discovery`: ids translated to
physical ids, the host's share decided, devices labelled.

Defaults, each overridable:

* CPUs: the boot CPU and its SMT siblings stay with the host (``reserve_cpus``
  replaces the set); every other online CPU goes to the pool.
* Memory: see :mod:`kerf.discover.memory` (``pool_bytes`` replaces the default size).
* Devices: every assignable device goes to the pool, except a whole device the host
  itself uses (its disk, its default-route interface). SR-IOV devices offer their
  existing VFs; NVMe controllers offer the namespaces the host does not use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from kerf.discover.memory import lay_out_pool
from kerf.discover.model import CacheFact, CacheKind, Discovery, MachineFacts, NoteLog, PciFact
from kerf.discover.text import cpus_phrase, format_cpulist
from kerf.errors import UsageError
from planner.hardware import Cache, Device, MemoryInventory, assemble_host

_KINDS = {  # PCI base class -> (node name, label prefix)
    0x01: ("storage", "disk"),
    0x02: ("ethernet", "eth"),
    0x03: ("display", "gpu"),
    0x12: ("accelerator", "accel"),
}


def build_discovery(
    facts: MachineFacts,
    log: NoteLog,
    *,
    reserve_cpus: Iterable[int] | None = None,
    pool_bytes: int | None = None,
) -> Discovery:
    """Apply the defaults (or the overrides) to the facts and assemble the Host."""
    physical = {c.logical: c.physical for c in facts.cpus}
    ids = sorted(physical.values())
    reserved = _reserved(facts, physical, reserve_cpus, log)
    available = [c for c in ids if c not in reserved]

    numa_cpus = {n.id: [physical[c] for c in n.cpus if c in physical] for n in facts.nodes}
    socket_cpus: dict[int, list[int]] = {}
    for cpu in facts.cpus:
        socket_cpus.setdefault(cpu.package, []).append(cpu.physical)
    cores = sorted({tuple(sorted(physical[s] for s in c.siblings if s in physical)) for c in facts.cpus})

    node_ranges = {n.id: n.memory for n in facts.nodes}
    reserved_nodes = sorted({n.id for n in facts.nodes for c in n.cpus if physical.get(c) in reserved})
    pool = lay_out_pool(node_ranges, pool_bytes=pool_bytes, host_nodes=reserved_nodes, log=log)

    _warn_empty_pool(ids, reserved, pool.pool_bytes, log)
    devices, device_facts, kept = _devices(facts, log)
    host = assemble_host(
        ids,
        available=available,
        host_reserved=sorted(reserved),
        numa_cpus=numa_cpus,
        numa_memory=node_ranges,
        numa_types={n.id: n.memory_type for n in facts.nodes},
        socket_cpus=socket_cpus,
        core_cpus=cores,
        caches=shared_caches(facts.caches, physical, facts),
        distances=dict(facts.distances),
        memory=MemoryInventory(pool.total_bytes, pool.total_bytes - pool.pool_bytes, pool.ranges),
        devices=devices,
        declared_total_cpus=max(ids) + 1,
        model=facts.model,
    )
    return Discovery(host, facts, dict(physical), log.notes, device_facts, kept)


def _warn_empty_pool(ids: list[int], reserved: set[int], pool_bytes: int, log: NoteLog) -> None:
    """Say so when the description has nothing for instances: kerf validate refuses an
    empty pool, and a small machine (1 CPU, 1 core, tiny nodes) ends up with one by default."""
    if not [c for c in ids if c not in reserved]:
        if len(ids) > 1:
            how = "keep fewer CPUs for the host with --reserve-cpus (the boot CPU must stay)"
        else:
            how = "a machine with one CPU has none to give to instances"
        log.warn(
            f"no CPU is left for the pool: the host keeps {cpus_phrase(sorted(reserved))}, so "
            f"kerf validate will refuse this description; {how}"
        )
    if pool_bytes == 0:
        log.warn(
            "no memory is left for the pool, so kerf validate will refuse this description; "
            "give the pool memory with --pool-memory (and check the NUMA node sizes)"
        )


def _reserved(
    facts: MachineFacts, physical: dict[int, int], wanted: Iterable[int] | None, log: NoteLog
) -> set[int]:
    """The host-reserved CPUs (physical ids): the override, or the boot CPU's core."""
    boot = next((c for c in facts.cpus if c.logical == facts.boot_cpu), facts.cpus[0])
    boot_core = sorted(physical[s] for s in boot.siblings if s in physical)
    if wanted is None:
        log.info(
            f"the host keeps {cpus_phrase(boot_core)}: the boot CPU {boot.physical}"
            f"{' and its SMT siblings' if len(boot_core) > 1 else ''} (--reserve-cpus changes it)"
        )
        return set(boot_core)
    chosen = set(wanted)
    unknown = sorted(chosen - set(physical.values()))
    if unknown:
        raise UsageError(
            f"--reserve-cpus names {cpus_phrase(unknown)}, which this host does not have",
            hint=f"CPU ids here are {facts.id_kind} ids: {format_cpulist(physical.values())}",
        )
    if boot.physical not in chosen:
        log.warn(
            f"the boot CPU {boot.physical} is not reserved for the host: the kernel cannot take "
            "Linux's CPU 0 away from the host, so kerf init will refuse or keep it"
        )
    return chosen


def shared_caches(caches: Sequence[CacheFact], physical: dict[int, int], facts: MachineFacts) -> list[Cache]:
    """The caches worth describing: every L3 (or deeper) and any L2 shared by several cores.

    Private L1/L2 caches add nothing to placement; the writer mentions their sizes in a
    comment. Ids are numbered per level in the order of each cache's lowest CPU id.
    """
    core_of = {c.logical: min(c.siblings) for c in facts.cpus}
    chosen = [
        c
        for c in caches
        if c.kind is not CacheKind.INSTRUCTION
        and (c.level >= 3 or (c.level == 2 and len({core_of.get(x, x) for x in c.cpus}) > 1))
    ]
    result: list[Cache] = []
    for level in sorted({c.level for c in chosen}):
        at_level = [c for c in chosen if c.level == level]
        at_level.sort(key=lambda c: min(physical.get(x, x) for x in c.cpus))
        for index, cache in enumerate(at_level):
            cpus = tuple(sorted(physical[x] for x in cache.cpus if x in physical))
            result.append(Cache(index, level, cache.size, cpus))
    return result


def _devices(
    facts: MachineFacts, log: NoteLog
) -> tuple[list[Device], dict[str, PciFact], tuple[PciFact, ...]]:
    """Label the assignable devices; leave whole devices the host uses to the host."""
    node_counts: dict[str, int] = {}  # per node name: unit addresses ethernet@0, @1, ...
    label_counts: dict[str, int] = {}  # per label prefix: eth0, eth1, ..., nvme0, ...
    devices: list[Device] = []
    by_label: dict[str, PciFact] = {}
    kept: list[PciFact] = []
    single_node = facts.nodes[0].id if len(facts.nodes) == 1 else None
    for fact in sorted(facts.devices, key=lambda d: d.address):
        node_name, prefix = _KINDS[fact.base_class]
        if fact.is_nvme:
            prefix = "nvme"
        whole = fact.sriov_vfs == 0 and not fact.namespaces
        if whole and fact.host_use:
            kept.append(fact)
            log.info(f"PCI {fact.address} stays with the host ({'; '.join(fact.host_use)})")
            continue
        index = node_counts.get(node_name, 0)
        node_counts[node_name] = index + 1
        label = f"{prefix}{label_counts.get(prefix, 0)}"
        label_counts[prefix] = label_counts.get(prefix, 0) + 1
        if fact.sriov_total_vfs and not fact.sriov_vfs:
            log.info(
                f"{label} (PCI {fact.address}) supports {fact.sriov_total_vfs} SR-IOV VFs but none "
                "exist: described as a whole device (create VFs through sriov_numvfs and discover again)"
            )
        if fact.is_nvme and not fact.namespaces:
            log.warn(f"{label} (PCI {fact.address}) shows no namespaces: described as a whole device")
        nsids = [ns.nsid for ns in fact.namespaces]
        busy = [ns.nsid for ns in fact.namespaces if ns.host_use]
        vf_id, vf_ids = _vf_device_ids(fact)
        if fact.sriov_vfs and vf_id is None:
            log.warn(
                f"{label} (PCI {fact.address}): the VFs' PCI device id was not readable "
                "(no sriov_vf_device, no virtfnN/device); kerf init keeps those VFs from the kernel "
                "until vf-device-id is added to the description"
            )
        devices.append(
            Device(
                name=label,
                node_name=f"{node_name}@{index}",
                compatible=("nvme",) if fact.is_nvme else (f"pci{fact.vendor_id:04x},{fact.device_id:04x}",),
                device_type="pci",
                pci_id=fact.address,
                vendor_id=fact.vendor_id,
                device_id=fact.device_id,
                numa_node=fact.numa_node if fact.numa_node is not None else single_node,
                sriov_vfs=fact.sriov_vfs,
                available_vfs=tuple(range(fact.sriov_vfs)),
                vf_pci_ids={n: a for n, a in fact.vf_addresses.items() if n < fact.sriov_vfs},
                namespaces=max(nsids, default=0),
                host_reserved_ns=tuple(busy),
                available_ns=tuple(n for n in nsids if n not in busy),
                vf_device_id=vf_id,
                vf_device_ids=vf_ids,
            )
        )
        by_label[label] = fact
        if busy:
            which = (
                f"namespace {busy[0]} stays" if len(busy) == 1 else f"namespaces {format_cpulist(busy)} stay"
            )
            uses = "; ".join(u for ns in fact.namespaces for u in ns.host_use)
            log.info(f"{label} {which} with the host ({uses})")
    return devices, by_label, tuple(kept)


def _vf_device_ids(fact: PciFact) -> tuple[int | None, dict[int, int]]:
    """The device id the VFs share and the VFs that differ from it.

    The PF's ``sriov_vf_device`` is the shared id. Without it (older kernels) the id most
    VFs report is taken as the shared one (the lowest on a tie, to stay deterministic);
    a VF reporting another id keeps its own. Only VFs that exist are considered.
    """
    if not fact.sriov_vfs:
        return None, {}
    own = {n: i for n, i in fact.vf_device_ids.items() if n < fact.sriov_vfs}
    shared = fact.vf_device_id
    if shared is None and own:
        counts = Counter(own.values())
        shared = min(counts, key=lambda i: (-counts[i], i))
    return shared, {n: i for n, i in sorted(own.items()) if i != shared}
