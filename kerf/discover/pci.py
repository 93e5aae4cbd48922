"""PCI devices worth giving to an instance, from /sys/bus/pci/devices.

Kept: network controllers (class 0x02), storage (0x01, NVMe is 0x0108), display (0x03)
and processing accelerators (0x12). SR-IOV virtual functions are described through their
physical function (``virtfnN`` links), never on their own; their device id, which is not
the PF's, comes from the PF's ``sriov_vf_device`` or each VF's own ``device`` file.

The host's own devices are recognised so that the defaults never give them away: a disk
with a mounted filesystem or swap (directly or under LVM/RAID, seen as ``holders``) and
an interface that carries the default route.
"""

from __future__ import annotations

import re

from kerf.discover.files import RootedFs
from kerf.discover.model import NamespaceFact, NoteLog, PciFact
from kerf.discover.procfs import HostUse
from kerf.discover.text import pci_addresses_in_path

PCI_DIR = "bus/pci/devices"
ASSIGNABLE_CLASSES = {0x01: "storage", 0x02: "network", 0x03: "display", 0x12: "accelerator"}

_NAMESPACE = re.compile(r"^nvme(\d+)(?:c\d+)?n(\d+)$")


def scan_pci(sys: RootedFs, use: HostUse, log: NoteLog) -> tuple[PciFact, ...]:
    """Every assignable PCI function (physical functions only), by address."""
    addresses = sys.listdir(PCI_DIR)
    if not addresses:
        if not sys.is_dir(PCI_DIR):
            log.warn(f"{sys.shown(PCI_DIR)} is missing: no PCI devices are described")
        return ()
    disks = _disks_by_pci(sys)
    facts: list[PciFact] = []
    for address in addresses:
        base = f"{PCI_DIR}/{address}"
        class_code = sys.integer(f"{base}/class")
        if class_code is None or (class_code >> 16) not in ASSIGNABLE_CLASSES:
            continue
        if sys.exists(f"{base}/physfn"):
            continue
        vendor, device = sys.integer(f"{base}/vendor"), sys.integer(f"{base}/device")
        if vendor is None or device is None:
            log.warn(f"{sys.shown(base)} has no readable vendor/device id; left out")
            continue
        node = sys.integer(f"{base}/numa_node")
        interfaces = _interfaces(sys, base)
        namespaces = _namespaces(sys, base, use)
        blocks = tuple(disks.get(address, ()))
        host_use = [f"{name}: {why}" for name in interfaces for why in use.routes.get(name, [])]
        if not namespaces:
            for disk in blocks:
                host_use += _disk_use(sys, disk, use)
        facts.append(
            PciFact(
                address=address,
                class_code=class_code,
                vendor_id=vendor,
                device_id=device,
                numa_node=node if node is not None and node >= 0 else None,
                driver=sys.link_name(f"{base}/driver"),
                sriov_total_vfs=sys.integer(f"{base}/sriov_totalvfs") or 0,
                sriov_vfs=sys.integer(f"{base}/sriov_numvfs") or 0,
                vf_addresses=_virtual_functions(sys, base),
                vf_device_id=sys.hex_integer(f"{base}/sriov_vf_device"),
                vf_device_ids=_vf_device_ids(sys, base),
                namespaces=namespaces,
                interfaces=interfaces,
                block_devices=blocks,
                host_use=tuple(host_use),
            )
        )
    return tuple(facts)


def _virtual_functions(sys: RootedFs, base: str) -> dict[int, str]:
    """VF number -> PCI address, from the ``virtfnN`` links."""
    vfs: dict[int, str] = {}
    for n in sys.numbered(base, "virtfn"):
        target = sys.link_name(f"{base}/virtfn{n}")
        if target:
            vfs[n] = target
    return vfs


def _vf_device_ids(sys: RootedFs, base: str) -> dict[int, int]:
    """VF number -> PCI device id, from each ``virtfnN/device`` (the fallback for kernels
    without ``sriov_vf_device``)."""
    ids: dict[int, int] = {}
    for n in sys.numbered(base, "virtfn"):
        found = sys.integer(f"{base}/virtfn{n}/device")
        if found is not None:
            ids[n] = found
    return ids


def _interfaces(sys: RootedFs, base: str) -> tuple[str, ...]:
    """Network interface names of a device (``net/``, or ``virtioN/net/`` for virtio)."""
    names = list(sys.listdir(f"{base}/net"))
    for child in sys.listdir(base):
        if child.startswith("virtio") and sys.is_dir(f"{base}/{child}/net"):
            names += sys.listdir(f"{base}/{child}/net")
    return tuple(sorted(set(names)))


def _namespaces(sys: RootedFs, base: str, use: HostUse) -> tuple[NamespaceFact, ...]:
    """NVMe namespaces under ``nvme/nvmeX/`` with their ids and host use."""
    found: dict[int, NamespaceFact] = {}
    for controller in sys.listdir(f"{base}/nvme"):
        cdir = f"{base}/nvme/{controller}"
        for entry in sys.listdir(cdir):
            match = _NAMESPACE.match(entry)
            if match is None:
                continue
            nsid = sys.integer(f"{cdir}/{entry}/nsid") or int(match[2])
            # With native multipath the path device is nvmeXcYnZ; the block device is nvmeXnZ.
            name = f"nvme{match[1]}n{match[2]}"
            found.setdefault(nsid, NamespaceFact(nsid, name, tuple(_disk_use(sys, name, use))))
    return tuple(found[n] for n in sorted(found))


def _disks_by_pci(sys: RootedFs) -> dict[str, list[str]]:
    """PCI address -> whole-disk block devices below it (from the /sys/block links)."""
    owners: dict[str, list[str]] = {}
    for disk in sys.listdir("block"):
        real = sys.resolve(f"block/{disk}")
        addresses = pci_addresses_in_path(real or "")
        if addresses:
            owners.setdefault(addresses[-1], []).append(disk)
    return owners


def _disk_use(sys: RootedFs, disk: str, use: HostUse) -> list[str]:
    """Why the host needs a disk: mounts, swap or holders on it or its partitions."""
    reasons: list[str] = []
    entries = [(disk, f"block/{disk}")]
    entries += [
        (part, f"block/{disk}/{part}")
        for part in sys.listdir(f"block/{disk}")
        if part.startswith(disk) and sys.exists(f"block/{disk}/{part}/partition")
    ]
    for name, rel in entries:
        number = sys.line(f"{rel}/dev")
        whys = list(use.devices.get(name, []))
        if number is not None:
            whys += [w for w in use.devices.get(number, []) if w not in whys]
        holders = sys.listdir(f"{rel}/holders")
        if holders:
            whys.append(f"in use by {', '.join(holders)}")
        reasons += [f"{name} {why}" for why in whys]
    return reasons
