"""Rolling back an interrupted batch on the simulated host: the refused transaction (only
ever the batch's newest) is left alone; a transaction whose earlier rollback failed is
rolled back again; ``still_applied`` tells a newest one of that kind from a refused one."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerf.kernel.backend import TxStatus
from kerf.kernel.sim import SimulatedHost
from kerf.lifecycle.recovery import roll_back_batch
from kerf.overlay import (
    CpuItem,
    InstanceCreate,
    ItemOperation,
    Kind,
    Operation,
    PciItem,
    RollbackFailedError,
    build_transactions,
    instance_target,
)
from tests.kernel.images import make_elf
from tests.kernel.simhost import GiB, dual_node_smt2, standard_baseline


@pytest.fixture
def pooled(tmp_path: Path) -> SimulatedHost:
    sim = SimulatedHost.create(tmp_path / "mk", dual_node_smt2())
    sim.write_baseline(standard_baseline())
    return sim


def _write(sim: SimulatedHost, ops: list[Operation], tag: str) -> list[int]:
    """Write a batch as kerf does, stopping at the first refused transaction; the ids."""
    ids = []
    for tx in build_transactions(ops, tag=tag):
        written = sim.write_overlay(tx.blob)
        ids.append(written.id)
        if not written.applied:
            break
    return ids


def _batch(ghost_device: bool) -> list[Operation]:
    db = instance_target("db")
    ops: list[Operation] = [
        InstanceCreate("db", GiB, (CpuItem(10, 0),), None, 0),
        ItemOperation(db, Kind.CPU_ADD, (CpuItem(11, 0),)),
    ]
    if ghost_device:  # not in the pool: the kernel refuses it
        ops.append(ItemOperation(db, Kind.DEVICE_ADD, (PciItem("0000:7f:00.0"),)))
    return ops


def test_the_refused_newest_transaction_is_kept_and_the_others_undone(pooled: SimulatedHost) -> None:
    created, added, refused = _write(pooled, _batch(ghost_device=True), "b1")
    result = roll_back_batch(pooled, "b1", "'kerf create db'")
    assert (result.undone, result.kept) == ((added, created), refused)
    assert pooled.instances() == []
    assert [(t.id, t.status) for t in pooled.transactions()] == [(refused, TxStatus.FAILED)]
    assert not any(line.startswith(f"rollback tx_{refused}") for line in pooled.kernel_log())
    assert "changed nothing and stays in overlays/" in result.describe()


def test_an_older_transaction_whose_rollback_failed_is_rolled_back_again(
    pooled: SimulatedHost, tmp_path: Path
) -> None:
    created, _added, refused = _write(pooled, _batch(ghost_device=True), "b2")
    image = tmp_path / "vmlinux"
    image.write_bytes(make_elf())
    db = pooled.instance("db").id
    pooled.load(db, image, None, "")
    with pytest.raises(RollbackFailedError) as caught:
        roll_back_batch(pooled, "b2", "'kerf create db'")
    assert caught.value.remaining == (created,)
    assert pooled.transaction(created).status is TxStatus.FAILED  # as a refused one would show
    pooled.unload(db)
    result = roll_back_batch(pooled, "b2", "'kerf create db'")
    assert (result.undone, result.kept) == ((created,), refused)
    assert pooled.instances() == []
    assert [t.id for t in pooled.transactions()] == [refused]


def test_still_applied_tells_a_failed_rollback_of_the_newest_from_a_refusal(
    pooled: SimulatedHost, tmp_path: Path
) -> None:
    [created] = _write(pooled, _batch(ghost_device=False)[:1], "b3")
    image = tmp_path / "vmlinux"
    image.write_bytes(make_elf())
    db = pooled.instance("db").id
    pooled.load(db, image, None, "")
    with pytest.raises(RollbackFailedError) as caught:
        roll_back_batch(pooled, "b3", "'kerf create db'")
    pooled.unload(db)
    # The kernel now shows the create as failed, the same as a refused transaction: without
    # kerf's own record it would be left alone ...
    assert roll_back_batch(pooled, "b3", "'kerf create db'").kept == created
    assert [i.name for i in pooled.instances()] == ["db"]
    # ... with the ids the failed rollback reported, it is rolled back.
    result = roll_back_batch(pooled, "b3", "'kerf create db'", still_applied=caught.value.remaining)
    assert (result.undone, result.kept) == ((created,), None)
    assert pooled.instances() == [] and pooled.transactions() == []
