"""Packing operations into transactions: the kernel's order, one page per blob, splitting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerf.errors import InternalError
from kerf.overlay import (
    INSTANCES,
    RESOURCES,
    CpuItem,
    InstanceCreate,
    InstanceRemove,
    ItemOperation,
    Kind,
    MemoryItem,
    Operation,
    PciItem,
    build_transactions,
    instance_target,
    operations_of,
    read_overlay,
)
from tests.overlay.cases import create_small, create_split, update_delta

GiB = 1 << 30


def test_a_small_create_is_one_transaction_with_two_fragments() -> None:
    [tx] = build_transactions(create_small(), tag="t")
    assert [f.target for f in tx.fragments] == [INSTANCES, instance_target("web")]
    assert [op.kind for op in tx.fragments[1].operations] == [Kind.MEMORY_ADD, Kind.DEVICE_ADD]
    assert tx.tree.root.prop("mk,resources") is not None
    assert tx.tree.root.prop("mk,resources").to_string() == "t 1"  # type: ignore[union-attr]
    assert list(tx.tree.root.children) == ["fragment@0", "fragment@1"]


def test_a_create_too_large_for_a_page_passes_the_rest_of_its_cpus_as_cpu_add() -> None:
    txs = build_transactions(create_split(520), tag="t")
    assert len(txs) == 2
    first, second = (operations_of(t.blob) for t in txs)
    create = first[0]
    assert isinstance(create, InstanceCreate)
    rest = second[0]
    assert isinstance(rest, ItemOperation) and rest.kind is Kind.CPU_ADD
    assert rest.target == instance_target("big")
    # Every CPU once, in order: the boot CPU stays first.
    assert [c.cpu for c in create.cpus] + [c.cpu for c in rest.items if isinstance(c, CpuItem)] == list(
        range(520)
    )
    assert all(len(t.blob) <= 4096 for t in txs)
    assert len(txs[0].blob) > 4096 - 64  # the first page is used up, not split early


def test_operations_out_of_kernel_order_go_to_separate_fragments() -> None:
    db = instance_target("db")
    ops: list[Operation] = [
        ItemOperation(db, Kind.CPU_ADD, (CpuItem(1),)),
        ItemOperation(db, Kind.MEMORY_ADD, (MemoryItem(GiB, 0x100000000),)),  # the kernel would run it first
    ]
    [tx] = build_transactions(ops, tag="t")
    assert [[op.kind for op in f.operations] for f in tx.fragments] == [[Kind.CPU_ADD], [Kind.MEMORY_ADD]]


def test_one_fragment_holds_each_operation_once() -> None:
    db = instance_target("db")
    ops: list[Operation] = [
        ItemOperation(db, Kind.CPU_ADD, (CpuItem(1),)),
        ItemOperation(db, Kind.CPU_ADD, (CpuItem(2),)),
    ]
    [tx] = build_transactions(ops, tag="t")
    assert len(tx.fragments) == 2


def test_pool_fragments_follow_the_pool_order() -> None:
    # In /resources the kernel removes CPUs before memory: cpu-remove then memory-remove fit one fragment.
    ops: list[Operation] = [
        ItemOperation(RESOURCES, Kind.CPU_REMOVE, (CpuItem(3),)),
        ItemOperation(RESOURCES, Kind.MEMORY_REMOVE, (MemoryItem(GiB, 0x100000000),)),
    ]
    [tx] = build_transactions(ops, tag="t")
    assert len(tx.fragments) == 1
    # ... but memory-remove then cpu-remove would run in the other order: two fragments.
    [tx] = build_transactions(list(reversed(ops)), tag="t")
    assert len(tx.fragments) == 2


def test_fragment_units_are_hexadecimal() -> None:
    ops: list[Operation] = [InstanceRemove(f"i{n}") for n in range(12)]
    [tx] = build_transactions(ops, tag="t")
    assert list(tx.tree.root.children)[9:12] == ["fragment@9", "fragment@a", "fragment@b"]
    assert [op.name for op in operations_of(tx.blob) if isinstance(op, InstanceRemove)] == [
        f"i{n}" for n in range(12)
    ]


def test_an_operation_that_cannot_fit_a_page_is_a_bug() -> None:
    huge = InstanceCreate("x" * 60, GiB, (CpuItem(0),))
    with pytest.raises(InternalError, match="does not fit"):
        build_transactions([huge], tag="t", limit=100)


def test_reading_back_the_update_delta() -> None:
    [tx] = build_transactions(update_delta(), tag="t")
    [fragment] = read_overlay(tx.blob)
    assert fragment.operations == tuple(update_delta())


# --- property: whatever the batch, each blob fits, and the items come back in order -------------

_targets = st.sampled_from([instance_target("a"), instance_target("b"), RESOURCES])
_cpu = st.builds(CpuItem, st.integers(0, 4095), st.one_of(st.none(), st.integers(0, 7)))
_mem = st.builds(
    MemoryItem,
    st.integers(1, 1 << 20).map(lambda n: n * 4096),
    st.integers(0, 1 << 30).map(lambda n: n * 4096),
    st.one_of(st.none(), st.integers(0, 7)),
)
_pci = st.builds(PciItem, st.integers(0, 0xFF).map(lambda b: f"0000:{b:02x}:00.0"))


@st.composite
def _item_ops(draw: st.DrawFn) -> Operation:
    kind = draw(st.sampled_from([k for k in Kind if k not in (Kind.CREATE, Kind.REMOVE)]))
    items = {"memory": _mem, "cpu": _cpu, "device": _pci}[kind.value.split("-")[0]]
    unique = st.lists(items, min_size=1, max_size=150, unique_by=lambda i: getattr(i, "cpu", i))
    return ItemOperation(draw(_targets), kind, tuple(draw(unique)))


_ops = st.lists(
    st.one_of(
        _item_ops(),
        st.builds(InstanceRemove, st.sampled_from(["a", "b", "c"])),
        st.builds(
            InstanceCreate,
            st.sampled_from(["a", "b"]),
            st.integers(0, 1 << 20).map(lambda n: n * 4096),
            st.lists(st.builds(CpuItem, st.integers(0, 4095)), max_size=700, unique_by=lambda c: c.cpu).map(
                tuple
            ),
            st.one_of(st.none(), st.integers(1, 2047)),
            st.one_of(st.none(), st.integers(0, 7)),
        ),
    ),
    min_size=1,
    max_size=8,
)


def _flatten(ops: list[Operation]) -> list[tuple[str, str, object]]:
    """The batch as a stream of (target, kind, thing): a split create counts as its CPUs."""
    out: list[tuple[str, str, object]] = []
    for op in ops:
        if isinstance(op, InstanceCreate):
            out.append((INSTANCES, "create", (op.name, op.memory_bytes, op.id, op.numa_node)))
            out += [(instance_target(op.name), "cpu", c.cpu) for c in op.cpus]
        elif isinstance(op, InstanceRemove):
            out.append((INSTANCES, "remove", op.name))
        else:
            out += [(op.target, op.kind.value, i if not isinstance(i, CpuItem) else i.cpu) for i in op.items]
    return out


@settings(max_examples=40, deadline=None)
@given(_ops)
def test_packing_keeps_every_item_in_order_within_the_page_limit(ops: list[Operation]) -> None:
    txs = build_transactions(ops, tag="kerf-prop")
    assert all(len(t.blob) <= 4096 for t in txs)
    assert [t.tag for t in txs] == [f"kerf-prop {n}" for n in range(1, len(txs) + 1)]
    back = [op for t in txs for op in operations_of(t.blob)]

    def key(entry: tuple[str, str, object]) -> tuple[str, str, object]:
        # cpu items of a create and of cpu-add read back the same; numa nodes of create CPUs are not encoded
        target, kind, thing = entry
        return (target, "cpu" if kind == "cpu-add" else kind, thing)

    assert [key(e) for e in _flatten(back)] == [key(e) for e in _flatten(ops)]
