"""kerf.requests_file and kerf.units.format_size, through their library entry points."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerf.errors import InputError
from kerf.requests_file import parse_json_requests, read_requests
from kerf.units import format_size, parse_size
from planner.policy import CpuAffinity, MemoryPolicy
from planner.synthetic import synthetic_host


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
        ('{"instance": []}', 'an object with an "instances" list'),
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
    with pytest.raises(InputError, match="not UTF-8"):
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
