"""Property test: for random regular machines, discovery gives back what the tree was built from."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kerf.discover import discover_host
from tests.discover.fakehost import FakeHost, shape, x86_apic


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    packages=st.integers(1, 3),
    cores=st.integers(1, 4),
    threads=st.sampled_from([1, 2, 4]),
    numbering=st.sampled_from(["linux", "adjacent", "interleaved"]),
    x86=st.booleans(),
)
def test_discovery_recovers_the_built_topology(
    packages: int, cores: int, threads: int, numbering: str, x86: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeHost(Path(tmp))
        shape(
            fake,
            packages=packages,
            cores=cores,
            threads=threads,
            numbering=numbering,
            apic=x86_apic if x86 else None,
            gib_per_node=1,
        )
        fake.caches.clear()
        fake.build()
        d = discover_host(fake.sys, fake.proc)

    physical = {c.logical: (c.apic if x86 else c.logical) for c in fake.cpus}
    assert dict(d.logical_to_physical) == physical
    host = d.host
    built_cores = sorted(tuple(sorted(physical[s] for s in c.siblings)) for c in fake.cpus)
    assert sorted(c.cpus for c in host.cores) == sorted(set(built_cores))
    built_sockets = {
        p: sorted(physical[c.logical] for c in fake.cpus if c.package == p) for p in range(packages)
    }
    assert {s.id: list(s.cpus) for s in host.sockets} == built_sockets
    assert {n.id: list(n.cpus) for n in host.numa_nodes} == built_sockets
    boot = next(c for c in fake.cpus if c.logical == 0)
    assert host.host_reserved == {physical[s] for s in boot.siblings}
    assert host.available | host.host_reserved == set(physical.values())
    assert host.memory.pool_bytes + host.memory.host_reserved_bytes == host.memory.total_bytes
