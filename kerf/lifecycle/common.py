"""What every lifecycle operation shares: the prepared view under the lock, addressing an
instance by name or id, journaled batches, and the outcome handed to the CLI."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kerf.errors import InputError, KerfError, UsageError
from kerf.kernel.backend import KernelBackend
from kerf.lifecycle.errors import NoInstanceError, NotInitialisedError
from kerf.lifecycle.faults import checkpoint
from kerf.lifecycle.kernel_view import InstanceView, KernelView, read_kernel
from kerf.lifecycle.names import check_lookup_id, check_lookup_name
from kerf.lifecycle.reconcile import reconcile
from kerf.lifecycle.recovery import recover, remember_still_applied
from kerf.lifecycle.session import Session
from kerf.overlay import OverlayTransaction, apply_batch
from kerf.state import InstanceRecord, Journal, Settings, StateDir
from planner.hardware import Host


@dataclass
class Outcome:
    """What an operation reports: one line for people, a JSON document, notices for stderr."""

    message: str
    data: dict[str, Any]
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Prepared:
    """The host, the kernel's view and the reconciled records, read under the lock."""

    host: Host
    view: KernelView
    records: Mapping[str, InstanceRecord]
    notices: tuple[str, ...]
    settings: Settings


def load_installed_host(state: StateDir) -> Host:
    """The host description installed by ``kerf init`` (NotInitialisedError when none)."""
    text = state.host_text()
    if text is None:
        raise NotInitialisedError(
            "kerf has no host description yet: the pool was never initialised here",
            hint="start with: kerf init --input HOST.dts",
        )
    from kerf.binding import read_host
    from kerf.dts import parse

    try:
        return read_host(parse(text, str(state.host_file))).host
    except InputError as err:
        raise InputError(
            f"kerf's copy of the host description is damaged: {err}",
            hint=f"restore {state.host_file}, or run kerf init again on an empty pool",
        ) from None


def prepare(session: Session, *, write: bool = True) -> Prepared:
    """Repair an interrupted operation, read the kernel and reconcile kerf's records.

    With ``write`` the caller holds the exclusive lock and repairs are written; without it
    (dry runs, show without permission) nothing on disk changes.
    """
    notices: list[str] = []
    if write:
        notices += recover(session)
    elif session.state.journal() is not None:
        notices.append(
            "an interrupted kerf command left work behind; the next command that changes state repairs it"
        )
    host = load_installed_host(session.state)
    view = read_kernel(session.backend())
    result = reconcile(session.state, host, view, write=write)
    return Prepared(host, view, result.records, tuple(notices) + result.notices, session.state.settings())


def resolve_instance(view: KernelView, name: str | None, ident: int | None) -> InstanceView:
    """The instance addressed by NAME or ``--id`` (both: they must agree).

    Only the lookup rules apply here, not the creation rules: an instance the kernel holds
    under another client's name or an automatic id above 2047 must stay reachable.
    """
    if name is None and ident is None:
        raise UsageError("name the instance: NAME or --id N", hint="kerf show lists the instances")
    if name is not None:
        check_lookup_name(name)
    if ident is not None:
        check_lookup_id(ident)
    found = view.instances.get(name) if name is not None else view.by_id(ident) if ident is not None else None
    if found is None:
        what = f"named {name!r}" if name is not None else f"with id {ident}"
        known = ", ".join(f"{i.name} (id {i.id})" for i in view.instances.values()) or "none"
        raise NoInstanceError(f"there is no instance {what}", hint=f"instances: {known}")
    if ident is not None and found.id != ident:
        raise UsageError(
            f"instance {found.name} has id {found.id}, not {ident}",
            hint="give either the name or the id, or both matching",
        )
    return found


def new_batch() -> str:
    """A fresh tag for the transactions of one operation."""
    return f"kerf-{uuid.uuid4().hex[:16]}"


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def run_batch(
    session: Session,
    backend: KernelBackend,
    journal: Journal,
    transactions: Sequence[OverlayTransaction],
    verify: Callable[[], str | None],
) -> list[int]:
    """Journal, write the batch all-or-nothing, and move the journal to its commit phase.

    On a clean failure (everything rolled back) the journal is removed and the error
    raised; when the rollback itself failed the journal stays, so the next command retries.
    """
    from dataclasses import replace

    from kerf.overlay import RollbackFailedError

    state = session.state
    state.write_journal(journal)
    checkpoint("journal-written")
    try:
        written = apply_batch(
            backend,
            transactions,
            after_write=lambda n: checkpoint(f"overlay-written-{n}"),
            verify=verify,
        )
    except RollbackFailedError as err:
        # the kernel holds part of the batch: the journal stays for the next command, with
        # the transactions still applied (a failed rollback may mark one "failed", which
        # recovery would otherwise take for the refused one that changed nothing)
        remember_still_applied(state, journal, err.remaining)
        raise
    except KerfError as err:
        if _still_applied(backend, journal.batch):
            # e.g. a write that failed after the kernel applied it, or a check of the result
            # that could not run: the journal stays, and the next command rolls it back
            err.message += " The kernel still holds part of this change; the next kerf command rolls it back."
            raise
        state.clear_journal()  # refused or rolled back: the kernel is as before
        raise
    checkpoint("batch-applied")
    state.write_journal(replace(journal, phase="commit"))
    checkpoint("journal-committed")
    return [tx.id for tx in written]


def _still_applied(backend: KernelBackend, batch: str) -> bool:
    """True when a transaction of ``batch`` is applied in the kernel (or the kernel cannot
    say: then the journal must stay so that the next command looks again)."""
    prefix = f"{batch} "
    try:
        return any(tx.applied and tx.resources.startswith(prefix) for tx in backend.transactions())
    except KerfError:
        return True
