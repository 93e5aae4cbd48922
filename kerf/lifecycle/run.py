"""The lifecycle system calls: ``kerf load``, ``unload``, ``exec`` (``start``) and ``kill``.

The legal order is create -> load -> exec -> kill -> (exec again | unload) -> delete
(reference §8). Each step checks the state first and, when it is the wrong one, says the
state and the next legal step; the kernel's own refusal (with its errno) is the backstop.
One exception: ``exec`` of an ``active`` instance goes to the kernel, which restarts it
when all of its CPUs are parked (a spawn that died) and refuses with EBUSY otherwise
(reference §4.3); only the kernel can see whether the CPUs are parked.
``load`` records where the image came from (path, size, SHA-256, format, initrd, command
line, time); ``unload`` forgets it.
"""

from __future__ import annotations

import errno
import hashlib
from dataclasses import replace
from pathlib import Path

from kerf.errors import InputError, KerfError
from kerf.kernel.backend import InstanceStatus
from kerf.kernel.errors import KernelStateError
from kerf.kernel.syscalls import Arch, check_force_halt, encode_cmdline
from kerf.lifecycle.common import Outcome, new_batch, prepare, resolve_instance, utc_now
from kerf.lifecycle.errors import WrongStateError
from kerf.lifecycle.faults import checkpoint
from kerf.lifecycle.kernel_view import InstanceView
from kerf.lifecycle.session import Session
from kerf.state import FileFacts, ImageRecord, InstanceRecord, Journal, PlacementRecord

_CHUNK = 1 << 20


def _facts(path: Path, what: str) -> FileFacts:
    """Size and SHA-256 of a file handed to the kernel; InputError when it is unusable."""
    if not path.exists():
        raise InputError(f"{what} {path} does not exist", hint="check the path")
    if not path.is_file():
        raise InputError(f"{what} {path} is not a regular file")
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
                size += len(block)
    except OSError as err:
        raise InputError(f"cannot read {what} {path}: {err.strerror}") from None
    if size == 0:
        raise InputError(f"{what} {path} is empty")
    return FileFacts(str(path.resolve()), size, digest.hexdigest())


def _record_of(session: Session, inst: InstanceView) -> InstanceRecord:
    record = session.state.record(inst.name)
    if record is None:  # reconcile adopted it a moment ago; this cannot happen under the lock
        return InstanceRecord(inst.name, inst.id, PlacementRecord(inst.cpus, ()))
    return record


# --- load / unload ---------------------------------------------------------------------------


def load(
    session: Session,
    name: str | None,
    ident: int | None,
    kernel: Path,
    *,
    initrd: Path | None = None,
    cmdline: str = "",
) -> Outcome:
    """Load a kernel image (and initrd) into a ready instance."""
    from kerf.kernel.image import inspect_image, prepare_image

    encode_cmdline(cmdline)  # a NUL or unencodable text is a usage error before any work
    info = inspect_image(kernel)
    initrd_facts = _facts(initrd, "initrd") if initrd is not None else None
    # Extracting a bzImage payload takes a while: do it before taking the lock.
    prepared_image = prepare_image(kernel, session.arch())
    with session.locked() as state:
        prepared = prepare(session)
        inst = resolve_instance(prepared.view, name, ident)
        if inst.status is InstanceStatus.ACTIVE:
            raise WrongStateError(
                f"instance {inst.name} is active; stop it first: kerf kill {inst.name}",
                hint=f"then kerf unload {inst.name} and load the new kernel",
            )
        if inst.status is InstanceStatus.LOADED:
            raise WrongStateError(
                f"instance {inst.name} already has a kernel loaded; unload it first: kerf unload {inst.name}",
                hint="or start the loaded one: kerf exec " + inst.name,
            )
        before = _record_of(session, inst)
        image = ImageRecord(
            kernel=FileFacts(str(info.path.resolve()), info.size, info.sha256),
            format=str(info.format),
            arch=info.arch,
            version=info.version,
            compression=str(info.compression),
            initrd=initrd_facts,
            cmdline=cmdline,
            loaded_at=utc_now(),
        )
        after = replace(before, image=image)
        state.write_journal(Journal("load", new_batch(), instance=inst.name, before=before, after=after))
        checkpoint("journal-written")
        try:
            session.mounted_backend().load(inst.id, prepared_image, initrd, cmdline)
        except KerfError:
            state.clear_journal()  # the kernel refused: nothing happened
            raise
        checkpoint("kernel-called")
        state.write_record(after)
        checkpoint("record-written")
        state.clear_journal()
    version = f" ({info.version})" if info.version else ""
    return Outcome(
        f"loaded {info.format} {kernel}{version} into {inst.name} (id {inst.id}); "
        f"start it with kerf exec {inst.name}",
        {"name": inst.name, "id": inst.id, "status": "loaded", "image": image_json(image)},
        list(prepared.notices),
    )


def unload(session: Session, name: str | None, ident: int | None) -> Outcome:
    """Drop the loaded kernel of a stopped instance."""
    with session.locked() as state:
        prepared = prepare(session)
        inst = resolve_instance(prepared.view, name, ident)
        if inst.status is InstanceStatus.ACTIVE:
            raise WrongStateError(
                f"instance {inst.name} is active; stop it first: kerf kill {inst.name}",
                hint="the kernel would free the image of a running instance",
            )
        if inst.status is not InstanceStatus.LOADED:
            raise WrongStateError(
                f"instance {inst.name} is {inst.status}: it has no kernel loaded, so there is nothing "
                "to unload",
                hint=f"load one with kerf load {inst.name} --kernel IMAGE, or delete it: "
                f"kerf delete {inst.name}",
            )
        before = _record_of(session, inst)
        after = replace(before, image=None)
        state.write_journal(Journal("unload", new_batch(), instance=inst.name, before=before, after=after))
        checkpoint("journal-written")
        try:
            session.mounted_backend().unload(inst.id)
        except KerfError:
            state.clear_journal()
            raise
        checkpoint("kernel-called")
        state.write_record(after)
        checkpoint("record-written")
        state.clear_journal()
    return Outcome(
        f"unloaded the kernel of {inst.name} (id {inst.id}); it is ready again",
        {"name": inst.name, "id": inst.id, "status": "ready"},
        list(prepared.notices),
    )


# --- start / halt ----------------------------------------------------------------------------


def _stop_hint(session: Session, name: str) -> str:
    """How to stop a running instance on this host (no forced stop on riscv64)."""
    if session.arch() is Arch.RISCV64:
        return f"stop it with kerf kill {name}, or leave it running"
    return (
        f"stop it with kerf kill {name}; if it does not answer (a hung kernel), "
        f"kerf kill --force {name}; or leave it running"
    )


def start(session: Session, name: str | None, ident: int | None) -> Outcome:
    """Boot the loaded kernel on the instance's CPUs.

    An ``active`` instance is handed to the kernel too: it restarts one whose CPUs are all
    parked (its kernel died) and refuses one that still runs (EBUSY), which becomes a
    WrongStateError naming the ways to stop it.
    """
    with session.locked():
        prepared = prepare(session)
        inst = resolve_instance(prepared.view, name, ident)
        if inst.status is InstanceStatus.ACTIVE:
            try:
                session.mounted_backend().start(inst.id)
            except KernelStateError as err:
                if err.errno != errno.EBUSY:
                    raise
                raise WrongStateError(
                    f"instance {inst.name} is already active: the kernel refused to start it again "
                    "(EBUSY: its CPUs are still running, or another kexec operation is in progress)",
                    hint=_stop_hint(session, inst.name),
                ) from None
            return Outcome(
                f"restarted {inst.name} (id {inst.id}) on CPU {inst.cpus[0] if inst.cpus else '?'}: "
                "its previous kernel had stopped with all CPUs parked",
                {"name": inst.name, "id": inst.id, "status": "active"},
                list(prepared.notices),
            )
        if inst.status is not InstanceStatus.LOADED:
            raise WrongStateError(
                f"instance {inst.name} is {inst.status}: it has no kernel to start; load one first: "
                f"kerf load {inst.name} --kernel IMAGE",
            )
        if not inst.cpus:
            raise WrongStateError(
                f"instance {inst.name} has no CPUs to run on; give it some first: "
                f"kerf update {inst.name} --cpu-count N",
            )
        session.mounted_backend().start(inst.id)
    return Outcome(
        f"started {inst.name} (id {inst.id}) on CPU {inst.cpus[0]}",
        {"name": inst.name, "id": inst.id, "status": "active"},
        list(prepared.notices),
    )


def halt(session: Session, name: str | None, ident: int | None, *, force: bool = False) -> Outcome:
    """Stop a running instance (``force``: also rescue a loaded one whose CPUs missed a stop).

    ``force`` is refused on riscv64 before anything happens: the kernel implements no forced
    stop there, and a success it reported would let ``unload`` free a running image.
    """
    if force:
        check_force_halt(session.arch(), name or (f"--id {ident}" if ident is not None else "NAME"))
    with session.locked():
        prepared = prepare(session)
        inst = resolve_instance(prepared.view, name, ident)
        if inst.status is InstanceStatus.LOADED and not force:
            raise WrongStateError(
                f"instance {inst.name} is loaded but not running; start it with kerf exec {inst.name}",
                hint=None
                if session.arch() is Arch.RISCV64  # no forced stop there
                else f"kerf kill --force {inst.name} stops CPUs that missed an earlier stop",
            )
        if inst.status not in (InstanceStatus.ACTIVE, InstanceStatus.LOADED):
            raise WrongStateError(
                f"instance {inst.name} is {inst.status}: it is not running",
                hint=f"load and start it first: kerf load {inst.name} --kernel IMAGE; kerf exec {inst.name}",
            )
        session.mounted_backend().halt(inst.id, force=force)
    how = "forced stop of" if force else "stopped"
    return Outcome(
        f"{how} {inst.name} (id {inst.id}); its kernel stays loaded (kerf exec {inst.name} starts it again)",
        {"name": inst.name, "id": inst.id, "status": "loaded"},
        list(prepared.notices),
    )


def image_json(image: ImageRecord) -> dict[str, object]:
    """The JSON form of an image's provenance."""
    initrd = image.initrd
    return {
        "path": image.kernel.path,
        "size": image.kernel.size,
        "sha256": image.kernel.sha256,
        "format": image.format,
        "arch": image.arch,
        "version": image.version,
        "compression": image.compression,
        "initrd": None
        if initrd is None
        else {"path": initrd.path, "size": initrd.size, "sha256": initrd.sha256},
        "cmdline": image.cmdline,
        "loaded_at": image.loaded_at,
    }
