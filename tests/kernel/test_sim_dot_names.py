"""The simulated kernel refuses instance names that no kernfs directory can carry."""

from __future__ import annotations

import errno

import pytest

from kerf.kernel.sim import SimulatedHost
from tests.kernel.simhost import GiB, create, expect_failed


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_are_refused(pooled: SimulatedHost, name: str) -> None:
    before = pooled.read_device_tree()
    expect_failed(pooled, create(name, cpus=[2], memory=GiB, numa=0), errno.EINVAL, "instance-name")
    assert pooled.snapshot().instances == []
    assert pooled.read_device_tree() == before  # the pool's own files were not overwritten


def test_dotted_names_that_are_not_dot_entries_are_fine(pooled: SimulatedHost) -> None:
    tx = pooled.write_overlay(create("...", cpus=[2], memory=GiB, numa=0))
    assert tx.status.value == "applied", pooled.failure_detail(tx.id)
