"""What users ask the planner for, and what it answers.

An :class:`InstanceRequest` describes one instance to place (a count of CPUs or an
explicit list, memory, policies, devices). :func:`planner.solve.plan` answers with a
:class:`Plan`: the placed :class:`~planner.hardware.Instance` objects, the requests it
could not place and why, and the solver's status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from planner.errors import RequestError
from planner.hardware import Instance
from planner.policy import CpuAffinity, MemoryPolicy

__all__ = [
    "CpuAffinity",
    "DeviceWant",
    "InstanceRequest",
    "MemoryPolicy",
    "Plan",
    "PlanStatus",
    "Unplaced",
]

_ANY_UNIT = re.compile(r"^(?P<device>[A-Za-z0-9_.,+-]+?)_(?P<kind>vf|ns)\*$")
_ONE_UNIT = re.compile(r"^(?P<device>[A-Za-z0-9_.,+-]+?)_(?P<kind>vf|ns)(?P<index>\d+)$")


#: The largest CPU count a request may ask for: Linux's own ceiling (CONFIG_NR_CPUS is at
#: most 8192 on x86-64 and 4096 on arm64), rounded up generously.
MAX_CPU_COUNT = 1 << 16


@dataclass(frozen=True)
class DeviceWant:
    """A device an instance asks for.

    * ``DeviceWant.parse("eth0_vf1")``: that unit exactly;
    * ``DeviceWant.parse("eth0_vf*")``: any free VF of eth0;
    * ``DeviceWant.parse("nvme0_ns*")``: any free namespace of nvme0;
    * ``DeviceWant.parse("gpu0")``: the whole device (or, when gpu0 happens to be the
      label of a unit, that unit; the planner resolves it against the host).
    """

    text: str
    device: str
    kind: str  # "unit" | "any-vf" | "any-ns"

    @classmethod
    def parse(cls, text: str) -> DeviceWant:
        """Read a device reference as written on the command line or in a requests file."""
        text = text.strip().lstrip("&")
        if not text:
            raise RequestError("empty device reference", hint="write a unit like eth0_vf1 or eth0_vf*")
        if m := _ANY_UNIT.match(text):
            return cls(text, m["device"], "any-vf" if m["kind"] == "vf" else "any-ns")
        if m := _ONE_UNIT.match(text):
            return cls(text, m["device"], "unit")
        return cls(text, text, "unit")

    @property
    def is_specific(self) -> bool:
        """True when one exact unit is named."""
        return self.kind == "unit"


@dataclass(frozen=True)
class InstanceRequest:
    """One instance to place.

    Exactly one of ``cpu_count`` and ``cpus`` is set. ``numa_nodes`` are preferred nodes
    (or, with ``memory_policy=bind``, the only nodes memory may come from).
    ``exclusive_cores``: never share a physical core with another instance.
    """

    name: str
    memory_bytes: int
    cpu_count: int | None = None
    cpus: tuple[int, ...] | None = None
    numa_nodes: tuple[int, ...] = ()
    cpu_affinity: CpuAffinity = CpuAffinity.COMPACT
    memory_policy: MemoryPolicy = MemoryPolicy.LOCAL
    devices: tuple[DeviceWant, ...] = ()
    exclusive_cores: bool = False
    id: int | None = None

    def __post_init__(self) -> None:
        if (self.cpu_count is None) == (self.cpus is None):
            raise RequestError(
                f"instance {self.name}: give either a CPU count or an explicit CPU list, not "
                + ("both" if self.cpus is not None else "neither"),
                hint="use cpu-count = N to let kerf choose, or cpus = <...> to pin",
            )
        if self.cpu_count is not None and self.cpu_count <= 0:
            raise RequestError(f"instance {self.name}: CPU count must be at least 1, got {self.cpu_count}")
        if self.cpu_count is not None and self.cpu_count > MAX_CPU_COUNT:
            # Caught here, not by the solver: CP-SAT coefficients are 64-bit integers.
            raise RequestError(
                f"instance {self.name}: CPU count {self.cpu_count} is more than any host has",
                hint=f"kerf accepts at most {MAX_CPU_COUNT} (Linux itself stops at 8192)",
            )
        if self.cpus is not None:
            if not self.cpus:
                raise RequestError(f"instance {self.name}: the explicit CPU list is empty")
            if len(set(self.cpus)) != len(self.cpus):
                dupes = sorted({c for c in self.cpus if self.cpus.count(c) > 1})
                raise RequestError(f"instance {self.name}: CPU list repeats {dupes}")
        if self.memory_bytes < 0:
            raise RequestError(f"instance {self.name}: memory size is negative ({self.memory_bytes})")

    @property
    def size(self) -> int:
        """Number of CPUs asked for."""
        return self.cpu_count if self.cpu_count is not None else len(self.cpus or ())


class PlanStatus(StrEnum):
    """Solver outcome. FEASIBLE means a valid plan whose optimality is not proven."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"


@dataclass(frozen=True)
class Unplaced:
    """A request the planner could not place, with a reason in plain words and numbers."""

    name: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """The planner's answer.

    ``placements`` are the newly placed (or, with rebalance, moved) instances;
    ``existing`` the instances that were already on the host (as they end up);
    ``objective`` / ``bound`` the solver's values (``None`` when nothing was solved);
    ``metrics`` quality figures of the result (see ``planner.metrics``);
    ``explanation`` why requests could not be placed (numbers per resource and node);
    ``model_text`` the CP-SAT model as text when the caller asked for it.
    """

    status: PlanStatus
    placements: tuple[Instance, ...]
    unplaced: tuple[Unplaced, ...] = ()
    existing: tuple[Instance, ...] = ()
    objective: float | None = None
    bound: float | None = None
    solve_seconds: float = 0.0
    metrics: Mapping[str, object] = field(default_factory=dict)
    explanation: tuple[str, ...] = ()
    model_text: str | None = None

    @property
    def gap(self) -> float | None:
        """Relative gap between objective and bound (0 when proven optimal)."""
        if self.objective is None or self.bound is None:
            return None
        if self.objective == self.bound:
            return 0.0
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)
