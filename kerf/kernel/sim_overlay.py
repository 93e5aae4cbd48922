"""Overlay transactions of the simulated kernel (kernel-interface reference §1.5-§1.7, §3).

An overlay is a DTBO whose ``fragment@<hex>`` nodes run in ascending numeric order; each
names its target with ``target-path`` (``/resources``, ``/instances`` or
``/instances/<name>``) and holds fixed operation nodes under ``__overlay__``, run in the
kernel's order for that kind of target. The first failure stops the transaction and
leaves what ran before it applied (status ``failed``), as the kernel does. Each item that
took effect is listed in the record's ``applied`` (for inspection only).

Rollback keeps nothing of that history, like the kernel, which holds only the blob: it
parses the blob again and sends the inverse of *every* operation in it (add <-> remove,
create -> destroy), fragments in reverse unit order, operations in the reverse of the run
order, the items of one operation forward, whether or not the operation ever ran. The
first inverse that fails stops it: the transaction stays, ``failed``, and a retry replays
the blob from the start. Two operations cannot be inverted, as in the kernel, and only
log a warning: ``instance-remove`` (the configuration is gone) and ``/resources
memory-add`` (the base the kernel chose is not recorded).
"""

from __future__ import annotations

import errno as E
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kerf.dts.tree import Node, Tree
from kerf.kernel.sim_dt import (
    MAX_ALIAS,
    MAX_NUMNODES,
    cpu_reg,
    exact_u32,
    exact_u64,
    memory_reg,
    node_id,
    parse_pci_id,
    pci_device,
    platform_device,
    string,
    u32_list,
    u64_list,
)
from kerf.kernel.sim_memory import (
    PAGE_SIZE,
    SimFailure,
    allocate_chunk,
    allocate_regions,
    chunk_of,
    is_free,
)
from kerf.kernel.sim_state import (
    Instance,
    Operation,
    PciDevice,
    PlatformDevice,
    Region,
    SimState,
    TxRecord,
    VirtioDevice,
)

INT_MAX = (1 << 31) - 1
MK_VIRTIO_MAX_DEVICES = 8
MK_VIRTIO_MAX_QUEUES = 8

INSTANCE_ORDER = (
    "instance-create",
    "memory-remove",
    "memory-add",
    "cpu-remove",
    "cpu-add",
    "device-remove",
    "device-add",
    "instance-remove",
)
# CPUs and devices leave the pool before memory: the x86 park area lives in pool memory.
POOL_ORDER = (
    "instance-create",
    "cpu-remove",
    "device-remove",
    "memory-remove",
    "memory-add",
    "cpu-add",
    "device-add",
    "instance-remove",
)
RESOURCE_OPS = frozenset(INSTANCE_ORDER[1:-1])
NAMESPACE_OPS = frozenset({"instance-create", "instance-remove"})
ITEM_PREFIX = {"memory": "memory@", "cpu": "cpu@", "device": "pci@"}


@dataclass(frozen=True)
class Fragment:
    """A ``fragment@<hex>`` node and its numeric unit."""

    unit: int
    node: Node


def fragments(tree: Tree) -> list[Fragment]:
    """The fragments in the order the kernel runs them; EINVAL for a bad unit or none."""
    found = []
    for name, node in tree.root.children.items():
        if not name.startswith("fragment@"):
            continue
        unit = name.removeprefix("fragment@")
        try:
            value = int(unit, 16)
        except ValueError:
            raise SimFailure(E.EINVAL, f"{name}: unit address {unit!r} is not hexadecimal") from None
        if not 0 <= value <= 0xFFFFFFFF or unit.startswith(("+", "-")) or "_" in unit:
            raise SimFailure(E.EINVAL, f"{name}: unit address {unit!r} is not a hexadecimal u32")
        found.append(Fragment(value, node))
    if not found:
        raise SimFailure(E.EINVAL, "overlay has no fragment@N nodes")
    return sorted(found, key=lambda f: f.unit)


def transaction_labels(tree: Tree) -> tuple[str, str]:
    """(instance, resources) as tx_<N> shows them: the first fragment's target-path and
    the root mk,resources, each ``unknown`` when absent (and cut to the kernel's buffers)."""
    instance = "unknown"
    try:
        first = fragments(tree)[0].node
        target = first.prop("target-path")
        if target is not None and target.value:
            instance = target.value.split(b"\0", 1)[0].decode("utf-8", "replace")[:127] or "unknown"
    except SimFailure:
        pass
    resources = "unknown"
    prop = tree.root.prop("mk,resources")
    if prop is not None and prop.value:
        resources = prop.value.split(b"\0", 1)[0].decode("utf-8", "replace")[:255] or "unknown"
    return instance, resources


# --- operations: each executor takes JSON-able args, so rollback can replay inverses -------------

Executor = Callable[[SimState, str, dict[str, Any]], dict[str, Any]]


def _instance(state: SimState, target: str) -> Instance:
    name = target.removeprefix("/instances/")
    found = state.instance_by_name(name)
    if found is None:
        raise SimFailure(E.ENOENT, f"no instance named {name!r}")
    return found


def _check_size(size: int, where: str) -> None:
    if size == 0 or size % PAGE_SIZE:
        raise SimFailure(E.EINVAL, f"{where}: size {size:#x} must be non-zero and page-aligned")


def _create(state: SimState, _target: str, args: dict[str, Any]) -> dict[str, Any]:
    name: str = args["name"]
    ident: int | None = args["id"]
    if ident == 0:
        raise SimFailure(E.ENOMEM, "Instance ID 0 is reserved for the host kernel")
    if ident is not None and ident > INT_MAX:
        raise SimFailure(E.EINVAL, f"instance id {ident} is out of range")
    if state.instance_by_name(name) is not None:
        raise SimFailure(E.EEXIST, f"an instance named {name!r} already exists")
    if ident is not None and state.instance_by_id(ident) is not None:
        raise SimFailure(E.EEXIST, f"instance id {ident} is already in use")
    if ident is None:
        used = {i.id for i in state.instances}
        ident = next(n for n in range(1, len(used) + 2) if n not in used)
    instance = Instance(ident, name, "ready", memory_node=args["numa_node"])
    if args["memory_bytes"]:
        allocate_regions(state, instance, args["memory_bytes"], args["numa_node"])
    state.instances.append(instance)
    state.instances.sort(key=lambda i: i.id)

    cpus: list[int] = args["cpus"]
    free = set(state.free_cpus())
    if all(c in free for c in cpus) and len(set(cpus)) == len(cpus):
        instance.cpus = list(cpus)
    else:
        state.log.append(
            f"instance {name}: CPUs {cpus} are not all free pool CPUs; Continuing without CPU assignment"
        )
    for raw in args["pci"]:
        device = PciDevice(**raw)
        if state.pool_pci_device(device.pci_id) is None or device.pci_id in state.lent_pci_ids():
            state.log.append(
                f"instance {name}: PCI device {device.pci_id} is not free in the pool, not assigned"
            )
        else:
            instance.pci.append(device)
    for raw in args["platform"]:
        device_p = PlatformDevice(**raw)
        lent = {d.device_name for i in state.instances for d in i.platform}
        in_pool = any(d.device_name == device_p.device_name for d in state.pool_platform)
        if not in_pool or device_p.device_name in lent:
            state.log.append(
                f"instance {name}: platform device {device_p.device_name} is not free, not assigned"
            )
        else:
            instance.platform.append(device_p)
    instance.virtio = [VirtioDevice(**v) for v in args["virtio"]]
    return {**args, "id": ident}


def _destroy(state: SimState, _target: str, args: dict[str, Any]) -> dict[str, Any]:
    instance = state.instance_by_name(args["name"])
    if instance is None:
        raise SimFailure(E.ENOENT, f"no instance named {args['name']!r}")
    if instance.status in ("loaded", "active"):
        raise SimFailure(E.EBUSY, f"instance {instance.name} is {instance.status}; stop and unload it first")
    state.instances.remove(instance)  # its CPUs, devices and memory return to the pool
    return {"name": instance.name}


def _pool_memory_add(state: SimState, _target: str, args: dict[str, Any]) -> dict[str, Any]:
    chunk = allocate_chunk(state, args["size"], args["node"])
    return {"size": chunk.size, "node": chunk.node, "base": chunk.base}


def _pool_memory_remove(state: SimState, _target: str, args: dict[str, Any]) -> dict[str, Any]:
    base, size = args["base"], args["size"]
    chunk = next((c for c in state.chunks if (c.base, c.size) == (base, size)), None)
    if chunk is None:
        raise SimFailure(E.ENOENT, f"no pool chunk is exactly {base:#x}+{size:#x}")
    if any(chunk.base <= r.base < chunk.end for r in state.regions()):
        raise SimFailure(E.EBUSY, f"pool chunk {base:#x}+{size:#x} still has instance memory in it")
    if state.machine.arch == "x86_64" and state.pool_cpus and len(state.chunks) == 1:
        raise SimFailure(
            E.EBUSY,
            f"pool chunk {base:#x}+{size:#x} holds the park area of the pool CPUs; remove the CPUs first",
        )
    state.chunks.remove(chunk)
    return {"base": base, "size": size, "node": chunk.node}


def _instance_memory_add(state: SimState, target: str, args: dict[str, Any]) -> dict[str, Any]:
    instance = _instance(state, target)
    base, size, node = args["base"], args["size"], args.get("node")
    _check_size(size, f"{target} memory-add")
    chunk = chunk_of(state, base, size)
    if base % PAGE_SIZE or chunk is None:
        raise SimFailure(
            E.EINVAL, f"{target} memory-add: {base:#x}+{size:#x} is not page-aligned inside a pool chunk"
        )
    if node is not None and node != chunk.node:
        raise SimFailure(E.EINVAL, f"{target} memory-add: {base:#x} is on node {chunk.node}, not {node}")
    if not is_free(state, base, size):
        raise SimFailure(E.EBUSY, f"{target} memory-add: {base:#x}+{size:#x} overlaps allocated memory")
    instance.regions.append(Region(base, size, chunk.node, instance.next_region))
    instance.next_region += 1
    return {"base": base, "size": size}


def _instance_memory_remove(state: SimState, target: str, args: dict[str, Any]) -> dict[str, Any]:
    instance = _instance(state, target)
    base, size = args["base"], args["size"]
    region = next((r for r in instance.regions if (r.base, r.size) == (base, size)), None)
    if region is None:
        raise SimFailure(E.ENOENT, f"{target} has no memory region exactly {base:#x}+{size:#x}")
    if instance.image is not None and instance.image.start == region.base:
        raise SimFailure(E.EBUSY, f"{target}: region {base:#x}+{size:#x} holds the loaded kernel image")
    instance.regions.remove(region)
    return {"base": base, "size": size}


def _pool_cpu_add(state: SimState, _target: str, args: dict[str, Any]) -> dict[str, Any]:
    cpu = args["cpu"]
    if state.machine.cpu(cpu) is None:
        raise SimFailure(E.ENODEV, f"CPU {cpu} maps to no present logical CPU")
    if cpu in state.pool_cpus:
        raise SimFailure(E.EBUSY, f"CPU {cpu} is already in the pool")
    state.pool_cpus.append(cpu)
    return {"cpu": cpu}


def _pool_cpu_remove(state: SimState, _target: str, args: dict[str, Any]) -> dict[str, Any]:
    cpu = args["cpu"]
    if cpu not in state.pool_cpus:
        raise SimFailure(E.ENOENT, f"CPU {cpu} is not in the pool")
    if cpu in state.lent_cpus():
        raise SimFailure(E.EBUSY, f"CPU {cpu} is lent to an instance")
    state.pool_cpus.remove(cpu)
    return {"cpu": cpu}


def _instance_cpu_add(state: SimState, target: str, args: dict[str, Any]) -> dict[str, Any]:
    instance, cpu = _instance(state, target), args["cpu"]
    if cpu not in state.pool_cpus:
        raise SimFailure(E.ENOENT, f"CPU {cpu} is not in the pool")
    if cpu in state.lent_cpus():
        raise SimFailure(E.EBUSY, f"CPU {cpu} is already lent to an instance")
    instance.cpus.append(cpu)
    return {"cpu": cpu}


def _instance_cpu_remove(state: SimState, target: str, args: dict[str, Any]) -> dict[str, Any]:
    instance, cpu = _instance(state, target), args["cpu"]
    if cpu not in instance.cpus:
        raise SimFailure(E.ENOENT, f"{target} does not have CPU {cpu}")
    instance.cpus.remove(cpu)
    return {"cpu": cpu}


def _pool_device_add(state: SimState, _target: str, args: dict[str, Any]) -> dict[str, Any]:
    pci_id = args["pci_id"]
    present = state.machine.pci_device(pci_id)
    if present is None:
        raise SimFailure(E.ENODEV, f"no PCI device {pci_id} on the machine")
    if state.pool_pci_device(pci_id) is not None:
        raise SimFailure(E.EBUSY, f"PCI device {pci_id} is already in the pool")
    state.pool_pci.append(PciDevice(pci_id, present.vendor_id, present.device_id, alias=args.get("alias")))
    return {"pci_id": pci_id, "alias": args.get("alias")}


def _pool_device_remove(state: SimState, _target: str, args: dict[str, Any]) -> dict[str, Any]:
    pci_id = args["pci_id"]
    device = state.pool_pci_device(pci_id)
    if device is None:
        raise SimFailure(E.ENOENT, f"PCI device {pci_id} is not in the pool")
    if pci_id in state.lent_pci_ids():
        raise SimFailure(E.EBUSY, f"PCI device {pci_id} is lent to an instance")
    state.pool_pci.remove(device)
    return {"pci_id": pci_id, "alias": device.alias}


def _instance_device_add(state: SimState, target: str, args: dict[str, Any]) -> dict[str, Any]:
    instance, pci_id = _instance(state, target), args["pci_id"]
    device = state.pool_pci_device(pci_id)
    if device is None:
        raise SimFailure(E.ENOENT, f"PCI device {pci_id} is not in the pool")
    if pci_id in state.lent_pci_ids():
        raise SimFailure(E.EBUSY, f"PCI device {pci_id} is already lent to an instance")
    instance.pci.append(
        PciDevice(
            pci_id, device.vendor_id, device.device_id, device.alias, args.get("driver"), args.get("flags", 0)
        )
    )
    return {"pci_id": pci_id, "driver": args.get("driver"), "flags": args.get("flags", 0)}


def _instance_device_remove(state: SimState, target: str, args: dict[str, Any]) -> dict[str, Any]:
    instance, pci_id = _instance(state, target), args["pci_id"]
    device = next((d for d in instance.pci if d.pci_id == pci_id), None)
    if device is None:
        raise SimFailure(E.ENOENT, f"{target} does not have PCI device {pci_id}")
    instance.pci.remove(device)
    return {"pci_id": pci_id, "driver": device.driver, "flags": device.flags}


# (scope, operation) -> executor; scope is "instances", "pool" or "instance".
EXECUTORS: dict[tuple[str, str], Executor] = {
    ("instances", "instance-create"): _create,
    ("instances", "instance-remove"): _destroy,
    ("pool", "memory-add"): _pool_memory_add,
    ("pool", "memory-remove"): _pool_memory_remove,
    ("pool", "cpu-add"): _pool_cpu_add,
    ("pool", "cpu-remove"): _pool_cpu_remove,
    ("pool", "device-add"): _pool_device_add,
    ("pool", "device-remove"): _pool_device_remove,
    ("instance", "memory-add"): _instance_memory_add,
    ("instance", "memory-remove"): _instance_memory_remove,
    ("instance", "cpu-add"): _instance_cpu_add,
    ("instance", "cpu-remove"): _instance_cpu_remove,
    ("instance", "device-add"): _instance_device_add,
    ("instance", "device-remove"): _instance_device_remove,
}

# Inverse of each operation for rollback; None marks the ones the kernel cannot undo.
INVERSE: dict[tuple[str, str], tuple[str, Executor] | None] = {
    ("instances", "instance-create"): ("instance-destroy", _destroy),
    ("instances", "instance-remove"): None,
    ("pool", "memory-add"): None,
    ("pool", "memory-remove"): ("memory-add", _pool_memory_add),
    ("pool", "cpu-add"): ("cpu-remove", _pool_cpu_remove),
    ("pool", "cpu-remove"): ("cpu-add", _pool_cpu_add),
    ("pool", "device-add"): ("device-remove", _pool_device_remove),
    ("pool", "device-remove"): ("device-add", _pool_device_add),
    ("instance", "memory-add"): ("memory-remove", _instance_memory_remove),
    ("instance", "memory-remove"): ("memory-add", _instance_memory_add),
    ("instance", "cpu-add"): ("cpu-remove", _instance_cpu_remove),
    ("instance", "cpu-remove"): ("cpu-add", _instance_cpu_add),
    ("instance", "device-add"): ("device-remove", _instance_device_remove),
    ("instance", "device-remove"): ("device-add", _instance_device_add),
}


def scope_of(target: str) -> str:
    """``pool``, ``instances`` or ``instance`` for a (validated) target path."""
    if target == "/resources":
        return "pool"
    return "instances" if target == "/instances" else "instance"


# --- parsing operation nodes into executor arguments -----------------------------------------------


def _bad_name(name: str) -> bool:
    """True for a name no kernfs directory can carry: empty, with '/', or '.' and '..'
    (those already name the directory itself and its parent, so the kernel refuses them)."""
    return not name or "/" in name or name in (".", "..")


def _name(node: Node) -> str:
    name = string(node, "instance-name")
    if name is None or _bad_name(name):
        raise SimFailure(
            E.EINVAL, f"{node.path}: instance-name must be a non-empty string without '/', not '.' or '..'"
        )
    return name


def _create_args(node: Node) -> dict[str, Any]:
    """Everything instance-create needs, validated before anything changes."""
    name = _name(node)
    id_prop = node.prop("id")
    ident = exact_u32(node, "id") if id_prop is not None and len(id_prop.value) == 4 else None
    resources = node.child("resources")
    if resources is None:
        raise SimFailure(E.EINVAL, f"{node.path}: instance-create needs a resources node")
    if resources.prop("device-names") is not None:
        raise SimFailure(
            E.EINVAL, f"{resources.path}: device-names is not supported; assign devices with device-add"
        )
    memory = exact_u64(resources, "memory-bytes") or 0
    if resources.prop("memory-bytes") is not None:
        _check_size(memory, f"{resources.path}/memory-bytes")
    cpus = u64_list(resources, "cpus") or []
    nodes = u32_list(resources, "numa-nodes") or []
    numa = nodes[0] if nodes else None
    if numa is not None and numa >= MAX_NUMNODES:
        raise SimFailure(E.EINVAL, f"{resources.path}: numa-nodes {numa} is not below {MAX_NUMNODES}")
    pci: list[dict[str, Any]] = []
    platform: list[dict[str, Any]] = []
    devices = resources.child("devices")
    for device in devices.children.values() if devices is not None else ():
        kind = string(device, "device-type")
        if kind == "pci":
            pci.append(vars(pci_device(device)))
        elif kind == "platform":
            platform.append(vars(platform_device(device, fallback_to_node_name=False)))
        else:
            raise SimFailure(E.EINVAL, f"{device.path}: device-type must be pci or platform, found {kind!r}")
    virtio = _virtio_args(resources)
    _check_chosen(node)
    return {
        "name": name,
        "id": ident,
        "memory_bytes": memory,
        "cpus": cpus,
        "numa_node": numa,
        "pci": pci,
        "platform": platform,
        "virtio": virtio,
    }


def _virtio_args(resources: Node) -> list[dict[str, Any]]:
    folder = resources.child("virtio")
    if folder is None:
        return []
    if len(folder.children) > MK_VIRTIO_MAX_DEVICES:
        raise SimFailure(E.E2BIG, f"{folder.path}: more than {MK_VIRTIO_MAX_DEVICES} virtio devices")
    found = []
    for device in folder.children.values():
        device_id, queues = exact_u32(device, "device-id"), exact_u32(device, "queues")
        size = exact_u32(device, "queue-size")
        if device_id is None or queues is None or not 1 <= queues <= MK_VIRTIO_MAX_QUEUES:
            raise SimFailure(
                E.EINVAL, f"{device.path}: needs device-id and queues (1..{MK_VIRTIO_MAX_QUEUES})"
            )
        found.append(
            {"name": device.name, "device_id": device_id, "queues": queues, "queue_size": size or 256}
        )
    return found


def _check_chosen(node: Node) -> None:
    chosen = node.child("resources")
    chosen = chosen.child("chosen") if chosen is not None else None
    if chosen is None:
        return
    if chosen.props or any(name != "multikernel,host-tree" for name in chosen.children):
        raise SimFailure(E.EINVAL, f"{chosen.path}: may only carry a multikernel,host-tree node")


def _items(node: Node, kind: str) -> list[Node]:
    """Item nodes of an operation matched by name prefix; other names are skipped."""
    return [c for name, c in node.children.items() if name.startswith(ITEM_PREFIX[kind])]


def _item_args(scope: str, op: str, item: Node) -> dict[str, Any]:
    """Executor arguments of one item node."""
    kind = op.split("-")[0]
    if kind == "cpu":
        cpu = cpu_reg(item)
        node_id(item)  # validated like the kernel; the CPU's node is known from the machine
        exact_u32(item, "flags")
        return {"cpu": cpu}
    if kind == "device":
        pci_id = parse_pci_id(string(item, "pci-id"), item.path)
        alias, driver = string(item, "alias"), string(item, "driver")
        if alias is not None and len(alias) > MAX_ALIAS:
            raise SimFailure(E.EINVAL, f"{item.path}: alias longer than {MAX_ALIAS} characters")
        return {"pci_id": pci_id, "alias": alias, "driver": driver, "flags": exact_u32(item, "flags") or 0}
    if scope == "pool" and op == "memory-add":
        if item.prop("reg") is not None:
            raise SimFailure(E.EINVAL, f"{item.path}: growing the pool takes size, not reg")
        size = exact_u64(item, "size")
        if size is None:
            raise SimFailure(E.EINVAL, f"{item.path}: size (u64) is required")
        _check_size(size, item.path)
        return {"size": size, "node": node_id(item)}
    base, size = memory_reg(item)
    args: dict[str, Any] = {"base": base, "size": size}
    if scope == "instance" and op == "memory-add":
        args["node"] = node_id(item)
        exact_u32(item, "mem-type")
    return args


def _targeted(state: SimState, fragment: Fragment) -> tuple[str, str, Node]:
    """(target, scope, __overlay__ node) of a fragment, checked like the kernel."""
    target = string(fragment.node, "target-path")
    if target is None:
        raise SimFailure(E.EINVAL, f"{fragment.node.path}: target-path is required")
    overlay = fragment.node.child("__overlay__")
    if overlay is None:
        raise SimFailure(E.EINVAL, f"{fragment.node.path}: __overlay__ is required")
    present = set(overlay.children)
    if target == "/resources":
        if not state.pool:
            raise SimFailure(E.EPERM, "this kernel has no pool (write a baseline first)")
        if present & NAMESPACE_OPS:
            raise SimFailure(E.EINVAL, f"{fragment.node.path}: instance-create/remove only under /instances")
    elif target == "/instances":
        if present & RESOURCE_OPS:
            raise SimFailure(E.EINVAL, f"{fragment.node.path}: resource operations need /instances/<name>")
    elif target.startswith("/instances/"):
        name = target.removeprefix("/instances/")
        if _bad_name(name):
            raise SimFailure(E.EINVAL, f"{fragment.node.path}: bad target-path {target!r}")
        _instance(state, target)
        if present & NAMESPACE_OPS:
            raise SimFailure(E.EINVAL, f"{fragment.node.path}: instance-create/remove only under /instances")
    else:
        raise SimFailure(E.EINVAL, f"{fragment.node.path}: unknown target-path {target!r}")
    return target, scope_of(target), overlay


def _apply_fragment(state: SimState, fragment: Fragment, applied: list[Operation]) -> None:
    target, scope, overlay = _targeted(state, fragment)
    for op in POOL_ORDER if scope == "pool" else INSTANCE_ORDER:
        node = overlay.child(op)
        if node is None:
            continue
        executor = EXECUTORS[(scope, op)]
        if op == "instance-create":
            arg_list = [_create_args(node)]
        elif op == "instance-remove":
            arg_list = [{"name": _name(node)}]
        else:
            arg_list = [_item_args(scope, op, item) for item in _items(node, op.split("-")[0])]
        for args in arg_list:
            done = executor(state, target, args)
            applied.append(Operation(target, op, done))
            if scope == "instance":
                instance = state.instance_by_name(target.removeprefix("/instances/"))
                if instance is not None and instance.status == "active":
                    state.log.append(f"{target}: {op} delivered to the running instance and acknowledged")


def apply_overlay(state: SimState, tree: Tree, blob: bytes) -> TxRecord:
    """Run an overlay; the returned record (also appended to ``state``) is ``applied`` or
    ``failed`` with the kernel's log line in ``error``."""
    state.last_tx += 1
    instance, resources = transaction_labels(tree)
    tx = TxRecord(state.last_tx, "pending", instance, resources, blob.hex())
    try:
        for fragment in fragments(tree):
            _apply_fragment(state, fragment, tx.applied)
        tx.status = "applied"
    except SimFailure as failure:
        tx.status = "failed"
        tx.error = f"{failure.message} (errno {failure.errno})"
        state.log.append(f"overlay tx_{tx.id}: {failure.message}")
    state.transactions.append(tx)
    return tx


def rollback(state: SimState, tx: TxRecord) -> None:
    """Replay the inverse of every operation of ``tx``'s blob, as ``rmdir`` does. On the
    first failure the record stays, ``failed``, and the SimFailure propagates; nothing
    remembers how far it got, so a retry starts again from the last fragment."""
    from kerf.dts import from_dtb

    tree = from_dtb(tx.dtbo, f"overlays/tx_{tx.id}/dtbo")  # it parsed when it was written
    try:
        for fragment in reversed(fragments(tree)):
            _roll_back_fragment(state, tx, fragment)
    except SimFailure:
        tx.status = "failed"
        raise
    state.transactions.remove(tx)


def _roll_back_fragment(state: SimState, tx: TxRecord, fragment: Fragment) -> None:
    """The inverses of one fragment's operations, in the reverse of the run order."""
    try:
        target, scope, overlay = _targeted(state, fragment)
    except SimFailure as failure:
        state.log.append(f"rollback tx_{tx.id}: {fragment.node.name}: {failure.message}")
        raise
    for op in reversed(POOL_ORDER if scope == "pool" else INSTANCE_ORDER):
        node = overlay.child(op)
        if node is None:
            continue
        inverse = INVERSE[(scope, op)]
        if inverse is None:
            state.log.append(f"rollback tx_{tx.id}: {target} {op} cannot be undone exactly; left as is")
            continue
        name, executor = inverse
        try:
            for args in _inverse_args(state, scope, op, node):
                executor(state, target, args)
        except SimFailure as failure:
            state.log.append(f"rollback tx_{tx.id}: {name} on {target} failed: {failure.message}")
            raise


def _inverse_args(state: SimState, scope: str, op: str, node: Node) -> list[dict[str, Any]]:
    """Executor arguments of the inverse of ``op``, for each of its items in blob order,
    built from the blob alone (the kernel keeps nothing else)."""
    if op == "instance-create":
        return [{"name": _name(node)}]
    found = []
    for item in _items(node, op.split("-")[0]):
        args = _item_args(scope, op, item)
        if scope == "pool" and op == "memory-remove":
            # Regrown by size, at a base the allocator picks: on the node the item names,
            # else on the node whose memory held the removed chunk.
            wanted = node_id(item)
            if wanted is None:
                wanted = next(
                    (r.node for r in state.machine.memory if r.base <= args["base"] < r.base + r.size), None
                )
            args = {"size": args["size"], "node": wanted}
        found.append(args)
    return found
