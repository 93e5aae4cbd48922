"""Writing a batch of overlay transactions all-or-nothing.

The kernel reports success on the write even when the transaction failed (reference
§1.5), so after every write the transaction's status is read back. On failure, or when
the caller's check of the result finds a difference, the batch's earlier transactions
are rolled back, newest first, and the error names the operation that failed (with the
reason when the backend knows it).

A transaction the kernel refused is never rolled back: its directory stays in
``overlays/`` with status ``failed``. Rolling it back (``rmdir``) would make the kernel
replay the inverse of its operation, which never ran (reference §1.7): at best that
fails, at worst it undoes something else (the inverse of an ``instance-create`` refused
because the name was taken destroys the instance that holds the name).
:func:`kerf.overlay.build_transactions` puts one item in each transaction, so a refused
transaction has changed nothing.

The caller holds kerf's lock: the backend finds each new transaction by comparing the
``overlays`` directory before and after the write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn

from kerf.errors import KerfError, KernelError
from kerf.kernel.backend import KernelBackend, NoSuchTransactionError, Transaction, roll_back_transaction
from kerf.overlay.build import OverlayTransaction

# Said with every refused transaction that kerf leaves in place.
LEAVE_IT_HINT = (
    "leave the failed transaction in overlays/: removing it (rmdir) makes the kernel undo "
    "an operation that never ran"
)


class TransactionFailedError(KernelError):
    """A transaction of the batch failed; everything the batch applied was rolled back."""


class RollbackFailedError(KernelError):
    """A transaction failed and undoing the batch failed too: the kernel holds part of it.

    ``remaining`` are the ids of the batch's transactions still applied, ascending."""

    def __init__(self, message: str, *, hint: str | None, remaining: Sequence[int]) -> None:
        super().__init__(message, hint=hint)
        self.remaining = tuple(remaining)


def apply_batch(
    backend: KernelBackend,
    transactions: Sequence[OverlayTransaction],
    *,
    after_write: Callable[[int], None] | None = None,
    verify: Callable[[], str | None] | None = None,
) -> list[Transaction]:
    """Write ``transactions`` in order; the kernel's transactions when all applied.

    ``after_write(n)`` runs after the n-th write (1-based), before its status is read
    (crash tests stop kerf there). ``verify()`` runs once everything applied and returns a
    description of what the kernel did differently, or None; a difference rolls the batch
    back. Raises TransactionFailedError (nothing left applied; a refused transaction stays
    in ``overlays/``, ``failed``) or RollbackFailedError.
    """
    written: list[Transaction] = []
    total = len(transactions)
    for number, otx in enumerate(transactions, start=1):
        position = f"transaction {number} of {total}" if total > 1 else "the transaction"
        try:
            tx = backend.write_overlay(otx.blob)
        except KerfError:
            # The write itself was refused (not root, no filesystem, a blob the kernel would
            # not read): undo what came before and let the refusal speak for itself.
            if written:
                _rollback(backend, written, f"writing {position} ({otx.describe()}) failed")
            raise
        if after_write is not None:
            after_write(number)
        status = backend.transaction(tx.id)
        if not status.applied:
            detail = backend.failure_detail(tx.id)
            reason = f": {detail}" if detail else " (the kernel logs the reason: see dmesg)"
            left = f"tx_{tx.id} stays in overlays/ with status {status.status}"
            if otx.is_single_step:
                left += "; it changed nothing"
            else:
                # Not a blob of build_transactions: what ran before the failing operation stays.
                left += "; operations of it that ran before the failing one stay applied"
            _undo(
                backend,
                written,
                f"the kernel refused {position} (tx_{tx.id}, status {status.status}) of "
                f"{otx.describe()}{reason}. {left}",
                LEAVE_IT_HINT,
                complete=otx.is_single_step,
            )
        written.append(status)
    problem = verify() if verify is not None else None
    if problem is not None:
        _undo(backend, written, problem, None)
    return written


def _undo(
    backend: KernelBackend,
    applied: Sequence[Transaction],
    cause: str,
    hint: str | None,
    *,
    complete: bool = True,
) -> NoReturn:
    """Roll back ``applied`` newest first, then raise the error describing ``cause``.

    ``complete`` is False when the failed transaction may have left something applied."""
    _rollback(backend, applied, cause)
    if not complete:
        note = " The batch's earlier transactions were rolled back." if applied else ""
    elif applied:
        note = " Nothing was changed: the batch's earlier transactions were rolled back."
    else:
        note = " Nothing was changed."
    raise TransactionFailedError(cause + "." + note, hint=hint)


def _rollback(backend: KernelBackend, applied: Sequence[Transaction], cause: str) -> None:
    """Roll back ``applied`` (transactions that applied) newest first; RollbackFailedError
    when one cannot be undone."""
    remaining = [tx.id for tx in applied]
    for tx in reversed(applied):
        try:
            roll_back_transaction(backend, tx.id)
        except NoSuchTransactionError:
            pass  # its directory is gone: already rolled back
        except KerfError as err:
            raise RollbackFailedError(
                f"{cause}; undoing the batch failed at tx_{tx.id}: {err.message}",
                hint="kerf retries the rollback on its next command; fix the cause first "
                "(e.g. stop or unload the instance involved)",
                remaining=remaining,
            ) from None
        remaining.remove(tx.id)
