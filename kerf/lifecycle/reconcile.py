"""Keeping kerf's records in line with the kernel, which is the source of truth.

Every command (under the lock) reconciles before it plans: an instance the kernel no
longer has loses its record; an instance kerf never created (another tool, a record lost
with a damaged state directory) is adopted with what the kernel shows; ids, CPUs and
memory are taken from the kernel; an image record goes once the kernel holds no image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from kerf.kernel.backend import InstanceStatus
from kerf.lifecycle.baseline import kernel_device
from kerf.lifecycle.kernel_view import InstanceView, KernelView
from kerf.state import InstanceRecord, PlacementRecord, StateDir
from planner.hardware import Host

HAS_IMAGE = frozenset({InstanceStatus.LOADED, InstanceStatus.ACTIVE})


@dataclass(frozen=True)
class Reconciled:
    """Records matching the kernel, and what had to change (one notice per change)."""

    records: Mapping[str, InstanceRecord]
    notices: tuple[str, ...]


def pci_labels(host: Host) -> dict[str, str]:
    """PCI function -> unit label, for the units the kernel can be handed."""
    out: dict[str, str] = {}
    for label in host.unit_by_label:
        found = kernel_device(host, label)
        if found is not None:
            out.setdefault(found.pci_id, label)
    return out


def placement_of(host: Host, view: InstanceView, recorded: PlacementRecord | None) -> PlacementRecord:
    """The placement the kernel shows, in kerf's terms (unit labels, bytes per node).

    Units the kernel cannot see (NVMe namespaces) and the memory split of an instance
    whose regions are hidden (not root) are kept from the recorded placement.
    """
    labels = pci_labels(host)
    devices = [labels.get(pci, pci) for pci in view.pci_ids]
    if recorded is not None:
        kept = [d for d in recorded.devices if d in host.unit_by_label and kernel_device(host, d) is None]
        order = {label: i for i, label in enumerate(recorded.devices)}
        devices = sorted(set(devices) | set(kept), key=lambda d: (order.get(d, len(order)), d))
    if view.regions_known:
        by_node = view.bytes_by_node()
        memory = tuple(sorted((n, b) for n, b in by_node.items() if n is not None))
        unplaced = by_node.get(None, 0)
        if unplaced:
            memory += ((-1, unplaced),)  # memory whose node the kernel does not say
    else:
        memory = recorded.memory if recorded is not None else ()
    nodes = {host.cpu_by_id[c].numa_node for c in view.cpus if c in host.cpu_by_id}
    nodes |= {n for n, _ in memory if n >= 0}
    return PlacementRecord(
        cpus=view.cpus,
        memory=memory,
        devices=tuple(devices),
        numa_nodes=tuple(sorted(n for n in nodes if n is not None)),
    )


def reconcile(state: StateDir, host: Host, view: KernelView, *, write: bool = True) -> Reconciled:
    """Bring the records in line with ``view``; with ``write`` the files are updated too."""
    records = state.records()
    result: dict[str, InstanceRecord] = {}
    notices: list[str] = []
    for name in sorted(set(records) - set(view.instances)):
        notices.append(f"instance {name} no longer exists in the kernel; kerf dropped its record")
        if write:
            state.remove_record(name)
    for name, inst in sorted(view.instances.items()):
        old = records.get(name)
        new = _updated(host, inst, old)
        if old is None:
            notices.append(
                f"instance {name} (id {inst.id}) exists in the kernel but kerf has no record of it; "
                "kerf adopted it as the kernel shows it"
            )
        if new != old and write:
            state.write_record(new)
        result[name] = new
    return Reconciled(result, tuple(notices))


def _updated(host: Host, inst: InstanceView, old: InstanceRecord | None) -> InstanceRecord:
    placement = placement_of(host, inst, old.placement if old is not None else None)
    if old is None:
        return InstanceRecord(inst.name, inst.id, placement)
    image = old.image if inst.status in HAS_IMAGE else None
    return replace(old, id=inst.id, placement=placement, image=image)
