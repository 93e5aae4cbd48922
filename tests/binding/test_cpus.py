"""/resources/cpus: total, ids, host-reserved, available, cores; defaults and errors."""

from __future__ import annotations

import pytest

from tests.binding.util import fails, host_text, loc, read, remarks


def test_total_reserved_available() -> None:
    host = read(host_text(cpus="total = <4>; host-reserved = <0>; available = <1 2>;")).host
    assert [c.id for c in host.cpus] == [0, 1, 2, 3]
    assert host.declared_total_cpus == 4
    assert host.host_reserved == {0}
    assert host.available == {1, 2}


def test_sparse_ids() -> None:
    host = read(host_text(cpus="ids = <0 2 4 6>; host-reserved = <0>; available = <2 4 6>;")).host
    assert [c.id for c in host.cpus] == [0, 2, 4, 6]
    assert host.declared_total_cpus is None


def test_ids_as_64_bit_cells() -> None:
    host = read(host_text(cpus="ids = /bits/ 64 <0 0x100000000>; available = /bits/ 64 <0x100000000>;")).host
    assert [c.id for c in host.cpus] == [0, 1 << 32]
    assert host.available == {1 << 32}


def test_cpu_lists_may_mix_cell_groups() -> None:
    host = read(host_text(cpus="total = <4>; available = <1>, /bits/ 64 <2>, <3>;")).host
    assert host.available == {1, 2, 3}


def test_host_reserved_defaults_to_none() -> None:
    host = read(host_text(cpus="total = <2>; available = <0 1>;")).host
    assert host.host_reserved == frozenset()


def test_missing_available_means_every_other_cpu_with_a_warning() -> None:
    text = host_text(cpus="total = <4>; host-reserved = <0>;")
    desc = read(text)
    assert desc.host.available == {1, 2, 3}
    (remark,) = remarks(desc, "cpu-pool-default")
    assert remark.severity == "warning"
    assert remark.location == loc(text, "cpus {")
    assert (
        remark.message
        == "/resources/cpus: no 'available' list; every CPU that is not host-reserved is in the pool"
    )


def test_cores_give_smt_siblings() -> None:
    text = host_text(
        cpus=(
            "total = <4>; available = <0 1 2 3>; cores { core@0 { cpus = <0 2>; }; core@1 { cpus = <1 3>; "
            "}; };"
        )
    )
    host = read(text).host
    assert [c.cpus for c in host.cores] == [(0, 2), (1, 3)]
    assert host.cpu_by_id[2].core == 0


def test_no_cores_means_no_smt() -> None:
    host = read(host_text()).host
    assert all(len(c.cpus) == 1 for c in host.cores)


def test_duplicate_ids_are_kept_for_the_validator() -> None:
    text = host_text(cpus="total = <4>; available = <1 2 2 3 3>;")
    desc = read(text)
    (remark,) = remarks(desc, "cpu-duplicate-id")
    assert remark.severity == "error"
    assert remark.location == loc(text, "available")
    assert remark.message == "/resources/cpus: 'available' lists CPUs 2, 3 more than once"


def test_missing_total_and_ids() -> None:
    text = host_text(cpus="available = <1>;")
    err = fails(text)
    assert err.location == loc(text, "cpus {")
    assert err.message == "/resources/cpus: property 'total' is missing (the number of CPUs)"
    assert err.hint and "ids" in err.hint


@pytest.mark.parametrize(
    ("cpus", "needle", "message"),
    [
        (
            'total = "eight"; available = <1>;',
            "total",
            "/resources/cpus: property 'total' should be one 32-bit cell like <8>, but it is a string",
        ),
        (
            "total = <8 9>; available = <1>;",
            "total",
            "/resources/cpus: property 'total' should be one 32-bit cell like <8>, but it is 2 cells (8 "
            "bytes)",
        ),
        (
            'total = <8>; available = "1-7";',
            "available",
            "/resources/cpus: property 'available' should be a list of numbers like <0 1 2 3>, but it is a "
            "string",
        ),
        (
            "total = <8>; available = /bits/ 16 <1 2>;",
            "available",
            "/resources/cpus: property 'available' should be a list of 32-bit cells like <0 1 2 3> "
            "(or /bits/ 64 <...>), but it is 4 bytes long",
        ),
    ],
)
def test_wrong_value_shapes_are_located(cpus: str, needle: str, message: str) -> None:
    text = host_text(cpus=cpus)
    err = fails(text)
    assert err.location == loc(text, needle)
    assert err.message == message


def test_flat_kernel_format_is_explained() -> None:
    text = "/dts-v1/;\n/ {\n\tresources {\n\t\tcpus = /bits/ 64 <1 2>;\n\t};\n};\n"
    err = fails(text)
    assert err.location == loc(text, "cpus =")
    assert "the kernel's baseline format" in err.message
    assert err.hint is not None and "cpus { total" in err.hint


def test_unknown_property_is_a_warning_naming_the_known_ones() -> None:
    text = host_text(cpus="total = <2>; available = <1>; avaliable = <0>;")
    (remark,) = remarks(read(text), "binding-unknown-property")
    assert remark.location == loc(text, "avaliable")
    assert remark.message == "/resources/cpus: property 'avaliable' is not part of the binding and is ignored"
    assert remark.hint == "known here: available, host-reserved, ids, total"


def test_unknown_node_is_a_warning() -> None:
    text = host_text(extra="").replace("\t\tmemory {", "\t\tmemory@0 { size = <0x1000>; };\n\t\tmemory {")
    (remark,) = remarks(read(text), "binding-unknown-node")
    assert remark.location == loc(text, "memory@0")
    assert remark.message == "/resources/memory@0: node 'memory@0' is not part of the binding and is ignored"
    assert remark.hint == "known here: cpus, devices, memory, topology"
