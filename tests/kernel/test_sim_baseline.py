"""The simulated kernel's baseline write: accepted shapes, every documented refusal."""

from __future__ import annotations

import errno

import pytest

from kerf.dts import from_dtb
from kerf.errors import ExitCode
from kerf.kernel.errors import KernelCallError, KernelStateError
from kerf.kernel.sim import SimulatedHost
from planner.hardware import MemoryRange
from tests.kernel.simhost import (
    NODE0_TOP,
    NODE1_TOP,
    STANDARD_BASELINE_CPUS,
    GiB,
    assert_files_mirror_state,
    baseline,
    dtb,
    standard_baseline,
    u64,
)


def test_standard_baseline_builds_the_pool(sim: SimulatedHost) -> None:
    sim.write_baseline(standard_baseline())
    tree = from_dtb(sim.read_device_tree())
    resources = tree.get_node("/resources")
    assert resources.props["cpus"].to_u64s() == STANDARD_BASELINE_CPUS
    assert resources.props["cpus-available"].to_u64s() == STANDARD_BASELINE_CPUS
    chunk0 = NODE0_TOP - 4 * GiB  # the kernel picks the base: top of the node's memory
    chunk1 = NODE1_TOP - 8 * GiB
    assert sorted(resources.children) == [f"memory@{chunk0:x}", f"memory@{chunk1:x}"]
    node = resources.children[f"memory@{chunk0:x}"]
    assert node.props["reg"].to_u64s() == [chunk0, 4 * GiB]
    assert node.props["numa-node-id"].to_u32() == 0
    assert node.props["device_type"].to_string() == "memory"
    assert tree.find_node("/instances") is None
    root = tree.root
    assert (root.props["compatible"].to_string(), root.props["id"].to_u32()) == ("multikernel-v1", 0)
    assert "model" not in root.props
    assert [c.range for c in sim.iomem().pool_chunks()] == [
        MemoryRange(chunk0, 4 * GiB),
        MemoryRange(chunk1, 8 * GiB),
    ]
    assert_files_mirror_state(sim)


def test_before_any_baseline_the_tree_has_no_pool(sim: SimulatedHost) -> None:
    tree = from_dtb(sim.read_device_tree())
    assert tree.get_node("/resources").props == {}
    assert sim.iomem().pool_chunks() == []


def test_memory_request_without_a_node_takes_any(sim: SimulatedHost) -> None:
    sim.write_baseline(baseline([4], [(2 * GiB, None)]))
    assert [c.range for c in sim.iomem().pool_chunks()] == [MemoryRange(NODE0_TOP - 2 * GiB, 2 * GiB)]


def test_devices_and_aliases(sim: SimulatedHost) -> None:
    devices = (
        'devices { nic: pci_0000_09_00_0 { device-type = "pci"; pci-id = "0000:09:00.0"; '
        "vendor-id = <0x8086>; device-id = <0x1521>; }; "
        'ghost { device-type = "pci"; pci-id = "0000:42:00.0"; vendor-id = <1>; device-id = <2>; }; '
        'serial0 { device-type = "platform"; }; '
        'weird { device-type = "usb"; }; };'
    )
    blob = dtb(
        '/ { aliases { enp9s0 = "/resources/devices/pci_0000_09_00_0"; }; '
        f"resources {{ cpus = {u64(4)}; memory@0 {{ size = {u64(GiB)}; }}; {devices} }}; }};"
    )
    sim.write_baseline(blob)
    tree = from_dtb(sim.read_device_tree())
    leaf = tree.get_node("/pci@9/pci@0,0")
    assert leaf.props["reg"].to_u32s()[0] == 9 << 16
    assert (leaf.props["vendor-id"].to_u32(), leaf.props["device-id"].to_u32()) == (0x8086, 0x1521)
    bridge = tree.get_node("/pci@9")
    assert bridge.props["compatible"].to_string() == "multikernel,pci-host-bridge"
    assert bridge.props["linux,pci-domain"].to_u32() == 0
    assert tree.get_node("/aliases").props["enp9s0"].to_string() == "/pci@9/pci@0,0"
    platform = tree.get_node("/resources/devices/serial0")
    assert platform.props["device-name"].to_string() == "serial0"
    log = "\n".join(sim.kernel_log())
    assert "0000:42:00.0 not found on the machine" in log
    assert "device-type 'usb' is not pci or platform" in log


def test_boot_cpu_is_accepted_with_a_warning(sim: SimulatedHost) -> None:
    sim.write_baseline(baseline([0, 1], [(GiB, 0)]))
    assert "CPU 0 is the boot CPU" in "\n".join(sim.kernel_log())


CPU4 = f"cpus = {u64(4)};"
ONE_GIB = f"memory@0 {{ size = {u64(GiB)}; }};"


def res(body: str, outside: str = "") -> bytes:
    """A baseline blob whose /resources holds ``body``."""
    return dtb(f"/ {{ {outside} resources {{ {body} }}; }};")


def pci_dev(props: str) -> str:
    return f'devices {{ d {{ device-type = "pci"; {props} }}; }};'


BAD_BASELINES = [
    # (name, blob, errno, words in the message)
    ("instances", res(CPU4 + ONE_GIB, "instances { web { }; };"), errno.EINVAL, "must not contain instances"),
    ("no resources", dtb("/ { };"), errno.EINVAL, "no /resources"),
    ("no cpus", res(ONE_GIB), errno.EINVAL, "no /resources/cpus"),
    ("u32 cpus", res("cpus = <4 5 6>;" + ONE_GIB), errno.EINVAL, "u64 cells, found 12 bytes"),
    ("empty cpus", res("cpus;" + ONE_GIB), errno.EINVAL, "found 0 bytes"),
    ("legacy memory", res(CPU4 + f"memory-bytes = {u64(GiB)};"), errno.EINVAL, "no longer accepted"),
    (
        "legacy base",
        res(CPU4 + f"memory-base = {u64(GiB)};" + ONE_GIB),
        errno.EINVAL,
        "memory-base is no longer",
    ),
    ("no memory", res(CPU4), errno.EINVAL, "no /resources/memory@N"),
    ("zero size", baseline([4], [(0, 0)]), errno.EINVAL, "non-zero, page-aligned"),
    ("unaligned size", baseline([4], [(GiB + 1, 0)]), errno.EINVAL, "non-zero, page-aligned"),
    ("u32 size", res(CPU4 + "memory@0 { size = <0x1000>; };"), errno.EINVAL, "one u64 (8 bytes), found 4"),
    ("node too big", baseline([4], [(GiB, 64)]), errno.EINVAL, "not below MAX_NUMNODES (64)"),
    (
        "u64 node",
        res(CPU4 + f"memory@0 {{ size = {u64(GiB)}; numa-node-id = {u64(0)}; }};"),
        errno.EINVAL,
        "one u32",
    ),
    ("too many chunks", baseline([4], [(4096, None)] * 65), errno.E2BIG, "65 memory@ nodes"),
    (
        "pci without ids",
        res(CPU4 + ONE_GIB + pci_dev('pci-id = "0000:09:00.0";')),
        errno.EINVAL,
        "needs vendor-id",
    ),
    (
        "bad pci id",
        res(CPU4 + ONE_GIB + pci_dev('pci-id = "09:00.0"; vendor-id = <1>; device-id = <1>;')),
        errno.EINVAL,
        "is not DDDD:BB:SS.F",
    ),
    ("unknown cpu", baseline([4, 99], [(GiB, 0)]), errno.ENODEV, "CPU 99 maps to no present logical CPU"),
    ("no room", baseline([4], [(17 * GiB, 0)]), errno.ENOMEM, "contiguous pool chunk"),
    ("offline node", baseline([4], [(GiB, 5)]), errno.EINVAL, "NUMA node 5 has no memory"),
    ("duplicate cpu", baseline([4, 4], [(GiB, 0)]), errno.EBUSY, "CPU 4 cannot be moved into the pool"),
]


@pytest.mark.parametrize(
    ("blob", "code", "words"), [b[1:] for b in BAD_BASELINES], ids=[b[0] for b in BAD_BASELINES]
)
def test_refused_baselines(sim: SimulatedHost, blob: bytes, code: int, words: str) -> None:
    with pytest.raises(KernelCallError) as err:
        sim.write_baseline(blob)
    assert err.value.errno == code
    assert words in err.value.message
    assert err.value.call == "write device_tree"
    assert_files_mirror_state(sim)


def test_not_one_complete_dtb(sim: SimulatedHost) -> None:
    blob = standard_baseline()
    for bad in (blob[:-8], blob + b"\0" * 8, b"garbage!", b""):
        with pytest.raises(KernelCallError) as err:
            sim.write_baseline(bad)
        assert err.value.errno == errno.EINVAL
    with pytest.raises(KernelCallError) as err:
        sim.write_baseline(b"\0" * ((1 << 20) + 1))
    assert err.value.errno == errno.E2BIG


def test_a_second_baseline_is_refused_with_ebusy(pooled: SimulatedHost) -> None:
    with pytest.raises(KernelStateError, match="pool already populated") as err:
        pooled.write_baseline(standard_baseline())
    assert err.value.errno == errno.EBUSY
    assert err.value.exit_code == ExitCode.STATE
    assert err.value.hint is not None and "/resources" in err.value.hint


def test_a_failure_part_way_leaves_what_was_done(sim: SimulatedHost) -> None:
    # The first chunk is allocated, then the second request fails: nothing is rolled back.
    with pytest.raises(KernelCallError) as err:
        sim.write_baseline(baseline([4], [(2 * GiB, 0), (40 * GiB, 1)]))
    assert err.value.errno == errno.ENOMEM
    assert len(sim.iomem().pool_chunks()) == 1
    with pytest.raises(KernelStateError):
        sim.write_baseline(standard_baseline())
