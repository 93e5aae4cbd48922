"""Published VM size and lifetime distributions, as small tables (sequence S6).

We do not download traces. The tables restate what the trace owners publish about
them; where they publish only a summary sentence or a figure, the per-bucket shares are
our estimate chosen to agree with it, and the table says so (``basis``).

Huawei-East-1 (VMAgent)
    Source: mail-ecnu/VMAgent, ``docs/source/simulator/dataset.rst`` (the data set of
    "Learning to Schedule Multi-NUMA Virtual Machines via Reinforcement Learning").
    Published: 15 VM types, 125,430 creations and 116,313
    deletions over 30 days in East China; "more than 2/3 requests only consume 1U and
    less than 2G"; 1U1G, 1U2G, 2U4G and 4U8G are the main body; the docs also name the
    types 1U4G, 2U8G, 4U16G, 8U16G and 8U32G; the number of live VMs grows to more
    than 8,000. Shares of the minor types and the lifetime buckets are estimates: the
    lifetime mean (about 1.8 days) follows from Little's law on those counts (4,181
    arrivals a day, several thousand live VMs).

Azure Packing 2020 (Protean)
    Source: Azure/AzurePublicDataset, ``AzureTracesForPacking2020.md`` (Hadary et al.,
    "Protean: VM Allocation Service at Scale", OSDI 2020). Published: VM types measured
    in fractional machine units (0.5 = half a machine's CPUs), lifetimes where known,
    low/high priority. The fraction buckets and their shares are estimates following
    Resource Central's characterisation of Azure's VM workload (Cortez et al., SOSP
    2017): most VMs need few cores, most VMs are short-lived, and a long tail of VMs
    lives for days to weeks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SizeShare:
    """One VM type: ``cpus`` vCPUs (Huawei) or ``fraction`` of the machine (Azure)."""

    label: str
    share: float
    cpus: int = 0
    fraction: float = 0.0
    memory_gib: int = 0


@dataclass(frozen=True)
class LifetimeBucket:
    """Lifetimes between ``low_hours`` and ``high_hours`` (log-uniform inside)."""

    low_hours: float
    high_hours: float
    share: float

    @property
    def mean_hours(self) -> float:
        """Mean of a log-uniform variable on the bucket."""
        lo, hi = self.low_hours, self.high_hours
        return (hi - lo) / math.log(hi / lo)


@dataclass(frozen=True)
class TraceTable:
    """A published workload as size and lifetime tables."""

    key: str
    name: str
    source: str
    basis: str
    sizes: tuple[SizeShare, ...]
    lifetimes: tuple[LifetimeBucket, ...]

    def size(self, share: SizeShare, pool_cpus: int, server: bool) -> int:
        """CPUs one VM of a type asks for on a host of ``pool_cpus``: Huawei sizes are
        scaled 4x on servers (about 2/3 of its VMs have one vCPU), Azure fractions are
        multiplied by the host's CPUs."""
        count = round(share.fraction * pool_cpus) if share.fraction else share.cpus * (4 if server else 1)
        return max(1, min(count, pool_cpus))

    def draw_size(self, rng: random.Random, pool_cpus: int, server: bool) -> int:
        """A VM size drawn by the table's shares."""
        share = rng.choices(self.sizes, weights=[s.share for s in self.sizes])[0]
        return self.size(share, pool_cpus, server)

    def mean_size(self, pool_cpus: int, server: bool) -> float:
        """Expected CPUs per VM on such a host."""
        total = sum(s.share for s in self.sizes)
        return sum(s.share * self.size(s, pool_cpus, server) for s in self.sizes) / total

    def draw_lifetime(self, rng: random.Random) -> float:
        """A lifetime in hours drawn by the table's buckets."""
        bucket = rng.choices(self.lifetimes, weights=[b.share for b in self.lifetimes])[0]
        return math.exp(rng.uniform(math.log(bucket.low_hours), math.log(bucket.high_hours)))

    def mean_lifetime(self) -> float:
        """Expected lifetime in hours."""
        total = sum(b.share for b in self.lifetimes)
        return sum(b.share * b.mean_hours for b in self.lifetimes) / total


HUAWEI_EAST_1 = TraceTable(
    key="huawei",
    name="Huawei-East-1 (VMAgent)",
    source="mail-ecnu/VMAgent docs/source/simulator/dataset.rst",
    basis="types as published; 1-vCPU share 0.70 (published: more than 2/3); other shares and "
    "lifetime buckets estimated (lifetime mean from Little's law on the published counts)",
    sizes=(
        SizeShare("1U1G", 0.36, cpus=1, memory_gib=1),
        SizeShare("1U2G", 0.32, cpus=1, memory_gib=2),
        SizeShare("1U4G", 0.02, cpus=1, memory_gib=4),
        SizeShare("2U4G", 0.12, cpus=2, memory_gib=4),
        SizeShare("2U8G", 0.03, cpus=2, memory_gib=8),
        SizeShare("4U8G", 0.08, cpus=4, memory_gib=8),
        SizeShare("4U16G", 0.03, cpus=4, memory_gib=16),
        SizeShare("8U16G", 0.025, cpus=8, memory_gib=16),
        SizeShare("8U32G", 0.015, cpus=8, memory_gib=32),
    ),
    lifetimes=(
        LifetimeBucket(0.05, 1.0, 0.35),
        LifetimeBucket(1.0, 24.0, 0.40),
        LifetimeBucket(24.0, 168.0, 0.17),
        LifetimeBucket(168.0, 720.0, 0.08),
    ),
)

AZURE_PACKING_2020 = TraceTable(
    key="azure",
    name="Azure Packing 2020 (Protean)",
    source="Azure/AzurePublicDataset AzureTracesForPacking2020.md",
    basis="sizes in machine fractions as the trace measures them; bucket shares and lifetimes "
    "estimated after Resource Central (SOSP'17): mostly small, mostly short-lived, a long tail",
    sizes=(
        SizeShare("1/64", 0.30, fraction=1 / 64),
        SizeShare("1/32", 0.28, fraction=1 / 32),
        SizeShare("1/16", 0.20, fraction=1 / 16),
        SizeShare("1/8", 0.12, fraction=1 / 8),
        SizeShare("1/4", 0.06, fraction=1 / 4),
        SizeShare("1/2", 0.04, fraction=1 / 2),
    ),
    lifetimes=(
        LifetimeBucket(0.05, 1.0, 0.45),
        LifetimeBucket(1.0, 24.0, 0.30),
        LifetimeBucket(24.0, 168.0, 0.15),
        LifetimeBucket(168.0, 720.0, 0.10),
    ),
)

TRACES: Sequence[TraceTable] = (HUAWEI_EAST_1, AZURE_PACKING_2020)
