"""`kerf pool`: the pool of a running host grown and shrunk from an edited host description."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kerf.binding import host_to_tree
from kerf.dts import format_dts, from_dtb
from kerf.errors import ExitCode
from kerf.kernel.sim import SimulatedHost
from kerf.lifecycle.kernel_view import read_kernel, read_pool
from kerf.overlay import ItemOperation, Kind, MemoryItem, operations_of
from planner.hardware import Device, Host, MemoryRange
from tests.cli_lifecycle.conftest import Kerf, tree_files
from tests.kernel.simhost import dual_node_smt2

GiB = 1 << 30


def _sim(kerf: Kerf) -> SimulatedHost:
    return SimulatedHost(kerf.root / "kernel")


def _write(path: Path, host: Host) -> Path:
    path.write_text(format_dts(host_to_tree(host)))
    return path


def _without_cpus(host: Host, *cpus: int) -> Host:
    return replace(host, available=frozenset(host.available - set(cpus)))


def _node1_pool(host: Host, size: int) -> Host:
    """The pool of node 1 ending at the node's top (32 GiB) with ``size`` bytes; node 0 as is.
    The host keeps what the pool does not take."""
    node0 = host.memory.pool[0]
    pool = (node0, MemoryRange(32 * GiB - size, size))
    reserved = host.memory.total_bytes - node0.size - size
    return replace(host, memory=replace(host.memory, pool=pool, host_reserved_bytes=reserved))


#: (pool CPUs, bytes per node, PCI devices free or lent)
PoolState = tuple[tuple[int, ...], dict[int | None, int], tuple[str, ...]]


def _batch_ops(kerf: Kerf, transactions: list[dict[str, Any]]) -> list[ItemOperation]:
    """The operations of a batch as ``--json`` lists it (one item per transaction),
    consecutive items of one kind joined into one operation."""
    sim = _sim(kerf)
    ops: list[ItemOperation] = []
    for tx in transactions:
        [op] = operations_of(sim.read_transaction_blob(tx["id"]))
        assert isinstance(op, ItemOperation) and len(op.items) == 1
        if ops and (ops[-1].kind, ops[-1].target) == (op.kind, op.target):
            ops[-1] = ops[-1].with_items((*ops[-1].items, *op.items))
        else:
            ops.append(op)
    return ops


def _only_the_refused_one_stays_failed(sim: SimulatedHost, words: str) -> None:
    """Every transaction is applied but one: the refused one, left in overlays/."""
    [refused] = [t for t in sim.transactions() if not t.applied]
    assert refused.status.value == "failed"
    assert any(words in op.describe() for op in operations_of(sim.read_transaction_blob(refused.id)))


def _pool_state(kerf: Kerf) -> PoolState:
    """(pool CPUs, bytes per node, PCI devices free or lent) as the kernel shows them."""
    view = read_kernel(_sim(kerf))
    lent = {pci for inst in view.instances.values() for pci in inst.pci_ids}
    return (
        tuple(sorted(view.pool.cpus)),
        view.pool.bytes_by_node(),
        tuple(sorted(set(view.pool.free_pci) | lent)),
    )


@pytest.fixture
def small(kerf: Kerf, tmp_path: Path) -> Kerf:
    """The test host initialised without CPUs 6, 7, 14, 15 in the pool."""
    kerf.ok(
        "init", "--input", str(_write(tmp_path / "small.dts", _without_cpus(dual_node_smt2(), 6, 7, 14, 15)))
    )
    return kerf


def test_grow_cpus_and_memory_then_create_uses_them_and_show_has_them(small: Kerf, tmp_path: Path) -> None:
    wider = _write(tmp_path / "wider.dts", _node1_pool(dual_node_smt2(), 14 * GiB))
    result = small.ok("pool", "--input", str(wider))
    assert result.stdout == "pool: +CPUs 6, 7, 14, 15; +2 GiB on node 1\n"
    assert _pool_state(small) == (tuple(range(16)), {0: 12 * GiB, 1: 14 * GiB}, _pool_state(small)[2])
    # the new description is kerf's: create may pin the new CPUs, show reports the new pool
    assert (small.root / "state" / "host.dts").read_text() == wider.read_text()
    assert not (small.root / "state" / "host.dts.pending").exists()
    small.ok("create", "web", "--cpus", "6,7", "--memory", "13GiB", "--numa-nodes", "1")
    shown = json.loads(small.ok("show", "--json").stdout)
    node1 = shown["host"]["numa_nodes"][1]
    assert node1["pool_cpus"] == [4, 5, 6, 7, 12, 13, 14, 15]
    assert node1["pool_bytes"] == 14 * GiB and node1["used_bytes"] == 13 * GiB
    assert shown["instances"][0]["cpus"] == [6, 7]
    again = small.ok("pool", "--input", str(wider))
    assert again.stdout == f"the pool already matches {wider}\n"


def test_shrink_cpus_and_memory_gives_back_whole_free_chunks(initialised: Kerf, tmp_path: Path) -> None:
    host = dual_node_smt2()
    initialised.ok("pool", "--input", str(_write(tmp_path / "grown.dts", _node1_pool(host, 16 * GiB))))
    chunks = read_pool(from_dtb(_sim(initialised).read_device_tree())).chunks
    added = next(c for c in chunks if c.node == 1 and c.size == 4 * GiB)
    shrunk = _write(tmp_path / "shrunk.dts", _without_cpus(_node1_pool(host, 12 * GiB), 14, 15))
    result = initialised.ok("pool", "--input", str(shrunk), "--json")
    data = json.loads(result.stdout)
    assert data["cpus_removed"] == [14, 15] and data["cpus_added"] == []
    assert data["memory_removed"] == [
        {
            "numa_node": 1,
            "bytes": 4 * GiB,
            "chunks": [{"base": added.base, "bytes": 4 * GiB}],
            "readded_bytes": 0,
        }
    ]
    cpu_remove, memory_remove = _batch_ops(initialised, data["transactions"])
    assert isinstance(cpu_remove, ItemOperation) and cpu_remove.kind is Kind.CPU_REMOVE
    assert memory_remove == ItemOperation(
        "/resources", Kind.MEMORY_REMOVE, (MemoryItem(4 * GiB, added.base, 1),)
    )
    cpus, memory, _ = _pool_state(initialised)
    assert cpus == tuple(c for c in range(16) if c not in (14, 15))
    assert memory == {0: 12 * GiB, 1: 12 * GiB}


def _node_chunks(kerf: Kerf, node: int) -> list[tuple[int, int]]:
    """(base, size) of the kernel's pool chunks on ``node``, by address."""
    chunks = read_pool(from_dtb(_sim(kerf).read_device_tree())).chunks
    return sorted((c.base, c.size) for c in chunks if c.node == node)


def test_part_of_a_one_chunk_node_is_given_back_by_removing_it_and_re_adding_the_rest(
    initialised: Kerf, tmp_path: Path
) -> None:
    assert _node_chunks(initialised, 1) == [(0x500000000, 12 * GiB)]
    less = _write(tmp_path / "less.dts", _node1_pool(dual_node_smt2(), 10 * GiB))
    dry = initialised.ok("pool", "--input", str(less), "--dry-run").stdout
    expected = "-2 GiB on node 1 (12 GiB chunk at 0x500000000 given back, 10 GiB re-added)"
    assert dry == f"would change the pool: {expected}\n"
    data = json.loads(initialised.ok("pool", "--input", str(less), "--json").stdout)
    assert data["memory_added"] == []
    assert data["memory_removed"] == [
        {
            "numa_node": 1,
            "bytes": 2 * GiB,
            "chunks": [{"base": 0x500000000, "bytes": 12 * GiB}],
            "readded_bytes": 10 * GiB,
        }
    ]
    # the whole chunk leaves, then the remainder joins on the same node (one transaction each)
    remove, add = _batch_ops(initialised, data["transactions"])
    assert remove == ItemOperation("/resources", Kind.MEMORY_REMOVE, (MemoryItem(12 * GiB, 0x500000000, 1),))
    assert add == ItemOperation("/resources", Kind.MEMORY_ADD, (MemoryItem(10 * GiB, None, 1),))
    assert _pool_state(initialised)[1] == {0: 12 * GiB, 1: 10 * GiB}
    [(_, size)] = _node_chunks(initialised, 1)
    assert size == 10 * GiB
    node1 = json.loads(initialised.ok("show", "--json").stdout)["host"]["numa_nodes"][1]
    assert node1["pool_bytes"] == 10 * GiB and node1["used_bytes"] == 0
    assert (initialised.root / "state" / "host.dts").read_text() == less.read_text()
    # the smaller pool is usable: an instance takes what is left on the node
    initialised.ok("create", "web", "--cpu-count", "2", "--memory", "10GiB", "--numa-nodes", "1")
    again = initialised.ok("pool", "--input", str(less))
    assert again.stdout == f"the pool already matches {less}\n"


def test_a_shrink_that_whole_free_chunks_make_exactly_re_adds_nothing(
    initialised: Kerf, tmp_path: Path
) -> None:
    host = dual_node_smt2()
    initialised.ok("pool", "--input", str(_write(tmp_path / "grown.dts", _node1_pool(host, 14 * GiB))))
    small_chunk = next(c for c in _node_chunks(initialised, 1) if c[1] == 2 * GiB)
    back = _write(tmp_path / "back.dts", _node1_pool(host, 12 * GiB))
    result = initialised.ok("pool", "--input", str(back), "--json")
    data = json.loads(result.stdout)
    assert data["memory_removed"] == [
        {
            "numa_node": 1,
            "bytes": 2 * GiB,
            "chunks": [{"base": small_chunk[0], "bytes": 2 * GiB}],
            "readded_bytes": 0,
        }
    ]
    [tx] = data["transactions"]
    [remove] = operations_of(_sim(initialised).read_transaction_blob(tx["id"]))
    assert isinstance(remove, ItemOperation) and remove.kind is Kind.MEMORY_REMOVE
    assert _node_chunks(initialised, 1) == [(0x500000000, 12 * GiB)]


def test_memory_the_free_chunks_do_not_hold_is_refused_with_numbers(
    initialised: Kerf, tmp_path: Path
) -> None:
    host = dual_node_smt2()
    initialised.ok("pool", "--input", str(_write(tmp_path / "grown.dts", _node1_pool(host, 14 * GiB))))
    free_chunk = next(c for c in _node_chunks(initialised, 1) if c[1] == 2 * GiB)
    initialised.ok("create", "web", "--cpu-count", "2", "--memory", "6GiB", "--numa-nodes", "1")
    before = tree_files(initialised.root / "kernel")
    result = initialised("pool", "--input", str(_write(tmp_path / "less.dts", _node1_pool(host, 8 * GiB))))
    assert result.exit_code == ExitCode.STATE
    assert "node 1 should give back 6 GiB" in result.stderr
    assert "they hold 2 GiB together" in result.stderr
    assert f"free chunks: 2 GiB at {free_chunk[0]:#x}" in result.stderr
    assert "chunks holding instance memory: 12 GiB at 0x500000000" in result.stderr
    assert "node 1 can give back at most 2 GiB" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert tree_files(initialised.root / "kernel") == before


def test_remove_and_add_a_device(initialised: Kerf, tmp_path: Path) -> None:
    host = dual_node_smt2()
    without = _write(tmp_path / "without.dts", replace(host, devices=host.devices[:1]))
    assert initialised.ok("pool", "--input", str(without)).stdout == "pool: -device nvme0\n"
    assert "0000:0a:00.0" not in _pool_state(initialised)[2]
    refused = initialised("create", "db", "--cpu-count", "1", "--memory", "1G", "--devices", "nvme0")
    assert refused.exit_code == ExitCode.USAGE  # kerf's description no longer has it
    back = _write(tmp_path / "back.dts", host)
    assert initialised.ok("pool", "--input", str(back)).stdout == "pool: +device nvme0\n"
    initialised.ok("create", "db", "--cpu-count", "1", "--memory", "1G", "--devices", "nvme0")


def test_what_instances_hold_is_refused_naming_them_and_nothing_changes(
    initialised: Kerf, tmp_path: Path
) -> None:
    initialised.ok(
        "create", "web", "--cpus", "4,5", "--memory", "6GiB", "--numa-nodes", "1", "--devices", "nvme0"
    )
    host = dual_node_smt2()
    kernel_before = tree_files(initialised.root / "kernel")
    description_before = (initialised.root / "state" / "host.dts").read_text()
    taking = replace(_node1_pool(_without_cpus(host, 5, 6), 4 * GiB), devices=host.devices[:1])
    result = initialised("pool", "--input", str(_write(tmp_path / "taking.dts", taking)))
    assert result.exit_code == ExitCode.STATE
    assert "CPU 5 is held by instance web" in result.stderr
    assert "device nvme0 (0000:0a:00.0) is held by instance web" in result.stderr
    assert (
        "node 1 would keep 4 GiB of pool memory but instances hold 6 GiB there (web 6 GiB)" in result.stderr
    )
    assert "CPU 6" not in result.stderr  # free CPUs could go
    assert "Nothing was changed" in result.stderr
    assert tree_files(initialised.root / "kernel") == kernel_before
    assert (initialised.root / "state" / "host.dts").read_text() == description_before


def test_a_topology_change_is_refused(initialised: Kerf, tmp_path: Path) -> None:
    host = dual_node_smt2()
    cpus = tuple(replace(c, numa_node=0) if c.id == 4 else c for c in host.cpus)
    nodes = tuple(
        replace(n, cpus=tuple(sorted((*n.cpus, 4)) if n.id == 0 else tuple(c for c in n.cpus if c != 4)))
        for n in host.numa_nodes
    )
    cores = tuple(replace(c, numa_node=0) if 4 in c.cpus else c for c in host.cores)
    moved = replace(host, cpus=cpus, numa_nodes=nodes, cores=cores)
    before = tree_files(initialised.root / "kernel")
    result = initialised("pool", "--input", str(_write(tmp_path / "moved.dts", moved)))
    assert result.exit_code == ExitCode.INVALID, result.stderr
    assert "CPU 4 moves from NUMA node 1 to NUMA node 0" in result.stderr
    assert "kerf init" in result.stderr
    assert tree_files(initialised.root / "kernel") == before


def test_dry_run_shows_the_overlay_and_changes_nothing(small: Kerf, tmp_path: Path) -> None:
    before = tree_files(small.root)
    wider = _write(tmp_path / "wider.dts", _node1_pool(dual_node_smt2(), 14 * GiB))
    result = small.ok("pool", "--input", str(wider), "--dry-run", "--json")
    data = json.loads(result.stdout)
    assert data["dry_run"] is True and data["cpus_added"] == [6, 7, 14, 15]
    overlays = data["overlays"]  # one per item: memory-add on node 1, then the four CPUs
    assert len(overlays) == 5 and all('target-path = "/resources";' in dts for dts in overlays)
    assert "memory-add" in overlays[0] and all("cpu-add" in dts for dts in overlays[1:])
    text = small.ok("pool", "--input", str(wider), "--dry-run").stdout
    assert text == "would change the pool: +CPUs 6, 7, 14, 15; +2 GiB on node 1\n"
    assert tree_files(small.root) == before


def test_a_kernel_refusal_half_way_is_rolled_back_with_the_chunk_it_added(
    small: Kerf, tmp_path: Path
) -> None:
    # eth1 is described but the machine has no such PCI function: the kernel refuses the
    # device-add after the CPUs and a new chunk joined; the chunk cannot be rolled back by
    # the kernel, so kerf gives it back itself.
    host = _node1_pool(dual_node_smt2(), 14 * GiB)
    eth1 = Device("eth1", pci_id="0000:0b:00.0", vendor_id=0x8086, device_id=0x1521, numa_node=1)
    ghost = _write(tmp_path / "ghost.dts", replace(host, devices=(*host.devices, eth1)))
    before = _pool_state(small)
    description_before = (small.root / "state" / "host.dts").read_text()
    result = small("pool", "--input", str(ghost))
    assert result.exit_code == ExitCode.KERNEL
    assert "the kernel refused transaction 6 of 6" in result.stderr
    assert "device-add PCI 0000:0b:00.0 (the pool)" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert _pool_state(small) == before
    sim = _sim(small)
    assert any("cannot be undone exactly" in line for line in sim.kernel_log())
    _only_the_refused_one_stays_failed(sim, "PCI 0000:0b:00.0")
    state = small.root / "state"
    assert (state / "host.dts").read_text() == description_before
    assert not (state / "journal.json").exists() and not (state / "host.dts.pending").exists()


def test_before_init_it_says_to_init(kerf: Kerf, test_host: Path) -> None:
    result = kerf("pool", "--input", str(test_host))
    assert result.exit_code == ExitCode.STATE
    assert "kerf init --input" in result.stderr


def test_an_invalid_description_is_refused_like_init(initialised: Kerf, tmp_path: Path) -> None:
    host = dual_node_smt2()
    over = replace(host, memory=replace(host.memory, host_reserved_bytes=10 * GiB))
    result = initialised("pool", "--input", str(_write(tmp_path / "over.dts", over)))
    assert result.exit_code == ExitCode.INVALID
    assert "is not a valid host description" in result.stderr


GOLDEN_GROW = [
    """\
/dts-v1/;

/ {
\tcompatible = "linux,multikernel-overlay";
\tmk,resources = "kerf-golden 1";

\tfragment@0 {
\t\ttarget-path = "/resources";

\t\t__overlay__ {

\t\t\tmemory-add {

\t\t\t\tmemory@0 {
\t\t\t\t\tsize = <0x00 0x80000000>;
\t\t\t\t\tnuma-node-id = <0x01>;
\t\t\t\t};
\t\t\t};
\t\t};
\t};
};
""",
    """\
/dts-v1/;

/ {
\tcompatible = "linux,multikernel-overlay";
\tmk,resources = "kerf-golden 2";

\tfragment@0 {
\t\ttarget-path = "/resources";

\t\t__overlay__ {

\t\t\tcpu-add {

\t\t\t\tcpu@6 {
\t\t\t\t\treg = <0x00 0x06>;
\t\t\t\t\tnuma-node-id = <0x01>;
\t\t\t\t};
\t\t\t};
\t\t};
\t};
};
""",
    """\
/dts-v1/;

/ {
\tcompatible = "linux,multikernel-overlay";
\tmk,resources = "kerf-golden 3";

\tfragment@0 {
\t\ttarget-path = "/resources";

\t\t__overlay__ {

\t\t\tcpu-add {

\t\t\t\tcpu@7 {
\t\t\t\t\treg = <0x00 0x07>;
\t\t\t\t\tnuma-node-id = <0x01>;
\t\t\t\t};
\t\t\t};
\t\t};
\t};
};
""",
]


@pytest.mark.tools
def test_a_grow_blob_decompiles_to_the_reviewed_text(small: Kerf, tmp_path: Path) -> None:
    # Checked against the kernel reference §3.1-§3.4: a /resources fragment per item,
    # memory-add with size (no reg) and numa-node-id, cpu-add items as one u64 cell, pool order.
    dtc = shutil.which("dtc")
    if dtc is None:
        if os.environ.get("KERF_REQUIRE_TOOLS") == "1":
            pytest.fail("dtc is required (KERF_REQUIRE_TOOLS=1) but is not installed")
        pytest.skip("dtc is not installed")
    from kerf.lifecycle.pool import PoolChange, pool_operations
    from kerf.overlay import build_transactions

    change = PoolChange(cpus_added=(6, 7), memory_added=((1, 2 * GiB),))
    txs = build_transactions(pool_operations(dual_node_smt2(), change), tag="kerf-golden")
    texts = [
        subprocess.run(
            [dtc, "-q", "-I", "dtb", "-O", "dts", "-"], input=tx.blob, capture_output=True, check=True
        ).stdout.decode()
        for tx in txs
    ]
    assert texts == GOLDEN_GROW


@pytest.mark.parametrize("keep", [10 * GiB, 4 * GiB])
def test_a_kernel_refusal_half_way_through_a_remove_and_re_add_restores_each_node(
    initialised: Kerf, tmp_path: Path, keep: int
) -> None:
    # Node 1 gives back its one 12 GiB chunk and re-adds the rest; then the kernel refuses
    # the device-add of eth1 (no such PCI function). Rolling back leaves the re-added chunk
    # and regrows 12 GiB at another base; with 10 GiB kept there is no room for that until
    # kerf has given the re-added chunk back. Either way node 1 ends with 12 GiB again.
    host = _node1_pool(dual_node_smt2(), keep)
    eth1 = Device("eth1", pci_id="0000:0b:00.0", vendor_id=0x8086, device_id=0x1521, numa_node=1)
    ghost = _write(tmp_path / "ghost.dts", replace(host, devices=(*host.devices, eth1)))
    before = _pool_state(initialised)
    description_before = (initialised.root / "state" / "host.dts").read_text()
    result = initialised("pool", "--input", str(ghost))
    assert result.exit_code == ExitCode.KERNEL
    assert "device-add PCI 0000:0b:00.0 (the pool)" in result.stderr
    assert "Nothing was changed" in result.stderr
    assert _pool_state(initialised) == before
    [(_, size)] = _node_chunks(initialised, 1)
    assert size == 12 * GiB
    sim = _sim(initialised)
    assert any("cannot be undone exactly" in line for line in sim.kernel_log())
    _only_the_refused_one_stays_failed(sim, "PCI 0000:0b:00.0")
    state = initialised.root / "state"
    assert (state / "host.dts").read_text() == description_before
    assert not (state / "journal.json").exists() and not (state / "host.dts.pending").exists()
    # the same shrink without the ghost device goes through afterwards
    shrink = _write(tmp_path / "shrink.dts", host)
    initialised.ok("pool", "--input", str(shrink))
    assert _pool_state(initialised)[1] == {0: 12 * GiB, 1: keep}


CRASH_POINTS = [
    "journal-written",
    "overlay-written-1",
    "batch-applied",
    "journal-committed",
    "host-installed",
]


def _crash_then_repair(kerf: Kerf, edited: Path, point: str) -> tuple[PoolState, str]:
    """Kill `kerf pool --input edited` at ``point``, let the next command repair, check
    nothing is left half done; the pool and the host text from before the crash."""
    import signal

    from tests.cli_lifecycle.processes import kerf_process

    state = kerf.root / "state"
    pool_before, text_before = _pool_state(kerf), (state / "host.dts").read_text()
    crashed = kerf_process(kerf.root, "pool", "--input", str(edited), env={"KERF_CRASH_AT": point})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    kerf.ok("show")
    assert not (state / "journal.json").exists() and not (state / "host.dts.pending").exists()
    assert all(t.applied for t in _sim(kerf).transactions())
    return pool_before, text_before


@pytest.mark.slow
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_pool_killed_at_each_point_is_repaired_by_the_next_command(
    small: Kerf, tmp_path: Path, point: str
) -> None:
    wider = _write(tmp_path / "wider.dts", _node1_pool(dual_node_smt2(), 14 * GiB))
    pool_before, text_before = _crash_then_repair(small, wider, point)
    host_text = (small.root / "state" / "host.dts").read_text()
    if point in ("journal-committed", "host-installed"):  # completed
        assert _pool_state(small)[:2] == (tuple(range(16)), {0: 12 * GiB, 1: 14 * GiB})
        assert host_text == wider.read_text()
    else:  # rolled back, the chunk a memory-add left included
        assert _pool_state(small) == pool_before
        assert host_text == text_before
        assert (
            small.ok("pool", "--input", str(wider)).stdout == "pool: +CPUs 6, 7, 14, 15; +2 GiB on node 1\n"
        )


@pytest.mark.slow
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_remove_and_re_add_killed_at_each_point_is_repaired_by_the_next_command(
    initialised: Kerf, tmp_path: Path, point: str
) -> None:
    # 10 GiB kept of the 12 GiB chunk: rolling back needs the re-added chunk given back first.
    less = _write(tmp_path / "less.dts", _node1_pool(dual_node_smt2(), 10 * GiB))
    pool_before, text_before = _crash_then_repair(initialised, less, point)
    host_text = (initialised.root / "state" / "host.dts").read_text()
    if point in ("journal-committed", "host-installed"):  # completed
        assert _pool_state(initialised) == (pool_before[0], {0: 12 * GiB, 1: 10 * GiB}, pool_before[2])
        assert host_text == less.read_text()
    else:  # rolled back: node 1 holds 12 GiB in one chunk again
        assert _pool_state(initialised) == pool_before
        [(_, size)] = _node_chunks(initialised, 1)
        assert size == 12 * GiB
        assert host_text == text_before
        expected = "pool: -2 GiB on node 1 (12 GiB chunk at "
        assert initialised.ok("pool", "--input", str(less)).stdout.startswith(expected)
        assert _pool_state(initialised)[1] == {0: 12 * GiB, 1: 10 * GiB}


def test_the_give_back_after_a_rollback_brings_each_node_to_its_total_before() -> None:
    from kerf.lifecycle.kernel_view import Chunk, PoolView
    from kerf.lifecycle.pool import _leftover_chunks, covering_chunks, exact_chunks

    node0 = Chunk(0x100000000, 12 * GiB, 0)
    # node 1 gave back 12 GiB at 0x500000000 and re-added 4 GiB; the rollback regrew 12 GiB
    # elsewhere and left the 4 GiB chunk: only that one goes
    after = PoolView(chunks=(node0, Chunk(0x400000000, 12 * GiB, 1), Chunk(0x700000000, 4 * GiB, 1)))
    extra = {
        "chunks_before": [[0x100000000, 12 * GiB, 0], [0x500000000, 12 * GiB, 1]],
        "per_node": True,
        "added": [[1, 4 * GiB]],
    }
    assert _leftover_chunks(after, extra) == [Chunk(0x700000000, 4 * GiB, 1)]
    # a journal of an earlier kerf: [base, size] pairs and the nodes it grew
    grown = PoolView(chunks=(node0, Chunk(0x500000000, 12 * GiB, 1), Chunk(0x480000000, 2 * GiB, 1)))
    old = {"chunks_before": [[0x100000000, 12 * GiB], [0x500000000, 12 * GiB]], "growing": {"nodes": [1]}}
    assert _leftover_chunks(grown, old) == [Chunk(0x480000000, 2 * GiB, 1)]
    # the chunk selection: exact when possible, else the smallest covering total, fewest chunks
    free = [Chunk(0x0, 8 * GiB, 0), Chunk(0x200000000, 8 * GiB, 0), Chunk(0x400000000, 16 * GiB, 0)]
    assert exact_chunks(free, 10 * GiB) is None
    assert covering_chunks(free, 10 * GiB) == (free[2],)
    assert covering_chunks(free, 4 * GiB) == (free[0],)
    assert covering_chunks(free, 20 * GiB) == (free[0], free[2])
    assert covering_chunks(free, 33 * GiB) is None
