"""/resources/memory: sizes and bases in every accepted 64-bit form, the pool ranges extension."""

from __future__ import annotations

import pytest

from planner.hardware import MemoryRange
from tests.binding.util import fails, host_text, loc, read, remarks

GiB = 1 << 30


def memory(total: str, pool_base: str, pool_bytes: str, reserved: str | None = None) -> str:
    text = f"total-bytes = {total}; memory-pool-base = {pool_base}; memory-pool-bytes = {pool_bytes};"
    return text + (f" host-reserved-bytes = {reserved};" if reserved is not None else "")


@pytest.mark.parametrize(
    "form",
    ["<0x4 0x0>", "/bits/ 64 <0x400000000>", "<0x4 0>", "/bits/ 64 <(16 << 30)>"],
)
def test_64_bit_forms_under_dts_v1(form: str) -> None:
    desc = read(host_text(memory=memory(form, "<0x40000000>", "<0x0 0x40000000>")))
    assert desc.host.memory.total_bytes == 16 * GiB
    assert desc.host.memory.pool == (MemoryRange(GiB, GiB),)
    assert desc.warnings == ()


@pytest.mark.parametrize("form", ["<0x0 0x400000000>", "<0x400000000>"])
def test_wide_literals_under_multikernel_v1(form: str) -> None:
    text = host_text(header="/multikernel-v1/;", memory=memory(form, "<0x0 0x40000000>", "<0x0 0x40000000>"))
    desc = read(text)
    assert desc.host.memory.total_bytes == 16 * GiB
    (remark,) = remarks(desc, "dts-wide-literal")
    assert remark.location == loc(text, "total-bytes")
    assert remark.message.startswith(
        f"'total-bytes = <{form[1:-1]}>' uses a cell literal wider than 32 bits (line "
    )
    assert remark.hint == "write total-bytes = <0x4 0x0>; or total-bytes = /bits/ 64 <0x400000000>;"
    # the binding's remark replaces the parser's, whose advice is for a cell, not the property
    assert len(desc.warnings) == 1


def test_several_wide_literals_give_one_remark() -> None:
    text = host_text(
        header="/multikernel-v1/;",
        memory=memory("<0x0 0x400000000>", "<0x100000000>", "<0x0 0x100000000>", "<0x100000000>"),
    )
    (remark,) = read(text).warnings
    assert "and 3 more 64-bit properties use" in remark.message


def test_wide_literal_elsewhere_stays_the_parsers_warning() -> None:
    """Outside the binding's 64-bit properties a wide literal is two cells, as the parser says."""
    text = host_text(header="/multikernel-v1/;", cpus="ids = <5 0x300000002>; available = <5>;")
    desc = read(text)
    assert [c.id for c in desc.host.cpus] == [2, 3, 5]
    (warning,) = desc.warnings
    assert warning.location == loc(text, "0x300000002")
    assert "wider than a 32-bit cell" in warning.message


def test_hi_with_wide_lo_is_ambiguous() -> None:
    text = host_text(header="/multikernel-v1/;", memory=memory("<0x1 0x400000000>", "<0x0>", "<0x0>"))
    err = fails(text)
    assert err.location == loc(text, "total-bytes")
    assert (
        err.message
        == "/resources/memory: property 'total-bytes' should be one 64-bit value, but it is <0x1 0x400000000>"
    )


def test_wrong_size_is_located() -> None:
    text = host_text(memory=memory("<1 2 3>", "<0>", "<0>"))
    err = fails(text)
    assert err.location == loc(text, "total-bytes")
    assert err.message == (
        "/resources/memory: property 'total-bytes' should be a 64-bit number (two cells <hi lo>, "
        "/bits/ 64 <v>, or one cell <v>), but it is 3 cells (12 bytes)"
    )


def test_host_reserved_defaults_to_total_minus_pool() -> None:
    desc = read(host_text(memory=memory("<0x4 0x0>", "<0x0 0x40000000>", "<0x3 0x0>")))
    assert desc.host.memory.host_reserved_bytes == 4 * GiB


def test_missing_total_bytes() -> None:
    text = host_text(memory="memory-pool-base = <0x0>; memory-pool-bytes = <0x1000>;")
    err = fails(text)
    assert err.location == loc(text, "memory {")
    assert err.message == "/resources/memory: property 'total-bytes' is missing (the host's memory in bytes)"


def test_missing_pool() -> None:
    text = host_text(memory="total-bytes = <0x1 0x0>; memory-pool-base = <0x0>;")
    err = fails(text)
    assert err.message == (
        "/resources/memory: property 'memory-pool-bytes' is missing (the memory pool instances draw from)"
    )


def test_pool_ranges_extension() -> None:
    text = host_text(
        memory=(
            "total-bytes = <0x10 0x0>; memory-pool-ranges = /bits/ 64 <0x100000000 0x40000000 0x900000000 "
            "0x80000000>;"
        )
    )
    pool = read(text).host.memory.pool
    assert pool == (MemoryRange(4 * GiB, GiB), MemoryRange(36 * GiB, 2 * GiB))


def test_pool_ranges_with_a_matching_summary_pair() -> None:
    text = host_text(
        memory=(
            "total-bytes = <0x10 0x0>; memory-pool-ranges = /bits/ 64 <0x100000000 0x40000000 0x900000000 "
            "0x80000000>; memory-pool-base = <0x1 0x0>; memory-pool-bytes = <0x0 0xc0000000>;"
        )
    )
    assert read(text).host.memory.pool_bytes == 3 * GiB


def test_pool_ranges_with_a_disagreeing_summary_pair() -> None:
    text = host_text(
        memory="total-bytes = <0x10 0x0>; memory-pool-ranges = /bits/ 64 <0x100000000 0x40000000>;"
        " memory-pool-base = <0x1 0x0>; memory-pool-bytes = <0x1 0x0>;"
    )
    err = fails(text)
    assert err.location == loc(text, "memory-pool-bytes")
    assert err.message == (
        "/resources/memory: 'memory-pool-bytes' is 4294967296 but 'memory-pool-ranges' adds up to 1073741824"
    )


def test_pool_ranges_need_pairs() -> None:
    text = host_text(memory="total-bytes = <0x10 0x0>; memory-pool-ranges = /bits/ 64 <0x100000000>;")
    err = fails(text)
    assert err.location == loc(text, "memory-pool-ranges")
    assert "should hold (base, size) pairs, but it has 1 values" in err.message


def test_pool_ranges_refuse_wide_literals() -> None:
    text = host_text(
        header="/multikernel-v1/;",
        memory="total-bytes = <0x10 0x0>; memory-pool-ranges = <0x100000000 0x40000000>;",
    )
    err = fails(text)
    assert err.location == loc(text, "memory-pool-ranges")
    assert err.hint is not None and "/bits/ 64" in err.hint
