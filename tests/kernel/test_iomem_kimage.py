"""/proc/iomem and /proc/kimage: parsing the kernel's formats, the pool inside iomem."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerf.errors import InputError, PermissionDeniedError
from kerf.kernel.iomem import POOL_NAME, IomemEntry, format_iomem, parse_iomem
from kerf.kernel.kimage import KimageRow, format_kimage, parse_kimage
from planner.hardware import MemoryRange

# A root reader's view of a multikernel host: two pool chunks, regions nested inside.
MULTIKERNEL_IOMEM = """\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-3fffffff : System RAM
  01000000-02209987 : Kernel code
  02400000-02e09fff : Kernel rodata
40000000-7fffffff : Multikernel Memory Pool
  40000000-463fffff : mk-instance-1-web-server-region-0
  46400000-47ffffff : mk-instance-2-db-region-0
80000000-bfffffff : System RAM
c0001000-eebfffff : PCI Bus 0000:00
100000000-13fffffff : Multikernel Memory Pool
  100000000-10fffffff : mk-instance-2-db-region-1
140000000-63fffffff : System RAM
4000000000-7fffffffff : PCI Bus 0000:00
  4000000000-400007ffff : 0000:00:01.0
    4000000000-400007ffff : virtio-pci-modern
"""

# The same machine as a reader without CAP_SYS_ADMIN sees it (this is what this project's
# CI machine shows to non-root users): every address is zero.
HIDDEN_IOMEM = """\
00000000-00000000 : Reserved
00000000-00000000 : System RAM
00000000-00000000 : Reserved
  00000000-00000000 : System ROM
00000000-00000000 : System RAM
  00000000-00000000 : Kernel code
00000000-00000000 : Multikernel Memory Pool
  00000000-00000000 : mk-instance-1-web-server-region-0
00000000-00000000 : PCI Bus 0000:00
  00000000-00000000 : 0000:00:01.0
    00000000-00000000 : virtio-pci-modern
"""


def test_pool_chunks_and_nested_instance_regions() -> None:
    iomem = parse_iomem(MULTIKERNEL_IOMEM)
    assert not iomem.addresses_hidden
    chunks = iomem.pool_chunks()
    assert [c.range for c in chunks] == [
        MemoryRange(0x40000000, 0x40000000),
        MemoryRange(0x100000000, 0x40000000),
    ]
    first = chunks[0].regions
    assert [(r.instance_id, r.instance_name, r.index) for r in first] == [(1, "web-server", 0), (2, "db", 0)]
    assert first[0].range == MemoryRange(0x40000000, 0x6400000)
    assert chunks[0].used_bytes == 0x6400000 + 0x1C00000
    assert [(r.instance_name, r.index, r.range.base) for r in chunks[1].regions] == [("db", 1, 0x100000000)]
    assert [r.instance_name for r in iomem.instance_regions()] == ["web-server", "db", "db"]


def test_tree_structure_and_lookups() -> None:
    iomem = parse_iomem(MULTIKERNEL_IOMEM)
    assert [e.name for e in iomem.entries][:3] == ["Reserved", "System RAM", "Reserved"]
    pci = iomem.find("PCI Bus 0000:00")
    assert len(pci) == 2 and pci[1].children[0].children[0].name == "virtio-pci-modern"
    depths = [d for d, e in iomem.walk() if e.name == "virtio-pci-modern"]
    assert depths == [2]
    assert len(iomem.find(POOL_NAME)) == 2


def test_formatter_reproduces_the_kernel_text() -> None:
    iomem = parse_iomem(MULTIKERNEL_IOMEM)
    assert format_iomem(iomem.entries) == MULTIKERNEL_IOMEM


def test_hidden_addresses_are_recognised_and_refused_for_the_pool() -> None:
    iomem = parse_iomem(HIDDEN_IOMEM)
    assert iomem.addresses_hidden
    assert [e.name for e in iomem.entries][-1] == "PCI Bus 0000:00"
    with pytest.raises(PermissionDeniedError, match="zero addresses") as err:
        iomem.pool_chunks()
    assert err.value.hint == "run kerf as root"
    with pytest.raises(PermissionDeniedError):
        iomem.instance_regions()


def test_hidden_addresses_without_a_pool_are_not_an_error() -> None:
    text = "\n".join(
        line for line in HIDDEN_IOMEM.splitlines() if "Multikernel" not in line and "mk-" not in line
    )
    iomem = parse_iomem(text)
    assert iomem.pool_chunks() == [] and iomem.instance_regions() == []


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("00000000-00000fff : Reserved\nnot a resource line\n", 2, "malformed line in /proc/iomem"),
        ("00000000-00000fff : Reserved\n    00000000-000000ff : deep\n", 2, "bad nesting"),
        ("00000000-00000fff : Reserved\n   00000000-000000ff : odd\n", 2, "bad nesting"),
        ("00001000-00000fff : Backwards\n", 1, "end 0xfff is below start 0x1000"),
    ],
)
def test_malformed_iomem(text: str, line: int, words: str) -> None:
    with pytest.raises(InputError, match=words) as err:
        parse_iomem(text)
    assert err.value.location is not None and err.value.location.line == line


def test_this_machines_iomem_parses() -> None:
    path = Path("/proc/iomem")
    try:
        text = path.read_text()
    except OSError:
        pytest.skip("/proc/iomem is not readable here")
    iomem = parse_iomem(text)
    assert iomem.entries
    if not iomem.addresses_hidden:
        for _, entry in iomem.walk():
            for child in entry.children:
                assert entry.start <= child.start <= child.end <= entry.end


def test_format_then_parse_keeps_structure() -> None:
    entries = (
        IomemEntry(0x1000, 0x1FFF, "a", (IomemEntry(0x1000, 0x10FF, "b"),)),
        IomemEntry(0x123456789000, 0x123456789FFF, "wide"),
    )
    assert parse_iomem(format_iomem(entries)).entries == entries


# --- /proc/kimage ----------------------------------------------------------------------------

KIMAGE = """\
MK_ID  Type        Start Address   Segments  Mode  Cmdline
-----  ----------  --------------  --------  ----  -------
    1  multikernel  0x000040000000         3  file  "console=ttyS0 root=/dev/vda quiet"
   12  multikernel  0x000100000000         2  file  "say "hi" twice"
    0  default     0x000000000000         0  sys  ""
"""


def test_kimage_rows() -> None:
    rows = parse_kimage(KIMAGE)
    assert rows == [
        KimageRow(1, "multikernel", 0x40000000, 3, "file", "console=ttyS0 root=/dev/vda quiet"),
        KimageRow(12, "multikernel", 0x100000000, 2, "file", 'say "hi" twice'),
        KimageRow(0, "default", 0, 0, "sys", ""),
    ]
    assert format_kimage(rows) == KIMAGE


def test_kimage_with_no_loaded_image() -> None:
    assert parse_kimage(format_kimage([])) == []
    assert parse_kimage("") == []


def test_malformed_kimage_row() -> None:
    text = KIMAGE + '    7  multikernel  0xzz  1  file  "x"\n'
    with pytest.raises(InputError, match="malformed row in /proc/kimage") as err:
        parse_kimage(text)
    assert err.value.location is not None and err.value.location.line == 6
