"""/resources/devices: names, every property, explicit vf@N / namespace@N nodes."""

from __future__ import annotations

from tests.binding.util import fails, host_text, loc, read, remarks

NIC = """\t\t\teth0: ethernet@0 {
\t\t\t\tcompatible = "intel,e810", "pci";
\t\t\t\tdevice-type = "pci";
\t\t\t\tpci-id = "0000:17:00.0";
\t\t\t\tvendor-id = <0x8086>;
\t\t\t\tdevice-id = <0x159b>;
\t\t\t\tnuma-node = <0>;
\t\t\t\tsriov-vfs = <8>;
\t\t\t\thost-reserved-vf = <0>;
\t\t\t\tavailable-vfs = <1 2 3>;
\t\t\t\tfast: vf@2 { pci-id = "0000:17:01.2"; };
\t\t\t};"""
NVME = """\t\t\tnvme0: storage@0 {
\t\t\t\tcompatible = "nvme";
\t\t\t\tnamespaces = <4>;
\t\t\t\thost-reserved-ns = <1>;
\t\t\t\tavailable-ns = <2 3 4>;
\t\t\t\tscratch: namespace@3 { };
\t\t\t};"""


def test_every_device_property() -> None:
    host = read(host_text(devices=NIC)).host
    (eth0,) = host.devices
    assert eth0.name == "eth0"
    assert eth0.node_name == "ethernet@0"
    assert eth0.compatible == ("intel,e810", "pci")
    assert (eth0.device_type, eth0.pci_id, eth0.vendor_id, eth0.device_id) == (
        "pci",
        "0000:17:00.0",
        0x8086,
        0x159B,
    )
    assert eth0.numa_node == 0
    assert (eth0.sriov_vfs, eth0.host_reserved_vfs, eth0.available_vfs) == (8, (0,), (1, 2, 3))
    assert dict(eth0.vf_pci_ids) == {2: "0000:17:01.2"}
    assert [u.label for u in eth0.units()] == ["eth0_vf1", "eth0_vf2", "eth0_vf3"]


def test_namespaces() -> None:
    (nvme0,) = read(host_text(devices=NVME)).host.devices
    assert (nvme0.namespaces, nvme0.host_reserved_ns, nvme0.available_ns) == (4, (1,), (2, 3, 4))
    assert [u.label for u in nvme0.units()] == ["nvme0_ns2", "nvme0_ns3", "nvme0_ns4"]


def test_defaults_and_unlabelled_names() -> None:
    (gpu,) = read(host_text(devices='\t\t\tgpu@0 { pci-id = "0000:ca:00.0"; };')).host.devices
    assert gpu.name == "gpu@0"
    assert gpu.device_type == "pci"
    assert (gpu.sriov_vfs, gpu.namespaces, gpu.kind) == (0, 0, "whole")


def test_an_alias_names_an_unlabelled_device() -> None:
    text = host_text(devices="\t\t\tgpu@0 { };", extra='\taliases { accel = "/resources/devices/gpu@0"; };')
    assert read(text).host.devices[0].name == "accel"


def test_vf_node_needs_a_decimal_number() -> None:
    text = host_text(devices="\t\t\teth0: e@0 { sriov-vfs = <2>; vf@x { }; };")
    err = fails(text)
    assert err.location == loc(text, "vf@x")
    assert err.message == (
        "/resources/devices/e@0/vf@x: a vf node is named by its number, but it has the unit address 'x'"
    )


def test_wrong_type_is_located() -> None:
    text = host_text(devices='\t\t\teth0: e@0 { sriov-vfs = "8"; };')
    err = fails(text)
    assert err.location == loc(text, "sriov-vfs")
    assert err.message == (
        "/resources/devices/e@0: property 'sriov-vfs' should be one 32-bit cell like <8>, but it is a string"
    )


def test_pci_id_must_be_a_string() -> None:
    text = host_text(devices="\t\t\teth0: e@0 { pci-id = <0x17>; };")
    err = fails(text)
    assert err.message == (
        "/resources/devices/e@0: property 'pci-id' should be a string like \"text\", but it is 1 cell "
        "(4 bytes)"
    )


def test_vendor_properties_on_devices_are_not_reported() -> None:
    desc = read(host_text(devices="\t\t\teth0: e@0 { interrupts = <5>; vendor,tuning = <1>; };"))
    assert remarks(desc, "binding-unknown-property") == []


def test_vfs_have_a_device_id_of_their_own() -> None:
    """vf-device-id is what every VF is (not the PF's device-id); a vf@N device-id overrides it."""
    nic = NIC.replace(
        "\t\t\t\tfast: vf@2",
        "\t\t\t\tvf-device-id = <0x1889>;\n"
        '\t\t\t\tvf@1 { pci-id = "0000:17:01.1"; };\n'
        "\t\t\t\tvf@3 { device-id = <0x1890>; };\n"
        "\t\t\t\tfast: vf@2",
    )
    desc = read(host_text(devices=nic))
    assert remarks(desc, "binding-unknown-property") == []
    (eth0,) = desc.host.devices
    assert (eth0.device_id, eth0.vf_device_id, dict(eth0.vf_device_ids)) == (0x159B, 0x1889, {3: 0x1890})
    assert [(u.label, u.pci_id, u.device_id) for u in eth0.units()] == [
        ("eth0_vf1", "0000:17:01.1", 0x1889),
        ("eth0_vf2", "0000:17:01.2", 0x1889),
        ("eth0_vf3", None, 0x1890),
    ]


def test_without_a_vf_device_id_a_vf_has_none() -> None:
    (eth0,) = read(host_text(devices=NIC)).host.devices
    assert eth0.vf_device_id is None
    assert {u.device_id for u in eth0.units()} == {None}  # never the PF's 0x159b


def test_a_typo_in_a_vf_node_is_reported() -> None:
    nic = NIC.replace(
        'vf@2 { pci-id = "0000:17:01.2"; }', 'vf@2 { pci-id = "0000:17:01.2"; devce-id = <1>; }'
    )
    (remark,) = remarks(read(host_text(devices=nic)), "binding-unknown-property")
    assert "'devce-id'" in remark.message
    assert "device-id, pci-id" in (remark.hint or "")
