"""DTB encoding and decoding: layout, reserve map, guessed markers, bad blobs, load()."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest

from kerf.dts import MarkerKind, from_dtb, is_dtb, load, parse, to_dtb, trees_equal
from kerf.errors import DtbError, ExitCode

SOURCE = '/dts-v1/;\n/memreserve/ 0x1000 0x2000;\n/ { s = "x"; c = <1 2>; b = [01 02 03]; n { e; }; };\n'


def header(blob: bytes) -> dict[str, int]:
    names = ["magic", "totalsize", "off_struct", "off_strings", "off_rsv", "version", "last_comp",
             "boot_cpu", "size_strings", "size_struct"]  # fmt: skip
    return dict(zip(names, struct.unpack(">10I", blob[:40]), strict=True))


def test_header_layout_is_dtcs() -> None:
    blob = to_dtb(parse(SOURCE))
    fields = header(blob)
    assert fields["magic"] == 0xD00DFEED
    assert fields["totalsize"] == len(blob)
    assert fields["version"] == 17
    assert fields["last_comp"] == 16
    assert fields["off_rsv"] == 40  # right after the header, 8-aligned
    assert fields["off_struct"] == 40 + 16 * 2  # one entry and the terminator
    assert fields["off_strings"] == fields["off_struct"] + fields["size_struct"]
    # names in order of first use: s, c, b, e
    start = fields["off_strings"]
    assert blob[start : start + fields["size_strings"]] == b"s\0c\0b\0e\0"


def test_round_trip_keeps_reserve_map_and_bytes() -> None:
    tree = parse(SOURCE)
    back = from_dtb(to_dtb(tree), "x.dtb")
    assert back.memreserves == [(0x1000, 0x2000)]
    assert back.filename == "x.dtb"
    assert back.header == "dts-v1"
    assert trees_equal(tree, back)


def test_decoded_values_get_guessed_markers() -> None:
    back = from_dtb(to_dtb(parse(SOURCE)))
    kinds = {name: [m.kind for m in prop.markers] for name, prop in back.root.props.items()}
    assert kinds == {"s": [MarkerKind.STRING], "c": [MarkerKind.U32], "b": [MarkerKind.BYTES]}
    assert back.get_node("/n").props["e"].markers == []


def test_decoded_phandles_are_indexed() -> None:
    back = from_dtb(to_dtb(parse("/dts-v1/; / { x = <&a>; a: a { }; };")))
    assert back.phandle2node == {1: back.get_node("/a")}
    assert back.label2node == {}


def test_is_dtb() -> None:
    assert is_dtb(to_dtb(parse(SOURCE)))
    assert not is_dtb(b"/dts-v1/;")
    assert not is_dtb(b"")


def test_load_chooses_by_content(tmp_path: Path) -> None:
    dts = tmp_path / "board.txt"
    dts.write_text(SOURCE)
    dtb = tmp_path / "board.dts"  # misleading name: content decides
    dtb.write_bytes(to_dtb(parse(SOURCE)))
    assert load(dts).filename == str(dts)
    assert trees_equal(load(dts), load(dtb))
    assert load(dts).memreserves == [(0x1000, 0x2000)]


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "x.dtb: not a DTB: 0 bytes is shorter than the 40-byte header"),
        (b"/dts-v1/; / { };" * 4, "x.dtb: not a DTB: bad magic 0x2f647473 (expected 0xd00dfeed)"),
    ],
)
def test_not_a_dtb(blob: bytes, message: str) -> None:
    with pytest.raises(DtbError) as err:
        from_dtb(blob, "x.dtb")
    assert str(err.value) == message
    assert err.value.exit_code == ExitCode.INPUT


def test_truncated_blob() -> None:
    blob = to_dtb(parse(SOURCE))
    with pytest.raises(DtbError) as err:
        from_dtb(blob[:-10], "x.dtb")
    assert (
        str(err.value)
        == f"x.dtb: truncated DTB: the header says {len(blob)} bytes, the file has {len(blob) - 10}"
    )


def test_unsupported_version() -> None:
    blob = bytearray(to_dtb(parse(SOURCE)))
    struct.pack_into(">I", blob, 20, 2)
    with pytest.raises(DtbError, match="unsupported DTB version 2"):
        from_dtb(bytes(blob), "x.dtb")


def test_corrupt_structure_block() -> None:
    blob = bytearray(to_dtb(parse(SOURCE)))
    offset = header(bytes(blob))["off_struct"]
    struct.pack_into(">I", blob, offset, 0x77)  # not a valid tag
    with pytest.raises(DtbError, match=r"x\.dtb: corrupt DTB: FDT_ERR_"):
        from_dtb(bytes(blob), "x.dtb")


def test_every_truncation_and_bit_flip_is_a_dtb_error_or_a_tree() -> None:
    blob = to_dtb(parse(SOURCE))
    for cut in range(len(blob)):
        with pytest.raises(DtbError):
            from_dtb(blob[:cut])
    for index in range(len(blob)):
        for bit in (0x01, 0x80):
            mutated = bytearray(blob)
            mutated[index] ^= bit
            with contextlib.suppress(DtbError):
                from_dtb(bytes(mutated))


def test_too_deep_nesting_is_refused() -> None:
    source = "/dts-v1/; / { " + "a { " * 64 + "};" * 64 + " };"
    blob = to_dtb(parse(source))
    # one more level than the parser allows, made by hand from a shallower blob
    import libfdt

    fdt = libfdt.Fdt(bytearray(blob) + bytearray(4096))
    fdt.resize(len(blob) + 4096)
    path = "/" + "/".join(["a"] * 64)
    fdt.add_subnode(fdt.path_offset(path), "a")
    fdt.pack()
    with pytest.raises(DtbError, match="nested more than 64 levels"):
        from_dtb(bytes(fdt.as_bytearray()))


def test_memreserve_entry_of_zero_is_written() -> None:
    blob = to_dtb(parse("/dts-v1/; /memreserve/ 0 0; / { };"))
    assert header(blob)["off_struct"] == 40 + 16 * 2


def test_duplicate_names_in_a_blob_are_refused() -> None:
    import libfdt

    writer = libfdt.FdtSw()
    writer.finish_reservemap()
    with writer.add_node(""):
        with writer.add_node("twin"):
            pass
        with writer.add_node("twin"):
            pass
    blob = bytes(writer.as_fdt().as_bytearray())
    with pytest.raises(DtbError, match=r"x\.dtb: corrupt DTB: node 'twin' twice in /"):
        from_dtb(blob, "x.dtb")
