"""The simulated host's files after every change: written in full when another process
may have changed the state, only the differences when this object wrote it last."""

from __future__ import annotations

from kerf.kernel.sim import SimulatedHost
from tests.kernel.simhost import assert_files_mirror_state, create, expect_applied, remove


def test_two_handles_on_one_host_keep_the_files_in_line(pooled: SimulatedHost) -> None:
    first, second = pooled, SimulatedHost(pooled.root)
    expect_applied(first, create("a", cpus=[1]))
    assert_files_mirror_state(first)
    # the second handle's idea of the files is stale now: it must look at every file
    expect_applied(second, create("b", cpus=[2]))
    assert_files_mirror_state(second)
    # and the first, in turn, after the second wrote
    tx = expect_applied(first, remove("a"))
    assert_files_mirror_state(first)
    first.rollback(tx)  # tx_N's directory goes (instance-remove is not undone: §1.7)
    assert_files_mirror_state(first)
    assert not (pooled.root / "overlays" / f"tx_{tx}").exists()
    assert [i.name for i in second.instances()] == ["b"]


def test_a_file_changed_behind_the_handle_is_repaired_at_the_next_open(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("a", cpus=[1]))
    status = pooled.root / "instances" / "a" / "status"
    status.chmod(0o644)
    status.write_text("garbage\n")
    SimulatedHost(pooled.root)  # opening syncs every file
    assert_files_mirror_state(pooled)
