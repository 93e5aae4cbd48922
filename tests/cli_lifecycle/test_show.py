"""`kerf show`: the pool per NUMA node, the instances, one instance, the topology picture."""

from __future__ import annotations

import json
from pathlib import Path

from kerf.errors import ExitCode
from tests.cli_lifecycle.conftest import Kerf


def _two(kerf: Kerf, vmlinux: Path) -> Kerf:
    kerf.ok("create", "web", "--cpu-count", "2", "--memory", "2GiB", "--devices", "eth0_vf1")
    kerf.ok(
        "create", "db", "--cpu-count", "2", "--memory", "4GiB", "--cpu-affinity", "spread",
        "--memory-policy", "interleave",
    )  # fmt: skip
    kerf.ok("load", "web", "--kernel", str(vmlinux), "--cmdline", "console=mktty0")
    kerf.ok("exec", "web")
    return kerf


def test_show_json_has_the_documented_shape(initialised: Kerf, vmlinux: Path) -> None:
    kerf = _two(initialised, vmlinux)
    data = json.loads(kerf.ok("show", "--json").stdout)
    assert set(data) == {"host", "instances"}
    assert [i["name"] for i in data["instances"]] == ["web", "db"]
    web, db = data["instances"]
    assert set(web) >= {"name", "id", "status", "cpus", "numa_nodes", "memory", "devices", "image"}
    assert (web["id"], web["status"], web["cpus"], web["numa_nodes"]) == (1, "active", [0, 8], [0])
    assert web["memory"] == [{"numa_node": 0, "base": 0x100000000, "bytes": 2 << 30}]
    assert web["devices"] == ["eth0_vf1"]
    assert web["image"]["cmdline"] == "console=mktty0" and web["image"]["format"] == "elf"
    assert db["status"] == "ready" and db["image"] is None
    assert sorted(r["numa_node"] for r in db["memory"]) == [0, 1]
    assert sum(r["bytes"] for r in db["memory"]) == 4 << 30
    host = data["host"]
    assert host["backend"] == "simulated"
    node0, node1 = host["numa_nodes"]
    assert node0["pool_bytes"] == 12 << 30 and node0["used_bytes"] == 4 << 30
    assert node1["used_bytes"] == 2 << 30
    assert len(host["cpus"]["free"]) == 12
    owners = {d["label"]: d["instance"] for d in host["devices"]}
    assert owners == {"eth0_vf0": None, "eth0_vf1": "web", "nvme0": None}


def test_show_text_has_the_pool_and_the_instances(initialised: Kerf, vmlinux: Path) -> None:
    kerf = _two(initialised, vmlinux)
    result = kerf.ok("show")
    out = result.stdout
    assert "Pool (simulated: pack:1 numa:2 core:4 pu:2; core sharing avoid)" in out
    assert "│ 0         │ 0-3, 8-11" in out
    assert "web" in out and "active" in out and "console=mktty0" in out
    assert "\x1b[" not in out  # readable without colour
    assert result.stderr == ""


def test_show_one_instance(initialised: Kerf, vmlinux: Path) -> None:
    kerf = _two(initialised, vmlinux)
    out = kerf.ok("show", "db").stdout
    assert "db" in out and "web" not in out and "Pool" not in out
    data = json.loads(kerf.ok("show", "--id", "1", "--json").stdout)
    assert [i["name"] for i in data["instances"]] == ["web"]
    missing = kerf("show", "nope")
    assert missing.exit_code == ExitCode.USAGE and "there is no instance named 'nope'" in missing.stderr


def test_the_topology_picture_marks_every_cpu_with_its_owner(initialised: Kerf, vmlinux: Path) -> None:
    kerf = _two(initialised, vmlinux)
    out = kerf.ok("show", "--topology").stdout
    assert "socket 0" in out and "NUMA node 0" in out and "NUMA node 1" in out
    assert "[0a 8a]" in out  # web (a) owns core 0 with both threads
    assert "a = web (active)" in out and "b = db (ready)" in out and ". = free in the pool" in out
    assert "\x1b[" not in out
    data = json.loads(kerf.ok("show", "--topology", "--json").stdout)
    cpus = {
        c["id"]: c["owner"]
        for s in data["sockets"]
        for n in s["numa_nodes"]
        for k in n["cores"]
        for c in k["cpus"]
    }
    assert cpus[0] == "web" and cpus[8] == "web"
    assert sorted(c for c, o in cpus.items() if o == "db") == sorted(
        json.loads(kerf.ok("show", "db", "--json").stdout)["instances"][0]["cpus"]
    )
    assert sum(1 for o in cpus.values() if o == "free") == 12


def test_the_topology_picture_fits_a_narrow_terminal_without_splitting_a_core(
    initialised: Kerf, vmlinux: Path
) -> None:
    kerf = _two(initialised, vmlinux)
    wide = kerf.ok("show", "--topology").stdout
    narrow = kerf("show", "--topology", env={"COLUMNS": "30"})
    assert narrow.exit_code == 0
    lines = narrow.stdout.splitlines()
    picture = lines[: next(i for i, line in enumerate(lines) if line.startswith("legend"))]
    assert max(len(line) for line in picture) <= 30
    assert len(picture) > len(wide.splitlines()) - 1  # the cores wrapped onto more lines
    for line in picture:
        inner = line.strip("│╭╮╰╯─ ")
        assert inner.count("[") == inner.count("]")  # every core cell whole on its line
    # panels are as wide as their cores, not as the terminal
    assert max(len(line) for line in wide.splitlines() if line.startswith("╭─ socket")) < 100


def test_the_topology_picture_in_colour_gives_each_instance_its_own(initialised: Kerf, vmlinux: Path) -> None:
    kerf = _two(initialised, vmlinux)
    result = kerf("show", "--topology", env={"NO_COLOR": "", "FORCE_COLOR": "1", "TERM": "xterm-256color"})
    assert result.exit_code == 0
    assert "\x1b[32m" in result.stdout and "\x1b[35m" in result.stdout  # green web, magenta db


def test_show_without_a_host_says_how_to_start(kerf: Kerf) -> None:
    result = kerf("show")
    assert result.exit_code == ExitCode.STATE
    assert "there is no simulated host" in result.stderr
    assert "hint: create it from a host description: kerf init --input HOST.dts" in result.stderr
    assert not kerf.root.exists()


def test_show_an_empty_pool(initialised: Kerf) -> None:
    out = initialised.ok("show").stdout
    assert "No instances. Create one with: kerf create NAME --cpu-count N --memory SIZE" in out
    assert json.loads(initialised.ok("show", "--json").stdout)["instances"] == []
