"""The kernel's baseline: the part of a host description the kernel reads (reference §2.1).

The kernel takes ``/resources/cpus`` (64-bit cells), one ``memory@N { size; numa-node-id; }``
request per NUMA node's share of the pool (it allocates the chunks itself), and
``/resources/devices/*`` PCI functions with ``device-type``, ``pci-id``, ``vendor-id`` and
``device-id``. Everything else (topology, host-reserved CPUs, VF and namespace
bookkeeping) stays in kerf's state directory.

Which device units the kernel can be handed: a whole device or an SR-IOV VF with a PCI
function of its own whose vendor and device ids are known. A VF carries its physical
function's vendor id but a device id of its own (the description's ``vf-device-id``, or a
``device-id`` in its ``vf@N`` node); the kernel matches the function by all three, so a VF
whose device id is unknown is not handed over rather than handed over with the PF's id.
NVMe namespaces share their controller's function, so kerf records them but cannot hand
them over.
"""

from __future__ import annotations

from dataclasses import dataclass

from kerf.dts.tree import Tree
from kerf.lifecycle.kernel_view import normalize_pci_id
from planner.hardware import PAGE_SIZE, Device, DeviceUnit, Host

BASELINE_COMPATIBLE = "multikernel-v1"


@dataclass(frozen=True)
class KernelDevice:
    """A device unit the kernel can take: its label, PCI function and ids."""

    label: str
    pci_id: str
    vendor_id: int
    device_id: int


@dataclass(frozen=True)
class Baseline:
    """The baseline tree and what it holds."""

    tree: Tree
    cpus: tuple[int, ...]
    memory: tuple[tuple[int | None, int], ...]  # (numa node, bytes)
    devices: tuple[KernelDevice, ...]
    skipped: tuple[tuple[str, str], ...]  # (unit label, why it is not handed to the kernel)


def kernel_device(host: Host, label: str) -> KernelDevice | None:
    """The PCI function behind a unit label, when the kernel can be handed the unit."""
    unit = host.unit_by_label.get(label)
    if unit is None:
        return None
    return _kernel_device(host.device_by_name[unit.device], unit)


def kerf_only_reason(host: Host, label: str) -> str | None:
    """Why the kernel cannot be handed a unit label (None when it can, or it is unknown)."""
    unit = host.unit_by_label.get(label)
    if unit is None:
        return None
    return _skip_reason(host.device_by_name[unit.device], unit)


def _kernel_device(device: Device, unit: DeviceUnit) -> KernelDevice | None:
    if _skip_reason(device, unit) is not None:
        return None
    assert unit.pci_id is not None and device.vendor_id is not None and unit.device_id is not None
    return KernelDevice(unit.label, normalize_pci_id(unit.pci_id), device.vendor_id, unit.device_id)


def _skip_reason(device: Device, unit: DeviceUnit) -> str | None:
    if device.device_type != "pci":
        return f"its device-type is {device.device_type!r}; the kernel takes PCI functions"
    if unit.kind == "namespace":
        return (
            "an NVMe namespace shares its controller's PCI function; kerf records it but cannot hand it over"
        )
    if unit.pci_id is None:
        what = "the VF" if unit.kind == "vf" else "the device"
        return f"{what} has no pci-id in the host description"
    if unit.kind == "vf":
        if device.vendor_id is None:
            return "the host description gives no vendor-id, which the kernel requires"
        if unit.device_id is None:
            # Not the PF's id: the kernel would look for a function that is not there.
            return (
                f"the VF's PCI device id is unknown; add vf-device-id = <0x...>; to device {device.name} "
                "(the PF's sriov_vf_device in sysfs), or device-id in its vf@N node"
            )
        return None
    if device.vendor_id is None or unit.device_id is None:
        return "the host description gives no vendor-id/device-id, which the kernel requires"
    return None


def build_baseline(host: Host) -> Baseline:
    """The baseline for ``host``'s pool (CPUs, memory per node, device units)."""
    tree = Tree.empty()
    root = tree.root
    root.set_string("compatible", BASELINE_COMPATIBLE)
    resources = root.add_node("resources")
    cpus = tuple(sorted(host.available))
    resources.set_cells("cpus", list(cpus), bits=64)
    memory = pool_memory_requests(host)
    for number, (node, size) in enumerate(memory):
        item = resources.add_node(f"memory@{number:x}")
        item.set_u64("size", size)
        if node is not None:
            item.set_u32("numa-node-id", node)
    devices: list[KernelDevice] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for device in host.devices:
        for unit in device.units():
            reason = _skip_reason(device, unit)
            if reason is not None:
                skipped.append((unit.label, reason))
                continue
            found = _kernel_device(device, unit)
            assert found is not None
            if found.pci_id in seen:
                skipped.append((unit.label, f"PCI function {found.pci_id} is already listed"))
                continue
            seen.add(found.pci_id)
            devices.append(found)
    if devices:
        folder = resources.add_node("devices")
        for dev in devices:
            entry = folder.add_node(dev.label)
            entry.set_string("device-type", "pci")
            entry.set_string("pci-id", dev.pci_id)
            entry.set_u32("vendor-id", dev.vendor_id)
            entry.set_u32("device-id", dev.device_id)
    return Baseline(tree, cpus, tuple(memory), tuple(devices), tuple(skipped))


def pool_memory_requests(host: Host) -> list[tuple[int | None, int]]:
    """(node, bytes) per NUMA node's share of the pool, in whole pages. A host whose nodes
    do not say where their memory is gets one request for the whole pool on any node."""
    shares = [(node, host.pool_bytes_of_node(node)) for node in host.node_ids]
    attributed = sum(size for _, size in shares)
    if attributed == 0 and host.memory.pool_bytes:
        return [(None, _pages(host.memory.pool_bytes))]
    return [(node, _pages(size)) for node, size in shares if _pages(size) > 0]


def _pages(size: int) -> int:
    return size - size % PAGE_SIZE
