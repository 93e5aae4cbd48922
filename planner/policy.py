"""Placement policy enums shared by the hardware vocabulary and requests."""

from __future__ import annotations

from enum import StrEnum


class CpuAffinity(StrEnum):
    """How an instance's CPUs are chosen relative to the topology.

    compact: fewest NUMA nodes, then fewest sockets / L3 groups, then fewest cores.
    spread:  across as many of the allowed NUMA nodes as possible, evenly.
    local:   all CPUs (and memory) on one NUMA node; a hard rule.
    """

    COMPACT = "compact"
    SPREAD = "spread"
    LOCAL = "local"


class MemoryPolicy(StrEnum):
    """Where an instance's memory comes from.

    local:      on the NUMA nodes of its CPUs, in proportion to the CPUs there.
    interleave: evenly across the instance's nodes (or the listed nodes).
    bind:       only on the listed NUMA nodes; a hard rule.
    """

    LOCAL = "local"
    INTERLEAVE = "interleave"
    BIND = "bind"


class CoreSharing(StrEnum):
    """What a plan does with the free threads of cores other instances already use
    (a plan-wide choice, not a request's; exclusive-cores requests never share).

    avoid: new instances keep off other instances' cores and hold their own cores
           whole (isolation first: another kernel on the sibling thread shares the
           core's caches and execution units).
    pack:  fill free threads of partly used cores first and keep whole cores free,
           so more whole-core and exclusive instances fit later (capacity first).
    """

    AVOID = "avoid"
    PACK = "pack"


class MemoryType(StrEnum):
    """The kind of memory a NUMA node holds."""

    DRAM = "dram"
    HBM = "hbm"
    CXL = "cxl"
