"""Helpers of the simulated-host tests: a named machine fixture and overlays written as DTS.

Baselines and overlays are written here by hand from the kernel document (kernel-interface
reference §2-§3), not produced by kerf's overlay writer, so the simulated kernel is checked
against the document rather than against kerf's own reading of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from kerf.dts import parse, to_dtb
from kerf.kernel.sim import LOCK_FILE, STATE_FILE, SimulatedHost
from kerf.kernel.sim_files import render
from planner.hardware import Device, Host
from planner.synthetic import synthetic_host

GiB = 1 << 30
MiB = 1 << 20

# "dual_node_smt2": one package, two NUMA nodes of 4 SMT2 cores, Linux numbering
# (node 0: CPUs 0-3 and 8-11; node 1: CPUs 4-7 and 12-15), 16 GiB per node
# (node 0 at [0, 16 GiB), node 1 at [16 GiB, 32 GiB)), a NIC with two VFs and an NVMe.
NIC = Device(
    "eth0",
    pci_id="0000:09:00.0",
    vendor_id=0x8086,
    device_id=0x1521,
    numa_node=0,
    sriov_vfs=2,
    available_vfs=(0, 1),
    vf_pci_ids={0: "0000:09:10.0", 1: "0000:09:10.1"},
    vf_device_id=0x1520,  # an I350 VF (the PF is 0x1521)
)
NVME = Device("nvme0", pci_id="0000:0a:00.0", vendor_id=0x144D, device_id=0xA808, numa_node=1)
NODE0_TOP = 16 * GiB
NODE1_TOP = 32 * GiB


def dual_node_smt2() -> Host:
    """The Host of the tests' simulated machine."""
    return synthetic_host("pack:1 numa:2 core:4 pu:2", node_memory=16 * GiB, devices=(NIC, NVME))


def dtb(text: str) -> bytes:
    """DTS source (without the header line) compiled to a blob."""
    return to_dtb(parse("/dts-v1/;\n" + text))


def u64(*values: int) -> str:
    """A ``/bits/ 64 <...>`` value."""
    return "/bits/ 64 <" + " ".join(hex(v) for v in values) + ">"


def baseline(cpus: list[int], memory: list[tuple[int, int | None]], extra: str = "") -> bytes:
    """A generation-C baseline: pool CPUs, per-node memory requests (size, node)."""
    chunks = "".join(
        f"memory@{n} {{ size = {u64(size)};{'' if node is None else f' numa-node-id = <{node}>;'} }};"
        for n, (size, node) in enumerate(memory)
    )
    return dtb(
        f'/ {{ compatible = "multikernel-v1"; resources {{ cpus = {u64(*cpus)}; {chunks} {extra} }}; }};'
    )


STANDARD_BASELINE_CPUS = [2, 3, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15]


def standard_baseline() -> bytes:
    """Pool: CPUs 2,3,10,11 (node 0) and 4-7,12-15 (node 1); 4 GiB on node 0, 8 GiB on node 1."""
    return baseline(STANDARD_BASELINE_CPUS, [(4 * GiB, 0), (8 * GiB, 1)])


def fragment(unit: str, target: str, body: str) -> str:
    """One ``fragment@<unit>`` targeting ``target`` with operation nodes ``body``."""
    return f'fragment@{unit} {{ target-path = "{target}"; __overlay__ {{ {body} }}; }};'


def overlay(*fragments: str, root_props: str = "") -> bytes:
    """A DTBO from fragments."""
    return dtb(f'/ {{ compatible = "linux,multikernel-overlay"; {root_props} {"".join(fragments)} }};')


def create_op(
    name: str,
    *,
    cpus: list[int] | None = None,
    memory: int | None = None,
    ident: int | None = None,
    numa: int | None = None,
    extra: str = "",
) -> str:
    """An instance-create operation node."""
    props = f'instance-name = "{name}";'
    if ident is not None:
        props += f" id = <{ident}>;"
    res = ""
    if memory is not None:
        res += f" memory-bytes = {u64(memory)};"
    if cpus is not None:
        res += f" cpus = {u64(*cpus)};"
    if numa is not None:
        res += f" numa-nodes = <{numa}>;"
    return f"instance-create {{ {props} resources {{ {res} {extra} }}; }};"


def create(name: str, **kwargs: object) -> bytes:
    """A one-fragment overlay creating an instance."""
    return overlay(fragment("0", "/instances", create_op(name, **kwargs)))  # type: ignore[arg-type]


def remove(name: str) -> bytes:
    """A one-fragment overlay removing an instance."""
    return overlay(fragment("0", "/instances", f'instance-remove {{ instance-name = "{name}"; }};'))


def cpu_items(*cpus: int) -> str:
    """``cpu@N { reg = <u64>; }`` items."""
    return "".join(f"cpu@{c:x} {{ reg = {u64(c)}; }};" for c in cpus)


def mem_items(*ranges: tuple[int, int]) -> str:
    """``memory@N { reg = <base size>; }`` items."""
    return "".join(f"memory@{i} {{ reg = {u64(b, s)}; }};" for i, (b, s) in enumerate(ranges))


def pci_items(*ids: str) -> str:
    """``pci@N { pci-id = "..."; }`` items."""
    return "".join(f'pci@{i} {{ pci-id = "{p}"; }};' for i, p in enumerate(ids))


def op(target: str, name: str, items: str) -> bytes:
    """A one-fragment overlay with one operation."""
    return overlay(fragment("0", target, f"{name} {{ {items} }};"))


def assert_files_mirror_state(sim: SimulatedHost) -> None:
    """The directory holds exactly the files rendered from the state, nothing else."""
    state = sim.snapshot()
    files, dirs = render(state)
    found_files, found_dirs = set(), set()
    for folder, subdirs, names in os.walk(sim.root):
        rel = os.path.relpath(folder, sim.root)
        for name in names:
            found_files.add(name if rel == "." else f"{rel}/{name}")
        for name in subdirs:
            found_dirs.add(name if rel == "." else f"{rel}/{name}")
    assert found_files - {STATE_FILE, LOCK_FILE} == set(files)
    assert found_dirs == dirs
    for relative, (content, mode) in files.items():
        path = Path(sim.root, relative)
        assert path.read_bytes() == content, relative
        assert path.stat().st_mode & 0o777 == mode, relative


def expect_failed(sim: SimulatedHost, blob: bytes, code: int, words: str) -> int:
    """Write an overlay that the kernel must fail with ``code``: the write itself succeeds,
    the transaction says ``failed`` and the kernel's reason names ``words``."""
    tx = sim.write_overlay(blob)
    assert tx.status.value == "failed", sim.failure_detail(tx.id)
    detail = sim.failure_detail(tx.id)
    assert detail is not None and words in detail, detail
    assert detail.endswith(f"(errno {code})"), detail
    return tx.id


def expect_applied(sim: SimulatedHost, blob: bytes) -> int:
    """Write an overlay that must apply; its transaction id."""
    tx = sim.write_overlay(blob)
    assert tx.status.value == "applied", sim.failure_detail(tx.id)
    return tx.id
