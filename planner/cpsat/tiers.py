"""The objective's tiers (planner.objective.TIERS) as linear expressions of the model.

Each ``add_*`` function returns the tier's terms; where a tier needs a helper variable
(a "both used" flag, a maximum) it is created here. Every expression is an upper bound
of the true tier value that the solver can make exact, so minimising it, and then
fixing it at its optimum, yields the true optimum of the documented objective.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from math import gcd

from ortools.sat.python import cp_model

from planner.cpsat.model import Vars, allowed_classes, fewest_holding
from planner.cpsat.spec import Demand, ModelSpec, boot_class
from planner.objective import LOCAL, TIERS
from planner.policy import CoreSharing, CpuAffinity

Var = cp_model.IntVar

MOVED = ("moved_boot", "moved_cpus", "moved_pages", "moved_units")


@dataclass
class Tier:
    """Σ coef·var + constant, with the variables' bounds kept to bound the sum."""

    name: str
    terms: list[tuple[int, Var, int, int]] = field(default_factory=list)
    constant: int = 0
    #: every demand that may be admitted -> the least the tier grows by when it is
    #: (empty: no floor known); see :meth:`floor`
    floors: dict[int, int] = field(default_factory=dict)

    def add(self, coef: int, var: Var) -> None:
        """Add ``coef * var``."""
        if coef:
            domain = list(var.proto.domain)  # the proto's repeated field has no negative indexing
            self.terms.append((coef, var, domain[0], domain[-1]))

    def add_all(self, coef: int, variables: Iterable[Var]) -> None:
        """Add ``coef * var`` for every variable."""
        for var in variables:
            self.add(coef, var)

    @property
    def lower(self) -> int:
        """Smallest value the expression can take over the variables' domains."""
        return self.constant + sum(min(c * lo, c * hi) for c, _, lo, hi in self.terms)

    @property
    def upper(self) -> int:
        """Largest value the expression can take over the variables' domains."""
        return self.constant + sum(max(c * lo, c * hi) for c, _, lo, hi in self.terms)

    def floor(self, admitted: int) -> int:
        """A lower bound of the tier over every plan that admits ``admitted`` demands:
        whichever they are, their floors add up to at least the smallest ones'."""
        return sum(sorted(self.floors.values())[:admitted])

    def expr(self) -> cp_model.LinearExprT:
        """The linear expression."""
        if not self.terms:
            return self.constant
        return (
            cp_model.LinearExpr.weighted_sum(
                [var for _, var, _, _ in self.terms], [c for c, _, _, _ in self.terms]
            )
            + self.constant
        )

    def value(self, solver: cp_model.CpSolver) -> int:
        """The expression's value in the solver's current solution."""
        return self.constant + sum(c * int(solver.value(var)) for c, var, _, _ in self.terms)


def build_tiers(model: cp_model.CpModel, spec: ModelSpec, v: Vars) -> list[Tier]:
    """Every tier in TIERS order (only admission when ``spec.admission_only``)."""
    tiers = {name: Tier(name) for name in TIERS}
    add_unplaced(spec, v, tiers["unplaced"], tiers["unplaced_cpus"])
    if spec.admission_only:
        return [tiers["unplaced"], tiers["unplaced_cpus"]]
    for name in ("span", "smt"):
        tiers[name].floors = {d.index: 0 for d in spec.demands if d.blocked is None}
    for d in spec.demands:
        if d.blocked is not None:
            continue
        if d.previous is not None:
            add_moves(model, spec, v, d, [tiers[name] for name in MOVED])
        if not d.pinned:
            add_preference(spec, v, d, tiers["preference"])
            add_numa(model, spec, v, d, tiers["numa"], tiers["balance"])
            if d.intent.affinity is not CpuAffinity.SPREAD:
                add_span(model, spec, v, d, tiers["span"])
        add_device_locality(model, spec, v, d, tiers["device"])
        add_distance(model, spec, v, d, tiers["distance"])
    add_smt(spec, v, tiers["smt"])
    add_fragmentation(spec, v, tiers["fragmentation"])
    add_tiebreak(spec, v, tiers["tiebreak"])
    return [tiers[name] for name in TIERS]


def add_unplaced(spec: ModelSpec, v: Vars, count: Tier, cpus: Tier) -> None:
    """Requests (and their CPUs) left out."""
    for d in spec.demands:
        count.constant += 1
        count.add(-1, v.admit[d.index])
        cpus.constant += d.size
        cpus.add(-d.size, v.admit[d.index])


def add_moves(model: cp_model.CpModel, spec: ModelSpec, v: Vars, d: Demand, tiers: list[Tier]) -> None:
    """What a re-placed demand (rebalance, update) moves, as planner.objective.Moves
    counts it: its boot CPU given up; CPUs given up beyond what a smaller count forces;
    pages that leave a node beyond what a smaller size releases; units swapped.

    Each count is "held before, times admitted, minus kept": a demand left out moves
    nothing (it stays as it was).
    """
    boot, cpus, pages, units = tiers
    assert d.previous is not None
    a = v.admit[d.index]
    old = d.previous.cpus

    def when_admitted(tier: Tier, amount: int) -> None:
        if d.movable:  # always admitted: a constant keeps the tier's range small
            tier.constant += amount
        else:
            tier.add(amount, a)

    shrink = max(0, len(old) - d.size)
    if d.pinned:
        pinned = set(d.intent.pinned or ())
        when_admitted(boot, int(d.boot_cpu is not None and d.boot_cpu not in pinned))
        when_admitted(cpus, sum(1 for c in old if c not in pinned) - shrink)
    else:
        when_admitted(boot, int(d.boot_cpu is not None))
        home = boot_class(spec, d)
        when_admitted(cpus, len(old) - shrink)
        for k, t, var in v.pieces_of(d.index):
            cpus.add(-spec.classes[k].kept(d.index, t), var)
            if home is not None and k == home.index:
                boot.add(-1, var)  # one core: at most one piece, and realize keeps the boot thread
    released = max(0, sum(d.previous_pages.values()) - d.pages)
    when_admitted(pages, -released)
    for n, held in d.previous_pages.items():
        mem = v.mem.get((d.index, n))
        left = model.new_int_var(0, held, f"moved_pages[{d.name},{n}]")
        if mem is None:
            model.add(left >= held * a)
        else:
            model.add(left >= held * a - mem)
        pages.add(1, left)
    dropped = max(0, len(d.previous.devices) - len(d.devices))
    when_admitted(units, len(d.previous.devices) - d.kept_units - dropped)


def add_preference(spec: ModelSpec, v: Vars, d: Demand, tier: Tier) -> None:
    """CPUs outside the preferred nodes."""
    preferred = d.intent.preferred
    if preferred:
        tier.add_all(1, (v.cpus[d.index, n] for n in spec.layout.cpu_nodes if n not in preferred))


def add_numa(model: cp_model.CpModel, spec: ModelSpec, v: Vars, d: Demand, numa: Tier, balance: Tier) -> None:
    """compact: nodes used beyond m*; spread: target nodes missed, and the imbalance."""
    a = v.admit[d.index]
    nodes = spec.layout.cpu_nodes
    if d.intent.affinity is CpuAffinity.COMPACT:
        numa.add_all(1, (v.used[d.index, n] for n in nodes))
        numa.add(-d.fewest_nodes, a)
    elif d.intent.affinity is CpuAffinity.SPREAD:
        reached = [v.used[d.index, n] for n in nodes if n in d.intent.spread_target]
        if d.intent.spread_unit == 1:
            # one CPU per node at least, so never more nodes than k*: no clipping
            numa.add(d.most_nodes, a)
            numa.add_all(-1, reached)
            units: dict[int, cp_model.LinearExpr] = {n: v.cpus[d.index, n] for n in nodes}
        else:
            # whole cores: one thread per core may reach more nodes than k*; max(0, ·)
            missed = model.new_int_var(0, d.most_nodes, f"spread_missed[{d.name}]")
            model.add(missed >= d.most_nodes * a - sum(reached))
            numa.add(1, missed)
            per_node: dict[int, list[Var]] = {}
            for k, _, var in v.pieces_of(d.index):
                per_node.setdefault(spec.classes[k].node, []).append(var)
            units = {n: cp_model.LinearExpr.sum(per_node.get(n, [])) for n in nodes}
        hi = model.new_int_var(0, d.size, f"most_units[{d.name}]")
        lo = model.new_int_var(0, d.size, f"fewest_units[{d.name}]")
        for n in nodes:
            model.add(hi >= units[n])
            model.add(lo <= units[n] + d.size * (1 - v.used[d.index, n]))
        model.add(lo <= hi)
        balance.add(1, hi)
        balance.add(-1, lo)


def add_span(model: cp_model.CpModel, spec: ModelSpec, v: Vars, d: Demand, tier: Tier) -> None:
    """Core groups and sockets the CPUs touch."""
    in_group: dict[int, list[tuple[int, int, Var]]] = {}
    for k, t, var in v.pieces_of(d.index):
        cls = spec.classes[k]
        in_group.setdefault(cls.group, []).append((cls.count, t, var))
    socket_of = {g.rank: g.socket for g in spec.layout.groups}
    group_flags: dict[int, Var] = {}
    group_caps: dict[int, int] = {}
    for g, entries in sorted(in_group.items()):
        flag = model.new_bool_var(f"group_used[{d.name},{g}]")
        limit = min(d.size, sum(count for count, t, _ in entries if t == 1))
        model.add(sum(var for _, _, var in entries) <= limit * flag)
        group_flags[g] = flag
        group_caps[g] = min(d.size, _threads_available(spec, d, g))
        tier.add(1, flag)
    sockets: dict[int, list[int]] = {}
    for g in group_flags:
        sockets.setdefault(socket_of[g], []).append(g)
    socket_flags = {}
    for s, groups in sorted(sockets.items()):
        sock = model.new_bool_var(f"socket_used[{d.name},{s}]")
        for g in groups:
            model.add(sock >= group_flags[g])
        socket_flags[s] = sock
        tier.add(1, sock)
    a = v.admit[d.index]
    # redundant cuts: the groups / sockets used hold the request, and are at least as many
    # as the fewest that could
    model.add(sum(group_caps[g] * f for g, f in group_flags.items()) >= d.size * a)
    fewest_groups = fewest_holding(group_caps.values(), d.size)
    model.add(sum(group_flags.values()) >= fewest_groups * a)
    socket_caps = {s: min(d.size, sum(group_caps[g] for g in gs)) for s, gs in sockets.items()}
    model.add(sum(socket_caps[s] * f for s, f in socket_flags.items()) >= d.size * a)
    fewest_sockets = fewest_holding(socket_caps.values(), d.size)
    model.add(sum(socket_flags.values()) >= fewest_sockets * a)
    tier.floors[d.index] = fewest_groups + fewest_sockets


def _threads_available(spec: ModelSpec, d: Demand, group: int) -> int:
    return sum(k.count * min(k.free, d.size) for k in allowed_classes(spec, d) if k.group == group)


def add_device_locality(model: cp_model.CpModel, spec: ModelSpec, v: Vars, d: Demand, tier: Tier) -> None:
    """Wanted devices whose node holds none of the CPUs."""
    for i, dev in enumerate(d.devices):
        if dev.node is None:
            continue
        used = v.used.get((d.index, dev.node))
        if used is None:
            tier.add(1, v.admit[d.index])
            continue
        miss = model.new_bool_var(f"device_miss[{d.name},{i}]")
        model.add(miss >= v.admit[d.index] - used)
        tier.add(1, miss)


def memory_follows_cpus(d: Demand) -> bool:
    """True when the model ties d's memory flags to its CPU flags (see add_memory)."""
    i = d.intent
    return i.memory_nodes is None and (i.even_memory or i.pages >= i.size)


def add_distance(model: cp_model.CpModel, spec: ModelSpec, v: Vars, d: Demand, tier: Tier) -> None:
    """Σ (SLIT − 10) over (CPU node, memory node) pairs in use."""
    nodes = spec.layout.cpu_nodes
    if memory_follows_cpus(d):
        # memory sits exactly on the CPU nodes: one flag per unordered pair of nodes
        for i, n in enumerate(nodes):
            for m in nodes[i + 1 :]:
                cost = max(0, spec.layout.distance(n, m) - LOCAL) + max(0, spec.layout.distance(m, n) - LOCAL)
                if cost == 0:
                    continue
                both = model.new_bool_var(f"pair[{d.name},{n},{m}]")
                model.add(both >= v.used[d.index, n] + v.used[d.index, m] - 1)
                tier.add(cost, both)
        return
    memory_nodes = sorted(m for (dd, m) in v.mem_used if dd == d.index)
    for n in nodes:
        for m in memory_nodes:
            cost = max(0, spec.layout.distance(n, m) - LOCAL)
            if cost == 0:
                continue
            both = model.new_bool_var(f"pair[{d.name},{n},{m}]")
            model.add(both >= v.used[d.index, n] + v.mem_used[d.index, m] - 1)
            tier.add(cost, both)


def add_smt(spec: ModelSpec, v: Vars, tier: Tier) -> None:
    """Cores shared with another instance, plus cores held only in part (core sharing
    "pack": cores taken that were wholly free)."""
    if spec.core_sharing is CoreSharing.PACK:
        _add_whole_cores_taken(spec, v, tier)
        return
    for (_, k, t), var in v.pieces.items():
        cls = spec.classes[k]
        tier.add(int(cls.shared) + int(t < cls.threads), var)
    for d in spec.demands:
        # whole cores give multiples of g threads: a size that is not one holds a core in part
        g = gcd(*(k.threads for k in allowed_classes(spec, d)))
        if not d.pinned and d.blocked is None and g and d.size % g:
            tier.floors[d.index] = 1
    for k, pairs in v.pairs.items():
        if not spec.classes[k].shared:
            tier.add(2, pairs)
    host = spec.host
    for d in spec.demands:
        if not d.pinned or d.blocked is not None:
            continue
        mine = set(d.intent.pinned or ())
        fixed_owner = {cpu for inst in spec.fixed for cpu in inst.cpus}
        for core_id in d.pinned_cores:
            core = host.core_by_id[core_id]
            held = sum(1 for c in core.cpus if c in mine)
            constant = int(held < len(core.cpus)) + int(any(c in fixed_owner for c in core.cpus))
            tier.add(constant, v.admit[d.index])
            shared = v.pin_shared.get((d.index, core_id))
            if shared is not None and not any(c in fixed_owner for c in core.cpus):
                tier.add(1, shared)


def _add_whole_cores_taken(spec: ModelSpec, v: Vars, tier: Tier) -> None:
    for (_, k, _), var in v.pieces.items():
        cls = spec.classes[k]
        if cls.free == cls.threads:
            tier.add(1, var)
    host = spec.host
    held = {cpu for inst in spec.fixed for cpu in inst.cpus}
    for d in spec.demands:
        if not d.pinned or d.blocked is not None:
            continue
        for core_id in d.pinned_cores:
            cpus = host.core_by_id[core_id].cpus
            if all(c in host.available and c not in held for c in cpus):
                tier.add(1, v.admit[d.index])


def add_fragmentation(spec: ModelSpec, v: Vars, tier: Tier) -> None:
    """CPUs taken from NUMA nodes and core groups that were completely free."""
    for n in sorted(spec.free_nodes):
        tier.add_all(1, (v.cpus[d.index, n] for d in spec.demands if (d.index, n) in v.cpus))
    host = spec.host
    for g in sorted(spec.free_groups):
        for (_, k, t), var in v.pieces.items():
            if spec.classes[k].group == g:
                tier.add(t, var)
        for d in spec.demands:
            if d.pinned and d.blocked is None:
                cores = (host.cpu_by_id[c].core for c in d.intent.pinned or ())
                count = sum(1 for core in cores if spec.layout.group_of_core[core] == g)
                tier.add(count, v.admit[d.index])


def add_tiebreak(spec: ModelSpec, v: Vars, tier: Tier) -> None:
    """Σ of the core-group rank of every CPU: lowest groups first."""
    for (_, k, t), var in v.pieces.items():
        tier.add(spec.classes[k].group * t, var)
    host = spec.host
    for d in spec.demands:
        if d.pinned and d.blocked is None:
            rank = sum(spec.layout.group_of_core[host.cpu_by_id[c].core] for c in d.intent.pinned or ())
            tier.add(rank, v.admit[d.index])
