"""Small DTS builders and readers for the binding tests."""

from __future__ import annotations

import pytest

from kerf.binding import BindingDiagnostic, HostDescription, read_host
from kerf.dts import parse
from kerf.errors import BindingError, SourceLocation

FILE = "host.dts"
CPUS = "total = <8>; host-reserved = <0>; available = <1 2 3 4 5 6 7>;"
MEMORY = (
    "total-bytes = <0x2 0x0>; host-reserved-bytes = <0x0 0x40000000>;\n"
    "\t\tmemory-pool-base = <0x0 0x40000000>; memory-pool-bytes = <0x1 0xc0000000>;"
)


def host_text(
    *,
    cpus: str = CPUS,
    memory: str = MEMORY,
    devices: str = "",
    topology: str = "",
    instances: str = "",
    header: str = "/dts-v1/;",
    extra: str = "",
) -> str:
    """A complete host description with the given parts (each the body of its node)."""
    parts = [
        header,
        "/ {",
        "\tresources {",
        f"\t\tcpus {{ {cpus} }};",
        f"\t\tmemory {{\n\t\t{memory}\n\t\t}};",
    ]
    if devices:
        parts.append(f"\t\tdevices {{\n{devices}\n\t\t}};")
    if topology:
        parts.append(f"\t\ttopology {{\n{topology}\n\t\t}};")
    parts.append("\t};")
    if instances:
        parts.append(f"\tinstances {{\n{instances}\n\t}};")
    if extra:
        parts.append(extra)
    parts.append("};")
    return "\n".join(parts) + "\n"


def read(text: str) -> HostDescription:
    """Parse and read a description (file name host.dts)."""
    return read_host(parse(text, FILE))


def loc(text: str, needle: str, nth: int = 1) -> SourceLocation:
    """Where the nth occurrence of ``needle`` starts in ``text`` (1-based line and column)."""
    start = -1
    for _ in range(nth):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    return SourceLocation(FILE, line, col)


def fails(text: str) -> BindingError:
    """The BindingError reading ``text`` raises."""
    with pytest.raises(BindingError) as info:
        read(text)
    return info.value


def remarks(desc: HostDescription, code: str) -> list[BindingDiagnostic]:
    """The binding's remarks with that code."""
    return [w for w in desc.warnings if isinstance(w, BindingDiagnostic) and w.code == code]
