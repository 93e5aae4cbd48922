"""Operations as transactions: one operation and one item per transaction, in the caller's
order, one page per blob (an instance-create too large for a page is split)."""

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
    OverlayTransaction,
    PciItem,
    build_transactions,
    instance_target,
    operations_of,
    read_overlay,
)
from tests.overlay.cases import create_small, create_split, update_delta

GiB = 1 << 30


def _single(tx: OverlayTransaction) -> Operation:
    """The one operation of a transaction (after checking that it is alone)."""
    assert list(tx.tree.root.children) == ["fragment@0"]
    [fragment] = tx.fragments
    [op] = fragment.operations
    assert fragment.target == op.target
    return op


def test_a_small_create_is_one_transaction_per_operation() -> None:
    txs = build_transactions(create_small(), tag="t")
    assert [_single(t) for t in txs] == create_small()
    assert [t.fragments[0].target for t in txs] == [INSTANCES, instance_target("web"), instance_target("web")]
    assert [t.tree.root.prop("mk,resources").to_string() for t in txs] == ["t 1", "t 2", "t 3"]  # type: ignore[union-attr]
    assert all(t.is_single_step for t in txs)


def test_a_create_too_large_for_a_page_passes_the_rest_of_its_cpus_as_single_cpu_adds() -> None:
    txs = build_transactions(create_split(520), tag="t")
    create, *rest = (operations_of(t.blob) for t in txs)
    assert len(create) == 1 and isinstance(create[0], InstanceCreate)
    assert all(len(ops) == 1 for ops in rest)
    adds = [ops[0] for ops in rest if isinstance(ops[0], ItemOperation)]
    assert len(adds) == len(rest)
    assert all(a.kind is Kind.CPU_ADD and len(a.items) == 1 for a in adds)
    assert {a.target for a in adds} == {instance_target("big")}
    # Every CPU once, in order: the boot CPU stays first.
    cpus = [c.cpu for c in create[0].cpus] + [i.cpu for a in adds for i in a.items if isinstance(i, CpuItem)]
    assert cpus == list(range(520))
    assert all(len(t.blob) <= 4096 for t in txs)
    assert len(txs[0].blob) > 4096 - 64  # the first page is used up, not split early


def test_an_item_operation_becomes_one_transaction_per_item() -> None:
    db = instance_target("db")
    op = ItemOperation(db, Kind.CPU_REMOVE, (CpuItem(6, 1), CpuItem(14, 1), CpuItem(3)))
    txs = build_transactions([op], tag="t")
    assert [_single(t) for t in txs] == [ItemOperation(db, Kind.CPU_REMOVE, (i,)) for i in op.items]


def test_the_callers_order_is_kept_even_against_the_kernels_order() -> None:
    db = instance_target("db")
    ops: list[Operation] = [
        ItemOperation(db, Kind.CPU_ADD, (CpuItem(1),)),
        ItemOperation(db, Kind.MEMORY_ADD, (MemoryItem(GiB, 0x100000000),)),  # the kernel would run it first
        ItemOperation(RESOURCES, Kind.MEMORY_REMOVE, (MemoryItem(GiB, 0x200000000),)),
        ItemOperation(RESOURCES, Kind.CPU_REMOVE, (CpuItem(3),)),  # in one fragment it would run first
        InstanceRemove("db"),
    ]
    assert [_single(t) for t in build_transactions(ops, tag="t")] == ops


def test_an_operation_that_cannot_fit_a_page_is_a_bug() -> None:
    huge = InstanceCreate("x" * 60, GiB, (CpuItem(0),))
    with pytest.raises(InternalError, match="does not fit"):
        build_transactions([huge], tag="t", limit=100)


def test_reading_back_the_update_delta() -> None:
    txs = build_transactions(update_delta(), tag="t")
    back = [op for t in txs for f in read_overlay(t.blob) for op in f.operations]
    expected = [
        ItemOperation(op.target, op.kind, (item,))
        for op in update_delta()
        if isinstance(op, ItemOperation)
        for item in op.items
    ]
    assert back == expected


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
def test_every_transaction_holds_one_step_and_every_item_comes_back_in_order(ops: list[Operation]) -> None:
    txs = build_transactions(ops, tag="kerf-prop")
    assert all(len(t.blob) <= 4096 for t in txs)
    assert [t.tag for t in txs] == [f"kerf-prop {n}" for n in range(1, len(txs) + 1)]
    back = [op for t in txs for op in operations_of(t.blob)]
    # One operation per blob, one item per item operation: a transaction the kernel
    # refuses has changed nothing.
    assert len(back) == len(txs)
    assert all(len(read_overlay(t.blob)) == 1 for t in txs)
    assert all(len(op.items) == 1 for op in back if isinstance(op, ItemOperation))
    assert all(t.is_single_step for t in txs)
    # Instance operations stay whole except for CPUs a page cannot hold.
    assert [op.name for op in back if isinstance(op, InstanceRemove)] == [
        op.name for op in ops if isinstance(op, InstanceRemove)
    ]
    assert [
        (op.name, op.memory_bytes, op.id, op.numa_node) for op in back if isinstance(op, InstanceCreate)
    ] == [(op.name, op.memory_bytes, op.id, op.numa_node) for op in ops if isinstance(op, InstanceCreate)]

    def key(entry: tuple[str, str, object]) -> tuple[str, str, object]:
        # cpu items of a create and of cpu-add read back the same; numa nodes of create CPUs are not encoded
        target, kind, thing = entry
        return (target, "cpu" if kind == "cpu-add" else kind, thing)

    assert [key(e) for e in _flatten(back)] == [key(e) for e in _flatten(ops)]
