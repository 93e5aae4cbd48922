"""Batches on the simulated host: all or nothing, the status read back, verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerf.kernel.sim import SimulatedHost
from kerf.overlay import (
    CpuItem,
    InstanceCreate,
    ItemOperation,
    Kind,
    Operation,
    PciItem,
    RollbackFailedError,
    TransactionFailedError,
    apply_batch,
    build_transactions,
    instance_target,
)
from tests.kernel.simhost import GiB, dual_node_smt2, standard_baseline


@pytest.fixture
def pooled(tmp_path: Path) -> SimulatedHost:
    sim = SimulatedHost.create(tmp_path / "mk", dual_node_smt2())
    sim.write_baseline(standard_baseline())
    return sim


def _create(name: str, *cpus: int) -> InstanceCreate:
    return InstanceCreate(name, GiB, tuple(CpuItem(c, 0) for c in cpus), None, 0)


def test_a_batch_that_applies_returns_its_transactions(pooled: SimulatedHost) -> None:
    txs = build_transactions([_create("web", 2, 3)], tag="b1")
    written = apply_batch(pooled, txs)
    assert [t.resources for t in written] == ["b1 1"]
    assert all(t.applied for t in written)
    assert [i.name for i in pooled.instances()] == ["web"]


def test_a_failing_later_transaction_rolls_back_the_earlier_ones(pooled: SimulatedHost) -> None:
    # A device the pool does not hold: the kernel fails device-add after the create applied.
    ops: list[Operation] = [
        _create("web", 2, 3),
        ItemOperation(instance_target("web"), Kind.DEVICE_ADD, (PciItem("0000:7f:00.0"),)),
    ]
    first, second = build_transactions(ops, tag="b2")
    with pytest.raises(TransactionFailedError) as caught:
        apply_batch(pooled, [first, second])
    message = caught.value.message
    assert "transaction 2 of 2" in message
    assert "device-add PCI 0000:7f:00.0 (instance web)" in message
    assert "not in the pool" in message  # the simulated kernel's reason
    [failed] = pooled.transactions()
    assert f"tx_{failed.id} stays in overlays/ with status failed; it changed nothing" in message
    assert "Nothing was changed: the batch's earlier transactions were rolled back" in message
    assert "never ran" in (caught.value.hint or "")
    assert pooled.instances() == []
    # The refused transaction is not rolled back (rmdir would replay the inverse of an
    # operation that never ran): it stays, failed, and holds nothing.
    assert (failed.resources, failed.applied) == ("b2 2", False)


def test_a_refused_first_transaction_changes_nothing_and_is_left_alone(pooled: SimulatedHost) -> None:
    before = pooled.snapshot()
    txs = build_transactions([InstanceCreate("web", 64 << 30, (CpuItem(2, 0),), None, 0)], tag="b3")
    with pytest.raises(TransactionFailedError, match="the kernel refused the transaction") as caught:
        apply_batch(pooled, txs)
    assert caught.value.message.endswith("it changed nothing. Nothing was changed.")
    after = pooled.snapshot()
    assert (after.instances, after.chunks, after.pool_cpus) == (
        before.instances,
        before.chunks,
        before.pool_cpus,
    )
    assert [(t.resources, t.status.value) for t in pooled.transactions()] == [("b3 1", "failed")]


def test_a_hand_made_transaction_of_several_operations_is_not_said_to_change_nothing(
    pooled: SimulatedHost,
) -> None:
    # Not a blob of build_transactions: the create runs, then device-add fails; what ran
    # stays (the kernel does not undo a failed transaction) and kerf says so.
    from kerf.dts import from_dtb
    from kerf.overlay import OverlayTransaction, read_overlay
    from tests.kernel.simhost import create_op, fragment, overlay, pci_items

    blob = overlay(
        fragment("0", "/instances", create_op("web", cpus=[2], memory=GiB)),
        fragment("1", "/instances/web", f"device-add {{ {pci_items('0000:7f:00.0')} }};"),
        root_props='mk,resources = "b7 1";',
    )
    tx = OverlayTransaction("b7 1", tuple(read_overlay(blob)), from_dtb(blob), blob)
    assert not tx.is_single_step
    with pytest.raises(TransactionFailedError) as caught:
        apply_batch(pooled, [tx])
    assert "operations of it that ran before the failing one stay applied" in caught.value.message
    assert "Nothing was changed" not in caught.value.message
    assert [i.name for i in pooled.instances()] == ["web"]


def test_a_result_that_differs_from_the_plan_is_rolled_back(pooled: SimulatedHost) -> None:
    txs = build_transactions([_create("web", 2, 3)], tag="b4")
    with pytest.raises(TransactionFailedError, match="not what was planned"):
        apply_batch(pooled, txs, verify=lambda: "not what was planned")
    assert pooled.instances() == []


def test_after_write_runs_after_each_write(pooled: SimulatedHost) -> None:
    seen: list[int] = []
    txs = build_transactions([_create("a", 2)], tag="b5") + build_transactions([_create("b", 3)], tag="b5")
    apply_batch(pooled, txs, after_write=seen.append)
    assert seen == [1, 2]


def test_a_rollback_that_fails_is_reported_with_what_remains(pooled: SimulatedHost, tmp_path: Path) -> None:
    from tests.kernel.images import make_elf

    image = tmp_path / "vmlinux"
    image.write_bytes(make_elf())
    bad = ItemOperation(instance_target("web"), Kind.DEVICE_ADD, (PciItem("0000:7f:00.0"),))
    txs = build_transactions([_create("web", 2, 3), bad], tag="b6")

    def load_between(number: int) -> None:
        # Something loads a kernel into web between the two writes: undoing its create is refused.
        if number == 1:
            pooled.load(pooled.instance("web").id, image, None, "")

    with pytest.raises(RollbackFailedError) as caught:
        apply_batch(pooled, txs, after_write=load_between)
    created, refused = pooled.transactions()
    assert (created.resources, refused.resources) == ("b6 1", "b6 2")
    assert caught.value.remaining == (created.id,)
    assert "undoing the batch failed" in caught.value.message
    assert f"tx_{refused.id} stays in overlays/ with status failed" in caught.value.message
    assert "kerf retries the rollback" in (caught.value.hint or "")
    assert [i.name for i in pooled.instances()] == ["web"]
