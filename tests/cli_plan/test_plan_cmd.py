"""``kerf plan``: JSON and text output, exit codes, request files, explanations,
rebalance, model dumps, bad input, and the validator as the last word."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerf.binding import load_host
from kerf.dts import load, to_dtb
from kerf.errors import ExitCode
from planner.hardware import Instance
from planner.memory import allocate_regions
from planner.policy import CpuAffinity
from planner.request import InstanceRequest
from planner.solve import plan
from planner.synthetic import GiB, synthetic_host
from tests.cli_plan.conftest import EXAMPLES, Kerf, requests_json, write_host

WEB = {
    "name": "web",
    "cpu-count": 4,
    "memory": "8GB",
    "cpu-affinity": "compact",
    "memory-policy": "local",
    "numa-nodes": [1],
    "devices": ["eth0_vf*"],
    "exclusive-cores": True,
}
KEYS = ["status", "objective", "bound", "solve_seconds", "placements", "unplaced", "existing", "metrics"]
INSTANCE_KEYS = ["name", "id", "cpus", "numa_nodes", "memory", "devices", "cpu_affinity", "memory_policy"]


def test_json_has_exactly_the_documented_shape(kerf: Kerf, host_file: Path, tmp_path: Path) -> None:
    result = kerf("plan", str(host_file), "--requests", str(requests_json(tmp_path, WEB)), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data) == KEYS
    assert data["status"] == "optimal" and data["objective"] == data["bound"]
    assert isinstance(data["solve_seconds"], float) and data["unplaced"] == []
    (web,) = data["placements"]
    assert list(web) == INSTANCE_KEYS
    # node 1 is preferred and holds the NIC; eth0_vf0 belongs to db
    assert web == {
        "name": "web",
        "id": None,
        "cpus": [10, 11, 50, 51],
        "numa_nodes": [1],
        "memory": [{"numa_node": 1, "base": 80 * GiB, "bytes": 8 * GiB}],
        "devices": ["eth0_vf1"],
        "cpu_affinity": "compact",
        "memory_policy": "local",
    }
    (db,) = data["existing"]
    assert (db["name"], db["id"], db["cpus"], db["devices"]) == ("db", 1, [1, 2, 41, 42], ["eth0_vf0"])
    assert db["memory"] == [{"numa_node": 0, "base": 16 * GiB, "bytes": 4 * GiB}]
    assert data["metrics"]["tiers"]["preference"] == 0
    assert data["metrics"]["instances"]["web"]["numa_span"] == 1


def test_the_command_answers_what_the_planner_answers(kerf: Kerf, host_file: Path, tmp_path: Path) -> None:
    other = {"name": "batch", "cpu-count": 6, "memory": "3G", "cpu-affinity": "spread"}
    result = kerf("plan", str(host_file), "--requests", str(requests_json(tmp_path, WEB, other)), "--json")
    desc = load_host(host_file)
    from kerf.requests_file import read_requests

    direct = plan(desc.host, desc.instances, read_requests(tmp_path / "requests.json", desc.host))
    placed = {p["name"]: p["cpus"] for p in json.loads(result.stdout)["placements"]}
    assert placed == {p.name: list(p.cpus) for p in direct.placements}


def test_text_mode_prints_a_table_and_a_verdict(kerf: Kerf, host_file: Path, tmp_path: Path) -> None:
    result = kerf("plan", str(host_file), "--requests", str(requests_json(tmp_path, WEB)))
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "Placements"
    row = next(line for line in lines if "web" in line)
    assert "10-11,50-51" in row and "8 GiB on node 1" in row and "eth0_vf1" in row
    assert "compact/local exclusive-cores" in row
    assert lines[-1].startswith("optimal: 1 placed, 0 not placed, solved in ")


def test_unplaced_requests_exit_4_with_their_reasons(kerf: Kerf, host_file: Path, tmp_path: Path) -> None:
    big = {"name": "big", "cpu-count": 30, "memory": "1G", "cpu-affinity": "local"}
    file = requests_json(tmp_path, WEB, big)
    result = kerf("plan", str(host_file), "--requests", str(file), "--json")
    assert result.exit_code == ExitCode.UNPLACED
    assert result.stderr.splitlines() == [
        "error: 1 of 2 request(s) not placed: big",
        "hint: --explain names the smallest sets of requests that cannot fit together",
    ]
    data = json.loads(result.stdout)
    assert data["status"] == "infeasible"
    assert [p["name"] for p in data["placements"]] == ["web"]
    assert data["unplaced"] == [
        {
            "name": "big",
            "reason": "big needs 30 CPUs on one NUMA node (cpu-affinity local); "
            "free per node: 0→14, 1→20, 2→20, 3→20",
        }
    ]
    text = kerf("plan", str(host_file), "--requests", str(file))
    assert text.exit_code == ExitCode.UNPLACED
    assert "not placed: big needs 30 CPUs on one NUMA node" in text.stdout
    assert text.stdout.splitlines()[-1].startswith(
        "infeasible (not everything fits; no plan places more): 1 placed, 1 not placed"
    )


def test_explain_shows_the_smallest_conflicting_set(kerf: Kerf, tmp_path: Path) -> None:
    host = synthetic_host("pack:1 core:4 pu:2")
    host_file = write_host(tmp_path / "small.dts", host, [])
    file = requests_json(
        tmp_path,
        {"name": "big", "cpu-count": 6, "memory": "1G"},
        {"name": "s1", "cpu-count": 2, "memory": "1G"},
        {"name": "s3", "cpu-count": 3, "memory": "1G"},
    )
    result = kerf("plan", str(host_file), "--requests", str(file), "--json", "--explain")
    assert result.exit_code == ExitCode.UNPLACED
    data = json.loads(result.stdout)
    # two of three fit either way; leaving out s3 loses the fewest CPUs
    assert data["unplaced"] == [{"name": "s3", "reason": "s3 fits on its own, but not together with big"}]
    assert data["metrics"]["explanation"][-1].startswith("big and s3 cannot be placed together")
    text = kerf("plan", str(host_file), "--requests", str(file), "--explain")
    assert "why: big and s3 cannot be placed together: together they need 9 CPUs" in text.stdout
    plain = kerf("plan", str(host_file), "--requests", str(file))
    assert "why:" not in plain.stdout


def test_dump_model_writes_the_model(kerf: Kerf, host_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "model.txt"
    result = kerf(
        "plan", str(host_file), "--requests", str(requests_json(tmp_path, WEB)), "--dump-model", str(target)
    )
    assert result.exit_code == 0
    assert 'name: "admit[web]"' in target.read_text()
    unwritable = kerf(
        "plan",
        str(host_file),
        "--requests",
        str(tmp_path / "requests.json"),
        "--dump-model",
        str(tmp_path / "no" / "m"),
    )
    assert unwritable.exit_code == ExitCode.INPUT
    assert unwritable.stderr.startswith(f"error: cannot write {tmp_path / 'no' / 'm'}:")


def test_rebalance_moves_an_existing_instance(kerf: Kerf, tmp_path: Path) -> None:
    host = synthetic_host("pack:2 core:4 pu:1")
    a = Instance(
        "a", (0, 1), allocate_regions(host, [], {0: 2 * GiB}) or (), cpu_affinity=CpuAffinity.COMPACT
    )
    b = Instance("b", (4,), allocate_regions(host, [a], {1: GiB}) or (), cpu_affinity=CpuAffinity.COMPACT)
    host_file = write_host(tmp_path / "host.dts", host, [a, b])
    file = requests_json(tmp_path, {"name": "web", "cpu-count": 4, "memory": "1G", "cpu-affinity": "local"})
    stuck = kerf("plan", str(host_file), "--requests", str(file), "--json")
    assert stuck.exit_code == ExitCode.UNPLACED
    moved = kerf("plan", str(host_file), "--requests", str(file), "--json", "--rebalance")
    assert moved.exit_code == 0, moved.stderr
    data = json.loads(moved.stdout)
    assert data["placements"][0]["cpus"] == [4, 5, 6, 7]
    assert {e["name"]: e["cpus"] for e in data["existing"]} == {"a": [0, 1], "b": [2]}
    assert data["metrics"]["moved"] == ["b"]
    assert "moved: b" in kerf("plan", str(host_file), "--requests", str(file), "--rebalance").stdout


def test_core_sharing_pack_fills_a_neighbours_free_threads(kerf: Kerf, tmp_path: Path) -> None:
    # one socket of four SMT2 cores (siblings c, c+4); "a" holds one thread of cores 0 and 1
    host = synthetic_host("pack:1 core:4 pu:2")
    a = Instance("a", (0, 1), allocate_regions(host, [], {0: GiB}) or (), cpu_affinity=CpuAffinity.COMPACT)
    host_file = write_host(tmp_path / "host.dts", host, [a])
    file = requests_json(tmp_path, {"name": "web", "cpu-count": 2, "memory": "1G"})
    base = ("plan", str(host_file), "--requests", str(file), "--json")
    isolated = json.loads(kerf(*base).stdout)
    assert isolated["placements"][0]["cpus"] == [2, 6]
    assert isolated["metrics"]["core_sharing"] == "avoid"
    packed = kerf(*base, "--core-sharing", "PACK")
    assert packed.exit_code == 0, packed.stderr
    data = json.loads(packed.stdout)
    assert data["placements"][0]["cpus"] == [4, 5]
    assert data["metrics"]["core_sharing"] == "pack"
    wrong = kerf(*base, "--core-sharing", "tight")
    assert wrong.exit_code == ExitCode.USAGE
    assert "--core-sharing" in wrong.stderr and "Traceback" not in wrong.stderr


def test_requests_in_dts_and_dtb_files_and_in_the_host_itself(kerf: Kerf, tmp_path: Path) -> None:
    host = EXAMPLES / "numa_topology.dts"
    from_dts = kerf("plan", str(host), "--requests", str(EXAMPLES / "requests" / "batch.dts"), "--json")
    assert from_dts.exit_code == ExitCode.UNPLACED, from_dts.stderr
    data = json.loads(from_dts.stdout)
    # numa_topology.dts holds one request itself (ml-training); batch.dts adds three, and
    # the local, bound "reports" collides with the others (proven: the status says so)
    assert sorted(p["name"] for p in data["placements"]) == ["crawler", "etl", "ml-training"]
    assert data["status"] == "infeasible"
    assert data["unplaced"] == [
        {
            "name": "reports",
            "reason": "reports fits on its own, but not together with ml-training, etl and crawler",
        }
    ]
    # a DTB keeps no labels of the host file: it names its devices as strings
    source = tmp_path / "req.dts"
    source.write_text(
        "/dts-v1/;\n/ { instances { etl { resources { cpu-count = <4>; memory-bytes = <0x1 0x0>;\n"
        '  cpu-affinity = "compact"; memory-policy = "local"; devices = "nvme0_ns*"; }; }; }; };\n'
    )
    blob = tmp_path / "req.dtb"
    blob.write_bytes(to_dtb(load(source)))
    from_dts_file = json.loads(kerf("plan", str(host), "--requests", str(source), "--json").stdout)
    from_dtb = json.loads(kerf("plan", str(host), "--requests", str(blob), "--json").stdout)
    assert from_dtb["placements"] == from_dts_file["placements"]
    etl = next(p for p in from_dtb["placements"] if p["name"] == "etl")
    assert etl["devices"][0].startswith("nvme0_ns") and etl["memory"][0]["bytes"] == 4 * GiB
    only_host = kerf("plan", str(host), "--json")
    assert [p["name"] for p in json.loads(only_host.stdout)["placements"]] == ["ml-training"]


def test_nothing_to_place_is_a_usage_error(kerf: Kerf, host_file: Path) -> None:
    result = kerf("plan", str(host_file))
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: nothing to place: {host_file} has no requests")


@pytest.mark.parametrize(
    ("text", "token", "message"),
    [
        ('{"instances": [{"name": "web", "cpu-count": 2, "memory": "1G"}', None, "invalid JSON: Expecting"),
        (
            '{"instances": [\n  {"name": "web", "cpu_count": 2, "memory": "1G"}]}',
            '"cpu_count"',
            'unknown key "cpu_count" in instance web of {file}',
        ),
        (
            '{"instances": [\n  {"name": "web", "cpu-count": 2, "memory": "1Q"}]}',
            '"1Q"',
            "instance web: \"memory\" '1Q' is not a size",
        ),
        (
            '{"instances": [\n  {"name": "web", "cpu-count": 2, "memory": "1G", "cpu-affinity": "tight"}]}',
            '"tight"',
            'instance web: "cpu-affinity" is one of compact, spread, local, got "tight"',
        ),
        ('{"instances": [\n  {"name": "web", "memory": "1G"}]}', '"web"', 'instance web: give "cpu-count"'),
        (
            '{"instances": [\n  {"name": "web", "cpu-count": 0, "memory": "1G"}]}',
            "0",
            '"cpu-count" is a whole number of at least 1, got 0',
        ),
        ('{"instances": [\n  {"name": "web", "cpu-count": 2, "memory": "99999999T"}]}', '"9', "too large"),
        (
            '{"instances": [\n  {"name": "a b", "cpu-count": 2, "memory": "1G"}]}',
            '"a b"',
            "cannot be an instance",
        ),
    ],
)
def test_bad_request_files_are_located(
    kerf: Kerf, host_file: Path, tmp_path: Path, text: str, token: str | None, message: str
) -> None:
    file = tmp_path / "bad.json"
    file.write_text(text + "\n")
    result = kerf("plan", str(host_file), "--requests", str(file))
    assert result.exit_code == ExitCode.INPUT
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert message.format(file=file) in first
    if token is None:  # a syntax error: json's own position (here: the end of the text)
        assert first.startswith(f"error: {file}:2:1: ")
    else:  # the offending token, on line 2
        assert first.startswith(f"error: {file}:2:{text.splitlines()[1].index(token) + 1}: ")


def test_unknown_key_gets_a_suggestion(kerf: Kerf, host_file: Path, tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text(
        '{"instances": [{"name": "web", "cpu-count": 2, "memory": "1G", "exclusive_cores": true}]}'
    )
    result = kerf("plan", str(host_file), "--requests", str(file))
    assert result.stderr.splitlines()[1] == 'hint: did you mean "exclusive-cores"?'


def test_requests_the_planner_refuses_are_input_errors_at_the_request(
    kerf: Kerf, host_file: Path, tmp_path: Path
) -> None:
    file = requests_json(tmp_path, {"name": "web", "cpu-count": 2, "memory": "1G", "numa-nodes": [9]})
    result = kerf("plan", str(host_file), "--requests", str(file))
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith(f"error: {file}:")
    assert ": instance web: unknown NUMA node(s) 9; the host has 0, 1, 2, 3\n" in result.stderr


def test_a_plan_that_fails_the_validator_is_an_internal_error(
    kerf: Kerf, host_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import planner.solve

    real = planner.solve.plan

    def broken(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        from dataclasses import replace

        bad = replace(result.placements[0], cpus=(1, 10, 11, 50))  # CPU 1 belongs to db
        return replace(result, placements=(bad,))

    monkeypatch.setattr(planner.solve, "plan", broken)
    result = kerf("plan", str(host_file), "--requests", str(requests_json(tmp_path, WEB)), "--json")
    assert result.exit_code == ExitCode.INTERNAL
    assert result.stdout == ""
    assert result.stderr.startswith("error: the plan fails the validator: [")
    assert "CPU 1" in result.stderr and "hint: this is a bug in kerf's planner" in result.stderr


def test_the_example_request_files_plan_on_their_hosts(kerf: Kerf) -> None:
    web = kerf(
        "plan",
        str(EXAMPLES / "baseline.dts"),
        "--requests",
        str(EXAMPLES / "requests" / "web.json"),
        "--json",
    )
    assert web.exit_code == 0, web.stderr
    mixed = kerf(
        "plan",
        str(EXAMPLES / "numa_topology.dts"),
        "--requests",
        str(EXAMPLES / "requests" / "mixed.json"),
        "--json",
    )
    assert mixed.exit_code in (0, ExitCode.UNPLACED)
    data = json.loads(mixed.stdout)
    assert {p["name"] for p in data["placements"]} | {u["name"] for u in data["unplaced"]} == {
        "ml-training",
        "frontend",
        "pinned",
        "scratch",
        "tensor",
    }


def test_pinned_json_requests(kerf: Kerf, host_file: Path, tmp_path: Path) -> None:
    file = requests_json(tmp_path, {"name": "pin", "cpus": "20-21", "memory-bytes": GiB, "id": 7})
    data = json.loads(kerf("plan", str(host_file), "--requests", str(file), "--json").stdout)
    (pin,) = data["placements"]
    assert (pin["cpus"], pin["id"], pin["memory"][0]["bytes"]) == ([20, 21], 7, GiB)
    assert pin["memory"][0]["numa_node"] == 2


def test_request_objects_round_trip_through_the_host_file(kerf: Kerf, tmp_path: Path) -> None:
    host = synthetic_host("pack:1 numa:2 core:2 pu:2")
    requests = [InstanceRequest("r1", GiB, cpu_count=2, cpu_affinity=CpuAffinity.SPREAD)]
    host_file = write_host(tmp_path / "h.dts", host, [], requests)
    data = json.loads(kerf("plan", str(host_file), "--json").stdout)
    assert data["placements"][0]["cpus"] == [0, 2]


def test_a_host_that_already_breaks_rules_is_planned_with_a_warning(kerf: Kerf, tmp_path: Path) -> None:
    host = synthetic_host("pack:1 core:4 pu:2")
    a = Instance("a", (1,), allocate_regions(host, [], {0: GiB}) or ())
    b = Instance("b", (1, 2), allocate_regions(host, [a], {0: GiB}) or ())  # CPU 1 twice
    host_file = write_host(tmp_path / "h.dts", host, [a, b])
    result = kerf(
        "plan",
        str(host_file),
        "--requests",
        str(requests_json(tmp_path, {"name": "w", "cpu-count": 2, "memory": "1G"})),
        "--json",
    )
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: the host description already breaks 1 rule(s)")
    assert json.loads(result.stdout)["placements"][0]["cpus"] == [0, 4]


def test_the_table_shows_the_nodes_the_cpus_landed_on(kerf: Kerf, tmp_path: Path) -> None:
    # numa-nodes 0 and 1 is a preference; two CPUs fit on node 0 alone
    file = tmp_path / "pref.json"
    file.write_text('{"instances": [{"name": "web", "cpu-count": 2, "memory": "64M", "numa-nodes": [0, 1]}]}')
    result = kerf("plan", str(EXAMPLES / "numa_topology.dts"), "--requests", str(file))
    assert result.exit_code == 0
    assert "CPU nodes" in result.stdout
    row = next(line for line in result.stdout.splitlines() if "│ web " in line)
    assert [cell.strip() for cell in row.split("│")][4] == "0"


def test_a_long_list_of_unplaced_requests_is_shortened(kerf: Kerf, tmp_path: Path) -> None:
    file = tmp_path / "many.json"
    many = [{"name": f"r{i:02d}", "cpu-count": 1, "memory": "64M"} for i in range(20)]
    file.write_text(json.dumps({"instances": many}))
    result = kerf("plan", str(EXAMPLES / "minimal.dts"), "--requests", str(file), "--time-limit", "5")
    assert result.exit_code == ExitCode.UNPLACED
    (line,) = [text for text in result.stderr.splitlines() if "request(s) not placed" in text]
    assert line.startswith("error: 13 of 20 request(s) not placed: ") and line.endswith(" and 3 more")
