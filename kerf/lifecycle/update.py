"""``kerf update``: change an instance's CPUs, memory, devices or policies, moving as little
as possible and sending the kernel only the difference.

The new placement comes from :func:`planner.solve.replan`: the instance's whole new
shape, placed so that it first keeps its boot CPU, then as many of its CPUs, pages (on
their nodes) and device units as the new shape allows, and only then is as good as
possible by the planner's usual tiers (docs/planner.md, "Update"). It is re-checked by
the validator; the delta is one fragment on ``/instances/<name>`` (memory-remove,
memory-add, cpu-remove, cpu-add, device-remove, device-add), written all-or-nothing and
verified like a create.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kerf.errors import UnplacedError
from kerf.lifecycle.common import Outcome, Prepared, new_batch, prepare, resolve_instance, run_batch, utc_now
from kerf.lifecycle.delta import differences, update_operations
from kerf.lifecycle.faults import checkpoint
from kerf.lifecycle.kernel_view import InstanceView, read_kernel
from kerf.lifecycle.placement import (
    PLAN_SEED,
    PLAN_TIME_LIMIT,
    Change,
    Desired,
    as_instance,
    check_placement,
    desired_of,
    existing_instances,
    request_of,
    updated_request,
)
from kerf.lifecycle.session import Session
from kerf.overlay import ItemOperation, Operation, OverlayTransaction, build_transactions
from kerf.state import InstanceRecord, Journal, PlacementRecord, RequestRecord
from planner.hardware import PAGE_SIZE, Host, Instance
from planner.policy import CoreSharing
from planner.request import InstanceRequest

if TYPE_CHECKING:
    from planner.objective import Moves


def update(
    session: Session,
    name: str | None,
    ident: int | None,
    change: Change,
    *,
    dry_run: bool = False,
    core_sharing: CoreSharing | None = None,
) -> Outcome:
    """Apply ``change`` to the instance named ``name`` (or with id ``ident``);
    ``core_sharing`` as for kerf plan (None: the host's setting, kerf config)."""
    import planner.solve  # noqa: F401  (slow import, done before taking the lock)

    if dry_run:
        with session.read_locked():
            prepared = prepare(session, write=False)
            current = resolve_instance(prepared.view, name, ident)
            desired, record, transactions = _plan(prepared, current, change, new_batch(), core_sharing)
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
        desired, record, transactions = _plan(prepared, current, change, batch, core_sharing)
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
    prepared: Prepared, current: InstanceView, change: Change, batch: str, core_sharing: CoreSharing | None
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
    new_shape = request_of(current.name, request, ident=current.id)
    mode = prepared.settings.core_sharing if core_sharing is None else core_sharing
    desired = place_update(host, others, me, new_shape, mode)
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


def place_update(
    host: Host,
    others: Sequence[Instance],
    current: Instance,
    request: InstanceRequest,
    core_sharing: CoreSharing = CoreSharing.AVOID,
) -> Desired:
    """Where ``current`` goes under its new shape ``request``, next to ``others``.

    UnplacedError when the new shape does not fit (the instance then stays as it is);
    InternalError when the placement adds a validator error (a planner bug).
    """
    from planner.objective import moves
    from planner.solve import PlanOptions, replan

    options = PlanOptions(time_limit=PLAN_TIME_LIMIT, workers=1, seed=PLAN_SEED, core_sharing=core_sharing)
    result = replan(host, [*others, current], current.name, request, options)
    if not result.placements:
        reasons = [u.reason for u in result.unplaced] or ["the planner found no placement"]
        details = "; ".join(dict.fromkeys(reasons + list(result.explanation)))
        raise UnplacedError(
            f"cannot update instance {current.name}: {details}",
            hint="it stays as it is; kerf show lists what is free: ask for fewer CPUs or less memory, "
            "or other NUMA nodes",
        )
    placed = result.placements[0]
    check_placement(host, others, placed, request)
    return desired_of(host, placed, _move_notes(current.name, moves(host, current, placed)))


def _move_notes(name: str, change: Moves) -> list[str]:
    """What the update keeps, gives back and gains, in words."""
    from kerf.validate.findings import size_text

    notes = []
    kept, released, added = change.kept_cpus, change.released_cpus, change.added_cpus
    if added and not released:
        notes.append(f"{name} keeps its {_count(len(kept), 'CPU')} and gains {_ids(added)}")
    elif released and not added:
        notes.append(f"{name} keeps {_ids(kept)} and gives back {_ids(released)}")
    elif released and added:
        held = f", keeps {_ids(kept)}" if kept else ""
        notes.append(
            f"{name} gives back {_ids(released)}{held} and gains {_ids(added)}: the fewest CPUs "
            "moved that meet the new request"
        )
    if not change.boot_kept and change.boot_cpu is not None:
        notes.append(
            f"{name} gives up its boot CPU {change.boot_cpu}: no placement of the new request keeps it"
        )
    pages = change.tiers()["moved_pages"]
    if pages:
        notes.append(f"{size_text(pages * PAGE_SIZE)} of the memory of {name} moves to another NUMA node")
    if change.tiers()["moved_units"]:
        notes.append(
            f"{name} gives back {', '.join(change.released_units)} and gets {', '.join(change.added_units)}"
        )
    return notes


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _ids(cpus: Sequence[int]) -> str:
    return ("CPU " if len(cpus) == 1 else "CPUs ") + ", ".join(map(str, cpus))


def _delta_text(transactions: list[OverlayTransaction]) -> str:
    if not transactions:
        return "no change"
    # one transaction per item: list the items of consecutive like steps together
    merged: list[Operation] = []
    for op in (op for t in transactions for op in t.operations):
        last = merged[-1] if merged else None
        like = isinstance(last, ItemOperation) and (last.kind, last.target) == (op.kind, op.target)
        if isinstance(op, ItemOperation) and isinstance(last, ItemOperation) and like:
            merged[-1] = last.with_items((*last.items, *op.items))
            continue
        merged.append(op)
    return "; ".join(op.describe() for op in merged)


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
