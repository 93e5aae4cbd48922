"""A host description read from a device tree: the Host, its instances and requests.

``read_host`` is the single entry from a :class:`~kerf.dts.tree.Tree` to the hardware
vocabulary of :mod:`planner.hardware`; ``load_host`` adds reading the file (DTS or DTB).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kerf.binding.context import Context, check_children, require_node
from kerf.binding.instances import read_instance_blocks
from kerf.binding.resources import read_cpus, read_devices, read_memory
from kerf.binding.topology import Topology, read_topology
from kerf.binding.values import read_string
from kerf.dts.tree import Diagnostic, Node, Tree
from kerf.errors import BindingError, InputError, SourceLocation
from planner.hardware import Host, Instance, assemble_host
from planner.request import InstanceRequest

NUMA_NODE_PATH = "/resources/topology/numa-nodes/node@{}"
SOCKET_PATH = "/resources/topology/sockets/socket@{}"


@dataclass(frozen=True)
class HostDescription:
    """Everything a host description file says.

    ``instances`` are the blocks with an explicit ``cpus`` list (already placed),
    ``requests`` the blocks with ``cpu-count`` (for the planner). ``warnings`` holds
    the parser's and the binding's remarks (a :class:`BindingDiagnostic` carries a code
    and a severity). ``locations`` maps node paths (``/instances/web``), property paths
    (``/resources/cpus:available``) and the canonical paths of NUMA nodes and sockets
    (``/resources/topology/numa-nodes/node@1``) to where they were written.
    """

    host: Host
    instances: tuple[Instance, ...]
    requests: tuple[InstanceRequest, ...]
    warnings: tuple[Diagnostic, ...]
    locations: Mapping[str, SourceLocation]
    source: str


def read_host(tree: Tree) -> HostDescription:
    """Read a host description (``/resources`` and optional ``/instances``) from a tree.

    Raises BindingError, located at the offending node or property, for structural
    problems: a required node or property missing, a value of the wrong size or type,
    an unknown policy name, a device reference that reaches nothing.
    """
    ctx = Context(tree)
    resources = require_node(
        tree.root,
        "resources",
        "a host description describes its hardware under /resources",
        hint="start from examples/minimal.dts",
    )
    if resources.prop("cpus") is not None and resources.child("cpus") is None:
        prop = resources.props["cpus"]
        raise BindingError(
            "/resources: 'cpus' is a flat list of CPU ids (the kernel's baseline format), "
            "but a host description describes CPUs in a cpus { } node",
            hint="write cpus { total = <N>; host-reserved = <...>; available = <...>; };",
            location=prop.location,
        )
    ctx.check_known(resources, ())
    check_children(ctx, resources, ("cpus", "memory", "devices", "topology"))
    cpus = read_cpus(ctx, require_node(resources, "cpus", "the CPU inventory", hint="see docs/binding.md"))
    memory = read_memory(ctx, require_node(resources, "memory", "the memory inventory and pool"))
    devices, index = read_devices(ctx, resources.child("devices"))
    topo = read_topology(ctx, resources.child("topology"))
    model = tree.root.prop("model")
    host = assemble_host(
        cpus.ids,
        available=cpus.available,
        host_reserved=cpus.host_reserved,
        numa_cpus=topo.numa_cpus,
        numa_memory=topo.numa_memory or None,
        numa_types=topo.numa_types or None,
        socket_cpus=_sockets(topo, cpus.ids),
        core_cpus=cpus.cores,
        caches=topo.caches,
        distances=topo.distances,
        memory=memory,
        devices=devices,
        declared_total_cpus=cpus.declared_total,
        model=read_string(model) if model is not None else "",
    )
    instances, requests = read_instance_blocks(ctx, tree.find_node("/instances"), host, index, requests=False)
    return HostDescription(
        host=host,
        instances=instances,
        requests=requests,
        warnings=tuple(ctx.remarks()),
        locations=_locations(tree, topo),
        source=tree.filename,
    )


def _sockets(topo: Topology, ids: tuple[int, ...]) -> dict[int, tuple[int, ...]] | None:
    """The sockets as written, or the binding's default: one per NUMA node that has CPUs
    (a memory-only node is no package), CPUs of no node on the first socket."""
    if topo.socket_cpus is not None or topo.numa_cpus is None:
        return topo.socket_cpus
    sockets = {node: cpus for node, cpus in topo.numa_cpus.items() if cpus}
    placed = {cpu for cpus in sockets.values() for cpu in cpus}
    orphans = tuple(c for c in ids if c not in placed)
    if orphans:
        first = min(sockets, default=0)
        sockets[first] = sockets.get(first, ()) + orphans
    return sockets


def read_instances(tree: Tree, host: Host) -> tuple[tuple[Instance, ...], tuple[InstanceRequest, ...]]:
    """Read the ``instances { }`` block of a request file against an already known host.

    Device references resolve against the host's devices (by name or derived label).
    Of ``/resources``, if the file has it, only the device nodes are read: a reference
    to one of them means the host's device of that name. Raises BindingError like
    read_host.
    """
    ctx = Context(tree)
    _, index = read_devices(ctx, tree.find_node("/resources/devices"))
    instances = tree.find_node("/instances")
    if instances is None:
        raise BindingError(
            f"{tree.filename}: there is no /instances node: nothing to place",
            hint="write / { instances { web { resources { cpu-count = <2>; ... }; }; }; };",
            location=tree.root.location,
        )
    return read_instance_blocks(ctx, instances, host, index, requests=True)


def load_host(path: str | Path) -> HostDescription:
    """Read a host description file, DTS or DTB (chosen by content)."""
    from kerf.dts import load

    try:
        tree = load(path)
    except OSError as err:
        raise InputError(
            f"cannot read {path}: {err.strerror or err}",
            hint="check the file name and its permissions",
        ) from None
    return read_host(tree)


def _locations(tree: Tree, topo: Topology) -> dict[str, SourceLocation]:
    found: dict[str, SourceLocation] = {}
    for node in tree.nodes():
        _add_node(found, node)
    for number, path in topo.node_paths.items():
        _alias(found, NUMA_NODE_PATH.format(number), path)
    for number, path in topo.socket_paths.items():
        _alias(found, SOCKET_PATH.format(number), path)
    return found


def _add_node(found: dict[str, SourceLocation], node: Node) -> None:
    path = node.path
    if node.location is not None:
        found[path] = node.location
    for prop in node.props.values():
        location = prop.location or node.location
        if location is not None:
            found[f"{path}:{prop.name}"] = location


def _alias(found: dict[str, SourceLocation], canonical: str, actual: str) -> None:
    if canonical == actual:
        return
    for key, location in list(found.items()):
        if key == actual or key.startswith(actual + ":"):
            found.setdefault(canonical + key[len(actual) :], location)
