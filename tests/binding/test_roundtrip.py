"""Property tests: Host (+ instances, requests) -> host_to_tree -> DTS text or DTB -> read_host -> equal."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from kerf.binding import HostDescription, host_to_tree, read_host
from kerf.dts import format_dts, from_dtb, parse, to_dtb
from planner.hardware import Device, Host, Instance
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


def test_vf_device_ids_are_written_and_read_back() -> None:
    """The device's vf-device-id and a VF's own device-id (also on a VF without a pci-id)."""
    nic = Device(
        "eth0",
        node_name="ethernet@0",
        pci_id="0000:17:00.0",
        vendor_id=0x8086,
        device_id=0x159B,
        sriov_vfs=4,
        available_vfs=(1, 2, 3),
        vf_pci_ids={1: "0000:17:01.1", 2: "0000:17:01.2"},
        vf_device_id=0x1889,
        vf_device_ids={3: 0x1890},
    )
    host = replace(synthetic_host("pack:1 core:2 pu:2"), devices=(nic,))
    text = format_dts(host_to_tree(host))
    assert "vf-device-id = <0x1889>;" in text
    assert "device-id = <0x1890>;" in text
    assert read_host(parse(text, "vf.dts")).host == host
    assert read_host(from_dtb(to_dtb(host_to_tree(host)), "vf.dtb")).host == host
