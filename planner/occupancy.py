"""Who holds what on a host: the shared view of CPU, core and device occupancy.

The solver, the greedy baselines and the metrics all need the same questions answered
(is this core free? which threads of it are free? who else sits on it?), so they are
answered once, here, from a Host and the instances already placed on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from planner.hardware import Core, DeviceUnit, Host, Instance


@dataclass(frozen=True)
class Occupancy:
    """The host with its instances: CPU owners and used device units."""

    host: Host
    cpu_owner: Mapping[int, str]
    unit_owner: Mapping[str, str]

    @classmethod
    def of(cls, host: Host, instances: Iterable[Instance]) -> Occupancy:
        """Occupancy of ``host`` with ``instances`` placed (later duplicates are ignored)."""
        cpu_owner: dict[int, str] = {}
        unit_owner: dict[str, str] = {}
        for inst in instances:
            for cpu in inst.cpus:
                cpu_owner.setdefault(cpu, inst.name)
            for unit in inst.devices:
                unit_owner.setdefault(unit, inst.name)
        return cls(host, cpu_owner, unit_owner)

    @cached_property
    def free_cpus(self) -> frozenset[int]:
        """Pool CPUs nobody holds."""
        return frozenset(c for c in self.host.available if c not in self.cpu_owner)

    def is_free(self, cpu: int) -> bool:
        """True when the CPU is in the pool and unowned."""
        return cpu in self.free_cpus

    def free_threads(self, core: Core) -> tuple[int, ...]:
        """The free pool threads of a core, ascending."""
        return tuple(c for c in core.cpus if c in self.free_cpus)

    def is_core_free(self, core: Core) -> bool:
        """True when every thread of the core is a free pool CPU."""
        return all(c in self.free_cpus for c in core.cpus)

    def core_owners(self, core: Core) -> frozenset[str]:
        """Names of the instances holding a thread of this core."""
        return frozenset(self.cpu_owner[c] for c in core.cpus if c in self.cpu_owner)

    def is_core_blocked(self, core: Core) -> bool:
        """True when some thread of the core is not in the pool (host-reserved or offline):
        such a core is never completely free, whatever happens to the others."""
        return any(c not in self.host.available for c in core.cpus)

    @cached_property
    def free_cpus_by_node(self) -> Mapping[int, tuple[int, ...]]:
        """NUMA node -> free pool CPUs on it, ascending."""
        return {node.id: tuple(c for c in node.cpus if c in self.free_cpus) for node in self.host.numa_nodes}

    @cached_property
    def free_units(self) -> tuple[DeviceUnit, ...]:
        """Device units nobody holds, in host order."""
        return tuple(u for u in self.host.unit_by_label.values() if u.label not in self.unit_owner)

    def free_units_of(self, device: str, kind: str | None = None) -> tuple[DeviceUnit, ...]:
        """Free units of one device (optionally only of a kind: "vf", "namespace", "whole")."""
        return tuple(u for u in self.free_units if u.device == device and (kind is None or u.kind == kind))
