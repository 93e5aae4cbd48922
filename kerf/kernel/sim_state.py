"""The state of a simulated multikernel host, and its JSON form.

The state is the single source of truth of the simulated host: the files under its root
are regenerated from it after every change. It holds the simulated *machine* (CPUs with
their NUMA nodes, physical memory per node, PCI devices), the kernel's pool, the
instances, the transaction counter and records, and a kernel log.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from kerf.errors import InputError

STATE_VERSION = 1


@dataclass
class MachineCpu:
    """A CPU of the machine: physical id (what the kernel's trees carry) and NUMA node."""

    id: int
    node: int


@dataclass
class MachineRange:
    """Physical memory of one NUMA node."""

    base: int
    size: int
    node: int


@dataclass
class PciDevice:
    """A PCI function: ``pci_id`` is ``dddd:bb:ss.f`` (lower-case hex)."""

    pci_id: str
    vendor_id: int
    device_id: int
    alias: str | None = None
    driver: str | None = None
    flags: int = 0


@dataclass
class PlatformDevice:
    """A platform device, named by ``device_name`` (or its ACPI HID)."""

    node_name: str
    device_name: str
    acpi_hid: str | None = None


@dataclass
class VirtioDevice:
    """A virtio device requested at instance creation."""

    name: str
    device_id: int
    queues: int
    queue_size: int


@dataclass
class Machine:
    """The simulated hardware. ``cpus`` are in logical order (logical CPU 0 boots the host)."""

    arch: str
    cpus: list[MachineCpu]
    memory: list[MachineRange]
    pci: list[PciDevice] = field(default_factory=list)

    def cpu(self, cpu_id: int) -> MachineCpu | None:
        """The CPU with that physical id, if present."""
        return next((c for c in self.cpus if c.id == cpu_id), None)

    def pci_device(self, pci_id: str) -> PciDevice | None:
        """The machine's PCI function with that id, if present."""
        return next((d for d in self.pci if d.pci_id == pci_id), None)


@dataclass
class Chunk:
    """A pool chunk the kernel allocated: physically contiguous, on one node."""

    base: int
    size: int
    node: int

    @property
    def end(self) -> int:
        """First address past the chunk."""
        return self.base + self.size


@dataclass
class Region:
    """A memory region of an instance (named ``...-region-<index>`` in iomem)."""

    base: int
    size: int
    node: int
    index: int

    @property
    def end(self) -> int:
        """First address past the region."""
        return self.base + self.size


@dataclass
class LoadedImage:
    """What kexec_file_load recorded for an instance."""

    sha256: str
    size: int
    cmdline: str
    segments: int
    start: int
    initrd_sha256: str | None = None
    initrd_size: int = 0
    debug: bool = False


@dataclass
class Instance:
    """An instance the kernel created."""

    id: int
    name: str
    status: str
    cpus: list[int] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    next_region: int = 0
    memory_node: int | None = None
    pci: list[PciDevice] = field(default_factory=list)
    platform: list[PlatformDevice] = field(default_factory=list)
    virtio: list[VirtioDevice] = field(default_factory=list)
    image: LoadedImage | None = None

    @property
    def memory_bytes(self) -> int:
        """Total bytes over all regions."""
        return sum(r.size for r in self.regions)


@dataclass
class Operation:
    """One applied item of an overlay operation: the unit the rollback inverts."""

    target: str
    op: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class TxRecord:
    """A transaction: what ``overlays/tx_<N>/`` shows, plus what rollback needs.

    ``applied`` lists the operations that took effect, in order (shown by the simulated
    host's log; rollback replays the stored blob instead, as the kernel does).
    """

    id: int
    status: str
    instance: str
    resources: str
    dtbo_hex: str
    applied: list[Operation] = field(default_factory=list)
    error: str | None = None

    @property
    def dtbo(self) -> bytes:
        """The blob as written."""
        return bytes.fromhex(self.dtbo_hex)


@dataclass
class SimState:
    """Everything the simulated kernel knows."""

    machine: Machine
    pool: bool = False
    pool_cpus: list[int] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    pool_pci: list[PciDevice] = field(default_factory=list)
    pool_platform: list[PlatformDevice] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    last_tx: int = 1  # the kernel's counter starts at 1 and increments before use
    transactions: list[TxRecord] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    version: int = STATE_VERSION

    # -- lookups --------------------------------------------------------------------

    def instance_by_name(self, name: str) -> Instance | None:
        """The instance of that name, if any."""
        return next((i for i in self.instances if i.name == name), None)

    def instance_by_id(self, ident: int) -> Instance | None:
        """The instance of that id, if any."""
        return next((i for i in self.instances if i.id == ident), None)

    def transaction(self, tx_id: int) -> TxRecord | None:
        """The transaction record of that id, if its directory exists."""
        return next((t for t in self.transactions if t.id == tx_id), None)

    def lent_cpus(self) -> set[int]:
        """Pool CPUs given to instances."""
        return {c for i in self.instances for c in i.cpus}

    def free_cpus(self) -> list[int]:
        """Pool CPUs not given to any instance, in pool order."""
        lent = self.lent_cpus()
        return [c for c in self.pool_cpus if c not in lent]

    def lent_pci_ids(self) -> set[str]:
        """PCI ids of pool devices given to instances."""
        return {d.pci_id for i in self.instances for d in i.pci}

    def pool_pci_device(self, pci_id: str) -> PciDevice | None:
        """The pool's PCI device with that id (free or lent), if any."""
        return next((d for d in self.pool_pci if d.pci_id == pci_id), None)

    def regions(self) -> list[Region]:
        """Every instance region."""
        return [r for i in self.instances for r in i.regions]

    def pool_is_empty(self) -> bool:
        """True when the pool holds no chunk, CPU or PCI device (a baseline may be written)."""
        return not (self.chunks or self.pool_cpus or self.pool_pci)

    # -- JSON -----------------------------------------------------------------------

    def to_json(self) -> str:
        """The state as JSON text.

        Written after every change, and it grows with every transaction (the kernel keeps
        them all): compact, so that json's C encoder does the work (it is not used with
        ``indent``), from a plain copy built without ``dataclasses.asdict``'s deep copies.
        """
        return json.dumps(_plain(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, source: str) -> SimState:
        """Read a state written by :meth:`to_json`; InputError when it is damaged."""
        try:
            data = json.loads(text)
            if data.get("version") != STATE_VERSION:
                raise InputError(
                    f"{source}: simulated host state version {data.get('version')!r} is not {STATE_VERSION}",
                    hint="recreate the simulated host",
                )
            built = _build(cls, data)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise InputError(
                f"{source}: damaged simulated host state: {err}", hint="recreate the simulated host"
            ) from None
        assert isinstance(built, SimState)
        return built


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready dicts, lists and scalars (the shape ``dataclasses.asdict``
    gives, which :func:`_build` reads back)."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is TxRecord:
        return _plain_tx(value)
    names = _field_names(kind)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    return value


_LEAVES = frozenset({int, str, bool, float, type(None)})

# A transaction's record changes only while it is applied or rolled back, and then in its
# status, error and list of applied items; the kernel keeps every transaction, so the state
# written after each change would otherwise convert them all again.
_TX_CACHE: dict[tuple[int, int, str, str | None, int], dict[str, Any]] = {}


def _plain_tx(tx: TxRecord) -> dict[str, Any]:
    key = (id(tx), tx.id, tx.status, tx.error, len(tx.applied))
    found = _TX_CACHE.get(key)
    if found is None or found["dtbo_hex"] is not tx.dtbo_hex:
        names = _field_names(TxRecord) or ()
        found = {name: _plain(getattr(tx, name)) for name in names if name != "dtbo_hex"}
        found["dtbo_hex"] = tx.dtbo_hex
        if len(_TX_CACHE) > 100_000:
            _TX_CACHE.clear()
        _TX_CACHE[key] = found
    return found


_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """The field names of a dataclass type, None for any other type (remembered)."""
    if kind not in _NAMES:
        fields = dataclasses.fields(kind) if dataclasses.is_dataclass(kind) else None
        _NAMES[kind] = None if fields is None else tuple(f.name for f in fields)
    return _NAMES[kind]


_SCALARS = (int, str, bool)


@functools.cache
def _field_types(kind: type) -> dict[str, Any]:
    """Field name -> annotated type of a state dataclass (resolved once per class)."""
    hints = typing.get_type_hints(kind)
    return {f.name: hints[f.name] for f in dataclasses.fields(kind)}


def _build(kind: Any, value: Any) -> Any:
    """Rebuild a value of the annotated type ``kind`` from its ``asdict`` JSON form."""
    if kind in _SCALARS:  # most values: answered before the slower typing inspection
        if not isinstance(value, kind):
            raise TypeError(f"expected {kind.__name__}, found {value!r}")
        return value
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return None if value is None else _build(options[0], value)
    if origin is list:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, found {type(value).__name__}")
        return [_build(typing.get_args(kind)[0], v) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, found {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {kind.__name__}, found {type(value).__name__}")
        hints = _field_types(kind)
        return kind(**{k: _build(hints[k], v) for k, v in value.items() if k in hints})
    if kind in (int, str, bool) and not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, found {value!r}")
    return value
