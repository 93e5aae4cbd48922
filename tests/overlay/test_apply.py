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
    ops = [
        _create("web", 2, 3),
        ItemOperation(instance_target("web"), Kind.DEVICE_ADD, (PciItem("0000:7f:00.0"),)),
    ]
    first, second = build_transactions(ops[:1], tag="b2") + build_transactions(ops[1:], tag="b2")
    with pytest.raises(TransactionFailedError) as caught:
        apply_batch(pooled, [first, second])
    message = caught.value.message
    assert "transaction 2 of 2" in message
    assert "device-add PCI 0000:7f:00.0 (instance web)" in message
    assert "not in the pool" in message  # the simulated kernel's reason
    assert "rolled back" in message
    assert pooled.instances() == []
    assert pooled.transactions() == []  # both undone: nothing left half-applied


def test_a_transaction_that_fails_part_way_is_undone_too(pooled: SimulatedHost) -> None:
    # One transaction: the create runs, then device-add fails: the create must not stay.
    ops = [
        _create("web", 2),
        ItemOperation(instance_target("web"), Kind.DEVICE_ADD, (PciItem("0000:7f:00.0"),)),
    ]
    [tx] = build_transactions(ops, tag="b3")
    with pytest.raises(TransactionFailedError, match="the kernel refused the transaction"):
        apply_batch(pooled, [tx])
    assert pooled.instances() == []
    assert set(pooled.snapshot().free_cpus()) == set(pooled.snapshot().pool_cpus)


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
    first = build_transactions([_create("web", 2, 3)], tag="b6")
    bad = ItemOperation(instance_target("web"), Kind.DEVICE_ADD, (PciItem("0000:7f:00.0"),))
    second = build_transactions([bad], tag="b6")

    def load_between(number: int) -> None:
        # Something loads a kernel into web between the two writes: undoing its create is refused.
        if number == 1:
            pooled.load(pooled.instance("web").id, image, None, "")

    with pytest.raises(RollbackFailedError) as caught:
        apply_batch(pooled, first + second, after_write=load_between)
    [created] = [t for t in pooled.transactions() if t.resources == "b6 1"]
    assert caught.value.remaining == (created.id,)
    assert "undoing it failed" in caught.value.message
    assert "kerf retries the rollback" in (caught.value.hint or "")
    assert [i.name for i in pooled.instances()] == ["web"]
