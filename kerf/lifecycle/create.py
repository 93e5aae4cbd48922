"""``kerf create``: plan a new instance, check the plan, hand it to the kernel, verify.

Under the lock: repair and reconcile, refuse a name or id in use, plan (the planner
places counts and completes pinned lists), validate the plan, build the overlay batch,
journal it, write it all-or-nothing, compare the instance the kernel made with the plan
(the kernel creates an instance even when CPUs or devices could not be transferred), and
record the request, policies and placement. A dry run plans and shows the overlays
without writing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kerf.errors import InternalError
from kerf.lifecycle.common import Outcome, Prepared, new_batch, prepare, run_batch, utc_now
from kerf.lifecycle.delta import create_operations, differences
from kerf.lifecycle.errors import InstanceExistsError
from kerf.lifecycle.faults import checkpoint
from kerf.lifecycle.kernel_view import read_kernel
from kerf.lifecycle.names import check_id, check_name
from kerf.lifecycle.placement import Desired, existing_instances, plan_create, request_of
from kerf.lifecycle.session import Session
from kerf.overlay import OverlayTransaction
from kerf.state import InstanceRecord, Journal, PlacementRecord, RequestRecord
from planner.policy import CoreSharing


@dataclass(frozen=True)
class CreateSpec:
    """What `kerf create` was asked for."""

    name: str
    request: RequestRecord
    id: int | None = None
    core_sharing: CoreSharing | None = None  # None: the host's setting (kerf config)


def create(session: Session, spec: CreateSpec, *, dry_run: bool = False) -> Outcome:
    """Create the instance ``spec`` describes."""
    check_name(spec.name)
    if spec.id is not None:
        check_id(spec.id)
    _warm_up_planner()
    if dry_run:
        with session.read_locked():
            prepared = prepare(session, write=False)
            return _dry_run(session, prepared, spec)
    with session.locked() as state:
        prepared = prepare(session)
        batch = new_batch()
        desired, transactions = _plan(prepared, spec, batch)
        backend = session.mounted_backend()
        name = spec.name

        def verify() -> str | None:
            got = read_kernel(backend, [name]).instances.get(name)
            problems = differences(prepared.host, got, desired, exact_order=True)
            if not problems:
                return None
            return f"the kernel created instance {name} differently from the plan: {'; '.join(problems)}"

        planned = _record(spec, None, desired)
        journal = Journal("create", batch, instance=name, after=planned, started_at=utc_now())
        tx_ids = run_batch(session, backend, journal, transactions, verify)
        made = read_kernel(backend, [name]).instances[name]
        if spec.id is not None and made.id != spec.id:
            raise InternalError(f"the kernel gave {name} id {made.id}, not the id {spec.id} it was asked for")
        record = _record(spec, made.id, desired)
        state.write_record(record)
        checkpoint("record-written")
        state.clear_journal()
    data = _data(session, record, desired, [t.describe() for t in transactions], tx_ids)
    message = f"created {name} (id {made.id}): {_placement_text(desired)}"
    return Outcome(message, data, [*prepared.notices, *desired.notes])


def _warm_up_planner() -> None:
    """Import the solver before taking the lock: the import is the slow part of a plan,
    and other kerf commands should not wait for it."""
    import planner.solve  # noqa: F401


def _plan(prepared: Prepared, spec: CreateSpec, batch: str) -> tuple[Desired, list[OverlayTransaction]]:
    from kerf.overlay import build_transactions

    view = prepared.view
    if spec.name in view.instances:
        raise InstanceExistsError(
            f"instance {spec.name} already exists (id {view.instances[spec.name].id}, "
            f"{view.instances[spec.name].status})",
            hint=f"change it with kerf update {spec.name}, or remove it first: kerf delete {spec.name}",
        )
    if spec.id is not None and (taken := view.by_id(spec.id)) is not None:
        raise InstanceExistsError(
            f"id {spec.id} is already used by instance {taken.name}",
            hint="choose another --id, or leave --id out and the kernel picks a free one",
        )
    host = prepared.host
    existing = existing_instances(host, view, prepared.records)
    request = request_of(spec.name, spec.request, ident=spec.id)
    mode = prepared.settings.core_sharing if spec.core_sharing is None else spec.core_sharing
    desired = plan_create(host, existing, request, mode)
    ops = create_operations(host, spec.name, spec.id, desired, view.pool, view.regions_in_use())
    return desired, build_transactions(ops, tag=batch)


def _dry_run(session: Session, prepared: Prepared, spec: CreateSpec) -> Outcome:
    from kerf.dts import format_dts

    desired, transactions = _plan(prepared, spec, new_batch())
    record = _record(spec, spec.id, desired)
    data = _data(session, record, desired, [t.describe() for t in transactions], [])
    data["dry_run"] = True
    data["overlays"] = [format_dts(t.tree) for t in transactions]
    message = f"would create {spec.name}: {_placement_text(desired)}"
    return Outcome(message, data, [*prepared.notices, *desired.notes])


def _record(spec: CreateSpec, ident: int | None, desired: Desired) -> InstanceRecord:
    placement = PlacementRecord(
        cpus=desired.cpus,
        memory=tuple(sorted((n if n is not None else -1, b) for n, b in desired.memory)),
        devices=desired.devices,
        numa_nodes=desired.numa_nodes,
    )
    return InstanceRecord(spec.name, ident, placement, spec.request)


def _placement_text(desired: Desired) -> str:
    from kerf.validate.findings import ids_text, size_text

    memory = ", ".join(
        f"{size_text(b)} on node {n}" if n is not None else size_text(b) for n, b in desired.memory
    )
    devices = f"; devices {', '.join(desired.devices)}" if desired.devices else ""
    cpus = ("CPU " if len(desired.cpus) == 1 else "CPUs ") + ids_text(desired.cpus)
    if desired.cpus and desired.cpus[0] != min(desired.cpus):
        # the list is shown sorted; the kernel boots the instance on the first CPU given
        cpus += f" (boot CPU {desired.cpus[0]})"
    return f"{cpus}; memory {memory}{devices}"


def _data(
    session: Session, record: InstanceRecord, desired: Desired, operations: list[str], tx_ids: list[int]
) -> dict[str, Any]:
    return {
        "backend": session.location.kind.value,
        "name": record.name,
        "id": record.id,
        "cpus": list(desired.cpus),
        "numa_nodes": list(desired.numa_nodes),
        "memory": [{"numa_node": n, "bytes": b} for n, b in desired.memory],
        "devices": list(desired.devices),
        "transactions": [{"id": t, "operations": op} for t, op in zip(tx_ids, operations, strict=False)]
        if tx_ids
        else [{"operations": op} for op in operations],
        "notes": list(desired.notes),
    }
