"""Cross-check a benchmark host against hwloc's reading of the same shape.

``lstopo-no-graphics -i "<synthetic string>" --of xml`` writes the machine hwloc
builds from the topology's synthetic string; ``hwloc-annotate`` adds our distance
matrix to it; :func:`kerf.discover.host_from_hwloc_xml` reads it back. The two hosts
must agree on CPU ids, cores, sockets, NUMA nodes, L3 groups and distances.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from benchmarks.topologies import Topology
from planner.hardware import Host

TOOLS = ("lstopo-no-graphics", "hwloc-annotate")


class HwlocError(RuntimeError):
    """An hwloc tool failed; the message carries its command and stderr."""


def missing_tools() -> list[str]:
    """The hwloc tools this check needs that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HwlocError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


def distances_file(host: Host) -> str:
    """The host's SLIT matrix in hwloc-annotate's format (kind 5 = latency from the OS,
    the object count, one object per line, then one value per line)."""
    nodes = host.node_ids
    lines = ["name=NUMALatency", "5", str(len(nodes))]
    lines += [f"numa:{n}" for n in nodes]
    lines += [str(host.distance(a, b)) for a in nodes for b in nodes]
    return "\n".join(lines) + "\n"


def hwloc_host(topology: Topology, workdir: Path) -> Host:
    """The topology as hwloc builds it from its synthetic string, with our distances
    annotated, read back through kerf's hwloc reader."""
    from kerf.discover import host_from_hwloc_xml

    if topology.hwloc is None:
        raise ValueError(f"{topology.id} has no hwloc synthetic form")
    plain, annotated, matrix = (workdir / f"{topology.id}{s}" for s in (".xml", "-slit.xml", "-slit.txt"))
    _run(["lstopo-no-graphics", "-i", topology.hwloc, "--of", "xml", "-f", str(plain)])
    ours = topology.host(0)
    if len(ours.numa_nodes) > 1:
        matrix.write_text(distances_file(ours))
        _run(["hwloc-annotate", str(plain), str(annotated), "--", "none", "--", "distances", str(matrix)])
    else:
        annotated = plain
    return host_from_hwloc_xml(annotated, reserve_cpus=[]).host


def shape_differences(ours: Host, theirs: Host) -> list[str]:
    """What differs between two hosts' shapes (empty when they agree)."""
    problems: list[str] = []

    def groups(host: Host, kind: str) -> set[frozenset[int]]:
        if kind == "core":
            return {frozenset(c.cpus) for c in host.cores}
        if kind == "socket":
            return {frozenset(s.cpus) for s in host.sockets}
        return {frozenset(c.cpus) for c in host.caches if c.level == 3}

    if {c.id for c in ours.cpus} != {c.id for c in theirs.cpus}:
        problems.append("CPU ids differ")
    for kind in ("core", "socket", "l3"):
        mine, hwlocs = groups(ours, kind), groups(theirs, kind)
        if mine != hwlocs:
            problems.append(
                f"{kind} groups differ: {len(mine - hwlocs)} only ours, {len(hwlocs - mine)} only hwloc's"
            )
    ours_nodes = {n.id: set(n.cpus) for n in ours.numa_nodes}
    their_nodes = {n.id: set(n.cpus) for n in theirs.numa_nodes}
    if ours_nodes != their_nodes:
        problems.append("NUMA nodes hold different CPUs")
    if len(ours.numa_nodes) > 1:
        for a in ours.node_ids:
            for b in ours.node_ids:
                if ours.distance(a, b) != theirs.distance(a, b):
                    problems.append(
                        f"distance {a}->{b}: ours {ours.distance(a, b)}, hwloc {theirs.distance(a, b)}"
                    )
    return problems
