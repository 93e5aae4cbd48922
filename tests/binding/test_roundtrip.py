"""Property tests: Host (+ instances, requests) -> host_to_tree -> DTS text or DTB -> read_host -> equal."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kerf.binding import HostDescription, host_to_tree, read_host
from kerf.dts import format_dts, from_dtb, parse, to_dtb
from planner.hardware import Host, Instance
from planner.request import InstanceRequest
from planner.synthetic import synthetic_host
from tests.binding.strategies import described


def _same(
    desc: HostDescription, host: Host, instances: list[Instance], requests: list[InstanceRequest]
) -> None:
    assert desc.host == host
    assert list(desc.instances) == instances
    assert list(desc.requests) == requests
    assert desc.warnings == () or all(getattr(w, "code", "") == "distance-default" for w in desc.warnings)


@settings(max_examples=60, deadline=None)
@given(described(), st.sampled_from(["/dts-v1/;", "/multikernel-v1/;"]))
def test_roundtrip_through_dts_text(
    case: tuple[Host, list[Instance], list[InstanceRequest]], header: str
) -> None:
    host, instances, requests = case
    text = format_dts(host_to_tree(host, instances, requests))
    assert text.startswith("/dts-v1/;")
    text = header + text[len("/dts-v1/;") :]  # both headers mean the same
    _same(read_host(parse(text, "roundtrip.dts")), host, instances, requests)


@settings(max_examples=60, deadline=None)
@given(described())
def test_roundtrip_through_dtb(case: tuple[Host, list[Instance], list[InstanceRequest]]) -> None:
    host, instances, requests = case
    blob = to_dtb(host_to_tree(host, instances, requests))
    _same(read_host(from_dtb(blob, "roundtrip.dtb")), host, instances, requests)


def test_written_tree_is_standard_dts() -> None:
    host = synthetic_host("pack:1 core:2 pu:2", reserved_cpus=[0])
    text = format_dts(host_to_tree(host))
    assert text.startswith("/dts-v1/;")
    assert "total-bytes = <0x10 0x0>;" in text
    assert "memory-pool-base = <0x4 0x0>;" in text
