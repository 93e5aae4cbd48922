"""Reading ``/resources/topology``: NUMA nodes, sockets, the distance map and caches.

Every part is optional and has the binding's default (see docs/binding.md): no
topology at all means one NUMA node holding every CPU and the whole pool; no sockets
means one socket per NUMA node; no distance map means 10 local and 20 remote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kerf.binding.context import Context, check_children, require_prop
from kerf.binding.values import read_cells, read_enum, read_u32, read_u64_list, unit_number
from kerf.dts.tree import Node, Property
from kerf.errors import BindingError
from planner.hardware import LOCAL_DISTANCE, Cache, MemoryRange
from planner.policy import MemoryType

NUMA_NODE_PROPERTIES = ("node-id", "memory-base", "memory-size", "memory-ranges", "memory-type", "cpus")
LEGACY_MATRIX = "distance-matrix"


@dataclass
class Topology:
    """What the topology section says; ``None`` where the section is absent."""

    numa_cpus: dict[int, tuple[int, ...]] | None = None
    numa_memory: dict[int, tuple[MemoryRange, ...]] = field(default_factory=dict)
    numa_types: dict[int, MemoryType] = field(default_factory=dict)
    socket_cpus: dict[int, tuple[int, ...]] | None = None
    caches: list[Cache] = field(default_factory=list)
    distances: dict[tuple[int, int], int] = field(default_factory=dict)
    node_paths: dict[int, str] = field(default_factory=dict)
    socket_paths: dict[int, str] = field(default_factory=dict)


def read_topology(ctx: Context, node: Node | None) -> Topology:
    """``topology { numa-nodes {...}; sockets {...}; distance-map {...}; caches {...}; }``."""
    topo = Topology()
    if node is None:
        return topo
    ctx.check_known(node, ())
    check_children(ctx, node, ("numa-nodes", "sockets", "distance-map", "caches"))
    numa = node.child("numa-nodes")
    legacy: list[tuple[Node, Property]] = []
    if numa is not None:
        ctx.check_known(numa, ())
        topo.numa_cpus = {}
        for child in numa.children.values():
            _read_numa_node(ctx, child, topo, legacy)
    sockets = node.child("sockets")
    if sockets is not None:
        ctx.check_known(sockets, ())
        topo.socket_cpus = {}
        for position, child in enumerate(sockets.children.values()):
            _read_socket(ctx, child, position, topo)
    distance_map = node.child("distance-map")
    if distance_map is not None:
        topo.distances = _read_distance_map(ctx, distance_map)
        for holder, prop in legacy:
            ctx.note(
                "distance-legacy-ignored",
                f"{holder.path}: the flat '{LEGACY_MATRIX}' is ignored because {distance_map.path} is given",
                prop,
                hint="remove the old matrix from the NUMA node",
            )
    elif legacy:
        holder, prop = legacy[0]
        topo.distances = _read_legacy_matrix(ctx, holder, prop, sorted(topo.node_paths))
    elif len(topo.node_paths) > 1:
        ctx.note(
            "distance-default",
            f"{node.path}: no distance map; NUMA distances are taken as 10 local and 20 remote",
            node,
            hint="add distance-map { distance-matrix = <0 1 21>, ...; }; with the machine's SLIT values",
        )
    caches = node.child("caches")
    if caches is not None:
        ctx.check_known(caches, ())
        for position, child in enumerate(caches.children.values()):
            topo.caches.append(_read_cache(ctx, child, position))
    return topo


def _read_numa_node(ctx: Context, node: Node, topo: Topology, legacy: list[tuple[Node, Property]]) -> None:
    ctx.check_known(node, (*NUMA_NODE_PROPERTIES, LEGACY_MATRIX))
    id_prop = node.prop("node-id")
    node_id = read_u32(id_prop) if id_prop is not None else unit_number(node)
    if node_id is None:
        raise BindingError(
            f"{node.path}: a NUMA node needs a number: 'node-id' is missing and the node name has no "
            "decimal unit address",
            hint="write node@1 { node-id = <1>; ... };",
            location=node.location,
        )
    if node_id in topo.node_paths:
        raise BindingError(
            f"{node.path}: NUMA node {node_id} is already described by {topo.node_paths[node_id]}",
            hint="give every NUMA node its own node-id",
            location=id_prop.location if id_prop is not None else node.location,
        )
    topo.node_paths[node_id] = node.path
    cpus = node.prop("cpus")
    assert topo.numa_cpus is not None
    topo.numa_cpus[node_id] = tuple(read_cells(cpus)) if cpus is not None else ()
    topo.numa_memory[node_id] = _read_node_memory(ctx, node)
    kind = node.prop("memory-type")
    if kind is not None:
        topo.numa_types[node_id] = read_enum(kind, MemoryType)
    matrix = node.prop(LEGACY_MATRIX)
    if matrix is not None:
        legacy.append((node, matrix))


def _read_node_memory(ctx: Context, node: Node) -> tuple[MemoryRange, ...]:
    base, size = node.prop("memory-base"), node.prop("memory-size")
    ranges = node.prop("memory-ranges")
    if ranges is not None:
        if base is not None or size is not None:
            raise BindingError(
                f"{node.path}: give either 'memory-ranges' or 'memory-base' with 'memory-size', not both",
                location=ranges.location,
            )
        values = read_u64_list(ranges)
        if len(values) % 2:
            raise BindingError(
                f"{node.path}: property 'memory-ranges' should hold (base, size) pairs, "
                f"but it has {len(values)} values",
                hint="write memory-ranges = /bits/ 64 <base0 size0 base1 size1>;",
                location=ranges.location,
            )
        return tuple(sorted(MemoryRange(values[i], values[i + 1]) for i in range(0, len(values), 2)))
    if base is None and size is None:
        return ()  # a node described by its CPUs only
    if base is None or size is None:
        present, missing = ("memory-base", "memory-size") if size is None else ("memory-size", "memory-base")
        raise BindingError(
            f"{node.path}: '{present}' is given but '{missing}' is missing",
            hint="a NUMA node's memory is memory-base and memory-size together",
            location=node.location,
        )
    return (MemoryRange(ctx.u64(base), ctx.u64(size)),)


def _read_socket(ctx: Context, node: Node, position: int, topo: Topology) -> None:
    ctx.check_known(node, ("cpus", "socket-id"))
    id_prop = node.prop("socket-id")
    number = unit_number(node)
    socket_id = read_u32(id_prop) if id_prop is not None else number if number is not None else position
    assert topo.socket_cpus is not None
    if socket_id in topo.socket_cpus:
        raise BindingError(
            f"{node.path}: socket {socket_id} is already described by {topo.socket_paths[socket_id]}",
            hint="give every socket its own number (socket@N)",
            location=node.location,
        )
    topo.socket_paths[socket_id] = node.path
    topo.socket_cpus[socket_id] = tuple(read_cells(require_prop(node, "cpus", "the CPUs of this socket")))


def _read_distance_map(ctx: Context, node: Node) -> dict[tuple[int, int], int]:
    """Linux's NUMA distance map: ``distance-matrix = <from to distance>, ...``.

    As Linux does, an entry (a, b) with a < b also sets (b, a) unless (b, a) is given.
    """
    ctx.check_known(node, (LEGACY_MATRIX, "compatible"))
    prop = require_prop(node, LEGACY_MATRIX, "<from to distance> triples")
    values = read_cells(prop)
    if len(values) % 3:
        raise BindingError(
            f"{node.path}: property '{LEGACY_MATRIX}' should hold <from to distance> triples, "
            f"but it has {len(values)} numbers",
            hint="write distance-matrix = <0 0 10>, <0 1 21>, <1 1 10>;",
            location=prop.location,
        )
    explicit: dict[tuple[int, int], int] = {}
    for i in range(0, len(values), 3):
        pair, distance = (values[i], values[i + 1]), values[i + 2]
        if pair in explicit and explicit[pair] != distance:
            ctx.note(
                "distance-duplicate",
                f"{node.path}: the distance from NUMA node {pair[0]} to node {pair[1]} is given twice, "
                f"as {explicit[pair]} and as {distance}; the last one is used",
                prop,
                hint="give each pair of nodes one distance",
                severity="error",
            )
        explicit[pair] = distance
    distances = dict(explicit)
    for (a, b), d in explicit.items():
        if a < b and (b, a) not in explicit:
            distances[(b, a)] = d
    return _fix_zero_diagonal(ctx, prop, distances)


def _read_legacy_matrix(
    ctx: Context, holder: Node, prop: Property, node_ids: list[int]
) -> dict[tuple[int, int], int]:
    """An older form: a flat row-major N x N matrix inside one NUMA node, rows and
    columns in ascending node id order."""
    values = read_cells(prop)
    n = len(node_ids)
    if len(values) != n * n:
        raise BindingError(
            f"{holder.path}: the flat '{LEGACY_MATRIX}' should have {n} x {n} = {n * n} numbers "
            f"(one row per NUMA node), but it has {len(values)}",
            hint="or use distance-map { distance-matrix = <from to distance>, ...; };",
            location=prop.location,
        )
    ctx.note(
        "distance-legacy-matrix",
        f"{holder.path}: read the flat '{LEGACY_MATRIX}' as NUMA distances "
        f"(rows and columns: nodes {', '.join(map(str, node_ids))})",
        prop,
        hint="the current form is topology { distance-map { distance-matrix = <from to distance>, ...; }; };",
    )
    distances = {(a, b): values[i * n + j] for i, a in enumerate(node_ids) for j, b in enumerate(node_ids)}
    return _fix_zero_diagonal(ctx, prop, distances)


def _fix_zero_diagonal(
    ctx: Context, prop: Property, distances: dict[tuple[int, int], int]
) -> dict[tuple[int, int], int]:
    zero = sorted(a for (a, b), d in distances.items() if a == b and d == 0)
    if zero:
        for a in zero:
            distances[(a, a)] = LOCAL_DISTANCE
        ctx.note(
            "distance-zero-diagonal",
            f"the distance of NUMA node{'s' if len(zero) > 1 else ''} {', '.join(map(str, zero))} "
            f"to {'themselves' if len(zero) > 1 else 'itself'} is written as 0; read as 10",
            prop,
            hint="Linux's convention is 10 for a node to itself and larger values for remote nodes",
        )
    return distances


def _read_cache(ctx: Context, node: Node, position: int) -> Cache:
    ctx.check_known(node, ("level", "size", "cpus", "cache-id"))
    level_prop = node.prop("level")
    if level_prop is not None:
        level = read_u32(level_prop)
    elif node.base_name[:1] == "l" and node.base_name[1:].isdigit():
        level = int(node.base_name[1:])
    else:
        raise BindingError(
            f"{node.path}: the cache level is missing",
            hint="write level = <3>; or name the node l3@N",
            location=node.location,
        )
    id_prop = node.prop("cache-id")
    number = unit_number(node)
    cache_id = read_u32(id_prop) if id_prop is not None else number if number is not None else position
    size_prop = node.prop("size")
    size = ctx.u64(size_prop) if size_prop is not None else 0
    cpus = tuple(read_cells(require_prop(node, "cpus", "the CPUs sharing this cache")))
    return Cache(cache_id, level, size, cpus)
