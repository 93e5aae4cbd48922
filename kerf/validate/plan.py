"""Validating a plan: the independent re-check of what the planner returned.

Nothing here comes from the solver: the rules are recomputed from the Host, the
instances already there, the placements and the requests they answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from kerf.validate.findings import Collector, Report, cpus_text, size_text
from kerf.validate.host import check_all
from planner.hardware import Host, Instance
from planner.request import InstanceRequest


def validate_plan(
    host: Host,
    existing: Sequence[Instance],
    placements: Sequence[Instance],
    requests: Sequence[InstanceRequest],
) -> Report:
    """Check ``existing + placements`` with every host and instance rule, and that each
    placement meets its request exactly.

    A placement is judged by the policies of its request (its own fields may be left
    unset by a planner); requests without a placement are noted, not errors: the plan
    reports them as unplaced.
    """
    out = Collector()
    wanted = {r.name: r for r in requests}
    effective = [_as_requested(p, wanted.get(p.name)) for p in placements]
    check_all(host, [*existing, *effective], (), out)
    placed = {p.name for p in placements}
    for placement in effective:
        req = wanted.get(placement.name)
        subject = f"instance {placement.name}"
        if req is None:
            out.error(
                "plan-unrequested",
                subject,
                f"Instance {placement.name}: the plan places it, but no request asks for it",
                hint="a planner bug: placements must answer requests by name",
            )
            continue
        _check_meets(placement, req, subject, out)
    for req in requests:
        if req.name not in placed:
            out.info("plan-unplaced", f"request {req.name}", f"Instance {req.name}: not placed by the plan")
    return out.report()


def _as_requested(placement: Instance, req: InstanceRequest | None) -> Instance:
    if req is None:
        return placement
    return replace(
        placement,
        numa_nodes=req.numa_nodes or placement.numa_nodes,
        cpu_affinity=req.cpu_affinity,
        memory_policy=req.memory_policy,
        exclusive_cores=req.exclusive_cores or placement.exclusive_cores,
    )


def _check_meets(placement: Instance, req: InstanceRequest, subject: str, out: Collector) -> None:
    name = placement.name
    if req.cpus is not None and tuple(placement.cpus) != tuple(req.cpus):
        out.error(
            "plan-pinned-cpus",
            subject,
            f"Instance {name}: pinned to {cpus_text(req.cpus)}, but placed on {cpus_text(placement.cpus)}",
            hint="a planner bug: pinned CPUs are kept exactly, in order",
        )
    elif req.cpu_count is not None and len(placement.cpus) != req.cpu_count:
        out.error(
            "plan-cpu-count",
            subject,
            f"Instance {name}: asks for {req.cpu_count} CPUs, but the plan gives {len(placement.cpus)}",
            hint="a planner bug: the CPU count is met exactly",
        )
    if placement.memory_bytes < req.memory_bytes:
        out.error(
            "plan-memory-short",
            subject,
            f"Instance {name}: asks for {size_text(req.memory_bytes)} of memory, but the plan gives "
            f"{size_text(placement.memory_bytes)}",
            hint="a planner bug: the memory asked for is met",
        )
    for region in placement.memory:
        if region.base is None and region.numa_node is None:
            out.error(
                "plan-memory-unplaced",
                subject,
                f"Instance {name}: a memory region of {size_text(region.size)} has neither an address "
                "nor a NUMA node",
                hint="a planner bug: every planned region names its node",
            )
    if placement.id is not None and req.id is not None and placement.id != req.id:
        out.error(
            "plan-id-changed",
            subject,
            f"Instance {name}: asks for id {req.id}, but the plan gives id {placement.id}",
            hint="a planner bug: requested ids are kept",
        )
    _check_devices_meet(placement, req, subject, out)


def _check_devices_meet(placement: Instance, req: InstanceRequest, subject: str, out: Collector) -> None:
    """Each wanted unit given, each any-VF / any-namespace answered by a distinct unit of
    that device, and nothing more."""
    given = Counter(placement.devices)
    missing: list[str] = []
    for want in (w for w in req.devices if w.is_specific):
        if given[want.text] > 0:
            given[want.text] -= 1
        else:
            missing.append(want.text)
    for want in (w for w in req.devices if not w.is_specific):
        prefix = f"{want.device}_{'vf' if want.kind == 'any-vf' else 'ns'}"
        match = next(
            (label for label in sorted(given) if given[label] > 0 and _is_unit_of(label, prefix)),
            None,
        )
        if match is None:
            missing.append(want.text)
        else:
            given[match] -= 1
    extra = sorted(label for label, n in given.items() for _ in range(n))
    name = placement.name
    if missing:
        out.error(
            "plan-device-missing",
            subject,
            f"Instance {name}: asks for {', '.join(missing)}, but the plan does not give "
            f"{'it' if len(missing) == 1 else 'them'}",
            hint="a planner bug: every wanted device is given",
        )
    if extra:
        out.error(
            "plan-device-extra",
            subject,
            f"Instance {name}: the plan gives {', '.join(extra)}, which the request does not ask for",
            hint="a planner bug: only wanted devices are given",
        )


def _is_unit_of(label: str, prefix: str) -> bool:
    return label.startswith(prefix) and label[len(prefix) :].isdigit()
