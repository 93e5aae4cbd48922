"""Repairing what an interrupted kerf left: the intent journal.

Every state-changing command writes a :class:`~kerf.state.Journal` before its first side
effect and removes it when done. The next command (under the lock) finds a leftover
journal and finishes the story one way or the other:

* overlay batches (create, update, delete), phase ``kernel``: the batch's transactions
  (found by their ``mk,resources`` tag, so also those written just before the crash) are
  rolled back newest first, except one the kernel refused (see :func:`roll_back_batch`);
  the kernel is then as before and the old record is restored;
* phase ``commit``: the kernel already holds the result; the new record is written;
* system calls (load, unload): the kernel says whether the call happened (the instance
  has an image or not); the matching record is written;
* pool: phase ``commit`` installs the staged host description; before it the batch is
  rolled back, chunks its memory-add left are given back (:mod:`kerf.lifecycle.pool`)
  and the staged description is dropped;
* init: when the kernel's pool has a baseline, the staged host description is installed;
  otherwise it is dropped, and a simulated host that the interrupted init created is
  removed so that ``kerf init`` can run again.

Afterwards :mod:`kerf.lifecycle.reconcile` aligns every record with the kernel.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace

from kerf.errors import KerfError
from kerf.kernel.backend import KernelBackend, NoSuchTransactionError, Transaction, roll_back_transaction
from kerf.lifecycle.reconcile import HAS_IMAGE
from kerf.lifecycle.session import Session
from kerf.overlay import RollbackFailedError
from kerf.state import InstanceRecord, Journal, StateDir

BATCH_OPERATIONS = frozenset({"create", "update", "delete"})
CALL_OPERATIONS = frozenset({"load", "unload"})
# Journal key (in ``extra``): transactions of the batch known to be applied whatever their
# status says (their rollback failed; see roll_back_batch).
STILL_APPLIED = "still_applied"


def recover(session: Session) -> list[str]:
    """Finish or undo an interrupted operation (the caller holds the lock); notices."""
    state = session.state
    journal = state.journal()
    if journal is None:
        return []
    if journal.operation == "init":
        notice = _recover_init(session, journal)
    elif journal.operation in BATCH_OPERATIONS:
        notice = _recover_batch(session.backend(), state, journal)
    elif journal.operation in CALL_OPERATIONS:
        notice = _recover_call(session.backend(), state, journal)
    elif journal.operation == "pool":
        from kerf.lifecycle.pool import recover_pool  # pool builds on this module

        notice = recover_pool(session, journal)
    else:
        notice = f"an interrupted '{journal.operation}' left nothing to repair"
    state.clear_journal()
    return [notice]


def _restore(state: StateDir, name: str | None, record: InstanceRecord | None) -> None:
    if record is not None:
        state.write_record(record)
    elif name is not None:
        state.remove_record(name)


def batch_transactions(backend: KernelBackend, batch: str) -> list[int]:
    """Ids of the kernel transactions written by ``batch`` (their mk,resources tag), ascending."""
    return [tx.id for tx in _batch(backend, batch)]


def _batch(backend: KernelBackend, batch: str) -> list[Transaction]:
    prefix = f"{batch} "
    return [tx for tx in backend.transactions() if tx.resources.startswith(prefix)]


@dataclass(frozen=True)
class BatchRollback:
    """What :func:`roll_back_batch` did: the transactions it ``undone`` (newest first) and
    the refused one it ``kept`` in ``overlays/`` (None when there was none)."""

    undone: tuple[int, ...]
    kept: int | None = None

    def describe(self) -> str:
        """``tx_7, tx_6`` and, when one was kept, a clause about it (for notices)."""
        kept = (
            f"tx_{self.kept}, which the kernel had refused, changed nothing and stays in overlays/"
            if self.kept is not None
            else ""
        )
        undone = ", ".join(f"tx_{t}" for t in self.undone)
        return "; ".join(part for part in (undone, kept) if part) or "no transaction"


def roll_back_batch(
    backend: KernelBackend,
    batch: str,
    what: str,
    retry: Callable[[int], bool] | None = None,
    still_applied: Collection[int] = (),
) -> BatchRollback:
    """Roll back the transactions of an interrupted ``batch``, newest first.

    kerf stops writing a batch at the first transaction the kernel refuses, so only the
    batch's newest transaction can have been refused; it changed nothing (one item per
    transaction) and is left alone, because rmdir would make the kernel replay the
    inverse of an operation that never ran (reference §1.7). Any other transaction whose
    status is not ``applied`` applied when written and shows ``failed`` because an
    earlier rollback of it failed: it is rolled back again. The kernel shows the same
    status for the newest one after a failed rollback; ``still_applied`` (ids kerf saw
    applied, from the journal) tells that case apart.

    ``retry(tx_id)`` may repair what kept a rollback from succeeding and roll it back
    itself (True when it did). RollbackFailedError names the transaction left applied;
    its ``remaining`` are the batch's transactions still applied."""
    found = _batch(backend, batch)
    kept: int | None = None
    if found and not found[-1].applied and found[-1].id not in still_applied:
        kept = found.pop().id
    undone: list[int] = []
    for index in range(len(found) - 1, -1, -1):
        tx_id = found[index].id
        try:
            roll_back_transaction(backend, tx_id)
        except NoSuchTransactionError:
            pass  # gone meanwhile: rolled back all the same
        except KerfError as err:
            if retry is None or not retry(tx_id):
                raise RollbackFailedError(
                    f"an interrupted {what} left transaction tx_{tx_id} applied and it cannot be "
                    f"rolled back: {err.message}",
                    hint=err.hint or "fix the cause and run any kerf command to retry",
                    remaining=[tx.id for tx in found[: index + 1]],
                ) from None
        undone.append(tx_id)
    return BatchRollback(tuple(undone), kept)


def remember_still_applied(state: StateDir, journal: Journal, tx_ids: Iterable[int]) -> Journal:
    """Record in the journal that ``tx_ids`` are applied although their status may say
    ``failed`` (a rollback of them failed), so that the next recovery rolls them back;
    the journal written."""
    known = {int(t) for t in journal.extra.get(STILL_APPLIED, [])} | set(tx_ids)
    updated = replace(journal, extra={**journal.extra, STILL_APPLIED: sorted(known)})
    state.write_journal(updated)
    return updated


def still_applied(journal: Journal) -> list[int]:
    """The ids :func:`remember_still_applied` recorded in ``journal``."""
    return [int(t) for t in journal.extra.get(STILL_APPLIED, [])]


def _recover_batch(backend: KernelBackend, state: StateDir, journal: Journal) -> str:
    what = f"'kerf {journal.operation} {journal.instance}'"
    if journal.phase == "commit":
        _restore(state, journal.instance, journal.after)
        return f"completed the interrupted {what}: the kernel already held its result"
    try:
        result = roll_back_batch(backend, journal.batch, what, still_applied=still_applied(journal))
    except RollbackFailedError as err:
        remember_still_applied(state, journal, err.remaining)
        raise
    _restore(state, journal.instance, journal.before)
    if not result.undone and result.kept is None:
        return f"an interrupted {what} had not changed the kernel yet; nothing to undo"
    if not result.undone:
        return f"an interrupted {what} had not changed the kernel: {result.describe()}"
    return f"rolled back the interrupted {what} ({result.describe()})"


def _recover_call(backend: KernelBackend, state: StateDir, journal: Journal) -> str:
    what = f"'kerf {journal.operation} {journal.instance}'"
    name = journal.instance
    expect_image = journal.operation == "load"
    has_image = False
    if name is not None:
        present = {i.name: i for i in backend.instances()}.get(name)
        has_image = present is not None and present.status in HAS_IMAGE
    if has_image == expect_image:
        _restore(state, name, journal.after)
        return f"completed the interrupted {what}: the kernel had done it"
    _restore(state, name, journal.before)
    return f"the interrupted {what} had not reached the kernel; nothing changed"


def _recover_init(session: Session, journal: Journal) -> str:
    from kerf.lifecycle.kernel_view import read_pool

    state = session.state
    populated = False
    if not session.location.simulated or session.simulated_exists():
        from kerf.dts import from_dtb

        try:
            populated = read_pool(from_dtb(session.backend().read_device_tree(), "device_tree")).populated
        except KerfError:
            populated = False
    if populated and state.pending_host_file.exists():
        state.install_pending_host()
        return "completed the interrupted 'kerf init': the kernel had taken the baseline"
    state.discard_pending_host()
    if journal.created_host and session.location.simulated and not populated:
        shutil.rmtree(session.location.kernel_root, ignore_errors=True)
    return "undid the interrupted 'kerf init': the kernel had not taken the baseline; run kerf init again"
