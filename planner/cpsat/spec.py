"""The model's input in plain Python: the host seen as core classes, and demands.

Cores are aggregated into *classes* of interchangeable cores: same core group (so same
NUMA node, socket and L3), same number of threads, same number of free threads, same
"another instance sits here" flag (and, when rebalancing, the same former owner). For
every tier of the objective such cores are equivalent, so the model decides *how many*
cores of a class give *t* threads to a request instead of deciding core by core; the
concrete cores are picked afterwards, lowest ids first (``realize``). On a 512-CPU host
this turns tens of thousands of booleans into a few hundred integers.

A *demand* is a request resolved against the host (policies, pinned CPUs, devices,
the per-request constants of the objective) plus the reason it cannot be admitted at
all, when that is already clear before solving. A demand that re-places an existing
instance (rebalance, update) carries that instance's ``previous`` placement: its cores
form classes of their own (by how many threads it held there, and the boot CPU's core
alone) so that the model can count what it keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from planner.errors import RequestError
from planner.hardware import PAGE_SIZE, Host, Instance
from planner.memory import free_bytes
from planner.objective import Before, Intent, instance_pages_per_node, resolve
from planner.occupancy import Occupancy
from planner.policy import CoreSharing, CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest


@dataclass(frozen=True)
class CoreGroup:
    """Cores sharing a NUMA node, a socket and an L3 cache; ``rank`` is the canonical
    position (node, socket, cache, lowest core id) and the group's id."""

    rank: int
    node: int
    socket: int
    l3: int | None
    cores: tuple[int, ...]


@dataclass(frozen=True)
class Layout:
    """The plain view of the topology that the model reads (built by planner.topology)."""

    groups: tuple[CoreGroup, ...]
    group_of_core: Mapping[int, int]
    cpu_nodes: tuple[int, ...]
    memory_nodes: tuple[int, ...]
    distances: Mapping[tuple[int, int], int]
    device_node: Mapping[str, int | None]

    def distance(self, a: int, b: int) -> int:
        """SLIT distance between two nodes."""
        return self.distances[(a, b)]


@dataclass(frozen=True)
class CoreClass:
    """Interchangeable cores: same group, thread count, free threads, sharing,
    (with rebalance) former owner, and the demands that pin CPUs of them
    (``pinned_by``: other demands may use such cores only when those are left out)."""

    index: int
    group: int
    node: int
    socket: int
    cores: tuple[int, ...]
    threads: int
    free: int
    shared: bool
    former: tuple[tuple[int, int], ...] = ()
    boot_core: int | None = None
    pinned_by: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        """Number of cores in the class."""
        return len(self.cores)

    def kept(self, demand: int, take: int) -> int:
        """CPUs a re-placed demand keeps when it takes ``take`` threads of one core here
        (realize hands every demand its own former threads first)."""
        held = dict(self.former).get(demand, 0)
        return min(held, take)


@dataclass(frozen=True)
class DeviceDemand:
    """One device unit a demand needs: a named unit, or any free unit of a device."""

    device: str
    unit: str | None
    node: int | None


@dataclass(frozen=True)
class Demand:
    """A request resolved for the model.

    ``previous``: the placement of the instance the demand re-places (rebalance,
    update), with ``previous_pages`` per node and ``kept_units``, the units of it the
    demand keeps when admitted; ``movable``: an existing instance that rebalance must
    keep admitted (an update may be left out: the instance then stays as it is).
    """

    index: int
    intent: Intent
    devices: tuple[DeviceDemand, ...]
    fewest_nodes: int
    most_nodes: int
    blocked: str | None = None
    movable: bool = False
    previous: Instance | None = None
    previous_pages: Mapping[int, int] = field(default_factory=dict)
    kept_units: int = 0
    pinned_per_node: Mapping[int, int] = field(default_factory=dict)
    pinned_cores: tuple[int, ...] = ()
    symmetric_to: int | None = None

    @property
    def name(self) -> str:
        """Request name."""
        return self.intent.name

    @property
    def size(self) -> int:
        """CPUs wanted."""
        return self.intent.size

    @property
    def pages(self) -> int:
        """Memory pages wanted."""
        return self.intent.pages

    @property
    def pinned(self) -> bool:
        """True when the CPUs are given, not chosen."""
        return self.intent.pinned is not None

    @property
    def exclusive(self) -> bool:
        """True when no other instance may share its cores."""
        return self.intent.request.exclusive_cores

    @property
    def boot_cpu(self) -> int | None:
        """The boot CPU of the previous placement (re-placed demands only)."""
        if self.previous is None or not self.previous.cpus:
            return None
        return self.previous.cpus[0]


@dataclass(frozen=True)
class ModelSpec:
    """Everything the model needs, in plain data."""

    host: Host
    layout: Layout
    fixed: tuple[Instance, ...]
    classes: tuple[CoreClass, ...]
    demands: tuple[Demand, ...]
    memory_free: Mapping[int, int]
    free_cpus: Mapping[int, int]
    free_nodes: frozenset[int]
    free_groups: Mapping[int, int]
    device_free: Mapping[str, tuple[str, ...]]
    admission_only: bool = False
    core_sharing: CoreSharing = CoreSharing.AVOID


def build_spec(
    host: Host,
    layout: Layout,
    fixed: Sequence[Instance],
    requests: Sequence[InstanceRequest],
    *,
    movable: Sequence[Instance] = (),
    previous: Mapping[str, Instance] | None = None,
    admission_only: bool = False,
    core_sharing: CoreSharing = CoreSharing.AVOID,
) -> ModelSpec:
    """Resolve ``requests`` (and, with rebalance, the ``movable`` instances) on ``host``
    with the ``fixed`` instances in place. ``previous`` maps the names of requests that
    re-place an existing instance (an update) to its current placement, which is in
    neither ``fixed`` nor ``movable``. Raises RequestError for bad requests."""
    _check_names(fixed, movable, requests)
    previous = previous or {}
    before = Before.of(host, fixed)
    occ = before.occupancy
    demands: list[Demand] = []
    for inst in movable:
        demands.append(_movable_demand(host, layout, before, fixed, len(demands), inst))
    for request in requests:
        try:
            intent = resolve(host, request)
            demand = _demand(host, layout, before, fixed, len(demands), intent, previous.get(request.name))
        except RequestError as err:
            err.request = err.request or request.name
            raise
        demands.append(demand)
    demands = _mark_symmetry(demands)

    pages_free = {n: b // PAGE_SIZE for n, b in free_bytes(host, fixed).items()}
    total_free_pages = sum(pages_free.values())
    total_free_cpus = sum(1 for c in occ.free_cpus if host.cpu_by_id[c].core in layout.group_of_core)
    demands = [_with_capacity_block(d, total_free_cpus, total_free_pages) for d in demands]
    unit_free: dict[str, list[str]] = {}
    for unit in occ.free_units:
        unit_free.setdefault(unit.device, []).append(unit.label)
    demands = [_with_device_block(d, occ, unit_free) for d in demands]
    demands = [_with_kept_units(d, demands, unit_free) for d in demands]
    # after the blocks: a pinned request that cannot be placed reserves no core
    classes = _core_classes(host, layout, fixed, demands, occ)
    free_groups = {g: before.group_size[g] for g in before.free_groups}
    return ModelSpec(
        host=host,
        layout=layout,
        fixed=tuple(fixed),
        classes=tuple(classes),
        demands=tuple(demands),
        memory_free=pages_free,
        free_cpus=dict(before.free_per_node),
        free_nodes=before.free_nodes,
        free_groups=free_groups,
        device_free={d: tuple(units) for d, units in unit_free.items()},
        admission_only=admission_only,
        core_sharing=core_sharing,
    )


# --- demands ----------------------------------------------------------------------------


def _check_names(
    fixed: Sequence[Instance], movable: Sequence[Instance], requests: Sequence[InstanceRequest]
) -> None:
    existing = {inst.name for inst in (*fixed, *movable)}
    seen: set[str] = set()
    for request in requests:
        if request.name in existing:
            raise RequestError(
                f"instance {request.name} already exists on the host",
                hint="choose another name, or delete the existing instance first",
                request=request.name,
            )
        if request.name in seen:
            raise RequestError(
                f"two requests are named {request.name}",
                hint="instance names must be unique",
                request=request.name,
            )
        seen.add(request.name)
    ids = {inst.id for inst in (*fixed, *movable) if inst.id is not None}
    asked: dict[int, str] = {}
    for request in requests:
        if request.id is None:
            continue
        if request.id in ids:
            raise RequestError(
                f"instance {request.name}: id {request.id} is already in use", request=request.name
            )
        if request.id in asked:
            raise RequestError(
                f"requests {asked[request.id]} and {request.name} both ask for id {request.id}",
                hint="instance ids must be unique; leave id out to let the kernel choose",
                request=request.name,
            )
        asked[request.id] = request.name


def _demand(
    host: Host,
    layout: Layout,
    before: Before,
    fixed: Sequence[Instance],
    index: int,
    intent: Intent,
    previous: Instance | None,
    *,
    movable: bool = False,
) -> Demand:
    request = intent.request
    devices = resolve_devices(host, layout, request.name, request.devices)
    pinned_per_node: dict[int, int] = {}
    pinned_cores: list[int] = []
    blocked = None
    if intent.pinned is not None:
        for cpu in intent.pinned:
            node = host.cpu_by_id[cpu].numa_node
            assert node is not None  # resolve() refuses CPUs outside every node
            pinned_per_node[node] = pinned_per_node.get(node, 0) + 1
            core = host.cpu_by_id[cpu].core
            if core not in pinned_cores:
                pinned_cores.append(core)
        exclusive = {inst.name for inst in fixed if inst.exclusive_cores}
        blocked = _pin_conflict(host, before.occupancy, exclusive, intent)
    return Demand(
        index=index,
        intent=intent,
        devices=devices,
        fewest_nodes=before.fewest_nodes(intent.size),
        most_nodes=before.most_nodes(intent),
        blocked=blocked,
        movable=movable,
        previous=previous,
        previous_pages=instance_pages_per_node(host, previous) if previous is not None else {},
        pinned_per_node=pinned_per_node,
        pinned_cores=tuple(sorted(pinned_cores)),
    )


def _movable_demand(
    host: Host, layout: Layout, before: Before, fixed: Sequence[Instance], index: int, inst: Instance
) -> Demand:
    """An existing instance that rebalance may move: a request for what it holds now."""
    request = InstanceRequest(
        name=inst.name,
        memory_bytes=max(inst.memory_bytes, PAGE_SIZE),
        cpu_count=len(inst.cpus),
        numa_nodes=inst.numa_nodes,
        cpu_affinity=inst.cpu_affinity or CpuAffinity.COMPACT,
        memory_policy=inst.memory_policy or MemoryPolicy.LOCAL,
        devices=tuple(DeviceWant.parse(d) for d in inst.devices),
        exclusive_cores=inst.exclusive_cores,
        id=inst.id,
    )
    try:
        intent = resolve(host, request)
    except RequestError as err:
        raise RequestError(
            f"cannot rebalance existing instance {inst.name}: {err.message}",
            hint="fix the instance's policies in the host description, or plan without rebalance",
        ) from err
    return _demand(host, layout, before, fixed, index, intent, inst, movable=True)


def _pin_conflict(host: Host, occ: Occupancy, exclusive: set[str], intent: Intent) -> str | None:
    pinned = intent.pinned or ()
    held = [c for c in pinned if c in occ.cpu_owner]
    if held:
        owners = sorted({occ.cpu_owner[c] for c in held})
        return f"pinned CPU(s) {_ints(held)} are held by {', '.join(owners)}"
    for cpu in pinned:
        core = host.core_by_id[host.cpu_by_id[cpu].core]
        keepers = sorted(occ.core_owners(core) & exclusive)
        if keepers:
            return f"the core of pinned CPU {cpu} belongs to {', '.join(keepers)}, which has exclusive cores"
    if intent.request.exclusive_cores:
        for cpu in pinned:
            core = host.core_by_id[host.cpu_by_id[cpu].core]
            others = sorted(occ.core_owners(core))
            if others:
                return f"exclusive-cores: the core of CPU {cpu} is shared with {', '.join(others)}"
    return None


def resolve_devices(
    host: Host, layout: Layout, name: str, wants: Iterable[DeviceWant]
) -> tuple[DeviceDemand, ...]:
    """Turn device references into units or "any unit of" demands; RequestError when a
    reference names nothing on the host."""
    result: list[DeviceDemand] = []
    for want in wants:
        device = host.device_by_name.get(want.device)
        if want.kind in ("any-vf", "any-ns"):
            kind = "sriov" if want.kind == "any-vf" else "nvme"
            if device is None or device.kind != kind:
                raise RequestError(
                    f"instance {name}: {want.text} asks for any "
                    f"{'VF' if kind == 'sriov' else 'namespace'} of {want.device}, "
                    + ("which does not exist" if device is None else "which is not divided that way"),
                    hint=_device_hint(host),
                )
            result.append(DeviceDemand(device.name, None, layout.device_node.get(device.name)))
            continue
        unit = host.unit_by_label.get(want.text)
        if unit is None:
            raise RequestError(_unknown_device(host, name, want.text), hint=_device_hint(host))
        if any(d.unit == unit.label for d in result):
            raise RequestError(f"instance {name}: device {unit.label} is listed twice")
        result.append(DeviceDemand(unit.device, unit.label, layout.device_node.get(unit.device)))
    return tuple(result)


def _unknown_device(host: Host, name: str, text: str) -> str:
    device = host.device_by_name.get(text)
    if device is not None and device.kind == "sriov":
        return f"instance {name}: {text} is shared out as VFs; ask for {text}_vfN or {text}_vf*"
    if device is not None and device.kind == "nvme":
        return f"instance {name}: {text} is shared out as namespaces; ask for {text}_nsN or {text}_ns*"
    for dev in host.devices:
        if text.startswith(dev.name + "_"):
            units = [u.label for u in dev.units()]
            return (
                f"instance {name}: {text} is not an available unit of {dev.name} "
                f"(available: {', '.join(units) or 'none'})"
            )
    return f"instance {name}: unknown device {text}"


def _device_hint(host: Host) -> str:
    labels = sorted(host.unit_by_label)
    shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
    return f"devices of this host: {shown}" if labels else "this host has no assignable devices"


def _with_capacity_block(demand: Demand, free_cpus: int, free_pages: int) -> Demand:
    if demand.blocked is not None or demand.movable:
        return demand
    if demand.pinned:
        return demand
    if demand.size > free_cpus:
        reason = f"needs {demand.size} CPUs; {free_cpus} are free in the pool"
        return replace(demand, blocked=reason)
    if demand.pages > free_pages:
        need, free = format_size(demand.pages * PAGE_SIZE), format_size(free_pages * PAGE_SIZE)
        reason = f"needs {need} of memory; {free} are free in the pool"
        return replace(demand, blocked=reason)
    return demand


def _with_device_block(demand: Demand, occ: Occupancy, unit_free: Mapping[str, list[str]]) -> Demand:
    if demand.blocked is not None or demand.movable:
        return demand
    for dev in demand.devices:
        if dev.unit is not None and dev.unit in occ.unit_owner:
            return replace(demand, blocked=f"device {dev.unit} is held by {occ.unit_owner[dev.unit]}")
    wanted: dict[str, int] = {}
    for dev in demand.devices:
        wanted[dev.device] = wanted.get(dev.device, 0) + 1
    for device, count in sorted(wanted.items()):
        free = len(unit_free.get(device, ()))
        if count > free:
            return replace(demand, blocked=f"wants {count} unit(s) of {device}; {free} are free")
    return demand


def _with_kept_units(demand: Demand, demands: Sequence[Demand], unit_free: Mapping[str, list[str]]) -> Demand:
    """How many units of its previous placement a re-placed demand keeps when admitted:
    the units it names, and for each "any unit of X" want one of its former units of X
    that is free and named by no other demand (realize hands those out first)."""
    if demand.previous is None or demand.blocked is not None:
        return demand
    held = set(demand.previous.devices)
    named_here = {dev.unit for dev in demand.devices if dev.unit is not None}
    named_elsewhere = {
        dev.unit for d in demands if d.index != demand.index for dev in d.devices if dev.unit is not None
    }
    kept = len(held & named_here)
    wanted: dict[str, int] = {}
    for dev in demand.devices:
        if dev.unit is None:
            wanted[dev.device] = wanted.get(dev.device, 0) + 1
    for device, count in wanted.items():
        spare = [u for u in unit_free.get(device, ()) if u in held and u not in named_here | named_elsewhere]
        kept += min(count, len(spare))
    return replace(demand, kept_units=kept)


def _shape(d: Demand) -> tuple[object, ...] | None:
    if d.pinned or d.previous is not None or d.blocked is not None:
        return None
    if any(dev.unit is not None for dev in d.devices):
        return None
    i = d.intent
    return (
        i.size,
        i.pages,
        i.affinity,
        i.policy,
        d.exclusive,
        i.preferred,
        i.spread_target,
        i.cpu_nodes,
        i.memory_nodes,
        i.even_memory,
        tuple(dev.device for dev in d.devices),
    )


def _mark_symmetry(demands: list[Demand]) -> list[Demand]:
    """Identical demands are interchangeable: the model admits earlier ones first."""
    last: dict[tuple[object, ...], int] = {}
    result = []
    for d in demands:
        shape = _shape(d)
        if shape is not None and shape in last:
            d = replace(d, symmetric_to=last[shape])
        if shape is not None:
            last[shape] = d.index
        result.append(d)
    return result


# --- core classes ---------------------------------------------------------------------------


def _core_classes(
    host: Host, layout: Layout, fixed: Sequence[Instance], demands: Sequence[Demand], occ: Occupancy
) -> list[CoreClass]:
    exclusive_owners = {inst.name for inst in fixed if inst.exclusive_cores}
    pinners: dict[int, list[int]] = {}
    for d in demands:
        if d.blocked is None:
            for core_id in d.pinned_cores:
                pinners.setdefault(core_id, []).append(d.index)
    former_of: dict[int, int] = {}
    boot_cores: set[int] = set()
    for d in demands:
        if d.previous is not None:
            for cpu in d.previous.cpus:
                if cpu in occ.free_cpus:
                    former_of[cpu] = d.index
            if d.boot_cpu is not None and d.boot_cpu in occ.free_cpus:
                # the boot CPU's core is a class of its own: the model sees whether it stays
                boot_cores.add(host.cpu_by_id[d.boot_cpu].core)
    group_by_rank = {g.rank: g for g in layout.groups}
    buckets: dict[_ClassKey, list[int]] = {}
    for core in host.cores:
        rank = layout.group_of_core.get(core.id)
        if rank is None:
            continue
        owners = occ.core_owners(core)
        if owners & exclusive_owners:
            continue
        free = len(occ.free_threads(core))
        if free == 0:
            continue
        held: dict[int, int] = {}
        for cpu in core.cpus:
            if cpu in former_of:
                held[former_of[cpu]] = held.get(former_of[cpu], 0) + 1
        alone = core.id if core.id in boot_cores else -1
        # pinned cores belong to their request alone when it is admitted (never shared
        # inside one plan); a class of their own lets the model free them otherwise
        pinned_by = tuple(pinners.get(core.id, ()))
        former = tuple(sorted(held.items()))
        key = _ClassKey(rank, -free, len(core.cpus), bool(owners), former, alone, pinned_by)
        buckets.setdefault(key, []).append(core.id)
    classes: list[CoreClass] = []
    for key in sorted(buckets, key=lambda k: (k, min(buckets[k]))):
        group = group_by_rank[key.group]
        classes.append(
            CoreClass(
                index=len(classes),
                group=group.rank,
                node=group.node,
                socket=group.socket,
                cores=tuple(sorted(buckets[key])),
                threads=key.threads,
                free=-key.free_desc,
                shared=key.shared,
                former=key.former,
                boot_core=None if key.alone < 0 else key.alone,
                pinned_by=key.pinned_by,
            )
        )
    return classes


@dataclass(frozen=True, order=True)
class _ClassKey:
    group: int
    free_desc: int
    threads: int
    shared: bool
    former: tuple[tuple[int, int], ...]
    alone: int
    pinned_by: tuple[int, ...]


def boot_class(spec: ModelSpec, d: Demand) -> CoreClass | None:
    """The class of the core that holds ``d``'s previous boot CPU, when the model may
    give it back to ``d`` (the class then has that one core)."""
    cpu = spec.host.cpu_by_id.get(d.boot_cpu) if d.boot_cpu is not None else None
    if cpu is None:
        return None
    return next((k for k in spec.classes if k.boot_core == cpu.core), None)


def _ints(values: Iterable[int]) -> str:
    return ", ".join(str(v) for v in values)


def format_size(size: int) -> str:
    """Bytes as the largest power-of-1024 unit that keeps it readable (``16GiB``, ``1.5GiB``)."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            value = size / (1 << shift)
            text = f"{value:.2f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{size}B"
