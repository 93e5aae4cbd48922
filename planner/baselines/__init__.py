"""Greedy allocators used as yardsticks for the planner.

Each one places a single request on a host with existing instances frozen, the way a
well-known system would, and returns a fully placed :class:`~planner.hardware.Instance`
(CPUs ascending, or a pinned list as given; memory regions carved per the memory
policy; device units chosen) or None. They honour the hard rules (pinned CPUs, local
affinity on one node, bind, exclusive cores) or decline; they never return an invalid
placement. See ``docs/baselines.md`` for what each one ports and where it deviates.
"""

from __future__ import annotations

from planner.baselines.base import Allocator, GreedyAllocator
from planner.baselines.first_fit import FirstFit
from planner.baselines.hwloc import HwlocSpread
from planner.baselines.kubelet import Kubelet
from planner.baselines.nova import Nova
from planner.baselines.slurm import SlurmBlock
from planner.baselines.topology_manager import TopologyPolicy

__all__ = [
    "Allocator",
    "FirstFit",
    "GreedyAllocator",
    "HwlocSpread",
    "Kubelet",
    "Nova",
    "SlurmBlock",
    "TopologyPolicy",
    "baseline_allocators",
]


def baseline_allocators() -> dict[str, Allocator]:
    """Every baseline by name, in a fixed order (the naive floor first)."""
    allocators: list[Allocator] = [
        FirstFit("first-fit"),
        Kubelet("kubelet-packed"),
        Kubelet("kubelet-packed-uncore", align_uncore=True),
        Kubelet("kubelet-distributed", distributed=True, policy=TopologyPolicy.NONE),
        HwlocSpread("hwloc-spread"),
        Nova("nova-pack", pack=True),
        Nova("nova-spread", pack=False),
        SlurmBlock("slurm-block"),
    ]
    return {a.name: a for a in allocators}
