"""Occupancy, the synthetic builder and request parsing."""

from __future__ import annotations

import pytest

from planner.errors import RequestError
from planner.hardware import Device, Instance
from planner.occupancy import Occupancy
from planner.request import DeviceWant, InstanceRequest, Plan, PlanStatus
from planner.synthetic import parse_shape, synthetic_host


def test_linux_numbering_puts_siblings_one_core_count_apart() -> None:
    host = synthetic_host("pack:2 numa:2 core:10 pu:2")
    assert len(host.cpus) == 80 and len(host.cores) == 40
    assert host.core_by_id[0].cpus == (0, 40)
    assert host.node_by_id[1].cpus == tuple(range(10, 20)) + tuple(range(50, 60))
    assert host.cpu_by_id[59].socket == 0 and host.cpu_by_id[20].socket == 1
    assert host.distance(0, 1) == 12 and host.distance(1, 2) == 32


def test_adjacent_numbering_and_l3_groups() -> None:
    host = synthetic_host("pack:1 numa:1 l3:2 core:2 pu:2", numbering="adjacent")
    assert [c.cpus for c in host.cores] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert [c.cpus for c in host.caches] == [(0, 1, 2, 3), (4, 5, 6, 7)]
    assert host.cpu_by_id[5].l3 == 1


def test_explicit_numbering_and_reserved_cpus() -> None:
    ids = [0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11]
    host = synthetic_host("pack:2 core:3 pu:2", numbering=ids, reserved_cpus=[0, 6])
    assert host.node_by_id[0].cpus == (0, 2, 4, 6, 8, 10)
    assert host.host_reserved == {0, 6} and 0 not in host.available


@pytest.mark.parametrize(
    "text", ["pack:2 core:4", "pack:0 core:1 pu:1", "sock:2 core:1 pu:1", "pack:1 pack:2"]
)
def test_bad_shapes_are_rejected(text: str) -> None:
    with pytest.raises(RequestError):
        parse_shape(text)


def test_occupancy_answers_core_questions() -> None:
    host = synthetic_host(
        "pack:1 core:4 pu:2",
        reserved_cpus=[0],
        devices=[Device("eth0", sriov_vfs=2, available_vfs=(0, 1))],
    )
    occ = Occupancy.of(host, [Instance("a", (1, 5), devices=("eth0_vf0",)), Instance("b", (2,))])
    core0, core1, core2, core3 = host.cores
    assert occ.is_core_blocked(core0) and not occ.is_core_blocked(core1)
    assert occ.free_threads(core0) == (4,)
    assert occ.core_owners(core1) == {"a"} and occ.free_threads(core1) == ()
    assert occ.free_threads(core2) == (6,)
    assert occ.is_core_free(core3)
    assert [u.label for u in occ.free_units_of("eth0")] == ["eth0_vf1"]
    assert occ.free_cpus_by_node[0] == (3, 4, 6, 7)


@pytest.mark.parametrize(
    ("text", "device", "kind"),
    [
        ("eth0_vf1", "eth0", "unit"),
        ("eth0_vf*", "eth0", "any-vf"),
        ("&nvme0_ns*", "nvme0", "any-ns"),
        ("gpu0", "gpu0", "unit"),
    ],
)
def test_device_wants(text: str, device: str, kind: str) -> None:
    want = DeviceWant.parse(text)
    assert (want.device, want.kind) == (device, kind)


def test_request_rules() -> None:
    with pytest.raises(RequestError, match="not both"):
        InstanceRequest("a", 4096, cpu_count=2, cpus=(1, 2))
    with pytest.raises(RequestError, match="neither"):
        InstanceRequest("a", 4096)
    with pytest.raises(RequestError, match="at least 1"):
        InstanceRequest("a", 4096, cpu_count=0)
    with pytest.raises(RequestError, match="repeats"):
        InstanceRequest("a", 4096, cpus=(1, 1))
    with pytest.raises(RequestError, match="negative"):
        InstanceRequest("a", -1, cpu_count=1)
    assert InstanceRequest("a", 0, cpus=(3, 4)).size == 2


def test_plan_gap() -> None:
    assert Plan(PlanStatus.OPTIMAL, (), objective=5, bound=5).gap == 0.0
    assert Plan(PlanStatus.FEASIBLE, (), objective=10, bound=5).gap == 0.5
    assert Plan(PlanStatus.INFEASIBLE, ()).gap is None
