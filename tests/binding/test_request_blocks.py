"""Request files in DTS (``instances { }`` read by ``read_instances`` for ``kerf plan
--requests``) are checked as strictly as JSON request files: every mistake is a located
BindingError (exit 3), never a planner self-check failure (exit 70) or an unlocated
error. Host descriptions keep reading what is written, for the validator to report."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerf.binding import HostDescription, read_instances
from kerf.dts import parse
from kerf.errors import BindingError, ExitCode
from kerf.validate.instances import name_problem
from planner.hardware import Host
from tests.binding.util import FILE, host_text, loc, read, remarks
from tests.cli_plan.conftest import EXAMPLES, Kerf

DEVICES = "\t\t\teth0: ethernet@0 { sriov-vfs = <4>; available-vfs = <1 2 3>; };"
GOOD = "cpu-count = <2>; memory-bytes = <0x0 0x40000000>;"


def host() -> Host:
    return read(host_text(devices=DEVICES)).host


def request_file(body: str, *, resources: str = "") -> str:
    """A request file whose instances { } block holds ``body``."""
    return f"/dts-v1/;\n/ {{\n{resources}\tinstances {{\n{body}\n\t}};\n}};\n"


def block(resources: str = GOOD, name: str = "web", extra: str = "") -> str:
    return f"\t\t{name} {{\n\t\t\t{extra}resources {{ {resources} }};\n\t\t}};"


def rejects(text: str) -> BindingError:
    with pytest.raises(BindingError) as info:
        read_instances(parse(text, FILE), host())
    assert info.value.location is not None
    return info.value


def host_with(*blocks: str) -> HostDescription:
    return read(host_text(devices=DEVICES, instances="\n".join(blocks)))


# --- 1. instance names: the validator's rule, at the node ------------------------------

BAD_NAMES = ["a@1", "a+b", "a,b", "-a", ".a", "a" * 70, "a..b"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_instance_names_are_rejected_at_the_node(name: str) -> None:
    text = request_file(block(name=name))
    err = rejects(text)
    assert err.location == loc(text, f"{name} {{")
    problem = name_problem(name)
    assert problem is not None
    assert f"{name!r} cannot be an instance name: {problem}" in err.message
    assert err.hint and "1-63 characters" in err.hint


@pytest.mark.parametrize("name", ["a", "web-1.prod_2", "A" * 63, "_x"])
def test_valid_instance_names_are_read(name: str) -> None:
    _, requests = read_instances(parse(request_file(block(name=name)), FILE), host())
    assert [r.name for r in requests] == [name]


def test_a_host_description_keeps_bad_names_for_the_validator() -> None:
    # kerf validate reports instance-name-invalid; the host must still load
    desc = host_with(block("cpus = <1>; memory-bytes = <0x40000000>;", name="a@1"))
    assert [i.name for i in desc.instances] == ["a@1"]


# --- 2. unknown properties and nodes ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "needle", "known"),
    [
        (block(GOOD + " bogus = <1>;"), "bogus", "cpu-count, cpus, devices"),
        (block(GOOD + " cpu-cont = <1>;"), "cpu-cont", "did you mean 'cpu-count'?"),
        (block(extra="colour = <1>; "), "colour", "known here: compatible, id, status"),
        (
            block("cpu-count = <1>; memory@0 { size = <0x40000000>; sise = <1>; };"),
            "sise",
            "base, numa-node-id, size",
        ),
        ("\t\tmode = <1>;\n" + block(), "mode", "no properties belong here"),
    ],
)
def test_unknown_properties_are_rejected(body: str, needle: str, known: str) -> None:
    text = request_file(body)
    err = rejects(text)
    assert err.location == loc(text, needle)
    assert f"property '{needle}' is not part of the binding" in err.message
    assert err.hint and known in err.hint


@pytest.mark.parametrize(
    ("body", "needle", "known"),
    [
        (block(extra="extra { }; "), "extra", "known here: resources"),
        (block(GOOD + " limits { };"), "limits", "known here: memory@N"),
        (
            block("cpu-count = <1>; memory@0 { size = <0x40000000>; deep { }; };"),
            "deep",
            "no child nodes",
        ),
    ],
)
def test_unknown_child_nodes_are_rejected(body: str, needle: str, known: str) -> None:
    text = request_file(body)
    err = rejects(text)
    assert err.location == loc(text, needle)
    assert f"node '{needle}' is not part of the binding" in err.message
    assert err.hint and known in err.hint


def test_a_host_description_warns_about_unknown_properties_and_nodes() -> None:
    desc = host_with(block("cpus = <1>; memory-bytes = <0x40000000>; bogus = <1>; limits { };"))
    assert [i.name for i in desc.instances] == ["web"]
    assert [w.subject for w in remarks(desc, "binding-unknown-property")] == ["/instances/web/resources"]
    (node,) = remarks(desc, "binding-unknown-node")
    assert node.subject == "/instances/web/resources/limits"
    assert node.hint == "known here: memory@N"


# --- 3, 4. empty lists, repeated CPUs, no memory, ids ---------------------------------


@pytest.mark.parametrize(
    ("resources", "needle", "message"),
    [
        (GOOD + " numa-nodes = <>;", "numa-nodes", "property 'numa-nodes' should be a list of NUMA node ids"),
        ("cpus = <3 3>; memory-bytes = <0x40000000>;", "cpus", "property 'cpus' lists CPU 3 more than once"),
        ("cpus = <1 2 1 2>; memory-bytes = <0x40000000>;", "cpus", "lists CPUs 1, 2 more than once"),
        ("cpus = <>; memory-bytes = <0x40000000>;", "cpus", "property 'cpus' should be a list of CPU ids"),
        ("cpu-count = <2>; memory-bytes = <0x0 0x0>;", "memory-bytes", "asks for no memory (0 bytes)"),
        ("cpus = <3>; memory-bytes = <0x0 0x0>;", "memory-bytes", "asks for no memory (0 bytes)"),
        (
            "cpu-count = <1>; memory@0 { size = <0x0>; };",
            "size",
            "property 'size' should be a size of at least one byte",
        ),
        ('cpus = <3>; memory-bytes = <0x40000000>; devices = "";', "devices", "empty device reference"),
    ],
)
def test_bad_values_are_rejected_where_written(resources: str, needle: str, message: str) -> None:
    text = request_file(block(resources))
    err = rejects(text)
    assert err.location == loc(text, needle)
    assert message in err.message


@pytest.mark.parametrize("value", [0, 2048])
def test_ids_outside_1_to_2047_are_rejected(value: int) -> None:
    text = request_file(block(extra=f"id = <{value}>; "))
    err = rejects(text)
    assert err.location == loc(text, "id =")
    assert "should be an instance id from 1 to 2047" in err.message


def test_a_host_description_keeps_what_the_validator_reports() -> None:
    desc = host_with(
        block("cpus = <3 3>; memory-bytes = <0x0 0x0>; numa-nodes = <>;", extra="id = <0>; "),
    )
    (web,) = desc.instances
    assert (web.cpus, web.memory, web.id, web.numa_nodes) == ((3, 3), (), 0, ())


# --- 5. an empty instances { } ---------------------------------------------------------


def test_an_empty_request_file_is_rejected() -> None:
    text = request_file("")
    err = rejects(text)
    assert err.location == loc(text, "instances {")
    assert "the request file lists no instances" in err.message


def test_a_request_file_with_its_own_resources_is_still_strict() -> None:
    # /resources in a request file is ignored; the blocks are still requests
    text = request_file(block(name="a@1"), resources="\tresources { };\n")
    assert "cannot be an instance name" in rejects(text).message


def test_a_reference_to_a_device_node_of_the_files_own_resources_means_the_hosts_device() -> None:
    # a host description used as a request file: its references point into its own
    # /resources, whose device of that name is the host's
    own = "\tresources {\n\t\tdevices {\n" + DEVICES + "\n\t\t};\n\t};\n"
    text = request_file(block(GOOD + " devices = <&eth0>;"), resources=own)
    _, (web,) = read_instances(parse(text, FILE), host())
    assert [want.text for want in web.devices] == ["eth0"]


# --- through kerf plan --------------------------------------------------------------------

CLI_CASES = {
    "name": block(name="a@1"),
    "unknown-property": block(GOOD + " bogus = <1>;"),
    "unknown-node": block(extra="extra { }; "),
    "empty-numa-nodes": block(GOOD + " numa-nodes = <>;"),
    "repeated-cpu": block("cpus = <3 3>; memory-bytes = <0x0 0x40000000>;"),
    "no-memory": block("cpu-count = <2>; memory-bytes = <0x0 0x0>;"),
    "id": block(extra="id = <0>; "),
    "empty": "",
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_kerf_plan_reports_dts_request_mistakes_as_input_errors(tmp_path: Path, case: str) -> None:
    path = tmp_path / "requests.dts"
    path.write_text(request_file(CLI_CASES[case]))
    result = Kerf(CliRunner())("plan", str(EXAMPLES / "numa_topology.dts"), "--requests", str(path))
    assert result.exit_code == ExitCode.INPUT, result.output
    assert f"{path}:" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.output and "bug in kerf" not in result.stderr
