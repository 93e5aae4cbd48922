"""Host discovery: describe a live machine, or any machine from its hwloc XML export.

Public entry points:

* :func:`discover_host` reads /sys and /proc (or copies of them) into a
  :class:`Discovery`: a :class:`~planner.hardware.Host` with physical CPU ids (APIC ids
  on x86), the logical <-> physical id map and notes about what was missing or assumed;
* :func:`host_from_hwloc_xml` builds the same from ``lstopo --of xml`` output;
* :func:`render_dts` writes a Discovery as a commented host description (the
  multikernel-v1 binding); :func:`discovery_to_json` as JSON data.

Reading never fails on a partial tree (containers hide things): what is missing becomes
a note and a documented default. A :class:`~kerf.errors.KerfError` is raised only when
nothing usable is left (no CPUs, no memory size, an unreadable or malformed XML file).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kerf.discover.build import build_discovery
from kerf.discover.hwloc import read_hwloc_machine
from kerf.discover.jsonview import discovery_to_json
from kerf.discover.live import read_live_machine
from kerf.discover.model import Discovery, IdKind, Note, NoteLog, Severity
from kerf.discover.writer import render_dts

__all__ = [
    "Discovery",
    "IdKind",
    "Note",
    "Severity",
    "discover_host",
    "discovery_to_json",
    "host_from_hwloc_xml",
    "render_dts",
]


def discover_host(
    sysfs_root: str | Path = "/sys",
    procfs_root: str | Path = "/proc",
    *,
    reserve_cpus: Iterable[int] | None = None,
    pool_bytes: int | None = None,
) -> Discovery:
    """Describe the machine whose /sys and /proc are at the given roots.

    ``reserve_cpus`` (physical ids) replaces the default host-reserved set (the boot
    CPU and its SMT siblings); ``pool_bytes`` replaces the default pool size (see
    :mod:`kerf.discover.memory`). Raises :class:`~kerf.errors.InputError` when no CPU or
    no memory can be found, :class:`~kerf.errors.UsageError` for impossible overrides.
    """
    log = NoteLog()
    facts = read_live_machine(sysfs_root, procfs_root, log)
    return build_discovery(facts, log, reserve_cpus=reserve_cpus, pool_bytes=pool_bytes)


def host_from_hwloc_xml(
    path: str | Path,
    *,
    reserve_cpus: Iterable[int] | None = None,
    pool_bytes: int | None = None,
) -> Discovery:
    """Describe the machine of an hwloc v2 XML export (``lstopo --of xml``).

    CPU ids are Linux's logical numbers (hwloc's PU os indexes) and memory addresses are
    placeholders (hwloc records sizes only); the notes say so. Raises
    :class:`~kerf.errors.InputError` for unreadable, malformed or non-v2 XML.
    """
    log = NoteLog()
    facts = read_hwloc_machine(path, log)
    return build_discovery(facts, log, reserve_cpus=reserve_cpus, pool_bytes=pool_bytes)
