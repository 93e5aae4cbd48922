"""kerf's own state directory: what the kernel does not keep.

The kernel is the source of truth for which instances exist, their ids, states, CPUs and
memory regions. It forgets everything else, so kerf keeps it here::

    <state>/
      lock                  flock of every read-plan-write cycle (holds the holder's pid)
      host.dts              the full host description (binding DTS, with topology)
      host.dts.pending      a description being installed by an interrupted `kerf init`
      instances/<name>.json per instance: request, policies, planned placement, image provenance
      journal.json          the intent of the operation in progress (absent when idle)
      settings.json         host-wide settings (kerf config); absent means the defaults

Every file is replaced atomically (:mod:`kerf.fsutil`). A damaged file is an InputError
that names the file; nothing here guesses.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kerf.errors import InputError, UsageError
from kerf.fsutil import atomic_write_text, ensure_dir, file_lock, fsync_dir, remove_durably
from planner.policy import CoreSharing, CpuAffinity, MemoryPolicy

FORMAT_VERSION = 1
HOST_FILE = "host.dts"
PENDING_HOST_FILE = "host.dts.pending"
JOURNAL_FILE = "journal.json"
LOCK_FILE = "lock"
INSTANCES_DIR = "instances"
SETTINGS_FILE = "settings.json"
DEFAULT_LOCK_TIMEOUT = 60.0
LOCK_TIMEOUT_ENV = "KERF_LOCK_TIMEOUT"

_T = TypeVar("_T")


class StateFormatError(InputError):
    """A state file that kerf cannot read back."""


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """What the user asked for (kept so that `kerf update` can re-plan by the same rules)."""

    memory_bytes: int
    cpu_count: int | None = None
    cpus: tuple[int, ...] | None = None
    numa_nodes: tuple[int, ...] = ()
    cpu_affinity: CpuAffinity = CpuAffinity.COMPACT
    memory_policy: MemoryPolicy = MemoryPolicy.LOCAL
    devices: tuple[str, ...] = ()
    exclusive_cores: bool = False


@dataclass(frozen=True)
class PlacementRecord:
    """What the plan gave the instance: CPUs (boot CPU first), bytes per NUMA node, units."""

    cpus: tuple[int, ...]
    memory: tuple[tuple[int, int], ...]  # (numa node, bytes), ascending node
    devices: tuple[str, ...] = ()
    numa_nodes: tuple[int, ...] = ()

    @property
    def memory_bytes(self) -> int:
        """Total planned bytes."""
        return sum(size for _, size in self.memory)


@dataclass(frozen=True)
class FileFacts:
    """A file handed to the kernel: where it was, how big, its SHA-256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ImageRecord:
    """Provenance of a loaded kernel image."""

    kernel: FileFacts
    format: str
    arch: str
    version: str | None
    compression: str
    initrd: FileFacts | None
    cmdline: str
    loaded_at: str  # UTC, ISO 8601, seconds


@dataclass(frozen=True)
class InstanceRecord:
    """Everything kerf remembers about one instance. ``request`` is None for an instance
    that kerf found in the kernel without having created it."""

    name: str
    id: int | None
    placement: PlacementRecord
    request: RequestRecord | None = None
    image: ImageRecord | None = None


@dataclass(frozen=True)
class Journal:
    """The intent of an operation in progress, written before its first side effect.

    ``batch`` tags every overlay the operation writes (the root ``mk,resources`` string,
    shown in ``tx_<N>/resources``), so recovery finds them even when kerf died between a
    write and recording it. ``phase`` is ``kernel`` while the kernel is being changed
    (recovery rolls back) and ``commit`` once the kernel holds the result (recovery
    completes the state files). ``before`` / ``after`` are the instance's records.
    """

    operation: str
    batch: str
    phase: str = "kernel"
    instance: str | None = None
    before: InstanceRecord | None = None
    after: InstanceRecord | None = None
    created_host: bool = False
    started_at: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


# --- JSON encoding ---------------------------------------------------------------------------


def _request_json(r: RequestRecord) -> dict[str, Any]:
    return {
        "memory_bytes": r.memory_bytes,
        "cpu_count": r.cpu_count,
        "cpus": list(r.cpus) if r.cpus is not None else None,
        "numa_nodes": list(r.numa_nodes),
        "cpu_affinity": r.cpu_affinity.value,
        "memory_policy": r.memory_policy.value,
        "devices": list(r.devices),
        "exclusive_cores": r.exclusive_cores,
    }


def _facts_json(f: FileFacts | None) -> dict[str, Any] | None:
    return None if f is None else {"path": f.path, "size": f.size, "sha256": f.sha256}


def record_to_json(rec: InstanceRecord) -> dict[str, Any]:
    """The JSON form of a record (also used inside the journal)."""
    image = rec.image
    return {
        "version": FORMAT_VERSION,
        "name": rec.name,
        "id": rec.id,
        "request": _request_json(rec.request) if rec.request is not None else None,
        "placement": {
            "cpus": list(rec.placement.cpus),
            "memory": [{"numa_node": n, "bytes": b} for n, b in rec.placement.memory],
            "devices": list(rec.placement.devices),
            "numa_nodes": list(rec.placement.numa_nodes),
        },
        "image": None
        if image is None
        else {
            "kernel": _facts_json(image.kernel),
            "format": image.format,
            "arch": image.arch,
            "version": image.version,
            "compression": image.compression,
            "initrd": _facts_json(image.initrd),
            "cmdline": image.cmdline,
            "loaded_at": image.loaded_at,
        },
    }


RECORD_HINT = (
    "the state file is damaged; restore it, or remove it and let kerf rebuild the record from the "
    "kernel on its next command"
)
SETTINGS_HINT = (
    "the settings file is damaged; remove it (the defaults apply) and set it again with kerf config"
)


class _Reader:
    """Typed access to decoded JSON, with errors that name the file and the field."""

    def __init__(self, source: str, hint: str = RECORD_HINT) -> None:
        self.source = source
        self.hint = hint

    def fail(self, where: str, expected: str, found: object) -> StateFormatError:
        message = f"{self.source}: {where} should be {expected}, found {found!r}"
        return StateFormatError(message, hint=self.hint)

    def get(self, data: Mapping[str, Any], key: str, kind: type[_T], where: str) -> _T:
        if key not in data:
            raise self.fail(f"{where}.{key}", f"present ({kind.__name__})", "nothing")
        value = data[key]
        if kind is int and isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "an integer", value)
        if not isinstance(value, kind):
            raise self.fail(f"{where}.{key}", kind.__name__, value)
        return value

    def opt(self, data: Mapping[str, Any], key: str, kind: type[_T], where: str) -> _T | None:
        if data.get(key) is None:
            return None
        return self.get(data, key, kind, where)

    def ints(self, data: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
        values = self.get(data, key, list, where)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise self.fail(f"{where}.{key}", "a list of integers", values)
        return tuple(values)

    def strs(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        values = self.get(data, key, list, where)
        if not all(isinstance(v, str) for v in values):
            raise self.fail(f"{where}.{key}", "a list of strings", values)
        return tuple(values)

    def enum(self, data: Mapping[str, Any], key: str, kind: Callable[[str], _T], where: str) -> _T:
        text = self.get(data, key, str, where)
        try:
            return kind(text)
        except ValueError:
            raise self.fail(f"{where}.{key}", "a known policy name", text) from None

    def facts(self, data: Mapping[str, Any], key: str, where: str) -> FileFacts | None:
        raw = self.opt(data, key, dict, where)
        if raw is None:
            return None
        here = f"{where}.{key}"
        return FileFacts(
            self.get(raw, "path", str, here),
            self.get(raw, "size", int, here),
            self.get(raw, "sha256", str, here),
        )


def record_from_json(data: object, source: str) -> InstanceRecord:
    """Read a record back; StateFormatError names the file and field when it is damaged."""
    r = _Reader(source)
    if not isinstance(data, dict):
        raise r.fail("the document", "a JSON object", type(data).__name__)
    version = r.get(data, "version", int, "record")
    if version != FORMAT_VERSION:
        raise r.fail("record.version", f"{FORMAT_VERSION}", version)
    raw_request = r.opt(data, "request", dict, "record")
    request = None
    if raw_request is not None:
        cpus = r.ints(raw_request, "cpus", "request") if raw_request.get("cpus") is not None else None
        request = RequestRecord(
            memory_bytes=r.get(raw_request, "memory_bytes", int, "request"),
            cpu_count=r.opt(raw_request, "cpu_count", int, "request"),
            cpus=cpus,
            numa_nodes=r.ints(raw_request, "numa_nodes", "request"),
            cpu_affinity=r.enum(raw_request, "cpu_affinity", CpuAffinity, "request"),
            memory_policy=r.enum(raw_request, "memory_policy", MemoryPolicy, "request"),
            devices=r.strs(raw_request, "devices", "request"),
            exclusive_cores=r.get(raw_request, "exclusive_cores", bool, "request"),
        )
    raw_placement = r.get(data, "placement", dict, "record")
    memory = []
    for item in r.get(raw_placement, "memory", list, "placement"):
        if not isinstance(item, dict):
            raise r.fail("placement.memory[]", "an object", item)
        memory.append(
            (r.get(item, "numa_node", int, "placement.memory[]"), r.get(item, "bytes", int, "memory[]"))
        )
    placement = PlacementRecord(
        cpus=r.ints(raw_placement, "cpus", "placement"),
        memory=tuple(memory),
        devices=r.strs(raw_placement, "devices", "placement"),
        numa_nodes=r.ints(raw_placement, "numa_nodes", "placement"),
    )
    raw_image = r.opt(data, "image", dict, "record")
    image = None
    if raw_image is not None:
        kernel = r.facts(raw_image, "kernel", "image")
        if kernel is None:
            raise r.fail("image.kernel", "an object", None)
        image = ImageRecord(
            kernel=kernel,
            format=r.get(raw_image, "format", str, "image"),
            arch=r.get(raw_image, "arch", str, "image"),
            version=r.opt(raw_image, "version", str, "image"),
            compression=r.get(raw_image, "compression", str, "image"),
            initrd=r.facts(raw_image, "initrd", "image"),
            cmdline=r.get(raw_image, "cmdline", str, "image"),
            loaded_at=r.get(raw_image, "loaded_at", str, "image"),
        )
    return InstanceRecord(
        name=r.get(data, "name", str, "record"),
        id=r.opt(data, "id", int, "record"),
        placement=placement,
        request=request,
        image=image,
    )


def journal_to_json(j: Journal) -> dict[str, Any]:
    """The JSON form of a journal."""
    return {
        "version": FORMAT_VERSION,
        "operation": j.operation,
        "batch": j.batch,
        "phase": j.phase,
        "instance": j.instance,
        "before": record_to_json(j.before) if j.before is not None else None,
        "after": record_to_json(j.after) if j.after is not None else None,
        "created_host": j.created_host,
        "started_at": j.started_at,
        "extra": dict(j.extra),
    }


def journal_from_json(data: object, source: str) -> Journal:
    """Read a journal back."""
    r = _Reader(source)
    if not isinstance(data, dict):
        raise r.fail("the document", "a JSON object", type(data).__name__)
    before = data.get("before")
    after = data.get("after")
    return Journal(
        operation=r.get(data, "operation", str, "journal"),
        batch=r.get(data, "batch", str, "journal"),
        phase=r.get(data, "phase", str, "journal"),
        instance=r.opt(data, "instance", str, "journal"),
        before=record_from_json(before, f"{source} (before)") if before is not None else None,
        after=record_from_json(after, f"{source} (after)") if after is not None else None,
        created_host=r.get(data, "created_host", bool, "journal"),
        started_at=r.get(data, "started_at", str, "journal"),
        extra=r.get(data, "extra", dict, "journal"),
    )


@dataclass(frozen=True)
class Settings:
    """Host-wide settings (``kerf config``): defaults for commands that place instances."""

    core_sharing: CoreSharing = CoreSharing.AVOID


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """The settings file's content."""
    return {"version": FORMAT_VERSION, "core-sharing": settings.core_sharing.value}


def settings_from_json(data: object, source: str) -> Settings:
    """Read a settings file back (StateFormatError naming the file when it is not one)."""
    r = _Reader(source, SETTINGS_HINT)
    if not isinstance(data, dict):
        raise r.fail("the content", "a JSON object", data)
    version = r.get(data, "version", int, "settings")
    if version != FORMAT_VERSION:
        raise r.fail("settings.version", str(FORMAT_VERSION), version)
    unknown = sorted(set(data) - {"version", "core-sharing"})
    if unknown:
        raise r.fail("every key", "version or core-sharing", ", ".join(unknown))
    return Settings(core_sharing=r.enum(data, "core-sharing", CoreSharing, "settings"))


# --- the directory ---------------------------------------------------------------------------


def lock_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds to wait for the lock: ``KERF_LOCK_TIMEOUT`` or the default.

    A value that is not a finite number of seconds, 0 or more, is a UsageError (exit 2) and
    deliberately not an InputError: readers suppress InputError to read without a lock, and
    a typo must not silently turn into an unlocked read. ``nan`` and ``inf`` are refused
    because either would make the wait endless.
    """
    text = (env if env is not None else os.environ).get(LOCK_TIMEOUT_ENV)
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    hint = (
        f"set {LOCK_TIMEOUT_ENV} to a number of seconds, 0 or more (e.g. {LOCK_TIMEOUT_ENV}=30), "
        f"or unset it for the default {DEFAULT_LOCK_TIMEOUT:g} s"
    )
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{LOCK_TIMEOUT_ENV}={text!r} is not a number of seconds", hint=hint) from None
    if not math.isfinite(value):
        raise UsageError(f"{LOCK_TIMEOUT_ENV}={text!r} is not a finite number of seconds", hint=hint)
    if value < 0:
        raise UsageError(f"{LOCK_TIMEOUT_ENV}={text!r} must not be negative", hint=hint)
    return value


_MISSING = object()


def _read_json(path: Path, hint: str) -> object:
    """The decoded content of a state file; ``_MISSING`` when there is no such file. Damaged
    JSON is a StateFormatError naming path:line:col, with ``hint``."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return _MISSING
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        where = f"{path}:{err.lineno}:{err.colno}"
        raise StateFormatError(f"{where}: not valid JSON ({err.msg})", hint=hint) from None


class StateDir:
    """kerf's state directory (see the module documentation for its layout)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # -- paths --------------------------------------------------------------------------------

    @property
    def host_file(self) -> Path:
        """The installed host description."""
        return self.path / HOST_FILE

    @property
    def pending_host_file(self) -> Path:
        """A host description being installed."""
        return self.path / PENDING_HOST_FILE

    @property
    def journal_file(self) -> Path:
        """The intent journal."""
        return self.path / JOURNAL_FILE

    def _record_file(self, name: str) -> Path:
        return self.path / INSTANCES_DIR / f"{name}.json"

    # -- lifecycle of the directory --------------------------------------------------------------

    def exists(self) -> bool:
        """True when the directory exists (it may still hold no host)."""
        return self.path.is_dir()

    def ensure(self) -> None:
        """Create the directory and its ``instances`` folder."""
        ensure_dir(self.path / INSTANCES_DIR)

    def lock(self, timeout: float, *, shared: bool = False) -> AbstractContextManager[None]:
        """The state lock (the directory must exist)."""
        return file_lock(
            self.path / LOCK_FILE, timeout=timeout, shared=shared, what=f"kerf's state in {self.path}"
        )

    # -- host ---------------------------------------------------------------------------------

    def has_host(self) -> bool:
        """True when a host description is installed."""
        return self.host_file.is_file()

    def host_text(self) -> str | None:
        """The installed host description's DTS text, or None."""
        try:
            return self.host_file.read_text()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise InputError(f"cannot read {self.host_file}: {err.strerror}") from None

    def write_pending_host(self, text: str) -> None:
        """Stage a host description (installed by :meth:`install_pending_host`)."""
        atomic_write_text(self.pending_host_file, text)

    def install_pending_host(self) -> None:
        """Make the staged description the installed one (one rename)."""
        os.replace(self.pending_host_file, self.host_file)
        fsync_dir(self.path)

    def discard_pending_host(self) -> None:
        """Drop a staged description."""
        remove_durably(self.pending_host_file)

    # -- records ------------------------------------------------------------------------------

    def record_names(self) -> list[str]:
        """Names of the instances kerf has records of, sorted."""
        folder = self.path / INSTANCES_DIR
        if not folder.is_dir():
            return []
        return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))

    def records(self) -> dict[str, InstanceRecord]:
        """Every record by instance name."""
        return {name: rec for name in self.record_names() if (rec := self.record(name)) is not None}

    def record(self, name: str) -> InstanceRecord | None:
        """One record, or None when kerf has none of that name."""
        path = self._record_file(name)
        data = _read_json(
            path, "the state file is damaged; remove it and kerf rebuilds the record from the kernel"
        )
        return None if data is _MISSING else record_from_json(data, str(path))

    def write_record(self, rec: InstanceRecord) -> None:
        """Replace (or create) an instance's record."""
        ensure_dir(self.path / INSTANCES_DIR)
        atomic_write_text(self._record_file(rec.name), json.dumps(record_to_json(rec), indent=2) + "\n")

    def remove_record(self, name: str) -> bool:
        """Remove an instance's record; False when there was none."""
        return remove_durably(self._record_file(name))

    # -- settings -----------------------------------------------------------------------------

    @property
    def settings_file(self) -> Path:
        """The host-wide settings."""
        return self.path / SETTINGS_FILE

    def settings(self) -> Settings:
        """The host-wide settings (the defaults when none were ever written)."""
        data = _read_json(self.settings_file, SETTINGS_HINT)
        return Settings() if data is _MISSING else settings_from_json(data, str(self.settings_file))

    def write_settings(self, settings: Settings) -> None:
        """Replace the host-wide settings (one atomic rename)."""
        ensure_dir(self.path)
        atomic_write_text(self.settings_file, json.dumps(settings_to_json(settings), indent=2) + "\n")

    # -- journal ------------------------------------------------------------------------------

    def journal(self) -> Journal | None:
        """The journal of an interrupted (or running) operation, or None."""
        hint = "remove the journal; kerf then reconciles its records with the kernel"
        data = _read_json(self.journal_file, hint)
        return None if data is _MISSING else journal_from_json(data, str(self.journal_file))

    def write_journal(self, journal: Journal) -> None:
        """Record an intent (replaces any previous one)."""
        atomic_write_text(self.journal_file, json.dumps(journal_to_json(journal), indent=2) + "\n")

    def clear_journal(self) -> None:
        """The operation is finished."""
        remove_durably(self.journal_file)
