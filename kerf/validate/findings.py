"""What the validator reports: findings with a stable code, and the report that holds them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from kerf.errors import SourceLocation
from kerf.validate.codes import CODES

PAGE = 4096


class Severity(StrEnum):
    """How bad a finding is: only errors make a description invalid."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One rule a description or plan breaks (or a remark about it).

    ``code`` is stable and kebab-case (every code is listed in docs/validation.md);
    ``subject`` says what it is about (``instance web``, ``/resources/cpus``,
    ``device eth0``); ``location`` is where that was written, when it came from DTS.
    """

    code: str
    severity: Severity
    message: str
    hint: str | None
    location: SourceLocation | None
    subject: str


@dataclass(frozen=True)
class Report:
    """All findings of one validation, in the order the rules produced them."""

    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings and notes are allowed)."""
        return not self.errors

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings of severity ERROR."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings of severity WARNING."""
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of every finding, in order (handy for tests and scripts)."""
        return tuple(f.code for f in self.findings)


class Collector:
    """The one place findings are made: it owns the list and finds locations.

    ``at`` arguments are keys of the binding's location map, tried in order:
    ``/instances/web/resources:cpus`` (a property), then ``/instances/web`` (its node).
    """

    def __init__(self, locations: Mapping[str, SourceLocation] | None = None) -> None:
        self.findings: list[Finding] = []
        self.locations: Mapping[str, SourceLocation] = locations or {}

    def locate(self, keys: Iterable[str]) -> SourceLocation | None:
        """The first known location among ``keys``."""
        for key in keys:
            location = self.locations.get(key)
            if location is not None:
                return location
        return None

    def add(
        self,
        code: str,
        severity: Severity,
        subject: str,
        message: str,
        *,
        hint: str | None = None,
        at: Sequence[str] = (),
    ) -> None:
        """Record a finding located at the first known key of ``at``."""
        self.keep(Finding(code, severity, message, hint, self.locate(at), subject))

    def keep(self, finding: Finding) -> None:
        """Record a finding made elsewhere (the binding's remarks)."""
        registered = CODES.get(finding.code)
        if registered is None or registered[0] != finding.severity.value:
            # a bug in kerf: every code is documented with its severity in codes.py
            raise ValueError(
                f"finding code {finding.code!r} with severity {finding.severity} is not registered"
            )
        self.findings.append(finding)

    def error(
        self, code: str, subject: str, message: str, *, hint: str | None = None, at: Sequence[str] = ()
    ) -> None:
        """Record an error."""
        self.add(code, Severity.ERROR, subject, message, hint=hint, at=at)

    def warning(
        self, code: str, subject: str, message: str, *, hint: str | None = None, at: Sequence[str] = ()
    ) -> None:
        """Record a warning."""
        self.add(code, Severity.WARNING, subject, message, hint=hint, at=at)

    def info(
        self, code: str, subject: str, message: str, *, hint: str | None = None, at: Sequence[str] = ()
    ) -> None:
        """Record a note."""
        self.add(code, Severity.INFO, subject, message, hint=hint, at=at)

    def report(self) -> Report:
        """Everything recorded so far."""
        return Report(tuple(self.findings))


# --- paths of the binding, as keys of the location map -----------------------------------


def instance_at(name: str, prop: str | None = None) -> tuple[str, ...]:
    """Location keys of an instance block (a property of its resources, then the block)."""
    block = f"/instances/{name}"
    if prop is None:
        return (block,)
    if prop == "id":
        return (f"{block}:id", block)
    return (f"{block}/resources:{prop}", f"{block}/resources", block)


def resources_at(section: str, *props: str) -> tuple[str, ...]:
    """Location keys under /resources (``cpus``, ``memory``, ``devices/x``, ``topology/...``):
    the properties in the order given, then the node."""
    node = f"/resources/{section}"
    return (*(f"{node}:{prop}" for prop in props), node)


# --- wording helpers ---------------------------------------------------------------------


def ids_text(values: Iterable[int]) -> str:
    """``0-3, 8, 10-11``: ascending ids with runs collapsed."""
    ordered = sorted(set(values))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}-{ordered[j]}")
        else:
            parts.extend(str(v) for v in ordered[i : j + 1])
        i = j + 1
    return ", ".join(parts)


def cpus_text(values: Iterable[int]) -> str:
    """``CPU 4`` or ``CPUs 4, 5``."""
    ordered = sorted(set(values))
    return f"CPU {ordered[0]}" if len(ordered) == 1 else f"CPUs {ids_text(ordered)}"


def size_text(n: int) -> str:
    """Bytes in the largest binary unit that fits: ``16 GiB`` when exact, else ``24.01 GiB``."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            if n % (1 << shift) == 0:
                return f"{n >> shift} {unit}"
            return f"{n / (1 << shift):.2f} {unit}"
    return f"{n} B"


def node_list(nodes: Iterable[int]) -> str:
    """``[0, 1]``: the list form the NUMA messages use."""
    return "[" + ", ".join(str(n) for n in sorted(set(nodes))) + "]"


def is_aligned(value: int) -> bool:
    """True on a 4 KiB page boundary."""
    return value % PAGE == 0
