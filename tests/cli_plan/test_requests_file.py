"""kerf.requests_file and kerf.units.format_size, through their library entry points, and
the request-file and --dump-model mistakes through ``kerf plan``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerf.errors import ExitCode, InputError
from kerf.requests_file import MAX_DEPTH, parse_json_requests, read_requests
from kerf.units import format_size, parse_size
from planner.policy import CpuAffinity, MemoryPolicy
from planner.synthetic import synthetic_host
from tests.cli_plan.conftest import EXAMPLES, Kerf, requests_json


def test_every_field() -> None:
    (web,) = parse_json_requests(
        '{"instances": [{"name": "web", "cpu-count": 4, "memory": "16GB", "cpu-affinity": "spread",'
        ' "memory-policy": "interleave", "numa-nodes": "0-1", "devices": ["eth0_vf1", "nvme0_ns*"],'
        ' "exclusive-cores": true, "id": 12}]}'
    )
    assert web.memory_bytes == 0x400000000
    assert (web.cpu_count, web.cpus, web.numa_nodes, web.id) == (4, None, (0, 1), 12)
    assert (web.cpu_affinity, web.memory_policy, web.exclusive_cores) == (
        CpuAffinity.SPREAD,
        MemoryPolicy.INTERLEAVE,
        True,
    )
    assert [d.text for d in web.devices] == ["eth0_vf1", "nvme0_ns*"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('{"name": "w", "cpu-count": 1, "memory": "1G", "memory-bytes": 5}', "not both"),
        ('{"name": "w", "cpu-count": 1, "cpus": [1], "memory": "1G"}', "not both"),
        ('{"name": "w", "cpus": [], "memory": "1G"}', "a list of ids"),
        ('{"name": "w", "cpus": [1, 1], "memory": "1G"}', "CPU list repeats [1]"),
        ('{"name": "w", "cpu-count": true, "memory": "1G"}', "whole number of at least 1, got true"),
        ('{"name": "w", "cpu-count": 1, "memory-bytes": -4}', "positive whole number, got -4"),
        ('{"name": "w", "cpu-count": 1, "memory": "0"}', "larger than 0"),
        ('{"name": "w", "cpu-count": 1, "memory": "1G", "id": 4096}', "from 1 to 2047"),
        ('{"name": "w", "cpu-count": 1, "memory": "1G", "exclusive-cores": "yes"}', "true or false"),
        ('{"name": "w", "cpu-count": 1, "memory": "1G", "devices": [""]}', "empty device reference"),
        ('{"cpu-count": 1, "memory": "1G"}', '"name" is required'),
        ("[1]", "each entry"),
        ('{"name": "w", "cpu-count": NaN, "memory": "1G"}', "NaN is not a JSON number"),
        ('{"name": "w", "cpu-count": 1, "memory-bytes": -Infinity}', "-Infinity is not a JSON number"),
    ],
)
def test_bad_entries(entry: str, message: str) -> None:
    text = '{"instances": [' + entry + "]}" if not entry.startswith("[") else '{"instances": ' + entry + "}"
    with pytest.raises(InputError) as err:
        parse_json_requests(text, "r.json")
    assert message in str(err.value)
    assert err.value.location is not None and err.value.location.filename == "r.json"


def test_top_level_mistakes() -> None:
    for text, message in [
        ('{"instance": []}', 'unknown key "instance"'),
        ('{"instances": "web"}', 'expected "instances" to be a list of objects, found a string'),
        ('{"other": 1}', 'unknown key "other"'),
        ("{}", 'found no "instances" key'),
        ('{"instances": [], "extra": 1}', 'unknown key "extra"'),
        ('{"instances": []}', "lists no instances"),
        (
            '{"instances": [{"name": "a", "cpu-count": 1, "memory": "1G"},'
            ' {"name": "a", "cpu-count": 1, "memory": "1G"}]}',
            "two instances are named a",
        ),
    ]:
        with pytest.raises(InputError, match=message):
            parse_json_requests(text)


def test_files_are_read_by_content(tmp_path: Path) -> None:
    host = synthetic_host("pack:1 core:2 pu:2")
    (tmp_path / "a.dts").write_text('{"instances": [{"name": "a", "cpu-count": 1, "memory": "1M"}]}')
    assert [r.name for r in read_requests(tmp_path / "a.dts", host)] == ["a"]
    with pytest.raises(InputError, match="cannot read"):
        read_requests(tmp_path / "missing.json", host)
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="expected UTF-8 text or a DTB"):
        read_requests(tmp_path / "bin", host)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_format_size_round_trips(size: int) -> None:
    text = format_size(size)
    assert parse_size(text, allow_zero=True) == size
    assert text.endswith("B")


def test_format_size_picks_the_largest_exact_unit() -> None:
    assert [format_size(n) for n in (0, 4096, 3 << 29, 16 << 30, 5 << 40, 4097)] == [
        "0B",
        "4KiB",
        "1536MiB",
        "16GiB",
        "5TiB",
        "4097B",
    ]
    with pytest.raises(ValueError):
        format_size(-1)


# --- JSON the parser must refuse with a located error, never a traceback ----------------

ENTRY = '{"name": "w", "cpu-count": 1, "memory": "1G"'  # an instance, without its closing brace
MINIMAL = str(EXAMPLES / "minimal.dts")


def _located_error(text: str) -> InputError:
    with pytest.raises(InputError) as err:
        parse_json_requests(text, "r.json")
    assert err.value.location is not None and err.value.location.filename == "r.json"
    return err.value


def test_unclosed_deep_nesting_is_an_input_error_through_the_cli(kerf: Kerf, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"instances":' + "[" * 2000 + "\n")
    result = kerf("plan", MINIMAL, "--requests", str(deep))
    assert result.exit_code == ExitCode.INPUT, result.output
    # 1:13 is the first [, so the 101st level opens at column 113
    assert result.stderr.startswith(
        f"error: {deep}:1:113: expected JSON nested at most {MAX_DEPTH} levels deep"
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize("levels", [500, 5000])
@pytest.mark.parametrize("where", ["unknown key", "field"])
def test_deep_valid_json_is_refused_at_the_first_level_too_deep(levels: int, where: str) -> None:
    value = "[" * levels + "]" * levels
    if where == "unknown key":
        text = '{"instances": [' + ENTRY + ', "x": ' + value + "}]}"
    else:
        text = '{"instances": [{"name": "w", "cpu-count": 1, "memory": ' + value + "}]}"
    error = _located_error(text)
    assert f"nested at most {MAX_DEPTH} levels deep" in error.message
    # three levels (object, "instances", the instance) before the value
    assert error.location is not None
    assert text[error.location.col - 1 :].startswith("[" * (levels - (MAX_DEPTH - 3)) + "]")


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_fine() -> None:
    inner = MAX_DEPTH - 3
    limit = '{"instances": [' + ENTRY + ', "x": ' + "[" * inner + "]" * inner + "}]}"
    assert 'unknown key "x"' in _located_error(limit).message
    quoted = '{"instances": [' + ENTRY + ', "cpu-affinity": "' + "[{" * 300 + '\\"["}]}'
    assert '"cpu-affinity" is one of' in _located_error(quoted).message


@pytest.mark.parametrize(
    ("text", "key", "col"),
    [
        ('{"instances": [{"name": "a", "name": "b", "cpu-count": 1, "memory": "1G"}]}', "name", 30),
        ('{"instances": [], "instances": [' + ENTRY + "}]}", "instances", 19),
        ('{"instances": [{"name": "a", "n\\u0061me": "b", "cpu-count": 1, "memory": "1G"}]}', "name", 30),
        ('{"instances": [' + ENTRY + ', "x": {"k": 1, "k": 2}}]}', "k", 76),
    ],
)
def test_duplicate_keys_are_refused_at_the_second(text: str, key: str, col: int) -> None:
    error = _located_error(text)
    assert error.message == f'duplicate key "{key}": expected each key once in an object, found it twice'
    assert error.location is not None and (error.location.line, error.location.col) == (1, col)
    assert error.hint is not None and error.hint.startswith("the first is at line 1, column")


def test_duplicate_name_through_the_cli(kerf: Kerf, tmp_path: Path) -> None:
    dup = tmp_path / "dup.json"
    dup.write_text('{"instances":[{"name":"a","name":"b","cpu-count":1,"memory":"1G"}]}')
    result = kerf("plan", MINIMAL, "--requests", str(dup))
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith(f'error: {dup}:1:27: duplicate key "name"')


@pytest.mark.parametrize("size", [1 << 64, 10**31])
def test_memory_bytes_has_the_same_cap_as_memory(size: int) -> None:
    error = _located_error(
        '{"instances": [{"name": "w", "cpu-count": 1, "memory-bytes": ' + str(size) + "}]}"
    )
    assert error.message == f'instance w: "memory-bytes" must stay below 2^64 bytes (16 EiB), got {size}'
    assert error.location is not None and error.location.col == 62
    (largest,) = parse_json_requests(
        '{"instances": [{"name": "w", "cpu-count": 1, "memory-bytes": ' + str((1 << 64) - 1) + "}]}"
    )
    assert largest.memory_bytes == (1 << 64) - 1


def test_an_endless_integer_is_located_not_a_value_error() -> None:
    error = _located_error(
        '{"instances": [{"name": "w", "cpu-count": 1, "memory-bytes": 1' + "0" * 5000 + "}]}"
    )
    assert error.message == "expected a number below 2^64, found an integer of 5001 digits"
    assert error.location is not None and error.location.col == 62


# --- format detection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message", "where"),
    [
        ("r.json", b"", 'expected a JSON object with an "instances" list, found an empty file', (1, 1)),
        ("r.json", b" \n\n", 'expected a JSON object with an "instances" list, found an empty file', (1, 1)),
        ("r.json", b"\n [1]", 'expected a JSON object with an "instances" list, found an array', (2, 2)),
        ("R.JSON", b'"text"', 'expected a JSON object with an "instances" list, found a string', (1, 1)),
        (
            "r.json",
            b"\xef\xbb\xbf[]",
            'expected a JSON object with an "instances" list, found an array',
            (1, 1),
        ),
        ("r.json", b"/dts-v1/;", "invalid JSON: Expecting value", (1, 1)),
        ("r.json", b"\xd0\x0d\xfe\xed\x00", "expected UTF-8 text, found the byte 0xd0", (1, 1)),
        ("r.txt", b"  [1]", 'expected a JSON object with an "instances" list, found an array', (1, 3)),
        ("r.txt", b"\xef\xbb\xbf\n{", "invalid JSON: Expecting property name", (2, 2)),
        ("r.dts", b"/dts-v1/;\n\xff", "expected UTF-8 text or a DTB, found the byte 0xff", (2, 1)),
    ],
)
def test_json_names_and_json_content_are_read_as_json(
    tmp_path: Path, name: str, data: bytes, message: str, where: tuple[int, int]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        read_requests(path, synthetic_host("pack:1 core:2 pu:2"))
    assert err.value.message.startswith(message)
    assert err.value.location is not None
    assert (err.value.location.filename, err.value.location.line, err.value.location.col) == (
        str(path),
        *where,
    )
    assert "dts-v1" not in (err.value.hint or "")


def test_a_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"instances": [{"name": "a", "cpu-count": 1, "memory": "1M"}]}')
    assert [r.name for r in read_requests(path, synthetic_host("pack:1 core:2 pu:2"))] == ["a"]


def test_format_mistakes_through_the_cli(kerf: Kerf, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    result = kerf("plan", MINIMAL, "--requests", str(empty))
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith(f"error: {empty}:1:1: expected a JSON object")
    assert "found an empty file" in result.stderr


# --- --dump-model targets ---------------------------------------------------------------


def test_dump_model_through_a_symlink_replaces_the_target(kerf: Kerf, tmp_path: Path) -> None:
    target = tmp_path / "model.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to("model.txt")
    file = requests_json(tmp_path, {"name": "a", "cpu-count": 1, "memory": "1G"})
    result = kerf("plan", MINIMAL, "--requests", str(file), "--dump-model", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()
    assert 'name: "admit[a]"' in target.read_text()


def test_dump_model_refuses_a_fifo_and_an_empty_path(kerf: Kerf, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    file = requests_json(tmp_path, {"name": "a", "cpu-count": 1, "memory": "1G"})
    result = kerf("plan", MINIMAL, "--requests", str(file), "--dump-model", str(fifo))
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr == (
        f"error: cannot write {fifo}: it is a FIFO (named pipe), not a regular file\n"
        "hint: choose a writable place with --dump-model\n"
    )
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    empty = kerf("plan", MINIMAL, "--requests", str(file), "--dump-model", "")
    assert empty.exit_code == ExitCode.INPUT
    assert empty.stderr.startswith("error: cannot write: expected a file name, found an empty path")
    assert "Traceback" not in empty.output


# --- problems the planner finds later point at the request in its file -------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "r.json",
            '{"instances": [\n  {"name": "ok", "cpu-count": 1, "memory": "64M"},\n'
            '  {"name": "web", "cpu-count": 2, "memory": "1G", "numa-nodes": [7]}\n]}\n',
            "3:3: instance web: unknown NUMA node(s) 7",
        ),
        (
            "r.dts",
            "/dts-v1/;\n/ {\n\tinstances {\n"
            "\t\tpin { resources { cpus = <0>; memory-bytes = <0x0 0x40000000>; }; };\n\t};\n};\n",
            "4:3: instance pin: pinned CPU(s) 0 are reserved",
        ),
        (
            "ids.dts",
            "/dts-v1/;\n/ {\n\tinstances {\n"
            "\t\tx { id = <5>; resources { cpu-count = <1>; memory-bytes = <0x0 0x40000000>; }; };\n"
            "\t\ty { id = <5>; resources { cpu-count = <1>; memory-bytes = <0x0 0x40000000>; }; };\n"
            "\t};\n};\n",
            "5:3: requests x and y both ask for id 5",
        ),
    ],
    ids=["json", "dts", "same-id"],
)
def test_a_planner_complaint_points_at_the_request_in_its_file(
    kerf: Kerf, tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = kerf("plan", str(EXAMPLES / "numa_topology.dts"), "--requests", str(path))
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith(f"error: {path}:{expected}")


def test_a_planner_complaint_points_at_the_hosts_own_request(kerf: Kerf, tmp_path: Path) -> None:
    text = (EXAMPLES / "numa_topology.dts").read_text()
    old = "numa-nodes = <3>;"
    assert text.count(old) == 1
    host = tmp_path / "host.dts"
    host.write_text(text.replace(old, "numa-nodes = <9>;"))
    result = kerf("plan", str(host))
    line = next(i for i, t in enumerate(host.read_text().splitlines(), 1) if "ml-training {" in t)
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith(f"error: {host}:{line}:")
    assert "instance ml-training: unknown NUMA node(s) 9" in result.stderr
