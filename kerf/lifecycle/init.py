"""``kerf init``: install a host description and give the kernel its baseline.

Steps (each after the journal says what is under way): check the description with the
validator, build the baseline, stage the description in kerf's state, create the
simulated machine when the target is a simulated host, write the baseline (the kernel
applies one exactly once, to an empty pool), then install the description. A dry run
does the checks and shows the baseline, and touches nothing: no directory, no simulated
host, no mount.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kerf.errors import KerfError, ValidationError
from kerf.lifecycle.baseline import Baseline, build_baseline
from kerf.lifecycle.common import Outcome, new_batch, utc_now
from kerf.lifecycle.errors import AlreadyInitialisedError
from kerf.lifecycle.faults import checkpoint
from kerf.lifecycle.kernel_view import PoolView, read_pool
from kerf.lifecycle.recovery import recover
from kerf.lifecycle.session import Session
from kerf.state import Journal
from planner.hardware import Host

if TYPE_CHECKING:
    from kerf.binding import HostDescription

MAX_FINDINGS_SHOWN = 5


def init(session: Session, source: Path, *, dry_run: bool = False) -> Outcome:
    """Initialise the pool from the host description in ``source``."""
    from kerf.binding import host_to_tree
    from kerf.dts import format_dts, to_dtb

    desc = load_valid_description(source)
    host = desc.host
    baseline = build_baseline(host)
    notices = _skipped_notices(baseline.skipped)
    if desc.instances or desc.requests:
        count = len(desc.instances) + len(desc.requests)
        notices.append(
            f"{source} also lists {count} instance{'s' if count != 1 else ''}; kerf init only sets up "
            "the pool: create instances with kerf create"
        )
    data = _summary(session, baseline, source)
    if dry_run:
        pool = _current_pool(session)
        if pool is not None and pool.populated:
            raise _populated(session)
        data["dry_run"] = True
        data["baseline_dts"] = format_dts(baseline.tree)
        return Outcome(f"would initialise the pool: {_describe(baseline)}", data, notices)

    blob = to_dtb(baseline.tree)
    with session.locked(create=True) as state:
        notices += recover(session)
        pool = _current_pool(session)
        if pool is not None and pool.populated:
            raise _populated(session)
        created = session.location.simulated and not session.simulated_exists()
        if created:
            _refuse_foreign_directory(session.location.kernel_root)
        state.write_pending_host(format_dts(host_to_tree(host)))
        state.write_journal(
            Journal(
                "init", new_batch(), created_host=created, started_at=utc_now(), extra={"source": str(source)}
            )
        )
        checkpoint("journal-written")
        try:
            if created:
                _create_simulated(session, host)
                checkpoint("simulated-host-created")
            session.mounted_backend().write_baseline(blob)
        except KerfError as err:
            left = None if created else _give_back_partial_baseline(session)
            _undo(session, created)
            if left is not None:
                err.message += f" {left}"
                if "kerf init" not in (err.hint or ""):
                    err.hint = (err.hint + "; " if err.hint else "") + "then run kerf init again"
            raise
        checkpoint("baseline-written")
        state.install_pending_host()
        checkpoint("host-installed")
        state.clear_journal()
    return Outcome(f"initialised the pool: {_describe(baseline)}", data, notices)


def _undo(session: Session, created: bool) -> None:
    """A refused baseline: drop the staged description and a simulated host made for it.

    A real kernel keeps whatever part of a baseline it applied before failing (it has no
    rollback); the error it raised says what to do."""
    state = session.state
    state.discard_pending_host()
    if created:
        shutil.rmtree(session.location.kernel_root, ignore_errors=True)
    state.clear_journal()


def _give_back_partial_baseline(session: Session) -> str | None:
    """After a refused baseline: what the kernel kept of it, given back (or not).

    The kernel applies a baseline step by step and does not undo the steps done before
    a failing one (reference §1.3), so a refused baseline can leave pool CPUs, chunks and
    devices behind; the kernel then refuses every further baseline. An emptied pool takes
    a new one, so the leftovers are returned with ``/resources`` overlays (CPUs and
    devices first: the x86 park area lives in pool memory). Returns a sentence for the
    error message, or None when the kernel kept nothing."""
    from kerf.overlay import (
        CpuItem,
        ItemOperation,
        Kind,
        MemoryItem,
        PciItem,
        apply_batch,
        build_transactions,
    )

    try:
        pool = _current_pool(session)
    except KerfError as err:
        return f"kerf could not read the pool back to check what the kernel kept ({err.message})."
    if pool is None or not pool.populated:
        return None
    kept = _pool_text(pool)
    ops = []
    if pool.cpus:
        ops.append(ItemOperation("/resources", Kind.CPU_REMOVE, tuple(CpuItem(c, None) for c in pool.cpus)))
    if pool.free_pci:
        ops.append(ItemOperation("/resources", Kind.DEVICE_REMOVE, tuple(PciItem(p) for p in pool.free_pci)))
    if pool.chunks:
        chunks = tuple(MemoryItem(c.size, c.base, c.node) for c in pool.chunks)
        ops.append(ItemOperation("/resources", Kind.MEMORY_REMOVE, chunks))
    try:
        apply_batch(session.backend(), build_transactions(ops, tag=f"{new_batch()}-init-undo"))
    except KerfError as err:
        return (
            f"The kernel kept part of the baseline ({kept}) and giving it back failed: {err.message}. "
            "kerf init needs an empty pool; return these resources to the host before trying again."
        )
    return (
        f"The kernel had kept part of the baseline ({kept}); kerf gave it back, so the pool is empty again."
    )


def _pool_text(pool: PoolView) -> str:
    from kerf.validate.findings import ids_text, size_text

    parts = []
    if pool.cpus:
        parts.append(f"CPUs {ids_text(pool.cpus)}")
    if pool.chunks:
        parts.append(
            f"{len(pool.chunks)} memory chunk{'s' if len(pool.chunks) != 1 else ''} of "
            f"{size_text(sum(c.size for c in pool.chunks))}"
        )
    if pool.free_pci:
        parts.append(f"devices {', '.join(pool.free_pci)}")
    return ", ".join(parts)


def _refuse_foreign_directory(root: Path) -> None:
    """A simulated host goes into a new or empty directory only: one that holds anything
    else is the user's, and kerf must neither use it nor (when something fails) remove it."""
    from kerf.errors import UsageError

    if root.is_symlink() or (root.exists() and (not root.is_dir() or any(root.iterdir()))):
        raise UsageError(
            f"{root} already exists and is not an empty directory, nor a simulated host",
            hint="choose another --root (or KERF_ROOT) for the simulated host",
        )


def _create_simulated(session: Session, host: Host) -> None:
    from kerf.kernel.sim import SimulatedHost

    root = session.location.kernel_root
    if root.exists() and not any(root.iterdir()):
        root.rmdir()  # an empty leftover: SimulatedHost.create makes it again
    session.adopt_backend(SimulatedHost.create(root, host))


def _current_pool(session: Session) -> PoolView | None:
    """The kernel's pool, or None when there is no kernel to ask yet (no simulated host)."""
    from kerf.dts import from_dtb

    if session.location.simulated and not session.simulated_exists():
        return None
    if not session.location.simulated:
        from kerf.kernel.sysfs import SysfsBackend

        backend = session.backend()
        if isinstance(backend, SysfsBackend) and not (backend.root / "device_tree").exists():
            return None  # not mounted yet: an unmounted filesystem has no pool to ask about
    return read_pool(from_dtb(session.backend().read_device_tree(), "device_tree"))


def _populated(session: Session) -> AlreadyInitialisedError:
    where = "the simulated host" if session.location.simulated else "the kernel"
    return AlreadyInitialisedError(
        f"the pool of {where} is already initialised (the kernel takes a baseline only once, "
        "while the pool is empty)",
        hint="to change the pool, edit the host description and run kerf pool --input HOST; "
        "kerf show shows the pool as it is",
    )


def _describe(baseline: Baseline) -> str:
    from kerf.validate.findings import ids_text, size_text

    memory = ", ".join(
        f"{size_text(size)} on node {node}" if node is not None else size_text(size)
        for node, size in baseline.memory
    )
    devices = (
        f", {len(baseline.devices)} device{'s' if len(baseline.devices) != 1 else ''}"
        if baseline.devices
        else ""
    )
    return f"CPUs {ids_text(baseline.cpus)}; memory {memory or 'none'}{devices}"


def _summary(session: Session, baseline: Baseline, source: Path) -> dict[str, object]:
    return {
        "backend": session.location.kind.value,
        "root": str(session.location.kernel_root),
        "state": str(session.location.state_dir),
        "source": str(source),
        "cpus": list(baseline.cpus),
        "memory": [{"numa_node": node, "bytes": size} for node, size in baseline.memory],
        "devices": [
            {"label": d.label, "pci_id": d.pci_id, "vendor_id": d.vendor_id, "device_id": d.device_id}
            for d in baseline.devices
        ],
        "not_handed_to_kernel": [{"label": label, "reason": why} for label, why in baseline.skipped],
    }


def _skipped_notices(skipped: Sequence[tuple[str, str]]) -> list[str]:
    """One line per reason (seven VFs without a pci-id are one notice, not seven)."""
    by_reason: dict[str, list[str]] = {}
    for label, why in skipped:
        by_reason.setdefault(why, []).append(label)
    notices = []
    for why, labels in by_reason.items():
        if len(labels) == 1:
            notices.append(f"{labels[0]} is not handed to the kernel: {why}")
        else:
            notices.append(f"{len(labels)} units are not handed to the kernel ({', '.join(labels)}): {why}")
    return notices


def load_valid_description(source: Path) -> HostDescription:
    """The host description in ``source``, refused unless the validator passes it (the
    checks of ``kerf init`` and ``kerf pool``)."""
    from kerf.binding import load_host
    from kerf.validate import validate_description

    desc = load_host(source)
    report = validate_description(desc)
    if not report.ok:
        shown = "; ".join(f"[{f.code}] {f.message}" for f in report.errors[:MAX_FINDINGS_SHOWN])
        more = len(report.errors) - MAX_FINDINGS_SHOWN
        raise ValidationError(
            f"{source} is not a valid host description: {shown}"
            + (f" (and {more} more)" if more > 0 else ""),
            hint=f"kerf validate {source} shows every finding with its location",
        )
    return desc
