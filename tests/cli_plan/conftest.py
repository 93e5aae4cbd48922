"""Fixtures for the kerf plan / kerf capacity CLI tests: host files written from
synthetic hosts, and a runner that keeps stdout and stderr apart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from kerf.binding import host_to_tree
from kerf.cli.app import app
from kerf.dts import format_dts
from planner.hardware import Device, Host, Instance
from planner.memory import allocate_regions
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import InstanceRequest
from planner.synthetic import GiB, synthetic_host

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@dataclass
class Kerf:
    """Runs ``kerf ARGS`` in-process."""

    runner: CliRunner

    def __call__(self, *args: str) -> Result:
        # None unsets: a developer's KERF_CORE_SHARING must not change the plans tested
        env: dict[str, str | None] = {"COLUMNS": "200", "NO_COLOR": "1", "KERF_CORE_SHARING": None}
        return self.runner.invoke(app, list(args), env=env)


@pytest.fixture
def kerf() -> Kerf:
    return Kerf(CliRunner())


def snc2_host() -> Host:
    """2 sockets x 2 NUMA nodes x 10 SMT2 cores (80 CPUs, Linux numbering), 48 GiB of
    pool per node, the host keeps CPUs 0 and 40, a NIC with 4 VFs on node 1."""
    nic = Device("eth0", pci_id="0000:3b:00.0", numa_node=1, sriov_vfs=4, available_vfs=(0, 1, 2, 3))
    return synthetic_host("pack:2 numa:2 core:10 pu:2", reserved_cpus=[0, 40], devices=[nic])


def db_instance(host: Host) -> Instance:
    """An existing instance on node 0: CPUs 1-2 and 41-42, 4 GiB, eth0_vf0."""
    regions = allocate_regions(host, [], {0: 4 * GiB})
    assert regions is not None
    return Instance(
        "db",
        (1, 2, 41, 42),
        regions,
        devices=("eth0_vf0",),
        id=1,
        numa_nodes=(0,),
        cpu_affinity=CpuAffinity.COMPACT,
        memory_policy=MemoryPolicy.LOCAL,
    )


def write_host(
    path: Path, host: Host, instances: Sequence[Instance], requests: Sequence[InstanceRequest] = ()
) -> Path:
    """The host (and its instances and requests) as a DTS file."""
    path.write_text(format_dts(host_to_tree(host, instances, requests)))
    return path


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    """snc2_host with db placed."""
    host = snc2_host()
    return write_host(tmp_path / "host.dts", host, [db_instance(host)])


def requests_json(tmp_path: Path, *instances: dict[str, object], name: str = "requests.json") -> Path:
    """A JSON request file."""
    path = tmp_path / name
    path.write_text(json.dumps({"instances": list(instances)}, indent=2))
    return path
