"""Overlay transactions on the simulated host: every operation, its errors, the ordering
rules, transaction ids and files, and the one-page write limit."""

from __future__ import annotations

import errno

import pytest

from kerf.dts import from_dtb
from kerf.dts.tree import Tree
from kerf.kernel.backend import KernelBackend, TxStatus
from kerf.kernel.errors import KernelCallError
from kerf.kernel.sim import SimulatedHost
from planner.hardware import MemoryRange
from tests.kernel.simhost import (
    GiB,
    MiB,
    assert_files_mirror_state,
    cpu_items,
    create,
    create_op,
    dtb,
    expect_applied,
    expect_failed,
    fragment,
    mem_items,
    op,
    overlay,
    pci_items,
    remove,
    standard_baseline,
    u64,
)

CHUNK0 = 12 * GiB  # node 0 pool chunk [12 GiB, 16 GiB)
CHUNK1 = 24 * GiB  # node 1 pool chunk [24 GiB, 32 GiB)


def itree(sim: SimulatedHost, name: str) -> Tree:
    return from_dtb(sim.read_instance_tree(name))


def pool(sim: SimulatedHost) -> Tree:
    return from_dtb(sim.read_device_tree())


def available(sim: SimulatedHost) -> list[int]:
    return pool(sim).get_node("/resources").props["cpus-available"].to_u64s()


def test_is_a_kernel_backend(pooled: SimulatedHost) -> None:
    assert isinstance(pooled, KernelBackend)


# --- instance-create ----------------------------------------------------------------------------


def test_create_gives_cpus_and_memory(pooled: SimulatedHost) -> None:
    tx = pooled.write_overlay(create("web", cpus=[2, 3], memory=GiB, numa=0))
    assert (tx.id, tx.status, tx.instance, tx.resources) == (2, TxStatus.APPLIED, "/instances", "unknown")
    info = pooled.instance("web")
    assert (info.id, info.status.value) == (1, "ready")
    tree = itree(pooled, "web")
    assert tree.root.name == "" and tree.root.props["model"].to_string() == "web"
    assert tree.root.props["id"].to_u32() == 1
    resources = tree.get_node("/resources")
    assert resources.props["cpus"].to_u64s() == [2, 3]
    assert resources.props["memory-base"].to_u64() == CHUNK0  # first fit: lowest free address
    assert resources.props["memory-bytes"].to_u64() == GiB
    assert available(pooled) == [10, 11, 4, 5, 6, 7, 12, 13, 14, 15]
    assert pool(pooled).get_node("/resources").props["cpus"].to_u64s()[:2] == [2, 3]  # members stay
    (chunk, _) = pooled.iomem().pool_chunks()
    assert [(r.instance_id, r.instance_name, r.index, r.range) for r in chunk.regions] == [
        (1, "web", 0, MemoryRange(CHUNK0, GiB))
    ]
    assert_files_mirror_state(pooled)


def test_ids_are_the_lowest_free_unless_given(pooled: SimulatedHost) -> None:
    for name in ("a", "b"):
        expect_applied(pooled, create(name, memory=64 * MiB))
    expect_applied(pooled, create("seven", ident=7))
    expect_applied(pooled, remove("a"))
    expect_applied(pooled, create("c"))
    assert [(i.name, i.id) for i in pooled.instances()] == [("c", 1), ("b", 2), ("seven", 7)]


def test_create_without_memory_or_cpus(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("empty"))
    resources = itree(pooled, "empty").get_node("/resources")
    assert "memory-base" not in resources.props and resources.props["cpus"].to_u64s() == []


def test_properties_the_kernel_ignores(pooled: SimulatedHost) -> None:
    extra = (
        f'memory-base = {u64(0x1000)}; cpu-affinity = "compact"; memory-policy = "local"; '
        "uring { sq-entries = <256>; }; options { enable-host-kcore; };"
    )
    expect_applied(pooled, create("web", memory=GiB, extra=extra))
    assert itree(pooled, "web").get_node("/resources").props["memory-base"].to_u64() == CHUNK0


def test_cpus_that_are_not_free_are_dropped_with_a_warning(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("web", cpus=[2, 0], memory=GiB))
    assert itree(pooled, "web").get_node("/resources").props["cpus"].to_u64s() == []
    assert any("Continuing without CPU assignment" in line for line in pooled.kernel_log())


def test_create_with_devices(pooled: SimulatedHost) -> None:
    expect_applied(pooled, op("/resources", "device-add", pci_items("0000:09:10.0")))
    devices = (
        'devices { vf0 { device-type = "pci"; pci-id = "0000:09:10.0"; vendor-id = <0x8086>; '
        'device-id = <0x1521>; }; nvme { device-type = "pci"; pci-id = "0000:0a:00.0"; '
        "vendor-id = <0x144d>; device-id = <0xa808>; }; };"
    )
    expect_applied(pooled, create("web", memory=GiB, extra=devices))
    tree = itree(pooled, "web")
    assert tree.get_node("/pci@9/pci@10,0").props["vendor-id"].to_u32() == 0x8086
    assert tree.find_node("/pci@a") is None  # not in the pool: skipped
    assert any("0000:0a:00.0 is not free in the pool" in line for line in pooled.kernel_log())
    assert pool(pooled).find_node("/pci@9") is None  # lent devices leave the pool tree


CREATE_ERRORS = [
    # (name, operation node, errno, words)
    ("no name", "instance-create { resources { }; };", errno.EINVAL, "instance-name must be"),
    ("empty name", 'instance-create { instance-name = ""; resources { }; };', errno.EINVAL, "instance-name"),
    ("slash", 'instance-create { instance-name = "a/b"; resources { }; };', errno.EINVAL, "without '/'"),
    ("id 0", create_op("web", ident=0), errno.ENOMEM, "Instance ID 0 is reserved for the host kernel"),
    ("no resources", 'instance-create { instance-name = "web"; };', errno.EINVAL, "needs a resources node"),
    ("short memory", create_op("web", extra="memory-bytes = <0x40000000>;"), errno.EINVAL, "one u64"),
    ("odd memory", create_op("web", memory=GiB + 12), errno.EINVAL, "page-aligned"),
    ("zero memory", create_op("web", memory=0), errno.EINVAL, "non-zero"),
    ("u32 cpus", create_op("web", extra="cpus = <2 3 10>;"), errno.EINVAL, "u64 cells"),
    ("device-names", create_op("web", extra='device-names = "eth0";'), errno.EINVAL, "device-names is not"),
    (
        "too much",
        create_op("web", memory=9 * GiB, numa=1),
        errno.ENOMEM,
        "not enough free pool memory on node 1",
    ),
    ("node", create_op("web", numa=64), errno.EINVAL, "not below 64"),
    (
        "pci ids",
        create_op("web", extra='devices { d { device-type = "pci"; pci-id = "0000:09:10.0"; }; };'),
        errno.EINVAL,
        "needs vendor-id and device-id",
    ),
    (
        "platform name",
        create_op("web", extra='devices { d { device-type = "platform"; }; };'),
        errno.EINVAL,
        "needs device-name or acpi-hid",
    ),
    (
        "virtio queues",
        create_op("web", extra="virtio { net { device-id = <1>; queues = <0>; }; };"),
        errno.EINVAL,
        "queues (1..8)",
    ),
    (
        "virtio count",
        create_op(
            "web",
            extra="virtio { "
            + "".join(f"v{i} {{ device-id = <1>; queues = <1>; }};" for i in range(9))
            + " };",
        ),
        errno.E2BIG,
        "more than 8 virtio devices",
    ),
    ("chosen", create_op("web", extra='chosen { bootargs = "x"; };'), errno.EINVAL, "multikernel,host-tree"),
]


@pytest.mark.parametrize(
    ("node", "code", "words"), [c[1:] for c in CREATE_ERRORS], ids=[c[0] for c in CREATE_ERRORS]
)
def test_create_errors(pooled: SimulatedHost, node: str, code: int, words: str) -> None:
    expect_failed(pooled, overlay(fragment("0", "/instances", node)), code, words)
    assert pooled.instances() == []
    assert len(available(pooled)) == 12
    assert_files_mirror_state(pooled)


def test_duplicate_name_or_id(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("web", ident=3))
    expect_failed(pooled, create("web"), errno.EEXIST, "named 'web' already exists")
    expect_failed(pooled, create("db", ident=3), errno.EEXIST, "instance id 3 is already in use")


def test_virtio_and_host_tree_are_accepted(pooled: SimulatedHost) -> None:
    extra = "virtio { net { device-id = <1>; queues = <2>; }; }; chosen { multikernel,host-tree { }; };"
    expect_applied(pooled, create("web", extra=extra))
    (instance,) = pooled.snapshot().instances
    assert [(v.name, v.queues, v.queue_size) for v in instance.virtio] == [("net", 2, 256)]


# --- instance-remove -------------------------------------------------------------------------------


def test_remove_returns_everything_to_the_pool(pooled: SimulatedHost) -> None:
    expect_applied(pooled, op("/resources", "device-add", pci_items("0000:09:10.0")))
    expect_applied(pooled, create("web", cpus=[2, 3], memory=GiB))
    expect_applied(pooled, op("/instances/web", "device-add", pci_items("0000:09:10.0")))
    expect_applied(pooled, remove("web"))
    assert pooled.instances() == []
    assert sorted(available(pooled)) == [2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15]
    assert all(not c.regions for c in pooled.iomem().pool_chunks())
    assert pool(pooled).find_node("/pci@9/pci@10,0") is not None
    assert_files_mirror_state(pooled)


def test_remove_errors(pooled: SimulatedHost, elf: bytes) -> None:
    expect_failed(pooled, remove("ghost"), errno.ENOENT, "no instance named 'ghost'")
    expect_applied(pooled, create("web", cpus=[2], memory=GiB))
    pooled.load(1, elf, None, "")
    expect_failed(pooled, remove("web"), errno.EBUSY, "web is loaded")
    pooled.start(1)
    expect_failed(pooled, remove("web"), errno.EBUSY, "web is active")


@pytest.fixture
def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(4096)


# --- fragments and targets ----------------------------------------------------------------------


FRAGMENT_ERRORS = [
    ("no fragment", overlay(root_props='mk,resources = "x";'), errno.EINVAL, "no fragment@N"),
    (
        "bad unit",
        dtb('/ { fragment@xyz { target-path = "/instances"; __overlay__ { }; }; };'),
        errno.EINVAL,
        "not hexadecimal",
    ),
    ("no target", dtb("/ { fragment@0 { __overlay__ { }; }; };"), errno.EINVAL, "target-path is required"),
    (
        "no overlay",
        dtb('/ { fragment@0 { target-path = "/instances"; }; };'),
        errno.EINVAL,
        "__overlay__ is required",
    ),
    ("bad target", overlay(fragment("0", "/foo", "")), errno.EINVAL, "unknown target-path '/foo'"),
    ("ghost", op("/instances/ghost", "cpu-add", cpu_items(2)), errno.ENOENT, "no instance named 'ghost'"),
    ("empty name", overlay(fragment("0", "/instances/", "")), errno.EINVAL, "bad target-path"),
    (
        "resource op on namespace",
        op("/instances", "cpu-add", cpu_items(2)),
        errno.EINVAL,
        "need /instances/<name>",
    ),
    (
        "create on pool",
        overlay(fragment("0", "/resources", create_op("x"))),
        errno.EINVAL,
        "only under /instances",
    ),
]


@pytest.mark.parametrize(
    ("blob", "code", "words"), [f[1:] for f in FRAGMENT_ERRORS], ids=[f[0] for f in FRAGMENT_ERRORS]
)
def test_fragment_errors(pooled: SimulatedHost, blob: bytes, code: int, words: str) -> None:
    expect_failed(pooled, blob, code, words)


def test_create_on_an_instance_target(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("web"))
    expect_failed(
        pooled, overlay(fragment("0", "/instances/web", create_op("x"))), errno.EINVAL, "only under"
    )


def test_pool_operations_need_a_pool(sim: SimulatedHost) -> None:
    expect_failed(sim, op("/resources", "cpu-add", cpu_items(2)), errno.EPERM, "no pool")


def test_fragments_run_in_hexadecimal_unit_order(pooled: SimulatedHost) -> None:
    # fragment@a (10) runs after fragment@9: the instance exists when cpu-add runs.
    good = overlay(
        fragment("a", "/instances/web", f"cpu-add {{ {cpu_items(3)} }};"),
        fragment("9", "/instances", create_op("web", cpus=[2])),
    )
    expect_applied(pooled, good)
    assert itree(pooled, "web").get_node("/resources").props["cpus"].to_u64s() == [2, 3]
    # fragment@10 (16) runs after fragment@f (15): here the cpu-add comes first and fails.
    bad = overlay(
        fragment("10", "/instances", create_op("db", cpus=[4])),
        fragment("f", "/instances/db", f"cpu-add {{ {cpu_items(5)} }};"),
    )
    expect_failed(pooled, bad, errno.ENOENT, "no instance named 'db'")


def test_failed_transaction_keeps_what_ran_before(pooled: SimulatedHost) -> None:
    blob = overlay(
        fragment("0", "/instances", create_op("web", cpus=[2], memory=GiB)),
        fragment("1", "/instances/web", f"cpu-add {{ {cpu_items(3, 0)} }};"),
    )
    tx = expect_failed(pooled, blob, errno.ENOENT, "CPU 0 is not in the pool")
    assert itree(pooled, "web").get_node("/resources").props["cpus"].to_u64s() == [2, 3]
    assert pooled.transaction(tx).status is TxStatus.FAILED
    assert_files_mirror_state(pooled)


def test_unknown_operations_and_items_are_skipped(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("web", cpus=[2], memory=GiB))
    blob = overlay(
        fragment(
            "0",
            "/instances/web",
            f"cpu-grow {{ {cpu_items(3)} }}; "
            f"memory-add {{ region@0 {{ reg = {u64(CHUNK0 + 2 * GiB, GiB)}; }}; }};",
        )
    )
    expect_applied(pooled, blob)
    resources = itree(pooled, "web").get_node("/resources")
    assert resources.props["cpus"].to_u64s() == [2]
    assert resources.props["memory-bytes"].to_u64() == GiB


def test_memory_remove_runs_before_memory_add_in_one_fragment(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("web", memory=GiB))
    # Replace [12 GiB, 13 GiB) by [12.5 GiB, 13.5 GiB): only possible when the remove runs first,
    # although the overlay lists memory-add first.
    body = (
        f"memory-add {{ {mem_items((CHUNK0 + GiB // 2, GiB))} }}; "
        f"memory-remove {{ {mem_items((CHUNK0, GiB))} }};"
    )
    expect_applied(pooled, overlay(fragment("0", "/instances/web", body)))
    assert itree(pooled, "web").get_node("/resources").props["memory-base"].to_u64() == CHUNK0 + GiB // 2


def test_pool_fragment_removes_cpus_before_memory(pooled: SimulatedHost) -> None:
    cpus = [2, 3, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15]
    chunks = mem_items((CHUNK0, 4 * GiB), (CHUNK1, 8 * GiB))
    # As two fragments, memory first: the last chunk holds the park area of the pool CPUs.
    split = overlay(
        fragment("0", "/resources", f"memory-remove {{ {chunks} }};"),
        fragment("1", "/resources", f"cpu-remove {{ {cpu_items(*cpus)} }};"),
    )
    expect_failed(pooled, split, errno.EBUSY, "park area")
    # As one fragment the kernel's order (cpu-remove before memory-remove) makes it work,
    # and an empty pool takes a new baseline.
    one = overlay(
        fragment(
            "0",
            "/resources",
            f"memory-remove {{ {mem_items((CHUNK1, 8 * GiB))} }}; cpu-remove {{ {cpu_items(*cpus)} }};",
        )
    )
    expect_applied(pooled, one)
    assert pooled.snapshot().pool_is_empty()
    pooled.write_baseline(standard_baseline())


# --- transaction ids and files --------------------------------------------------------------------------


def test_transaction_ids_start_at_2_and_are_never_reused(pooled: SimulatedHost) -> None:
    assert expect_applied(pooled, create("a")) == 2
    assert expect_failed(pooled, create("a"), errno.EEXIST, "already exists") == 3
    pooled.rollback(2)
    assert expect_applied(pooled, create("b")) == 4
    assert [t.id for t in pooled.transactions()] == [3, 4]


def test_transaction_files(pooled: SimulatedHost) -> None:
    long_name = "x" * 140
    blob = overlay(
        fragment("1", f"/instances/{long_name}", ""),
        fragment("0", "/instances", create_op("web")),
        root_props='mk,resources = "web:create";',
    )
    tx = pooled.write_overlay(blob)
    folder = pooled.root / "overlays" / f"tx_{tx.id}"
    assert (folder / "id").read_text() == f"{tx.id}\n"
    assert (folder / "instance").read_text() == "/instances\n"  # the first fragment by unit
    assert (folder / "resources").read_text() == "web:create\n"
    assert (folder / "dtbo").read_bytes() == blob
    assert pooled.read_transaction_blob(tx.id) == blob
    assert (folder / "status").read_text() == "failed\n"  # the instance named x*140 does not exist
    truncated = pooled.write_overlay(overlay(fragment("0", f"/instances/{long_name}", "")))
    assert truncated.instance == f"/instances/{long_name}"[:127]


def _padded(size: int) -> bytes:
    """An applicable overlay of exactly ``size`` bytes (padding in a root property)."""
    base = create("pad")
    blob = overlay(fragment("0", "/instances", create_op("pad")), root_props="mk,padding = [];")
    extra = size - len(blob)
    assert extra >= 0 and len(base) <= size
    padding = "mk,padding = [" + "00" * extra + "];"
    blob = overlay(fragment("0", "/instances", create_op("pad")), root_props=padding)
    assert len(blob) == size
    return blob


def test_one_page_limit_of_overlays_new(pooled: SimulatedHost) -> None:
    with pytest.raises(KernelCallError, match="only the first 4096 bytes") as err:
        pooled.write_overlay(_padded(4100))
    assert err.value.errno == errno.EINVAL
    assert pooled.transactions() == []
    assert expect_applied(pooled, _padded(4096)) == 2


@pytest.mark.parametrize("blob", [b"", b"not a device tree blob", b"\xd0\x0d\xfe\xed" + bytes(60)])
def test_invalid_blobs_are_refused_by_write(pooled: SimulatedHost, blob: bytes) -> None:
    with pytest.raises(KernelCallError) as err:
        pooled.write_overlay(blob)
    assert err.value.errno == errno.EINVAL
    assert pooled.transactions() == []


# --- resource operations on an instance ---------------------------------------------------------


@pytest.fixture
def web(pooled: SimulatedHost) -> SimulatedHost:
    """web: CPUs 2 and 3, 1 GiB at CHUNK0; db: CPU 10, 1 GiB after it; VF 0 in the pool."""
    expect_applied(pooled, create("web", cpus=[2, 3], memory=GiB, numa=0))
    expect_applied(pooled, create("db", cpus=[10], memory=GiB, numa=0))
    expect_applied(pooled, op("/resources", "device-add", pci_items("0000:09:10.0")))
    return pooled


def web_resources(sim: SimulatedHost) -> dict[str, list[int]]:
    node = itree(sim, "web").get_node("/resources")
    return {
        "cpus": node.props["cpus"].to_u64s(),
        "memory": [node.props["memory-base"].to_u64(), node.props["memory-bytes"].to_u64()]
        if "memory-base" in node.props
        else [],
    }


INSTANCE_OPS_OK = [
    # (name, operation, items, expected web resources)
    ("cpu-add", "cpu-add", cpu_items(11), {"cpus": [2, 3, 11], "memory": [CHUNK0, GiB]}),
    (
        "cpu-add u32 reg",
        "cpu-add",
        "cpu@b { reg = <11>; numa-node-id = <0>; flags = <4>; };",
        {"cpus": [2, 3, 11], "memory": [CHUNK0, GiB]},
    ),
    ("cpu-remove", "cpu-remove", cpu_items(2), {"cpus": [3], "memory": [CHUNK0, GiB]}),
    (
        "memory-add",
        "memory-add",
        mem_items((CHUNK0 + 3 * GiB, GiB)),
        {"cpus": [2, 3], "memory": [CHUNK0, 2 * GiB]},
    ),
    ("memory-remove", "memory-remove", mem_items((CHUNK0, GiB)), {"cpus": [2, 3], "memory": []}),
]


@pytest.mark.parametrize(
    ("name", "items", "expected"), [o[1:] for o in INSTANCE_OPS_OK], ids=[o[0] for o in INSTANCE_OPS_OK]
)
def test_instance_operations(
    web: SimulatedHost, name: str, items: str, expected: dict[str, list[int]]
) -> None:
    expect_applied(web, op("/instances/web", name, items))
    assert web_resources(web) == expected
    assert_files_mirror_state(web)


def test_instance_devices(web: SimulatedHost) -> None:
    expect_applied(
        web,
        op(
            "/instances/web",
            "device-add",
            'pci@0 { pci-id = "0000:09:10.0"; driver = "vfio-pci"; flags = <1>; };',
        ),
    )
    assert itree(web, "web").find_node("/pci@9/pci@10,0") is not None
    assert pool(web).find_node("/pci@9") is None
    expect_applied(web, op("/instances/web", "device-remove", pci_items("0000:09:10.0")))
    assert itree(web, "web").find_node("/pci@9") is None
    assert pool(web).find_node("/pci@9/pci@10,0") is not None


INSTANCE_OP_ERRORS = [
    ("cpu not in pool", "cpu-add", cpu_items(0), errno.ENOENT, "CPU 0 is not in the pool"),
    ("cpu lent", "cpu-add", cpu_items(10), errno.EBUSY, "CPU 10 is already lent"),
    (
        "cpu reg",
        "cpu-add",
        "cpu@0 { reg = [00 02]; };",
        errno.EINVAL,
        "one u64 or one u32 cell, found 2 bytes",
    ),
    ("cpu no reg", "cpu-add", "cpu@0 { };", errno.EINVAL, "found no reg"),
    (
        "cpu node",
        "cpu-add",
        f"cpu@0 {{ reg = {u64(11)}; numa-node-id = <99>; }};",
        errno.EINVAL,
        "MAX_NUMNODES",
    ),
    ("cpu not held", "cpu-remove", cpu_items(10), errno.ENOENT, "does not have CPU 10"),
    ("mem outside pool", "memory-add", mem_items((0x1000, GiB)), errno.EINVAL, "inside a pool chunk"),
    ("mem unaligned", "memory-add", mem_items((CHUNK0 + 3 * GiB + 1, 4096)), errno.EINVAL, "page-aligned"),
    ("mem overlap", "memory-add", mem_items((CHUNK0 + GiB // 2, GiB)), errno.EBUSY, "overlaps allocated"),
    (
        "mem node",
        "memory-add",
        f"memory@0 {{ reg = {u64(CHUNK0 + 3 * GiB, GiB)}; numa-node-id = <1>; }};",
        errno.EINVAL,
        "on node 0, not 1",
    ),
    (
        "mem reg",
        "memory-add",
        f"memory@0 {{ reg = {u64(CHUNK0)}; }};",
        errno.EINVAL,
        "(16 bytes), found 8 bytes",
    ),
    ("mem not held", "memory-remove", mem_items((CHUNK0, 2 * GiB)), errno.ENOENT, "no memory region exactly"),
    ("dev not in pool", "device-add", pci_items("0000:0a:00.0"), errno.ENOENT, "is not in the pool"),
    ("dev bad id", "device-add", pci_items("0000:09:10"), errno.EINVAL, "is not DDDD:BB:SS.F"),
    ("dev not held", "device-remove", pci_items("0000:09:10.0"), errno.ENOENT, "does not have PCI device"),
]


@pytest.mark.parametrize(
    ("name", "items", "code", "words"),
    [e[1:] for e in INSTANCE_OP_ERRORS],
    ids=[e[0] for e in INSTANCE_OP_ERRORS],
)
def test_instance_operation_errors(web: SimulatedHost, name: str, items: str, code: int, words: str) -> None:
    before = web_resources(web)
    expect_failed(web, op("/instances/web", name, items), code, words)
    assert web_resources(web) == before


def test_device_lent_to_another_instance(web: SimulatedHost) -> None:
    expect_applied(web, op("/instances/db", "device-add", pci_items("0000:09:10.0")))
    expect_failed(
        web, op("/instances/web", "device-add", pci_items("0000:09:10.0")), errno.EBUSY, "already lent"
    )


def test_operations_on_a_running_instance_are_delivered(web: SimulatedHost, elf: bytes) -> None:
    web.load(1, elf, None, "")
    web.start(1)
    expect_applied(web, op("/instances/web", "cpu-add", cpu_items(11)))
    assert any("delivered to the running instance" in line for line in web.kernel_log())
    assert web.instance("web").status.value == "active"


# --- pool (/resources) operations ---------------------------------------------------------------


def pool_chunks(sim: SimulatedHost) -> list[tuple[int, int]]:
    return [(c.range.base, c.range.size) for c in sim.iomem().pool_chunks()]


def test_pool_memory_add_and_remove(pooled: SimulatedHost) -> None:
    grow = overlay(
        fragment(
            "0", "/resources", f"memory-add {{ memory@0 {{ size = {u64(GiB)}; numa-node-id = <0>; }}; }};"
        )
    )
    expect_applied(pooled, grow)
    assert pool_chunks(pooled) == [(11 * GiB, GiB), (CHUNK0, 4 * GiB), (CHUNK1, 8 * GiB)]
    expect_applied(pooled, op("/resources", "memory-remove", mem_items((11 * GiB, GiB))))
    assert pool_chunks(pooled) == [(CHUNK0, 4 * GiB), (CHUNK1, 8 * GiB)]


POOL_ERRORS = [
    ("grow with reg", "memory-add", mem_items((GiB, GiB)), errno.EINVAL, "takes size, not reg"),
    ("grow without size", "memory-add", "memory@0 { };", errno.EINVAL, "size (u64) is required"),
    (
        "grow too much",
        "memory-add",
        f"memory@0 {{ size = {u64(13 * GiB)}; numa-node-id = <0>; }};",
        errno.ENOMEM,
        "contiguous",
    ),
    (
        "grow offline node",
        "memory-add",
        f"memory@0 {{ size = {u64(GiB)}; numa-node-id = <3>; }};",
        errno.EINVAL,
        "offline",
    ),
    ("shrink inexact", "memory-remove", mem_items((CHUNK0, GiB)), errno.ENOENT, "no pool chunk is exactly"),
    ("shrink used", "memory-remove", mem_items((CHUNK0, 4 * GiB)), errno.EBUSY, "still has instance memory"),
    ("cpu unknown", "cpu-add", cpu_items(64), errno.ENODEV, "CPU 64 maps to no present"),
    ("cpu twice", "cpu-add", cpu_items(2), errno.EBUSY, "CPU 2 is already in the pool"),
    ("cpu lent", "cpu-remove", cpu_items(2), errno.EBUSY, "CPU 2 is lent"),
    ("cpu absent", "cpu-remove", cpu_items(0), errno.ENOENT, "CPU 0 is not in the pool"),
    ("dev unknown", "device-add", pci_items("0000:42:00.0"), errno.ENODEV, "no PCI device 0000:42:00.0"),
    ("dev twice", "device-add", pci_items("0000:09:10.0"), errno.EBUSY, "already in the pool"),
    (
        "dev alias",
        "device-add",
        f'pci@0 {{ pci-id = "0000:0a:00.0"; alias = "{"a" * 32}"; }};',
        errno.EINVAL,
        "alias longer",
    ),
    ("dev lent", "device-remove", pci_items("0000:09:10.0"), errno.EBUSY, "lent to an instance"),
    ("dev absent", "device-remove", pci_items("0000:0a:00.0"), errno.ENOENT, "not in the pool"),
]


@pytest.mark.parametrize(
    ("name", "items", "code", "words"), [e[1:] for e in POOL_ERRORS], ids=[e[0] for e in POOL_ERRORS]
)
def test_pool_operation_errors(web: SimulatedHost, name: str, items: str, code: int, words: str) -> None:
    expect_applied(web, op("/instances/web", "device-add", pci_items("0000:09:10.0")))
    expect_failed(web, op("/resources", name, items), code, words)


def test_pool_cpus_and_devices(pooled: SimulatedHost) -> None:
    expect_applied(pooled, op("/resources", "cpu-add", cpu_items(1)))
    expect_applied(pooled, op("/resources", "cpu-remove", cpu_items(15)))
    resources = pool(pooled).get_node("/resources")
    assert resources.props["cpus"].to_u64s() == [2, 3, 10, 11, 4, 5, 6, 7, 12, 13, 14, 1]
    expect_applied(
        pooled, op("/resources", "device-add", 'pci@0 { pci-id = "0000:0A:00.0"; alias = "nvme0"; };')
    )
    tree = pool(pooled)
    assert tree.get_node("/aliases").props["nvme0"].to_string() == "/pci@a/pci@0,0"
    assert tree.get_node("/pci@a/pci@0,0").props["device-id"].to_u32() == 0xA808
    expect_applied(pooled, op("/resources", "device-remove", pci_items("0000:0a:00.0")))
    assert pool(pooled).find_node("/pci@a") is None


# --- memory placement -------------------------------------------------------------------------------


def test_first_fit_and_halving_on_fragmentation(pooled: SimulatedHost) -> None:
    for name in "abcd":
        expect_applied(pooled, create(name, memory=GiB, numa=0))
    expect_applied(pooled, remove("a"))
    expect_applied(pooled, remove("c"))
    # Free on node 0: [12, 13) and [14, 15) GiB. 2 GiB fit in no extent: halved to two regions.
    expect_applied(pooled, create("e", memory=2 * GiB, numa=0))
    regions = [(r.index, r.range) for r in pooled.iomem().instance_regions() if r.instance_name == "e"]
    assert regions == [(0, MemoryRange(CHUNK0, GiB)), (1, MemoryRange(CHUNK0 + 2 * GiB, GiB))]
    resources = itree(pooled, "e").get_node("/resources")
    assert (resources.props["memory-base"].to_u64(), resources.props["memory-bytes"].to_u64()) == (
        CHUNK0,
        2 * GiB,
    )
    expect_failed(pooled, create("f", memory=GiB, numa=0), errno.ENOMEM, "requested=0x40000000, free=0x0")


def test_memory_without_a_node_takes_the_first_node_where_it_fits(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("a", memory=GiB))
    expect_applied(pooled, create("b", memory=5 * GiB))  # node 0 has only 3 GiB left: one node-1 region
    regions = {r.instance_name: r.range for r in pooled.iomem().instance_regions()}
    assert regions == {"a": MemoryRange(CHUNK0, GiB), "b": MemoryRange(CHUNK1, 5 * GiB)}


def test_iomem_file_in_the_kernel_format(web: SimulatedHost) -> None:
    assert (web.root / "iomem").read_text() == (
        "00000000-2ffffffff : System RAM\n"
        "300000000-3ffffffff : Multikernel Memory Pool\n"
        "  300000000-33fffffff : mk-instance-1-web-region-0\n"
        "  340000000-37fffffff : mk-instance-2-db-region-0\n"
        "400000000-5ffffffff : System RAM\n"
        "600000000-7ffffffff : Multikernel Memory Pool\n"
    )
