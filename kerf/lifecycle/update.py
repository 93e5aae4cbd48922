"""``kerf update``: change an instance's CPUs, memory, devices or policies, moving as little
as possible and sending the kernel only the difference.

The new placement comes from :func:`kerf.lifecycle.placement.plan_update` (current CPUs
kept by pinning, the planner choosing what is added or released); the delta is one
fragment on ``/instances/<name>`` (memory-remove, memory-add, cpu-remove, cpu-add,
device-remove, device-add), written all-or-nothing and verified like a create.
"""

from __future__ import annotations

from typing import Any

from kerf.lifecycle.common import Outcome, Prepared, new_batch, prepare, resolve_instance, run_batch, utc_now
from kerf.lifecycle.delta import differences, update_operations
from kerf.lifecycle.faults import checkpoint
from kerf.lifecycle.kernel_view import InstanceView, read_kernel
from kerf.lifecycle.placement import (
    Change,
    Desired,
    as_instance,
    existing_instances,
    plan_update,
    updated_request,
)
from kerf.lifecycle.session import Session
from kerf.overlay import OverlayTransaction, build_transactions
from kerf.state import InstanceRecord, Journal, PlacementRecord, RequestRecord


def update(
    session: Session, name: str | None, ident: int | None, change: Change, *, dry_run: bool = False
) -> Outcome:
    """Apply ``change`` to the instance named ``name`` (or with id ``ident``)."""
    import planner.solve  # noqa: F401  (slow import, done before taking the lock)

    if dry_run:
        with session.read_locked():
            prepared = prepare(session, write=False)
            current = resolve_instance(prepared.view, name, ident)
            desired, record, transactions = _plan(prepared, current, change, new_batch())
            data = _data(session, record, current, desired, transactions, [])
            data["dry_run"] = True
            from kerf.dts import format_dts

            data["overlays"] = [format_dts(t.tree) for t in transactions]
            verb = "would update" if transactions else "nothing to change for"
            return Outcome(
                f"{verb} {current.name}: {_delta_text(transactions)}",
                data,
                [*prepared.notices, *desired.notes],
            )
    with session.locked() as state:
        prepared = prepare(session)
        current = resolve_instance(prepared.view, name, ident)
        batch = new_batch()
        desired, record, transactions = _plan(prepared, current, change, batch)
        tx_ids: list[int] = []
        if transactions:
            backend = session.mounted_backend()

            def verify() -> str | None:
                got = read_kernel(backend, [current.name]).instances.get(current.name)
                problems = differences(prepared.host, got, desired, exact_order=False)
                if not problems:
                    return None
                return f"the kernel changed instance {current.name} differently from the plan: " + "; ".join(
                    problems
                )

            journal = Journal(
                "update",
                batch,
                instance=current.name,
                before=prepared.records.get(current.name),
                after=record,
                started_at=utc_now(),
            )
            tx_ids = run_batch(session, backend, journal, transactions, verify)
        state.write_record(record)
        checkpoint("record-written")
        state.clear_journal()
    data = _data(session, record, current, desired, transactions, tx_ids)
    if not transactions:
        return Outcome(
            f"{current.name} already matches; nothing sent to the kernel",
            data,
            [*prepared.notices, *desired.notes],
        )
    return Outcome(
        f"updated {current.name}: {_delta_text(transactions)}", data, [*prepared.notices, *desired.notes]
    )


def _plan(
    prepared: Prepared, current: InstanceView, change: Change, batch: str
) -> tuple[Desired, InstanceRecord, list[OverlayTransaction]]:
    host = prepared.host
    old = prepared.records.get(current.name)
    base_request = (
        old.request
        if old is not None and old.request is not None
        else RequestRecord(memory_bytes=current.memory_bytes, cpu_count=len(current.cpus))
    )
    request = updated_request(base_request, change, len(current.cpus))
    others = existing_instances(host, prepared.view, prepared.records, exclude=current.name)
    me = as_instance(host, current, old)
    desired = plan_update(host, others, me, request, change)
    ops = update_operations(host, current, desired, prepared.view.pool, prepared.view.regions_in_use())
    record = InstanceRecord(
        current.name,
        current.id,
        PlacementRecord(
            cpus=tuple(c for c in current.cpus if c in desired.cpus)
            + tuple(c for c in desired.cpus if c not in current.cpus),
            memory=tuple(sorted((n if n is not None else -1, b) for n, b in desired.memory)),
            devices=desired.devices,
            numa_nodes=desired.numa_nodes,
        ),
        request,
        old.image if old is not None else None,
    )
    return desired, record, build_transactions(ops, tag=batch) if ops else []


def _delta_text(transactions: list[OverlayTransaction]) -> str:
    if not transactions:
        return "no change"
    return "; ".join(t.describe() for t in transactions)


def _data(
    session: Session,
    record: InstanceRecord,
    current: InstanceView,
    desired: Desired,
    transactions: list[OverlayTransaction],
    tx_ids: list[int],
) -> dict[str, Any]:
    return {
        "backend": session.location.kind.value,
        "name": current.name,
        "id": current.id,
        "status": current.status.value,
        "cpus": list(record.placement.cpus),
        "numa_nodes": list(desired.numa_nodes),
        "memory": [{"numa_node": n, "bytes": b} for n, b in desired.memory],
        "devices": list(desired.devices),
        "transactions": [
            {"id": tx_ids[i] if i < len(tx_ids) else None, "operations": t.describe()}
            for i, t in enumerate(transactions)
        ],
        "notes": list(desired.notes),
    }
