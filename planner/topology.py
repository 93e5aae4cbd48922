"""The host's topology as a graph, and the indexes the placement model reads from it.

The graph (a networkx ``DiGraph``) has one vertex per machine, socket, NUMA node, core
group, core, CPU, device and memory range, with ``contains`` edges down the hierarchy::

    machine → socket → NUMA node → core group → core → CPU
                      NUMA node → memory range,  NUMA node → device
    NUMA node ⇄ NUMA node  ("distance" edges, weight = SLIT distance)

A *core group* is the set of cores that share a socket, a NUMA node and an L3 cache
(a CCX on EPYC); on hosts without cache information it is the part of a NUMA node that
lies in one socket. Groups are what "fewest L3 groups" in the compact policy counts, and
their rank (by node, socket, cache, lowest core id) is the planner's deterministic
tie-break. NUMA nodes without CPUs (HBM, CXL) hang off the machine vertex and hold only
memory.

Only this module imports networkx. The model never sees the graph: it reads the plain
indexes computed once in :meth:`Topology.of` (tuples and dicts of ints).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner.cpsat.spec import CoreGroup, Layout
from planner.hardware import Host
from planner.objective import core_group_key, group_rank_of_core, per_host

if TYPE_CHECKING:
    import networkx as nx

Vertex = tuple[Any, ...]


@dataclass(frozen=True)
class Topology:
    """The graph plus the indexes derived from it."""

    graph: nx.DiGraph
    host: Host
    groups: tuple[CoreGroup, ...]
    group_of_core: Mapping[int, int]
    cpu_nodes: tuple[int, ...]
    memory_nodes: tuple[int, ...]
    sockets_of_node: Mapping[int, tuple[int, ...]]
    device_node: Mapping[str, int | None]

    @classmethod
    def of(cls, host: Host) -> Topology:
        """The topology of ``host``, built once per Host object (hosts are immutable)."""
        return per_host(host, "topology", lambda: cls._build(host))

    @classmethod
    def _build(cls, host: Host) -> Topology:
        graph = _build_graph(host)
        groups = _core_groups(graph)
        group_of_core = {core: g.rank for g in groups for core in g.cores}
        # a node holds CPUs when a core group hangs below it; memory when a range does
        cpu_nodes = tuple(n for n in host.node_ids if _children(graph, ("numa", n), "group"))
        memory_nodes = tuple(n for n in host.node_ids if _children(graph, ("numa", n), "memory"))
        sockets_of_node = {n: tuple(sorted({g.socket for g in groups if g.node == n})) for n in host.node_ids}
        device_node = {
            name: graph.nodes[("device", name)]["numa_node"] for name in sorted(host.device_by_name)
        }
        return cls(graph, host, groups, group_of_core, cpu_nodes, memory_nodes, sockets_of_node, device_node)

    # --- queries ------------------------------------------------------------------

    def layout(self) -> Layout:
        """The plain indexes the placement model reads (no graph inside)."""
        nodes = self.host.node_ids
        return Layout(
            groups=self.groups,
            group_of_core=dict(self.group_of_core),
            cpu_nodes=self.cpu_nodes,
            memory_nodes=self.memory_nodes,
            distances={(a, b): self.distance(a, b) for a in nodes for b in nodes},
            device_node=dict(self.device_node),
        )

    def distance(self, a: int, b: int) -> int:
        """SLIT distance between two NUMA nodes, read from the distance edges."""
        if a == b:
            data = self.graph.get_edge_data(("numa", a), ("numa", a))
            return int(data["weight"]) if data else self.host.distance(a, a)
        return int(self.graph.edges[("numa", a), ("numa", b)]["weight"])

    def cores_of_node(self, node: int) -> tuple[int, ...]:
        """Core ids under a NUMA node, ascending."""
        return tuple(sorted(c for g in self.groups if g.node == node for c in g.cores))

    def nearest_nodes(self, node: int) -> tuple[int, ...]:
        """CPU nodes ordered by distance from ``node`` (itself first), ties by id."""
        return tuple(sorted(self.cpu_nodes, key=lambda n: (self.distance(node, n), n)))


# --- construction -----------------------------------------------------------------


def _build_graph(host: Host) -> nx.DiGraph:
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_node(("machine",), kind="machine")
    for sock in host.sockets:
        graph.add_node(("socket", sock.id), kind="socket")
        graph.add_edge(("machine",), ("socket", sock.id), kind="contains")
    for node in host.numa_nodes:
        graph.add_node(("numa", node.id), kind="numa", memory_type=str(node.memory_type))
        sockets = sorted({host.cpu_by_id[c].socket for c in node.cpus if c in host.cpu_by_id})
        parents: list[Vertex] = [("socket", s) for s in sockets]
        for parent in parents or [("machine",)]:
            graph.add_edge(parent, ("numa", node.id), kind="contains")
        for rng in host.pool_by_node.get(node.id, ()):
            graph.add_node(("memory", node.id, rng.base), kind="memory", base=rng.base, size=rng.size)
            graph.add_edge(("numa", node.id), ("memory", node.id, rng.base), kind="contains")
    for a in host.node_ids:
        for b in host.node_ids:
            graph.add_edge(("numa", a), ("numa", b), kind="distance", weight=host.distance(a, b))

    ranks = group_rank_of_core(host)
    for core in host.cores:
        if core.id not in ranks:
            # A core the description forgot to put in a node is not placeable; the
            # validator reports it. It still appears in the graph, under the machine.
            graph.add_node(("core", core.id), kind="core")
            graph.add_edge(("machine",), ("core", core.id), kind="contains")
        else:
            node_id, socket_id, l3 = core_group_key(host, core)
            group: Vertex = ("group", ranks[core.id])
            if group not in graph:
                graph.add_node(group, kind="group", node=node_id, socket=socket_id, l3=None if l3 < 0 else l3)
                graph.add_edge(("numa", node_id), group, kind="contains")
            graph.add_node(("core", core.id), kind="core")
            graph.add_edge(group, ("core", core.id), kind="contains")
        for cpu in core.cpus:
            graph.add_node(("cpu", cpu), kind="cpu", pool=cpu in host.available)
            graph.add_edge(("core", core.id), ("cpu", cpu), kind="contains")

    for device in host.devices:
        attached = device.numa_node if device.numa_node in host.node_by_id else None
        graph.add_node(("device", device.name), kind="device", numa_node=attached)
        parent = ("machine",) if attached is None else ("numa", attached)
        graph.add_edge(parent, ("device", device.name), kind="contains")
    return graph


def _children(graph: nx.DiGraph, vertex: Vertex, kind: str, *, deep: bool = False) -> list[Vertex]:
    """Vertices of ``kind`` below ``vertex`` along ``contains`` edges (direct or all)."""
    found: list[Vertex] = []
    stack, seen = [vertex], {vertex}
    while stack:
        v = stack.pop()
        for w in graph.successors(v):
            if graph.edges[v, w]["kind"] != "contains" or w in seen:
                continue
            seen.add(w)
            if graph.nodes[w]["kind"] == kind:
                found.append(w)
                if not deep:
                    continue
            stack.append(w)
    return found


def _core_groups(graph: nx.DiGraph) -> tuple[CoreGroup, ...]:
    groups = []
    for vertex, data in graph.nodes(data=True):
        if data["kind"] == "group":
            cores = tuple(sorted(v[1] for v in _children(graph, vertex, "core")))
            groups.append(CoreGroup(vertex[1], data["node"], data["socket"], data["l3"], cores))
    return tuple(sorted(groups, key=lambda g: g.rank))
