"""``kerf delete``: remove an instance (its CPUs, memory and devices return to the pool).

The kernel refuses to remove a loaded or active instance; kerf says so first, with the
next step. ``instance-remove`` cannot be rolled back by the kernel, so it is the only
operation of its batch.
"""

from __future__ import annotations

from kerf.kernel.backend import InstanceStatus
from kerf.lifecycle.common import Outcome, new_batch, prepare, resolve_instance, run_batch, utc_now
from kerf.lifecycle.delta import delete_operations
from kerf.lifecycle.errors import WrongStateError
from kerf.lifecycle.faults import checkpoint
from kerf.lifecycle.kernel_view import InstanceView
from kerf.lifecycle.session import Session
from kerf.overlay import build_transactions
from kerf.state import Journal


def check_deletable(inst: InstanceView) -> None:
    """WrongStateError with the next step when the kernel would refuse the removal."""
    if inst.status is InstanceStatus.ACTIVE:
        raise WrongStateError(
            f"instance {inst.name} is active; stop it first: kerf kill {inst.name}",
            hint=f"then unload its kernel (kerf unload {inst.name}) and delete it",
        )
    if inst.status is InstanceStatus.LOADED:
        raise WrongStateError(
            f"instance {inst.name} has a kernel loaded; unload it first: kerf unload {inst.name}",
            hint="the kernel refuses to remove an instance that is loaded or active",
        )


def delete(session: Session, name: str | None, ident: int | None, *, dry_run: bool = False) -> Outcome:
    """Remove the instance."""
    if dry_run:
        with session.read_locked():
            prepared = prepare(session, write=False)
            inst = resolve_instance(prepared.view, name, ident)
            check_deletable(inst)
            return Outcome(
                f"would delete {inst.name} (id {inst.id})",
                {"name": inst.name, "id": inst.id, "dry_run": True},
                list(prepared.notices),
            )
    with session.locked() as state:
        prepared = prepare(session)
        inst = resolve_instance(prepared.view, name, ident)
        check_deletable(inst)
        backend = session.mounted_backend()
        batch = new_batch()
        transactions = build_transactions(delete_operations(inst.name), tag=batch)

        def verify() -> str | None:
            if any(i.name == inst.name for i in backend.instances()):
                return f"the kernel still lists instance {inst.name} after removing it"
            return None

        journal = Journal(
            "delete", batch, instance=inst.name, before=prepared.records.get(inst.name), started_at=utc_now()
        )
        run_batch(session, backend, journal, transactions, verify)
        state.remove_record(inst.name)
        checkpoint("record-written")
        state.clear_journal()
    return Outcome(
        f"deleted {inst.name} (id {inst.id}); its resources are back in the pool",
        {"name": inst.name, "id": inst.id},
        list(prepared.notices),
    )
