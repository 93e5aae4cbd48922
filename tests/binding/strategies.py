"""Hypothesis strategies for hosts, instances and requests (shared by binding and validator tests)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from planner.hardware import Device, Host, Instance, MemoryInventory, MemoryRange, MemoryRegion, assemble_host
from planner.policy import CpuAffinity, MemoryPolicy, MemoryType
from planner.request import DeviceWant, InstanceRequest
from planner.synthetic import synthetic_host

GiB = 1 << 30
NAMES = st.from_regex(r"\A[a-z][a-z0-9-]{0,12}\Z")


@st.composite
def devices(draw: st.DrawFn, nodes: list[int]) -> list[Device]:
    count = draw(st.integers(0, 4))
    names = draw(
        st.lists(st.from_regex(r"\A[a-z][a-z0-9]{0,6}\Z"), min_size=count, max_size=count, unique=True)
    )
    found = []
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["whole", "sriov", "nvme"]))
        numa = draw(st.none() | st.sampled_from(nodes)) if nodes else None
        base = Device(
            name=name,
            node_name=f"{draw(st.sampled_from(['ethernet', 'storage', 'accel']))}@{i}",
            compatible=tuple(draw(st.lists(st.sampled_from(["intel,e810", "nvme", "pci"]), max_size=2))),
            device_type=draw(st.sampled_from(["pci", "platform"])),
            pci_id=draw(st.none() | st.just(f"0000:{i:02x}:00.0")),
            vendor_id=draw(st.none() | st.integers(0, 0xFFFF)),
            device_id=draw(st.none() | st.integers(0, 0xFFFF)),
            numa_node=numa,
        )
        if kind == "sriov":
            vfs = draw(st.integers(1, 8))
            available = draw(st.lists(st.integers(0, vfs - 1), unique=True, max_size=vfs))
            pci = (
                {
                    n: f"0000:{i:02x}:01.{n % 8}"
                    for n in draw(st.lists(st.sampled_from(available), unique=True))
                }
                if available
                else {}
            )
            # A shared VF device id, and per-VF ids (also for VFs without a pci-id).
            own = draw(st.dictionaries(st.integers(0, vfs - 1), st.integers(0, 0xFFFF), max_size=3))
            base = replace(
                base,
                sriov_vfs=vfs,
                available_vfs=tuple(available),
                host_reserved_vfs=(0,),
                vf_pci_ids=pci,
                vf_device_id=draw(st.none() | st.integers(0, 0xFFFF)),
                vf_device_ids=own,
            )
        elif kind == "nvme":
            ns = draw(st.integers(1, 6))
            available = draw(st.lists(st.integers(1, ns), unique=True, max_size=ns))
            base = replace(base, namespaces=ns, available_ns=tuple(available), host_reserved_ns=(1,))
        found.append(base)
    return found


@st.composite
def synthetic_hosts(draw: st.DrawFn) -> Host:
    shape = (
        f"pack:{draw(st.integers(1, 2))} numa:{draw(st.integers(1, 2))} l3:{draw(st.integers(1, 2))} "
        f"core:{draw(st.integers(1, 3))} pu:{draw(st.integers(1, 2))}"
    )
    probe = synthetic_host(shape)
    count = len(probe.cpus)
    numbering = draw(
        st.sampled_from(["linux", "adjacent"])
        | st.lists(st.integers(0, 4 * count), min_size=count, max_size=count, unique=True)
    )
    ids = [c.id for c in synthetic_host(shape, numbering=numbering).cpus]
    reserved = draw(st.lists(st.sampled_from(ids), unique=True, max_size=3))
    return synthetic_host(
        shape,
        numbering=numbering,
        reserved_cpus=reserved,
        node_memory=draw(st.sampled_from([4 * GiB, 16 * GiB, 64 * GiB])),
        pool_fraction=draw(st.sampled_from([0.5, 0.75, 1.0])),
        devices=draw(devices(list(probe.node_ids))),
    )


@st.composite
def plain_hosts(draw: st.DrawFn) -> Host:
    """Hosts from assemble_host with whatever parts are drawn (defaults for the rest)."""
    ids = draw(st.lists(st.integers(0, 300), min_size=1, max_size=12, unique=True))
    reserved = draw(st.lists(st.sampled_from(ids), unique=True, max_size=2))
    available = draw(st.lists(st.sampled_from(ids), unique=True))
    pool = draw(st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 1 << 20)), max_size=3))
    numa = None
    types = None
    memory = None
    if draw(st.booleans()):
        split = draw(st.integers(0, len(ids)))
        numa = {0: ids[:split], 1: ids[split:]}
        memory = {0: [MemoryRange(0, 4 * GiB)], 1: [MemoryRange(4 * GiB, 2 * GiB), MemoryRange(8 * GiB, GiB)]}
        types = {1: draw(st.sampled_from(list(MemoryType)))}
    return assemble_host(
        ids,
        available=available,
        host_reserved=reserved,
        numa_cpus=numa,
        numa_memory=memory,
        numa_types=types,
        core_cpus=[ids[i : i + 2] for i in range(0, len(ids), 2)] if draw(st.booleans()) else None,
        memory=MemoryInventory(
            draw(st.integers(0, 1 << 45)),
            draw(st.integers(0, 1 << 40)),
            tuple(MemoryRange(b << 12, s << 12) for b, s in pool),
        ),
        devices=draw(devices([0, 1] if numa else [0])),
        declared_total_cpus=draw(st.none() | st.just(max(ids) + 1) | st.just(len(ids))),
        model=draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)),
    )


@st.composite
def workloads(draw: st.DrawFn, host: Host) -> tuple[list[Instance], list[InstanceRequest]]:
    ids = [c.id for c in host.cpus]
    labels = list(host.unit_by_label)
    nodes = list(host.node_ids)
    names = draw(st.lists(NAMES, unique=True, max_size=5))
    split = draw(st.integers(0, len(names)))
    instances = []
    for name in names[:split]:
        regions: list[MemoryRegion]
        if draw(st.booleans()):
            base = draw(st.none() | st.integers(0, 1 << 24).map(lambda p: p << 12))
            node = host.node_of_address(base) if base is not None else None
            regions = [MemoryRegion(draw(st.integers(1, 1 << 36)), base, node)]
        else:
            regions = []
            for _ in range(draw(st.integers(0, 3))):
                base = draw(st.none() | st.integers(0, 1 << 36))
                # without an explicit node, the binding derives it from the base
                derived = host.node_of_address(base) if base is not None else None
                node = draw(st.just(derived) | st.sampled_from(nodes))
                regions.append(MemoryRegion(draw(st.integers(1, 1 << 36)), base, node))
        instances.append(
            Instance(
                name=name,
                cpus=tuple(draw(st.lists(st.sampled_from(ids), min_size=1, max_size=6))),
                memory=tuple(regions),
                devices=tuple(draw(st.lists(st.sampled_from(labels), max_size=3))) if labels else (),
                id=draw(st.none() | st.integers(0, 5000)),
                numa_nodes=tuple(draw(st.lists(st.sampled_from(nodes), max_size=2))),
                cpu_affinity=draw(st.none() | st.sampled_from(list(CpuAffinity))),
                memory_policy=draw(st.none() | st.sampled_from(list(MemoryPolicy))),
                exclusive_cores=draw(st.booleans()),
            )
        )
    requests = []
    wants = [
        *labels,
        *{
            f"{u.device}_{'vf' if u.kind == 'vf' else 'ns'}*"
            for u in host.unit_by_label.values()
            if u.kind != "whole"
        },
    ]
    for name in names[split:]:
        requests.append(
            InstanceRequest(
                name=name,
                memory_bytes=draw(st.integers(0, 1 << 40)),
                cpu_count=draw(st.integers(1, 64)),
                numa_nodes=tuple(draw(st.lists(st.sampled_from(nodes), max_size=2))),
                cpu_affinity=draw(st.sampled_from(list(CpuAffinity))),
                memory_policy=draw(st.sampled_from(list(MemoryPolicy))),
                devices=tuple(DeviceWant.parse(w) for w in draw(st.lists(st.sampled_from(wants), max_size=2)))
                if wants
                else (),
                exclusive_cores=draw(st.booleans()),
                id=draw(st.none() | st.integers(1, 2047)),
            )
        )
    return instances, requests


@st.composite
def described(draw: st.DrawFn) -> tuple[Host, list[Instance], list[InstanceRequest]]:
    host = draw(synthetic_hosts() | plain_hosts())
    instances, requests = draw(workloads(host))
    return host, instances, requests
