"""PCI devices from fake trees: SR-IOV, NVMe namespaces, and what the host keeps."""

from __future__ import annotations

from kerf.binding import read_host
from kerf.discover import Discovery, discover_host, render_dts
from kerf.dts import parse
from kerf.lifecycle.baseline import build_baseline
from kerf.validate import validate_description
from tests.discover.fakehost import FakeHost, FakePci, shape

VFS = ["0000:3b:01.0", "0000:3b:01.1", "0000:3b:01.2", "0000:3b:01.3"]


def _machine(fake: FakeHost) -> FakeHost:
    return shape(fake, packages=2, cores=2, threads=2)


def _discover(fake: FakeHost) -> Discovery:
    fake.build()
    return discover_host(fake.sys, fake.proc)


def test_sriov_device_offers_its_vfs(fake: FakeHost) -> None:
    _machine(fake).add_pci(
        FakePci(
            "0000:3b:00.0", 0x020000, 0x8086, 0x1593, numa_node=1, total_vfs=8, vfs=VFS, interfaces=["ens1f0"]
        )
    )
    fake.pci[0].driver = "ice"
    d = _discover(fake)
    (eth0,) = d.host.devices  # the VFs are units of their PF, never devices of their own
    assert (eth0.name, eth0.node_name, eth0.kind) == ("eth0", "ethernet@0", "sriov")
    assert (eth0.pci_id, eth0.vendor_id, eth0.device_id, eth0.numa_node) == (
        "0000:3b:00.0",
        0x8086,
        0x1593,
        1,
    )
    assert eth0.sriov_vfs == 4 and eth0.available_vfs == (0, 1, 2, 3)
    assert dict(eth0.vf_pci_ids) == dict(enumerate(VFS))
    assert [u.label for u in eth0.units()] == ["eth0_vf0", "eth0_vf1", "eth0_vf2", "eth0_vf3"]
    text = render_dts(d)
    assert "eth0: ethernet@0 {" in text
    assert 'vf@2 { pci-id = "0000:3b:01.2"; };' in text
    assert "interface ens1f0, driver ice, up to 8" in text


def test_sriov_device_without_vfs_is_whole_with_a_note(fake: FakeHost) -> None:
    _machine(fake).add_pci(FakePci("0000:3b:00.0", 0x020000, 0x8086, 0x1593, total_vfs=8))
    d = _discover(fake)
    assert d.host.devices[0].kind == "whole"
    assert any("supports 8 SR-IOV VFs but none exist" in n.message for n in d.notes)


def test_nvme_namespaces_the_host_mounts_stay_reserved(fake: FakeHost) -> None:
    _machine(fake).add_pci(
        FakePci("0000:5e:00.0", 0x010802, 0x144D, 0xA808, numa_node=0, namespaces=[1, 2, 3])
    )
    # / is on a partition of namespace 1, found through its device number (source /dev/root);
    # namespace 3 holds swap.
    fake.partition("nvme0n1", "nvme0n1p2", "259:7")
    fake.mounts = [("259:7", "/", "/dev/root")]
    fake.swaps = ["/dev/nvme0n3"]
    d = _discover(fake)
    (nvme0,) = d.host.devices
    assert (nvme0.name, nvme0.node_name, nvme0.compatible, nvme0.kind) == (
        "nvme0",
        "storage@0",
        ("nvme",),
        "nvme",
    )
    assert nvme0.namespaces == 3
    assert nvme0.host_reserved_ns == (1, 3)
    assert nvme0.available_ns == (2,)
    assert [u.label for u in nvme0.units()] == ["nvme0_ns2"]
    text = render_dts(d)
    assert "host-reserved-ns = <1 3>;  // nvme0n1p2 mounted on /; nvme0n3 swap" in text


def test_whole_devices_the_host_uses_are_kept_and_the_rest_labelled(fake: FakeHost) -> None:
    _machine(fake)
    fake.add_pci(FakePci("0000:00:17.0", 0x010601, 0x8086, 0xA352, disks=["sda"]))  # SATA, holds /boot
    fake.add_pci(FakePci("0000:01:00.0", 0x020000, 0x14E4, 0x165F, interfaces=["eno1"]))  # default route
    fake.add_pci(FakePci("0000:01:00.1", 0x020000, 0x14E4, 0x165F, interfaces=["eno2"]))
    fake.add_pci(FakePci("0000:02:00.0", 0x030000, 0x10DE, 0x2330, numa_node=1))
    fake.add_pci(FakePci("0000:03:00.0", 0x120000, 0x1DED, 0x1000, numa_node=0))
    fake.add_pci(FakePci("0000:00:1c.0", 0x060400, 0x8086, 0xA33C))  # a bridge: not assignable
    fake.default_route = "eno1"
    fake.partition("sda", "sda1", "8:9")
    fake.mounts = [("8:9", "/boot", "/dev/sda1")]
    d = _discover(fake)

    assert [(dev.name, dev.node_name, dev.pci_id) for dev in d.host.devices] == [
        ("eth0", "ethernet@0", "0000:01:00.1"),
        ("gpu0", "display@0", "0000:02:00.0"),
        ("accel0", "accelerator@0", "0000:03:00.0"),
    ]
    assert d.host.devices[0].compatible == ("pci14e4,165f",)
    assert d.host.device_by_name["gpu0"].numa_node == 1
    kept = {f.address: f.host_use for f in d.kept_devices}
    assert kept == {"0000:00:17.0": ("sda1 mounted on /boot",), "0000:01:00.0": ("eno1: default route",)}
    text = render_dts(d)
    assert "kept by the host, not described: PCI 0000:00:17.0 storage" in text
    assert "0000:00:1c.0" not in text


def test_unknown_numa_node_of_a_device_on_a_multi_node_host(fake: FakeHost) -> None:
    _machine(fake).add_pci(FakePci("0000:02:00.0", 0x030000, 0x10DE, 0x2330, numa_node=-1))
    d = _discover(fake)
    assert d.host.devices[0].numa_node is None
    assert "NUMA node unknown" in render_dts(d)


def test_single_node_host_places_devices_on_its_node(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=1).add_pci(FakePci("0000:02:00.0", 0x030000, 0x10DE, 0x2330))
    d = _discover(fake)
    assert d.host.devices[0].numa_node == 0


def test_missing_pci_directory_is_noted(fake: FakeHost) -> None:
    d = _discover(_machine(fake))
    assert d.host.devices == ()
    assert any("bus/pci/devices is missing" in n.message for n in d.warnings)


def _e810(fake: FakeHost, **changes: object) -> FakePci:
    pf = FakePci(
        "0000:3b:00.0", 0x020000, 0x8086, 0x159B, numa_node=1, total_vfs=8, vfs=VFS, vf_device=0x1889
    )
    for name, value in changes.items():
        setattr(pf, name, value)
    _machine(fake).add_pci(pf)
    return pf


def test_vfs_carry_the_device_id_the_pf_gives_them(fake: FakeHost) -> None:
    _e810(fake)
    d = _discover(fake)
    (eth0,) = d.host.devices
    assert (eth0.device_id, eth0.vf_device_id, dict(eth0.vf_device_ids)) == (0x159B, 0x1889, {})
    assert {u.device_id for u in eth0.units()} == {0x1889}
    text = render_dts(d)
    assert "vf-device-id = <0x1889>;" in text
    assert 'vf@2 { pci-id = "0000:3b:01.2"; };' in text
    # what discovery wrote reads back, validates without a VF finding, and hands the VFs
    # to the kernel with their own id
    desc = read_host(parse(text, "discovered.dts"))
    assert desc.host == d.host
    assert "device-vf-device-id-missing" not in validate_description(desc).codes
    baseline = build_baseline(desc.host)
    assert [(k.pci_id, k.device_id) for k in baseline.devices] == [(vf, 0x1889) for vf in VFS]


def test_without_sriov_vf_device_each_vfs_own_device_file_is_read(fake: FakeHost) -> None:
    _e810(fake, sriov_vf_device=False)
    fake.build()
    # one VF says something else: it keeps its own id, the others share the common one
    (fake.sys / "devices/pci0000:00/0000:3b:01.3/device").write_text("0x1890\n")
    d = discover_host(fake.sys, fake.proc)
    (eth0,) = d.host.devices
    assert (eth0.vf_device_id, dict(eth0.vf_device_ids)) == (0x1889, {3: 0x1890})
    text = render_dts(d)
    assert 'vf@3 { pci-id = "0000:3b:01.3"; device-id = <0x1890>; };' in text
    assert read_host(parse(text, "discovered.dts")).host == d.host


def test_vfs_whose_device_id_cannot_be_read_are_left_without_one_with_a_warning(fake: FakeHost) -> None:
    _e810(fake, sriov_vf_device=False)
    fake.skip = {f"sys/devices/pci0000:00/{vf}/device" for vf in VFS}
    d = _discover(fake)
    (eth0,) = d.host.devices
    assert eth0.vf_device_id is None and dict(eth0.vf_pci_ids) == dict(enumerate(VFS))
    assert any("VFs' PCI device id was not readable" in n.message for n in d.notes)
    text = render_dts(d)
    assert "vf-device-id = " not in text
    assert "device-vf-device-id-missing" in validate_description(read_host(parse(text, "d.dts"))).codes
