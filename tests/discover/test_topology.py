"""CPU topology from fake /sys and /proc trees: SMT, sockets, numbering schemes, APIC ids."""

from __future__ import annotations

from kerf.discover import IdKind, discover_host, render_dts
from tests.discover.fakehost import FakeHost, shape, x86_apic


def _discover(fake: FakeHost):  # type: ignore[no-untyped-def]
    fake.build()
    return discover_host(fake.sys, fake.proc)


def test_dual_socket_smt2_uses_apic_ids_and_linux_sibling_numbering(fake: FakeHost) -> None:
    # Linux numbering: thread t of core c is c + 8t; APIC ids are package<<5 | core<<1 | thread.
    d = _discover(shape(fake, packages=2, cores=4, threads=2))
    host = d.host

    assert d.id_kind is IdKind.APIC
    assert d.logical_to_physical[0] == 0
    assert d.logical_to_physical[8] == 1  # CPU 0's sibling
    assert d.logical_to_physical[4] == 32  # first CPU of package 1
    expected_ids = sorted(x86_apic(p, c, t) for p in range(2) for c in range(4) for t in range(2))
    assert [c.id for c in host.cpus] == expected_ids
    assert host.declared_total_cpus == max(expected_ids) + 1

    assert sorted(core.cpus for core in host.cores) == [
        (x86_apic(p, c, 0), x86_apic(p, c, 1)) for p in range(2) for c in range(4)
    ]
    assert {s.id: s.cpus for s in host.sockets} == {
        p: tuple(sorted(x86_apic(p, c, t) for c in range(4) for t in range(2))) for p in range(2)
    }
    assert {n.id: n.cpus for n in host.numa_nodes} == {s.id: s.cpus for s in host.sockets}
    assert host.distance(0, 1) == 21 and host.distance(1, 1) == 10

    # The boot CPU (Linux 0) and its sibling (Linux 8) stay with the host.
    assert host.host_reserved == {0, 1}
    assert host.available == set(expected_ids) - {0, 1}

    # One shared L3 per package; private L1/L2 are not listed as shared caches.
    assert [(c.level, c.cpus) for c in host.caches] == [(3, s.cpus) for s in host.sockets]
    assert all(cpu.l3 == cpu.socket for cpu in host.cpus)


def test_apic_ids_appear_with_their_linux_numbers_in_the_description(fake: FakeHost) -> None:
    d = _discover(shape(fake, packages=2, cores=4, threads=2))
    text = render_dts(d)
    assert "ids = <0 1 2 3 4 5 6 7 32 33 34 35 36 37 38 39>;" in text
    assert "core@32 { cpus = <32 33>; };  // Linux CPUs 4,12" in text
    assert "APIC id:Linux CPU" in text and " 33:12 " in text


def test_smt4_adjacent_siblings_without_apic_ids(fake: FakeHost) -> None:
    # A non-x86 machine: /proc/cpuinfo has no apicid, ids are Linux's logical numbers.
    d = _discover(shape(fake, packages=1, cores=4, threads=4, numbering="adjacent", apic=None))
    host = d.host
    assert d.id_kind is IdKind.LOGICAL
    assert [c.cpus for c in host.cores] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11), (12, 13, 14, 15)]
    assert host.host_reserved == {0, 1, 2, 3}
    assert len(host.available) == 12
    assert any("not x86" in n.message for n in d.notes)
    assert "ids =" not in render_dts(d)  # 0..15 without gaps needs only total


def test_socket_interleaved_numbering(fake: FakeHost) -> None:
    # Like Kubernetes' topoDualSocketHT: socket = id mod 2, siblings (c, c + 6).
    d = _discover(shape(fake, packages=2, cores=3, threads=2, numbering="interleaved", apic=None))
    host = d.host
    assert {s.id: s.cpus for s in host.sockets} == {0: (0, 2, 4, 6, 8, 10), 1: (1, 3, 5, 7, 9, 11)}
    assert sorted(c.cpus for c in host.cores) == [(0, 6), (1, 7), (2, 8), (3, 9), (4, 10), (5, 11)]
    assert {n.id: n.cpus for n in host.numa_nodes} == {0: (0, 2, 4, 6, 8, 10), 1: (1, 3, 5, 7, 9, 11)}
    assert host.host_reserved == {0, 6}


def test_sparse_apic_ids_are_listed_explicitly(fake: FakeHost) -> None:
    d = _discover(shape(fake, packages=1, cores=6, threads=1, apic=lambda p, c, t: 4 * c))
    host = d.host
    assert [c.id for c in host.cpus] == [0, 4, 8, 12, 16, 20]
    assert host.declared_total_cpus == 21
    assert dict(d.logical_to_physical) == {i: 4 * i for i in range(6)}
    text = render_dts(d)
    assert "total = <21>;" in text and "ids = <0 4 8 12 16 20>;" in text


def test_offline_cpus_are_left_out_with_a_warning(fake: FakeHost) -> None:
    d = _discover(shape(fake, packages=1, cores=4, threads=2, offline=[3, 7]))
    host = d.host
    assert d.facts.offline == (3, 7)
    assert sorted(d.logical_to_physical) == [0, 1, 2, 4, 5, 6]
    assert len(host.cpus) == 6
    assert any(n.severity == "warning" and "left out: CPUs 3,7" in n.message for n in d.notes)
    assert "offline, not described: Linux CPUs 3,7" in render_dts(d)


def test_an_offline_sibling_leaves_its_core_with_one_thread(fake: FakeHost) -> None:
    d = _discover(shape(fake, packages=1, cores=2, threads=2, offline=[3], apic=None))
    assert sorted(c.cpus for c in d.host.cores) == [(0, 2), (1,)]


def test_cpus_without_topology_are_assumed_single_threaded(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=2, apic=None)
    fake.skip = {"sys/devices/system/cpu/cpu1/topology"}
    d = _discover(fake)
    assert (1,) in [c.cpus for c in d.host.cores]
    assert any("no topology for CPU 1" in n.message for n in d.warnings)


def test_missing_cpuinfo_falls_back_to_logical_numbers(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=2)
    fake.skip = {"proc/cpuinfo"}
    d = _discover(fake)
    assert d.id_kind is IdKind.LOGICAL
    assert [c.id for c in d.host.cpus] == [0, 1, 2, 3]
    assert any("/proc/cpuinfo is unreadable" in n.message for n in d.warnings)


def test_partial_apic_ids_fall_back_to_logical_numbers(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=2, threads=1)
    fake.cpus[1].apic = None
    d = _discover(fake)
    assert d.id_kind is IdKind.LOGICAL
    assert any("no apicid for CPU 1" in n.message for n in d.warnings)


def test_missing_online_list_uses_per_cpu_files(fake: FakeHost) -> None:
    shape(fake, packages=1, cores=4, threads=1, apic=None, offline=[2])
    fake.skip = {"sys/devices/system/cpu/online", "sys/devices/system/cpu/offline"}
    d = _discover(fake)
    assert [c.id for c in d.host.cpus] == [0, 1, 3]
    assert any("online is missing" in n.message for n in d.warnings)
