"""Variables and hard constraints of the placement model (one ``add_*`` per family).

Decision variables, all keyed by tuples of ints (demand index, class index, node id):

``admit[d]``          demand d is placed (fixed to 0 when blocked, 1 when movable)
``pieces[d, k, t]``   how many cores of class k give exactly t threads to demand d
``cpus[d, n]``        CPUs of d on NUMA node n (Σ t·pieces, or the pinned count)
``used[d, n]``        d has at least one CPU on node n
``mem[d, n]``         pages of d's memory on node n
``mem_used[d, n]``    d has memory on node n
``pairs[k]``          cores of class k holding pieces of two demands of this plan

Sharing inside one plan: a piece larger than half a core (or any piece of an
exclusive demand) gets a core of its own; smaller pieces of *different* demands may
pair up on one core. ``realize`` turns the counts into cores with exactly that rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from planner.cpsat.spec import CoreClass, Demand, ModelSpec
from planner.policy import CpuAffinity

Var = cp_model.IntVar

RESOURCES = ("cpus", "memory", "devices")


@dataclass
class Vars:
    """The model's variables (see the module docstring)."""

    admit: dict[int, Var] = field(default_factory=dict)
    pieces: dict[tuple[int, int, int], Var] = field(default_factory=dict)
    cpus: dict[tuple[int, int], Var] = field(default_factory=dict)
    used: dict[tuple[int, int], Var] = field(default_factory=dict)
    mem: dict[tuple[int, int], Var] = field(default_factory=dict)
    mem_used: dict[tuple[int, int], Var] = field(default_factory=dict)
    pairs: dict[int, Var] = field(default_factory=dict)
    pin_shared: dict[tuple[int, int], Var] = field(default_factory=dict)

    def pieces_of(self, d: int) -> list[tuple[int, int, Var]]:
        """(class, threads, variable) of one demand."""
        return [(k, t, var) for (dd, k, t), var in self.pieces.items() if dd == d]


def build_model(spec: ModelSpec, *, relax: Iterable[str] = ()) -> tuple[cp_model.CpModel, Vars]:
    """The model of ``spec`` with every hard constraint. ``relax`` drops the capacity
    rules of the named resources ("cpus", "memory", "devices"), which explanations use
    to find the resource that runs out."""
    relaxed = frozenset(relax)
    model = cp_model.CpModel()
    v = Vars()
    add_admission(model, spec, v)
    add_pieces(model, spec, v)
    add_cpu_counts(model, spec, v)
    if "cpus" not in relaxed:
        add_core_capacity(model, spec, v)
        add_pin_conflicts(model, spec, v)
    add_memory(model, spec, v, capacity="memory" not in relaxed)
    if "devices" not in relaxed:
        add_devices(model, spec, v)
    add_symmetry(model, spec, v)
    return model, v


def add_admission(model: cp_model.CpModel, spec: ModelSpec, v: Vars) -> None:
    """One admission literal per demand; blocked demands stay out, movable ones in."""
    for d in spec.demands:
        a = model.new_bool_var(f"admit[{d.name}]")
        if d.blocked is not None:
            model.add(a == 0)
        elif d.movable:
            model.add(a == 1)
        v.admit[d.index] = a


def allowed_classes(spec: ModelSpec, d: Demand) -> list[CoreClass]:
    """Classes whose cores demand ``d`` may take."""
    if d.pinned or d.blocked is not None:
        return []
    nodes = d.intent.cpu_nodes
    return [k for k in spec.classes if (nodes is None or k.node in nodes) and not (d.exclusive and k.shared)]


def add_pieces(model: cp_model.CpModel, spec: ModelSpec, v: Vars) -> None:
    """``pieces[d, k, t]``: cores of class k giving t threads to d."""
    for d in spec.demands:
        for k in allowed_classes(spec, d):
            for t in range(1, min(k.free, d.size) + 1):
                v.pieces[d.index, k.index, t] = model.new_int_var(
                    0, min(k.count, d.size // t), f"pieces[{d.name},{k.index},{t}]"
                )


def usable_cpus(spec: ModelSpec, d: Demand, node: int) -> int:
    """CPUs of ``node`` that demand ``d`` could take on its own."""
    if d.pinned:
        return d.pinned_per_node.get(node, 0)
    return sum(k.count * min(k.free, d.size) for k in allowed_classes(spec, d) if k.node == node)


def add_cpu_counts(model: cp_model.CpModel, spec: ModelSpec, v: Vars) -> None:
    """CPUs per node, the "used" flags, the size, and local affinity's single node."""
    for d in spec.demands:
        a = v.admit[d.index]
        per_node: dict[int, list[tuple[int, Var]]] = {}
        for (dd, k, t), var in v.pieces.items():
            if dd == d.index:
                per_node.setdefault(spec.classes[k].node, []).append((t, var))
        for n in spec.layout.cpu_nodes:
            cap = min(d.size, usable_cpus(spec, d, n))
            c = model.new_int_var(0, cap, f"cpus[{d.name},{n}]")
            u = model.new_bool_var(f"used[{d.name},{n}]")
            if d.pinned:
                model.add(c == d.pinned_per_node.get(n, 0) * a)
                model.add(u == (a if d.pinned_per_node.get(n, 0) else 0))
            else:
                terms = per_node.get(n, [])
                model.add(c == sum(t * var for t, var in terms))
                model.add(c <= cap * u)
                model.add(c >= u)
            v.cpus[d.index, n] = c
            v.used[d.index, n] = u
        nodes = spec.layout.cpu_nodes
        model.add(sum(v.cpus[d.index, n] for n in nodes) == d.size * a)
        if d.pinned:
            continue
        if d.intent.affinity is CpuAffinity.LOCAL:
            model.add(sum(v.used[d.index, n] for n in nodes) == a)
        else:
            # redundant cuts (they tighten the LP bound): the nodes used must be able to
            # hold the request, and there are at least as many as the fewest that could
            caps = {n: min(d.size, usable_cpus(spec, d, n)) for n in nodes}
            model.add(sum(caps[n] * v.used[d.index, n] for n in nodes) >= d.size * a)
            model.add(sum(v.used[d.index, n] for n in nodes) >= fewest_holding(caps.values(), d.size) * a)


def fewest_holding(capacities: Iterable[int], size: int) -> int:
    """How many of the largest capacities it takes to reach ``size`` (all of them when
    even that is not enough)."""
    total, count = 0, 0
    for cap in sorted(capacities, reverse=True):
        if total >= size or cap <= 0:
            break
        total += cap
        count += 1
    return count


def is_big(k: CoreClass, d: Demand, t: int) -> bool:
    """A piece that needs a core of its own (see the module docstring)."""
    return d.exclusive or 2 * t > k.free


def add_core_capacity(model: cp_model.CpModel, spec: ModelSpec, v: Vars) -> None:
    """Pieces fit the cores of their class, with at most two demands per core."""
    by_class: dict[int, list[tuple[Demand, int, Var]]] = {}
    for (d_index, k_index, t), var in v.pieces.items():
        by_class.setdefault(k_index, []).append((spec.demands[d_index], t, var))
    for k_index, entries in by_class.items():
        k = spec.classes[k_index]
        users = {d.index for d, _, _ in entries}
        if len(users) == 1:
            model.add(sum(var for _, _, var in entries) <= k.count)
            continue
        big = [var for d, t, var in entries if is_big(k, d, t)]
        small: dict[int, list[Var]] = {}
        for d, t, var in entries:
            if not is_big(k, d, t):
                small.setdefault(d.index, []).append(var)
        model.add(sum(big) <= k.count)
        for vars_of_d in small.values():
            model.add(sum(big) + sum(vars_of_d) <= k.count)
        if len(small) >= 2:
            all_small = [var for vs in small.values() for var in vs]
            model.add(2 * sum(big) + sum(all_small) <= 2 * k.count)
            p = model.new_int_var(0, k.count, f"pairs[{k.index}]")
            model.add(p >= sum(big) + sum(all_small) - k.count)
            v.pairs[k.index] = p


def add_pin_conflicts(model: cp_model.CpModel, spec: ModelSpec, v: Vars) -> None:
    """Pinned demands: one owner per CPU; sharing a core between two of them; the
    cores they pin are for other demands only when they are left out."""
    reserved = {k.index: k for k in spec.classes if k.pinned_by}
    takers: dict[int, list[Var]] = {}
    for (_, k_index, _), var in v.pieces.items():
        if k_index in reserved:
            takers.setdefault(k_index, []).append(var)
    for k_index, vars_in_k in takers.items():
        k = reserved[k_index]
        for p in k.pinned_by:
            model.add(sum(vars_in_k) <= k.count * (1 - v.admit[p]))
    owners: dict[int, list[Demand]] = {}
    core_users: dict[int, list[Demand]] = {}
    for d in spec.demands:
        if d.pinned and d.blocked is None:
            for cpu in d.intent.pinned or ():
                owners.setdefault(cpu, []).append(d)
            for core in d.pinned_cores:
                core_users.setdefault(core, []).append(d)
    for demands in owners.values():
        if len(demands) > 1:
            model.add_at_most_one(v.admit[d.index] for d in demands)
    for core, demands in core_users.items():
        if len(demands) < 2:
            continue
        for d in demands:
            others = [e for e in demands if e.index != d.index]
            if d.exclusive or any(e.exclusive for e in others):
                for e in others:
                    model.add(v.admit[d.index] + v.admit[e.index] <= 1)
            s = model.new_bool_var(f"pin_shared[{d.name},{core}]")
            for e in others:
                model.add(s >= v.admit[d.index] + v.admit[e.index] - 1)
            v.pin_shared[d.index, core] = s


def memory_nodes_of(spec: ModelSpec, d: Demand) -> list[int]:
    """Nodes that may hold demand ``d``'s memory."""
    if d.intent.memory_nodes is not None:
        return sorted(d.intent.memory_nodes)
    nodes = d.intent.cpu_nodes
    return [n for n in spec.layout.cpu_nodes if nodes is None or n in nodes]


def add_memory(model: cp_model.CpModel, spec: ModelSpec, v: Vars, *, capacity: bool = True) -> None:
    """Pages per (demand, node), node capacity, and the memory policies."""
    for d in spec.demands:
        a = v.admit[d.index]
        p_total = d.pages if d.blocked is None else 0
        nodes = memory_nodes_of(spec, d)
        for n in nodes:
            cap = p_total if not capacity else min(p_total, spec.memory_free.get(n, 0))
            m = model.new_int_var(0, cap, f"mem[{d.name},{n}]")
            mu = model.new_bool_var(f"mem_used[{d.name},{n}]")
            model.add(m <= cap * mu)
            model.add(m >= mu)
            v.mem[d.index, n] = m
            v.mem_used[d.index, n] = mu
        model.add(sum(v.mem[d.index, n] for n in nodes) == p_total * a)
        if d.blocked is None:
            _add_memory_policy(model, spec, v, d, nodes)
    if capacity:
        for n, free in spec.memory_free.items():
            on_node = [var for (_, m), var in v.mem.items() if m == n]
            if on_node:
                model.add(sum(on_node) <= free)


def _add_memory_policy(
    model: cp_model.CpModel, spec: ModelSpec, v: Vars, d: Demand, nodes: list[int]
) -> None:
    a = v.admit[d.index]
    size, total = d.size, d.pages
    intent = d.intent
    if intent.affinity is CpuAffinity.LOCAL:
        # memory on the CPUs' single node
        for n in nodes:
            used = v.used.get((d.index, n))
            if used is None:
                model.add(v.mem_used[d.index, n] == 0)
            else:
                model.add(v.mem_used[d.index, n] <= used)
    if intent.memory_nodes is None and not intent.even_memory:
        # local: in proportion to the CPUs on each node, within one page
        for n in nodes:
            expr = size * v.mem[d.index, n] - total * v.cpus[d.index, n]
            model.add(expr <= size - 1)
            model.add(expr >= -(size - 1))
            if total >= size:
                # then every CPU node gets at least one page: the flags coincide
                model.add(v.mem_used[d.index, n] == v.used[d.index, n])
    elif intent.memory_nodes is not None and intent.even_memory:
        low, high = total // len(nodes), -(-total // len(nodes))
        for n in nodes:
            model.add(v.mem[d.index, n] >= low * a)
            model.add(v.mem[d.index, n] <= high * a)
    elif intent.even_memory:
        # interleave over the instance's own nodes: evenly over however many it uses
        for n in nodes:
            model.add(v.mem_used[d.index, n] <= v.used[d.index, n])
            model.add(v.mem_used[d.index, n] >= v.used[d.index, n])
        most = min(size, len(spec.layout.cpu_nodes))
        count = {j: model.new_bool_var(f"node_count[{d.name},{j}]") for j in range(1, most + 1)}
        model.add(sum(count.values()) == a)
        nodes_used = sum(v.used[d.index, n] for n in spec.layout.cpu_nodes)
        model.add(nodes_used == sum(j * b for j, b in count.items()))
        for j, b in count.items():
            low, high = total // j, -(-total // j)
            for n in nodes:
                model.add(v.mem[d.index, n] >= low).only_enforce_if(b, v.used[d.index, n])
                model.add(v.mem[d.index, n] <= high).only_enforce_if(b)


def add_devices(model: cp_model.CpModel, spec: ModelSpec, v: Vars) -> None:
    """Each unit to one demand; "any unit" demands within the device's free units."""
    unit_takers: dict[str, list[int]] = {}
    any_takers: dict[str, list[int]] = {}
    for d in spec.demands:
        if d.blocked is not None:
            continue
        for dev in d.devices:
            if dev.unit is not None:
                unit_takers.setdefault(dev.unit, []).append(d.index)
            else:
                any_takers.setdefault(dev.device, []).append(d.index)
    unit_device = {u.label: u.device for u in spec.host.unit_by_label.values()}
    for takers in unit_takers.values():
        if len(takers) > 1:
            model.add_at_most_one(v.admit[d] for d in takers)
    for device, takers in any_takers.items():
        named = [sum(v.admit[d] for d in ts) for u, ts in unit_takers.items() if unit_device[u] == device]
        model.add(sum(v.admit[d] for d in takers) + sum(named) <= len(spec.device_free.get(device, ())))


def add_symmetry(model: cp_model.CpModel, spec: ModelSpec, v: Vars) -> None:
    """Of two identical demands, the earlier one is admitted first."""
    for d in spec.demands:
        if d.symmetric_to is not None:
            model.add(v.admit[d.index] <= v.admit[d.symmetric_to])
