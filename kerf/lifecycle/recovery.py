"""Repairing what an interrupted kerf left: the intent journal.

Every state-changing command writes a :class:`~kerf.state.Journal` before its first side
effect and removes it when done. The next command (under the lock) finds a leftover
journal and finishes the story one way or the other:

* overlay batches (create, update, delete), phase ``kernel``: the batch's transactions
  (found by their ``mk,resources`` tag, so also those written just before the crash) are
  rolled back newest first; the kernel is then as before and the old record is restored;
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
from collections.abc import Callable

from kerf.errors import KerfError
from kerf.kernel.backend import KernelBackend
from kerf.lifecycle.reconcile import HAS_IMAGE
from kerf.lifecycle.session import Session
from kerf.overlay import RollbackFailedError
from kerf.state import InstanceRecord, Journal, StateDir

BATCH_OPERATIONS = frozenset({"create", "update", "delete"})
CALL_OPERATIONS = frozenset({"load", "unload"})


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
    prefix = f"{batch} "
    return [tx.id for tx in backend.transactions() if tx.resources.startswith(prefix)]


def roll_back_batch(
    backend: KernelBackend,
    batch: str,
    what: str,
    retry: Callable[[int], bool] | None = None,
) -> list[int]:
    """Roll back the transactions of an interrupted ``batch``, newest first; the ids undone.

    ``retry(tx_id)`` may repair what kept a rollback from succeeding and roll it back
    itself (True when it did). RollbackFailedError names the transaction left applied."""
    undone = []
    for tx_id in reversed(batch_transactions(backend, batch)):
        try:
            backend.rollback(tx_id)
        except KerfError as err:
            if retry is not None and retry(tx_id):
                undone.append(tx_id)
                continue
            raise RollbackFailedError(
                f"an interrupted {what} left transaction tx_{tx_id} applied and it cannot be "
                f"rolled back: {err.message}",
                hint=err.hint or "fix the cause and run any kerf command to retry",
                remaining=[tx_id],
            ) from None
        undone.append(tx_id)
    return undone


def _recover_batch(backend: KernelBackend, state: StateDir, journal: Journal) -> str:
    what = f"'kerf {journal.operation} {journal.instance}'"
    if journal.phase == "commit":
        _restore(state, journal.instance, journal.after)
        return f"completed the interrupted {what}: the kernel already held its result"
    undone = roll_back_batch(backend, journal.batch, what)
    _restore(state, journal.instance, journal.before)
    if not undone:
        return f"an interrupted {what} had not changed the kernel yet; nothing to undo"
    ids = ", ".join(f"tx_{t}" for t in undone)
    return f"rolled back the interrupted {what} ({ids})"


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
