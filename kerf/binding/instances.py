"""Reading ``/instances``: placed instances (explicit ``cpus``) and requests (``cpu-count``).

Device references are resolved here: a phandle to a device node or to an explicit
``vf@N`` / ``namespace@N`` child, a derived label such as ``eth0_vf1`` that no node
carries (kept by the parser under ``/multikernel-v1/``), or a plain string list.

The same reader serves host descriptions (``read_host``: placed instances whose problems
are the validator's to report) and request files (``read_instances``, for ``kerf plan
--requests``). Requests are read strictly, as strictly as the JSON request format:
every problem the JSON reader rejects stops the read with a located BindingError
(invalid names and ids, unknown properties and nodes, empty lists, repeated CPUs, no
memory, an empty ``instances { }``), where a host description reads what is written
and leaves the judgement to the validator.
"""

from __future__ import annotations

import difflib
import re
import struct
from collections.abc import Callable, Collection, Mapping

from kerf.binding.context import GENERATED_PROPERTIES, Context
from kerf.binding.resources import DeviceIndex
from kerf.binding.values import (
    looks_like_strings,
    prop_path,
    read_cells,
    read_enum,
    read_flag,
    read_strings,
    read_u32,
    shape_error,
    value_kinds,
    where,
)
from kerf.dts.tree import MarkerKind, Node, Property
from kerf.errors import BindingError, SourceLocation
from planner.errors import RequestError
from planner.hardware import Device, Host, Instance, MemoryRegion
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest

RESOURCE_PROPERTIES = (
    "cpus",
    "cpu-count",
    "memory-bytes",
    "memory-base",
    "numa-nodes",
    "cpu-affinity",
    "memory-policy",
    "devices",
    "exclusive-cores",
)
MEMORY_ITEM_PROPERTIES = ("size", "base", "numa-node-id")
BLOCK_PROPERTIES = ("id", "compatible", "status")
NAME_HINT = "1-63 characters of A-Z a-z 0-9 . _ -, not starting with . or -"
_DERIVED = re.compile(r"^(?P<device>.+)_(?P<kind>vf|ns)(?P<index>\d+)$")


def read_instance_blocks(
    ctx: Context,
    instances: Node | None,
    host: Host,
    index: DeviceIndex,
    *,
    requests: bool,
) -> tuple[tuple[Instance, ...], tuple[InstanceRequest, ...]]:
    """Every child of ``instances`` is one instance; its node name is the instance name.

    ``requests``: True when reading a request file (strict, see the module documentation),
    False for a host description.
    """
    placed: list[Instance] = []
    wanted: list[InstanceRequest] = []
    if instances is None:
        return (), ()
    strict = requests
    _check_props(ctx, instances, (), strict)
    if strict and not instances.children:
        raise BindingError(
            f"{instances.path}: the request file lists no instances",
            hint="write web { resources { cpu-count = <2>; memory-bytes = <0x0 0x40000000>; }; };",
            location=instances.location,
        )
    for block in instances.children.values():
        item = _read_block(ctx, block, host, index, strict)
        if isinstance(item, Instance):
            placed.append(item)
        else:
            wanted.append(item)
    return tuple(placed), tuple(wanted)


def _read_block(
    ctx: Context, block: Node, host: Host, index: DeviceIndex, strict: bool
) -> Instance | InstanceRequest:
    if strict:
        _check_name(block)
    _check_props(ctx, block, BLOCK_PROPERTIES, strict)
    _check_children(ctx, block, lambda child: child.name == "resources", "resources", strict)
    resources = block.child("resources")
    if resources is None:
        raise BindingError(
            f"{block.path}: instance '{block.name}' has no resources {{ ... }} block",
            hint="write resources { cpu-count = <2>; memory-bytes = <0x0 0x40000000>; };",
            location=block.location,
        )
    _check_props(ctx, resources, RESOURCE_PROPERTIES, strict)
    _check_children(ctx, resources, lambda child: child.base_name == "memory", "memory@N", strict)
    id_prop = block.prop("id")
    instance_id = read_u32(id_prop) if id_prop is not None else None
    if strict and id_prop is not None:
        _check_id(id_prop)
    cpus_prop, count_prop = resources.prop("cpus"), resources.prop("cpu-count")
    if cpus_prop is not None and count_prop is not None:
        raise BindingError(
            f"{resources.path}: give either 'cpus' (a pinned list) or 'cpu-count' "
            "(let kerf choose), not both",
            location=count_prop.location,
        )
    if cpus_prop is None and count_prop is None:
        raise BindingError(
            f"{resources.path}: instance '{block.name}' says neither 'cpus' nor 'cpu-count'",
            hint="write cpus = <4 5>; to pin CPUs, or cpu-count = <2>; to let kerf choose",
            location=resources.location,
        )
    numa_prop = resources.prop("numa-nodes")
    numa_nodes = tuple(read_cells(numa_prop)) if numa_prop is not None else ()
    if strict and numa_prop is not None and not numa_nodes:
        raise shape_error(
            numa_prop, "a list of NUMA node ids like <0 1>", hint="leave numa-nodes out for no preference"
        )
    affinity_prop, policy_prop = resources.prop("cpu-affinity"), resources.prop("memory-policy")
    affinity = read_enum(affinity_prop, CpuAffinity) if affinity_prop is not None else None
    policy = read_enum(policy_prop, MemoryPolicy) if policy_prop is not None else None
    flag_prop = resources.prop("exclusive-cores")
    exclusive = read_flag(flag_prop) if flag_prop is not None else False
    devices_prop = resources.prop("devices")
    devices = _read_devices(ctx, devices_prop, host, index) if devices_prop is not None else ()
    memory = _read_memory(ctx, resources, host, strict)
    if strict:
        _check_memory(resources, memory)
        _device_wants(resources, devices_prop, devices)  # a pinned block becomes a request too

    if cpus_prop is not None:
        cpus = tuple(read_cells(cpus_prop))
        if strict:
            _check_cpus(cpus_prop, cpus)
        return Instance(
            name=block.name,
            cpus=cpus,
            memory=memory,
            devices=devices,
            id=instance_id,
            numa_nodes=numa_nodes,
            cpu_affinity=affinity,
            memory_policy=policy,
            exclusive_cores=exclusive,
        )
    assert count_prop is not None
    if any(region.base is not None for region in memory):
        ctx.note(
            "binding-ignored-property",
            f"{resources.path}: 'memory-base' is ignored for an instance placed by kerf (cpu-count)",
            resources.prop("memory-base") or resources,
            hint="kerf chooses the memory of instances it places; remove memory-base",
        )
    wants = _device_wants(resources, devices_prop, devices)
    try:
        return InstanceRequest(
            name=block.name,
            memory_bytes=sum(region.size for region in memory),
            cpu_count=read_u32(count_prop),
            numa_nodes=numa_nodes,
            cpu_affinity=affinity or CpuAffinity.COMPACT,
            memory_policy=policy or MemoryPolicy.LOCAL,
            devices=tuple(wants),
            exclusive_cores=exclusive,
            id=instance_id,
        )
    except RequestError as err:
        raise BindingError(err.message, hint=err.hint, location=where(count_prop)) from None


def _device_wants(resources: Node, prop: Property | None, labels: tuple[str, ...]) -> tuple[DeviceWant, ...]:
    """The device references as the planner takes them; a located error for a bad one."""
    wants = []
    for label in labels:
        try:
            wants.append(DeviceWant.parse(label))
        except RequestError as err:
            assert prop is not None
            raise BindingError(
                f"{resources.path}: 'devices' has {err.message}", hint=err.hint, location=where(prop)
            ) from None
    return tuple(wants)


# --- the strict checks of request files -----------------------------------------------


def _check_name(block: Node) -> None:
    """The node name is the instance name: the validator's rule, at the node."""
    from kerf.validate.instances import name_problem  # kerf.validate imports kerf.binding

    problem = name_problem(block.name)
    if problem is not None:
        raise BindingError(
            f"{block.path}: {block.name!r} cannot be an instance name: {problem}",
            hint=NAME_HINT,
            location=block.location,
        )


def _check_id(prop: Property) -> None:
    """The validator's id range (the kexec flags carry the id in 11 bits)."""
    from kerf.validate.inventory import INSTANCE_ID_MAX

    value = read_u32(prop)
    if not 1 <= value <= INSTANCE_ID_MAX:
        raise shape_error(
            prop,
            f"an instance id from 1 to {INSTANCE_ID_MAX}",
            f"{value}" + (" (0 is the host kernel)" if value == 0 else ""),
            hint="leave id out to let the kernel choose",
        )


def _check_props(ctx: Context, node: Node, known: Collection[str], strict: bool) -> None:
    """Unknown properties: an error in a request file, a warning (ignored) in a host description."""
    if not strict:
        ctx.check_known(node, known)
        return
    for prop in node.props.values():
        if prop.name in known or prop.name in GENERATED_PROPERTIES:
            continue
        close = difflib.get_close_matches(prop.name, known, n=1)
        listed = f"known here: {', '.join(sorted(known))}" if known else "no properties belong here"
        raise BindingError(
            f"{node.path}: property '{prop.name}' is not part of the binding",
            hint=f"did you mean '{close[0]}'? {listed}" if close else listed,
            location=where(prop),
        )


def _check_children(
    ctx: Context, node: Node, allowed: Callable[[Node], bool], known: str, strict: bool
) -> None:
    """Unknown child nodes: an error in a request file, a warning (ignored) in a host description."""
    for child in node.children.values():
        if allowed(child):
            continue
        listed = f"known here: {known}" if known else "no child nodes belong here"
        if strict:
            raise BindingError(
                f"{child.path}: node '{child.name}' is not part of the binding",
                hint=listed,
                location=child.location,
            )
        ctx.note(
            "binding-unknown-node",
            f"{child.path}: node '{child.name}' is not part of the binding and is ignored",
            child,
            hint=listed,
        )


def _check_cpus(prop: Property, cpus: tuple[int, ...]) -> None:
    if not cpus:
        raise shape_error(
            prop, "a list of CPU ids like <4 5>", hint="or write cpu-count = <N>; to let kerf choose"
        )
    repeated = sorted({cpu for cpu in cpus if cpus.count(cpu) > 1})
    if repeated:
        raise BindingError(
            f"{prop_path(prop)} lists CPU{'s' if len(repeated) > 1 else ''} "
            f"{', '.join(map(str, repeated))} more than once",
            hint="list every CPU once",
            location=where(prop),
        )


def _check_memory(resources: Node, memory: tuple[MemoryRegion, ...]) -> None:
    """A request asks for some memory (JSON: a positive memory-bytes)."""
    if sum(region.size for region in memory) > 0:
        return
    prop = resources.prop("memory-bytes")
    raise BindingError(
        f"{resources.path}: the instance asks for no memory (0 bytes)",
        hint="write memory-bytes = <0x0 0x40000000>; for 1 GiB",
        location=where(prop) if prop is not None else resources.location,
    )


# --- memory ---------------------------------------------------------------------------


def _read_memory(ctx: Context, resources: Node, host: Host, strict: bool) -> tuple[MemoryRegion, ...]:
    """``memory-bytes`` (+ optional ``memory-base``), or ``memory@N { size; base; numa-node-id; }``
    items for memory in several regions."""
    items = [child for child in resources.children.values() if child.base_name == "memory"]
    size_prop, base_prop = resources.prop("memory-bytes"), resources.prop("memory-base")
    if items:
        if base_prop is not None:
            raise BindingError(
                f"{resources.path}: 'memory-base' cannot be combined with memory@N regions",
                hint="give each region its own base inside memory@N",
                location=base_prop.location,
            )
        regions = tuple(_read_memory_item(ctx, item, host, strict) for item in items)
        if size_prop is not None and ctx.u64(size_prop) != sum(r.size for r in regions):
            raise BindingError(
                f"{resources.path}: 'memory-bytes' is {ctx.u64(size_prop)} but the "
                f"memory@N regions add up to {sum(r.size for r in regions)}",
                hint="drop memory-bytes or make it the sum of the regions",
                location=size_prop.location,
            )
        return regions
    if size_prop is None:
        raise BindingError(
            f"{resources.path}: property 'memory-bytes' is missing (the instance's memory in bytes)",
            hint="write memory-bytes = <0x0 0x40000000>; for 1 GiB",
            location=resources.location,
        )
    size = ctx.u64(size_prop)
    if base_prop is None:
        return (MemoryRegion(size),) if size else ()  # no memory at all (the validator says so)
    base = ctx.u64(base_prop)
    return (MemoryRegion(size, base, host.node_of_address(base)),)


def _read_memory_item(ctx: Context, item: Node, host: Host, strict: bool) -> MemoryRegion:
    _check_props(ctx, item, MEMORY_ITEM_PROPERTIES, strict)
    _check_children(ctx, item, lambda child: False, "", strict)
    size_prop = item.prop("size")
    if size_prop is None:
        raise BindingError(
            f"{item.path}: property 'size' is missing (the region's size in bytes)",
            location=item.location,
        )
    base_prop, node_prop = item.prop("base"), item.prop("numa-node-id")
    base = ctx.u64(base_prop) if base_prop is not None else None
    if node_prop is not None:
        node: int | None = read_u32(node_prop)
    else:
        node = host.node_of_address(base) if base is not None else None
    size = ctx.u64(size_prop)
    if strict and size == 0:
        raise shape_error(size_prop, "a size of at least one byte", "0", hint="leave the empty region out")
    return MemoryRegion(size, base, node)


# --- device references ----------------------------------------------------------------


def _read_devices(ctx: Context, prop: Property, host: Host, index: DeviceIndex) -> tuple[str, ...]:
    """The unit labels an instance refers to, in the order written."""
    if prop.is_empty:
        return ()
    if looks_like_strings(prop):
        # Strings are kept as written: an unknown name is a rule the validator reports.
        return tuple(s.strip() for s in read_strings(prop))
    if value_kinds(prop) - {MarkerKind.U32, MarkerKind.PHANDLE} or len(prop.value) % 4:
        raise shape_error(prop, 'references like <&eth0_vf1 &nvme0_ns2> or strings like "eth0_vf1", "gpu0"')
    refs = {m.offset: m for m in prop.markers if m.kind is MarkerKind.PHANDLE}
    node_path = prop.node.path if prop.node is not None else ""
    unresolved = {
        u.offset: u for u in ctx.tree.unresolved_refs if u.node_path == node_path and u.prop_name == prop.name
    }
    labels: list[str] = []
    for offset in range(0, len(prop.value), 4):
        if offset in unresolved:
            ref = unresolved[offset]
            labels.append(_resolve_label(prop, ref.label, host, ref.location or where(prop)))
            continue
        marker = refs.get(offset)
        location = marker.location if marker is not None and marker.location else where(prop)
        target = _target_of(ctx, prop, offset, marker.ref if marker is not None else None, location)
        label = index.by_path.get(target.path)
        if label is None:
            raise BindingError(
                f"{prop.node.path if prop.node else '?'}: 'devices' refers to {target.path}, "
                "which is not a device of /resources/devices",
                hint=_known_units_hint(host),
                location=location,
            )
        labels.append(label)
    return tuple(labels)


def _target_of(
    ctx: Context, prop: Property, offset: int, ref: str | None, location: SourceLocation | None
) -> Node:
    """The node a phandle cell points at (by the reference as written, else by value)."""
    tree = ctx.tree
    if ref is not None:
        node = tree.find_node(ref[1:-1]) if ref.startswith("{") else tree.label2node.get(ref)
        if node is not None:
            return node
    (phandle,) = struct.unpack(">I", prop.value[offset : offset + 4])
    node = tree.phandle2node.get(int(phandle))
    if node is None:
        shown = f"&{ref}" if ref is not None else f"phandle {phandle:#x}"
        raise BindingError(
            f"{prop.node.path if prop.node else '?'}: 'devices' has a reference ({shown}) to no node",
            hint="refer to devices by their labels, e.g. <&eth0_vf1>",
            location=location,
        )
    return node


def _resolve_label(prop: Property, label: str, host: Host, location: SourceLocation | None) -> str:
    """A label no node carries: a whole device's name or a derived unit label."""
    devices: Mapping[str, Device] = host.device_by_name
    if label in devices:
        return label
    m = _DERIVED.match(label)
    if m is not None and m["device"] in devices:
        return label  # whether that VF/namespace is available is the validator's question
    raise BindingError(
        f"{prop.node.path if prop.node else '?'}: 'devices' refers to &{label}, "
        "which is neither a device nor a unit of one",
        hint=_known_units_hint(host),
        location=location,
    )


def _known_units_hint(host: Host) -> str:
    labels = [u.label for d in host.devices for u in d.units()]
    if not labels:
        return "this host describes no devices under /resources/devices"
    shown = ", ".join(labels[:12]) + (f" and {len(labels) - 12} more" if len(labels) > 12 else "")
    return f"known devices and units: {shown}"
