"""Rollback (rmdir overlays/tx_N) on the simulated host: the inverse of every operation of
the blob, in reverse (reference §1.7), whether or not it ran; the operations the kernel
cannot undo; failures that keep the transaction; retries that replay the blob again."""

from __future__ import annotations

import errno

import pytest

from kerf.dts import from_dtb
from kerf.errors import ExitCode
from kerf.kernel.backend import NoSuchTransactionError, RollbackRefusedError, TxStatus
from kerf.kernel.errors import KernelCallError, KernelStateError
from kerf.kernel.sim import SimulatedHost
from tests.kernel.simhost import (
    GiB,
    assert_files_mirror_state,
    cpu_items,
    create,
    create_op,
    expect_applied,
    expect_failed,
    fragment,
    mem_items,
    op,
    overlay,
    pci_items,
    remove,
    u64,
)

CHUNK0, CHUNK1 = 12 * GiB, 24 * GiB
ELF = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(4096)


def _resources(sim: SimulatedHost, name: str) -> tuple[object, ...]:
    """An instance's CPU set (order aside: a CPU added back goes last), memory, devices."""
    tree = from_dtb(sim.read_instance_tree(name))
    props = tree.get_node("/resources").props
    memory = [props[p].to_u64() for p in ("memory-base", "memory-bytes") if p in props]
    devices = sorted(n.path for n in tree.nodes() if n.name.startswith("pci@"))
    return sorted(props["cpus"].to_u64s()), memory, devices


def view(sim: SimulatedHost) -> dict[str, object]:
    """What an observer sees: instances, pool tree and iomem (to compare before/after)."""
    return {
        "instances": [(i.name, i.id, i.status) for i in sim.instances()],
        "trees": {i.name: _resources(sim, i.name) for i in sim.instances()},
        "pool": sim.read_device_tree(),
        # region numbers are not compared: a region added back gets a new number
        "chunks": [c.range for c in sim.iomem().pool_chunks()],
        "regions": sorted((r.instance_name, r.range) for r in sim.iomem().instance_regions()),
    }


@pytest.fixture
def web(pooled: SimulatedHost) -> SimulatedHost:
    expect_applied(pooled, create("web", cpus=[2, 3], memory=GiB, numa=0))
    expect_applied(pooled, op("/resources", "device-add", pci_items("0000:09:10.0")))
    return pooled


UNDOABLE = [
    ("create", create("db", cpus=[10], memory=GiB)),
    ("instance cpu-add", op("/instances/web", "cpu-add", cpu_items(10, 11))),
    ("instance cpu-remove", op("/instances/web", "cpu-remove", cpu_items(3))),
    ("instance memory-add", op("/instances/web", "memory-add", mem_items((CHUNK0 + 2 * GiB, GiB)))),
    ("instance memory-remove", op("/instances/web", "memory-remove", mem_items((CHUNK0, GiB)))),
    ("instance device-add", op("/instances/web", "device-add", pci_items("0000:09:10.0"))),
    ("pool cpu-add", op("/resources", "cpu-add", cpu_items(1))),
    ("pool cpu-remove", op("/resources", "cpu-remove", cpu_items(15))),
    ("pool device-add", op("/resources", "device-add", pci_items("0000:0a:00.0"))),
    ("pool device-remove", op("/resources", "device-remove", pci_items("0000:09:10.0"))),
    (
        "several fragments",
        overlay(
            fragment("0", "/instances", create_op("db", cpus=[10], memory=GiB)),
            fragment(
                "1",
                "/instances/db",
                f"cpu-add {{ {cpu_items(11)} }}; device-add {{ {pci_items('0000:09:10.0')} }};",
            ),
            fragment("2", "/instances/web", f"cpu-remove {{ {cpu_items(2)} }};"),
        ),
    ),
]


@pytest.mark.parametrize("blob", [u[1] for u in UNDOABLE], ids=[u[0] for u in UNDOABLE])
def test_rollback_restores_what_was_there(web: SimulatedHost, blob: bytes) -> None:
    before = view(web)
    tx = expect_applied(web, blob)
    assert view(web) != before
    web.rollback(tx)
    assert view(web) == before
    assert tx not in [t.id for t in web.transactions()]
    assert not (web.root / "overlays" / f"tx_{tx}").exists()
    assert_files_mirror_state(web)


def test_a_cpu_given_back_by_rollback_goes_last(web: SimulatedHost) -> None:
    tx = expect_applied(web, op("/instances/web", "cpu-remove", cpu_items(2)))
    web.rollback(tx)
    cpus = from_dtb(web.read_instance_tree("web")).get_node("/resources").props["cpus"].to_u64s()
    assert cpus == [3, 2]  # the boot CPU (the first) is now 3, as cpu-add appends


def test_pool_memory_remove_is_undone_by_regrowing_the_same_size(web: SimulatedHost) -> None:
    tx = expect_applied(web, op("/resources", "memory-remove", mem_items((CHUNK1, 8 * GiB))))
    web.rollback(tx)
    chunks = [(c.range.size, c.range.base) for c in web.iomem().pool_chunks()]
    assert chunks == [(4 * GiB, CHUNK0), (8 * GiB, CHUNK1)]  # free again, so the top of node 1


def test_operations_the_kernel_cannot_undo_are_left_with_a_warning(web: SimulatedHost) -> None:
    grow = op("/resources", "memory-add", f"memory@0 {{ size = {u64(GiB)}; numa-node-id = <1>; }};")
    tx = expect_applied(web, grow)
    web.rollback(tx)
    assert len(web.iomem().pool_chunks()) == 3
    tx = expect_applied(web, remove("web"))
    web.rollback(tx)
    assert web.instances() == []
    log = "\n".join(web.kernel_log())
    assert "/resources memory-add cannot be undone exactly" in log
    assert "/instances instance-remove cannot be undone exactly" in log


def test_failed_rollback_keeps_the_transaction_and_can_be_retried(web: SimulatedHost) -> None:
    tx = expect_applied(web, create("db", cpus=[10], memory=GiB))
    db = web.instance("db").id
    web.load(db, ELF, None, "")
    with pytest.raises(
        KernelStateError, match="rollback of transaction 4 failed: instance db is loaded"
    ) as err:
        web.rollback(tx)
    assert err.value.errno == errno.EBUSY and err.value.exit_code == ExitCode.STATE
    assert web.transaction(tx).status is TxStatus.FAILED
    assert (web.root / "overlays" / f"tx_{tx}" / "status").read_text() == "failed\n"
    web.unload(db)
    web.rollback(tx)
    assert [i.name for i in web.instances()] == ["web"]
    assert_files_mirror_state(web)


def test_a_retry_replays_the_whole_blob_again(web: SimulatedHost) -> None:
    # Two operations: the first attempt undoes the cpu-add, then the destroy is refused.
    tx = expect_applied(
        web,
        overlay(
            fragment("0", "/instances", create_op("db", cpus=[10], memory=GiB)),
            fragment("1", "/instances/db", f"cpu-add {{ {cpu_items(11)} }};"),
        ),
    )
    db = web.instance("db").id
    web.load(db, ELF, None, "")
    with pytest.raises(KernelStateError, match="instance db is loaded"):
        web.rollback(tx)
    db_cpus = from_dtb(web.read_instance_tree("db")).get_node("/resources").props["cpus"].to_u64s()
    assert db_cpus == [10]
    web.unload(db)
    # The kernel does not remember that the cpu-add was undone: the retry starts again with
    # its inverse, which finds CPU 11 gone, and stops there.
    before = view(web)
    with pytest.raises(RollbackRefusedError, match="/instances/db does not have CPU 11") as err:
        web.rollback(tx)
    assert err.value.errno == errno.ENOENT
    assert view(web) == before
    assert web.transaction(tx).status is TxStatus.FAILED
    assert_files_mirror_state(web)


def test_rollback_of_a_failed_transaction_stops_at_the_operation_that_never_ran(
    web: SimulatedHost,
) -> None:
    blob = overlay(
        fragment("0", "/instances", create_op("db", cpus=[10], memory=GiB)),
        fragment("1", "/instances/db", f"cpu-add {{ {cpu_items(0)} }};"),
    )
    tx = expect_failed(web, blob, errno.ENOENT, "CPU 0 is not in the pool")
    after_apply = view(web)
    assert [i.name for i in web.instances()] == ["web", "db"]  # the create ran and stays
    for _attempt in range(2):  # a retry replays the same inverses and fails the same way
        with pytest.raises(RollbackRefusedError, match="/instances/db does not have CPU 0") as err:
            web.rollback(tx)
        assert err.value.errno == errno.ENOENT
        assert view(web) == after_apply
        assert web.transaction(tx).status is TxStatus.FAILED
        assert (web.root / "overlays" / f"tx_{tx}").is_dir()
    assert "rollback tx_4: cpu-remove on /instances/db failed" in "\n".join(web.kernel_log())


def test_rollback_of_a_failed_transaction_undoes_what_never_ran_until_an_inverse_fails(
    web: SimulatedHost,
) -> None:
    # fragment 0 fails (CPU 0 is not in the pool), so fragment 1 never runs; the rollback
    # walks fragment 1 first and its inverse succeeds: a free pool CPU leaves the pool.
    blob = overlay(
        fragment("0", "/instances/web", f"cpu-add {{ {cpu_items(0)} }};"),
        fragment("1", "/resources", f"cpu-add {{ {cpu_items(15)} }};"),
    )
    before = web.snapshot()
    tx = expect_failed(web, blob, errno.ENOENT, "CPU 0 is not in the pool")
    assert web.snapshot().pool_cpus == before.pool_cpus  # nothing ran
    with pytest.raises(RollbackRefusedError, match="/instances/web does not have CPU 0"):
        web.rollback(tx)
    assert 15 not in web.snapshot().pool_cpus
    assert web.snapshot().pool_cpus == [c for c in before.pool_cpus if c != 15]
    # The retry starts again from fragment 1, whose inverse now finds nothing: no change.
    with pytest.raises(RollbackRefusedError, match="CPU 15 is not in the pool"):
        web.rollback(tx)
    assert web.snapshot().pool_cpus == [c for c in before.pool_cpus if c != 15]
    assert web.transaction(tx).status is TxStatus.FAILED


def test_rolling_back_a_refused_create_destroys_the_instance_that_has_the_name(
    web: SimulatedHost,
) -> None:
    # Why kerf never rolls back a transaction the kernel refused.
    expect_applied(web, create("db", cpus=[10], memory=GiB))
    tx = expect_failed(web, create("db", cpus=[11], memory=GiB), errno.EEXIST, "already exists")
    web.rollback(tx)
    assert [i.name for i in web.instances()] == ["web"]


def test_rollback_of_an_unknown_transaction(web: SimulatedHost) -> None:
    with pytest.raises(NoSuchTransactionError) as err:
        web.rollback(77)
    assert err.value.errno == errno.ENOENT


def test_inverse_that_no_longer_applies(web: SimulatedHost) -> None:
    tx = expect_applied(web, op("/instances/web", "memory-remove", mem_items((CHUNK0, GiB))))
    expect_applied(web, create("db", memory=GiB, numa=0))  # takes the freed range
    with pytest.raises(KernelCallError, match="overlaps allocated memory") as err:
        web.rollback(tx)
    assert err.value.errno == errno.EBUSY
    assert web.transaction(tx).status is TxStatus.FAILED
