"""A builder for fake /sys and /proc trees, laid out the way Linux lays them out.

Tests describe a machine (CPUs with their topology and APIC ids, NUMA nodes with memory
blocks, caches, PCI devices, mounts) and :meth:`FakeHost.build` writes the files that
discovery reads: per-CPU ``topology/`` and ``cache/`` directories, node cpulists and
distance rows, memory block links, ``/proc/cpuinfo``, ``/proc/iomem``, PCI devices with
``virtfnN``/``physfn`` links, NVMe namespaces, ``/sys/block`` links, mountinfo and routes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kerf.discover.text import format_cpulist

BLOCK = 1 << 30  # a memory block size large x86 servers use; keeps the fake trees small
GiB = 1 << 30


@dataclass
class FakeCpu:
    logical: int
    package: int
    core_id: int
    siblings: list[int]
    node: int
    apic: int | None
    die: int = 0
    online: bool = True


@dataclass
class FakeCache:
    level: int
    kind: str  # "Data" | "Instruction" | "Unified"
    size: str  # as sysfs writes it: "32K", "32768K"
    cpus: list[int]


@dataclass
class FakeNode:
    id: int
    blocks: list[int]
    distance: list[int] | None = None


@dataclass
class FakePci:
    address: str
    class_code: int
    vendor: int
    device: int
    numa_node: int = -1
    total_vfs: int = 0
    vfs: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    namespaces: list[int] = field(default_factory=list)  # NVMe namespace ids
    disks: list[str] = field(default_factory=list)  # block devices below it (non-NVMe)
    driver: str | None = None
    vf_device: int | None = None  # the VFs' device id (default: the PF's + 1)
    sriov_vf_device: bool = True  # False: a kernel without the sriov_vf_device file


class FakeHost:
    """A machine to be written as ``<root>/sys`` and ``<root>/proc``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cpus: list[FakeCpu] = []
        self.caches: list[FakeCache] = []
        self.nodes: list[FakeNode] = []
        self.pci: list[FakePci] = []
        self.ram: list[tuple[int, int]] | None = None  # System RAM (start, end inclusive)
        self.iomem_hidden = False
        self.mounts: list[tuple[str, str, str]] = []  # (maj:min, mount point, source)
        self.swaps: list[str] = []
        self.partitions: list[tuple[str, str, str]] = []  # (disk, partition, maj:min)
        self.default_route: str | None = None
        self.model_name = "Test CPU @ 2.00GHz"
        self.block_size = BLOCK
        self.skip: set[str] = set()  # files or directories not to write ("proc/cpuinfo")

    @property
    def sys(self) -> Path:
        return self.root / "sys"

    @property
    def proc(self) -> Path:
        return self.root / "proc"

    # --- describing the machine --------------------------------------------------

    def add_cpu(
        self,
        logical: int,
        *,
        package: int,
        core_id: int,
        siblings: Sequence[int],
        node: int,
        apic: int | None,
        die: int = 0,
        online: bool = True,
    ) -> None:
        self.cpus.append(FakeCpu(logical, package, core_id, list(siblings), node, apic, die, online))

    def add_node(self, node: int, *, gib: int, first_block: int, distance: list[int] | None = None) -> None:
        """A node owning ``gib`` GiB of memory blocks starting at block ``first_block``."""
        count = gib * GiB // self.block_size
        self.nodes.append(FakeNode(node, list(range(first_block, first_block + count)), distance))

    def add_cache(self, level: int, kind: str, size: str, cpus: Sequence[int]) -> None:
        self.caches.append(FakeCache(level, kind, size, list(cpus)))

    def add_pci(self, device: FakePci) -> None:
        self.pci.append(device)

    # --- writing ---------------------------------------------------------------------

    def skipped(self, rel: str) -> bool:
        """True when ``rel`` is (under) a path the test asked not to write."""
        return any(rel == s or rel.startswith(s + "/") for s in self.skip)

    def write(self, rel: str, text: str) -> None:
        """Write a file under the root (``sys/...`` or ``proc/...``) unless it is skipped."""
        if self.skipped(rel):
            return
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def link(self, rel: str, target: str) -> None:
        """A relative symbolic link at ``rel`` pointing to ``target`` (both under the root)."""
        if self.skipped(rel) or self.skipped(target):
            return
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        (self.root / target).mkdir(parents=True, exist_ok=True)
        path.symlink_to(os.path.relpath(self.root / target, path.parent))

    def build(self) -> FakeHost:
        self.sys.mkdir(parents=True, exist_ok=True)
        self.proc.mkdir(parents=True, exist_ok=True)
        self._write_cpus()
        self._write_nodes()
        self._write_proc()
        self._write_pci()
        self._write_partitions()
        return self

    def _write_cpus(self) -> None:
        base = "sys/devices/system/cpu"
        present = [c.logical for c in self.cpus]
        online = [c.logical for c in self.cpus if c.online]
        self.write(f"{base}/present", format_cpulist(present) + "\n")
        self.write(f"{base}/possible", format_cpulist(present) + "\n")
        self.write(f"{base}/online", format_cpulist(online) + "\n")
        self.write(f"{base}/offline", format_cpulist(set(present) - set(online)) + "\n")
        for cpu in self.cpus:
            cdir = f"{base}/cpu{cpu.logical}"
            if cpu.logical != 0:
                self.write(f"{cdir}/online", "1\n" if cpu.online else "0\n")
            else:
                (self.root / cdir).mkdir(parents=True, exist_ok=True)
            if self.nodes:
                self.link(f"{cdir}/node{cpu.node}", f"sys/devices/system/node/node{cpu.node}")
            if not cpu.online:
                continue  # Linux removes topology/ and cache/ of offline CPUs
            topo = f"{cdir}/topology"
            self.write(f"{topo}/physical_package_id", f"{cpu.package}\n")
            self.write(f"{topo}/die_id", f"{cpu.die}\n")
            self.write(f"{topo}/core_id", f"{cpu.core_id}\n")
            self.write(f"{topo}/core_cpus_list", format_cpulist(cpu.siblings) + "\n")
            self.write(f"{topo}/thread_siblings_list", format_cpulist(cpu.siblings) + "\n")
            package = [c.logical for c in self.cpus if c.package == cpu.package and c.online]
            self.write(f"{topo}/package_cpus_list", format_cpulist(package) + "\n")
        for cpu in self.cpus:
            if not cpu.online:
                continue
            mine = [c for c in self.caches if cpu.logical in c.cpus]
            for index, cache in enumerate(mine):
                cache_dir = f"{base}/cpu{cpu.logical}/cache/index{index}"
                self.write(f"{cache_dir}/level", f"{cache.level}\n")
                self.write(f"{cache_dir}/type", f"{cache.kind}\n")
                self.write(f"{cache_dir}/size", f"{cache.size}\n")
                self.write(f"{cache_dir}/shared_cpu_list", format_cpulist(cache.cpus) + "\n")

    def _write_nodes(self) -> None:
        base = "sys/devices/system/node"
        ids = [n.id for n in self.nodes]
        if not ids:
            return
        self.write(f"{base}/online", format_cpulist(ids) + "\n")
        self.write(f"{base}/possible", format_cpulist(ids) + "\n")
        self.write("sys/devices/system/memory/block_size_bytes", f"{self.block_size:x}\n")
        for node in self.nodes:
            ndir = f"{base}/node{node.id}"
            cpus = [c.logical for c in self.cpus if c.node == node.id and c.online]
            self.write(f"{ndir}/cpulist", format_cpulist(cpus) + "\n")
            row = node.distance or [10 if other == node.id else 20 for other in ids]
            self.write(f"{ndir}/distance", " ".join(map(str, row)) + "\n")
            kib = len(node.blocks) * self.block_size // 1024
            self.write(f"{ndir}/meminfo", f"Node {node.id} MemTotal:       {kib - 1024} kB\n")
            for block in node.blocks:
                mdir = f"sys/devices/system/memory/memory{block}"
                self.write(f"{mdir}/phys_index", f"{block:08x}\n")
                self.write(f"{mdir}/state", "online\n")
                self.link(f"{ndir}/memory{block}", mdir)

    def _ram(self) -> list[tuple[int, int]]:
        if self.ram is not None:
            return self.ram
        starts = sorted(b * self.block_size for n in self.nodes for b in n.blocks)
        ranges: list[tuple[int, int]] = []
        for start in starts:
            if ranges and ranges[-1][1] + 1 == start:
                ranges[-1] = (ranges[-1][0], start + self.block_size - 1)
            else:
                ranges.append((start, start + self.block_size - 1))
        # Like a PC: the first page and the legacy hole below 1 MiB are not RAM.
        if ranges and ranges[0][0] == 0:
            first = ranges.pop(0)
            ranges[:0] = [(0x1000, 0x9FFFF), (0x100000, first[1])]
        return ranges

    def _write_proc(self) -> None:
        lines = []
        for cpu in sorted((c for c in self.cpus if c.online), key=lambda c: c.logical):
            lines += [
                f"processor\t: {cpu.logical}",
                "vendor_id\t: GenuineIntel",
                f"model name\t: {self.model_name}",
                f"physical id\t: {cpu.package}",
                f"core id\t\t: {cpu.core_id}",
            ]
            if cpu.apic is not None:
                lines += [f"apicid\t\t: {cpu.apic}", f"initial apicid\t: {cpu.apic}"]
            lines.append("")
        self.write("proc/cpuinfo", "\n".join(lines) + "\n")
        iomem = ["00000000-00000fff : Reserved"]
        for start, end in self._ram():
            if self.iomem_hidden:
                iomem.append("00000000-00000000 : System RAM")
            else:
                iomem.append(f"{start:08x}-{end:08x} : System RAM")
                iomem.append(f"  {start:08x}-{min(end, start + 0xFFF):08x} : Kernel code")
        self.write("proc/iomem", "\n".join(iomem) + "\n")
        total_kib = sum(e - s + 1 for s, e in self._ram()) // 1024
        self.write("proc/meminfo", f"MemTotal:       {total_kib} kB\nMemFree:        1000 kB\n")
        mountinfo = ["22 27 0:21 / /proc rw,relatime - proc proc rw"]
        for i, (number, point, source) in enumerate(self.mounts):
            mountinfo.append(f"{30 + i} 1 {number} / {point} rw,relatime - ext4 {source} rw")
        self.write("proc/self/mountinfo", "\n".join(mountinfo) + "\n")
        swaps = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"]
        swaps += [f"{s}\tpartition\t1000\t0\t-2" for s in self.swaps]
        self.write("proc/swaps", "\n".join(swaps) + "\n")
        route = ["Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"]
        if self.default_route:
            route.append(f"{self.default_route}\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0")
        route.append("lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0")
        self.write("proc/net/route", "\n".join(route) + "\n")

    def _write_pci(self) -> None:
        minor = 0
        for dev in self.pci:
            ddir = f"sys/devices/pci0000:00/{dev.address}"
            self._pci_function(ddir, dev.address, dev.class_code, dev.vendor, dev.device, dev.numa_node)
            if dev.driver:
                self.link(f"{ddir}/driver", f"sys/bus/pci/drivers/{dev.driver}")
            vf_device = dev.device + 1 if dev.vf_device is None else dev.vf_device
            if dev.total_vfs:
                self.write(f"{ddir}/sriov_totalvfs", f"{dev.total_vfs}\n")
                self.write(f"{ddir}/sriov_numvfs", f"{len(dev.vfs)}\n")
                if dev.sriov_vf_device:
                    self.write(f"{ddir}/sriov_vf_device", f"{vf_device:x}\n")  # hex without 0x, as Linux
            for n, vf in enumerate(dev.vfs):
                vdir = f"sys/devices/pci0000:00/{vf}"
                self._pci_function(vdir, vf, dev.class_code, dev.vendor, vf_device, dev.numa_node)
                self.link(f"{ddir}/virtfn{n}", vdir)
                self.link(f"{vdir}/physfn", ddir)
            for name in dev.interfaces:
                self.write(f"{ddir}/net/{name}/ifindex", "2\n")
                self.link(f"sys/class/net/{name}", f"{ddir}/net/{name}")
            for nsid in dev.namespaces:
                name = f"nvme0n{nsid}"
                ns_dir = f"{ddir}/nvme/nvme0/{name}"
                self.write(f"{ns_dir}/nsid", f"{nsid}\n")
                minor += 1
                self.write(f"{ns_dir}/dev", f"259:{minor}\n")
                self.link(f"sys/block/{name}", ns_dir)
            for disk in dev.disks:
                disk_dir = f"{ddir}/host0/target0:0:0/0:0:0:0/block/{disk}"
                minor += 1
                self.write(f"{disk_dir}/dev", f"8:{minor}\n")
                self.link(f"sys/block/{disk}", disk_dir)

    def _pci_function(self, ddir: str, address: str, cls: int, vendor: int, device: int, node: int) -> None:
        self.write(f"{ddir}/class", f"0x{cls:06x}\n")
        self.write(f"{ddir}/vendor", f"0x{vendor:04x}\n")
        self.write(f"{ddir}/device", f"0x{device:04x}\n")
        self.write(f"{ddir}/numa_node", f"{node}\n")
        self.link(f"sys/bus/pci/devices/{address}", ddir)

    def partition(self, disk: str, part: str, number: str) -> None:
        """Give a disk (NVMe namespace or disk of a device) a partition with a ``dev`` number."""
        self.partitions.append((disk, part, number))

    def _write_partitions(self) -> None:
        for disk, part, number in self.partitions:
            disk_dir = (self.sys / "block" / disk).resolve()
            (disk_dir / part).mkdir(parents=True, exist_ok=True)
            (disk_dir / part / "partition").write_text("1\n")
            (disk_dir / part / "dev").write_text(f"{number}\n")


# --- standard shapes ------------------------------------------------------------------


def x86_apic(package: int, core: int, thread: int, *, core_bits: int = 4, thread_bits: int = 1) -> int:
    """An x86-style APIC id: package, core and thread bit fields (sparse when counts are
    not powers of two)."""
    return (package << (core_bits + thread_bits)) | (core << thread_bits) | thread


def shape(
    host: FakeHost,
    *,
    packages: int,
    cores: int,
    threads: int,
    nodes_per_package: int = 1,
    numbering: str = "linux",
    apic: Callable[[int, int, int], int] | None = x86_apic,
    gib_per_node: int = 4,
    offline: Iterable[int] = (),
) -> FakeHost:
    """Fill ``host`` with a regular machine.

    numbering: ``linux`` (thread t of core c is ``c + t * total_cores``), ``adjacent``
    (siblings next to each other) or ``interleaved`` (consecutive ids alternate sockets,
    siblings ``c`` and ``c + total_cores``).
    """
    total_cores = packages * cores
    offline_set = set(offline)
    ids: dict[tuple[int, int, int], int] = {}
    for p in range(packages):
        for c in range(cores):
            flat = p * cores + c
            for t in range(threads):
                if numbering == "linux":
                    ids[(p, c, t)] = flat + t * total_cores
                elif numbering == "adjacent":
                    ids[(p, c, t)] = flat * threads + t
                elif numbering == "interleaved":
                    ids[(p, c, t)] = (c * packages + p) + t * total_cores
                else:
                    raise ValueError(numbering)
    node_count = packages * nodes_per_package
    for (p, c, t), logical in ids.items():
        node = p * nodes_per_package + c * nodes_per_package // cores
        siblings = [ids[(p, c, s)] for s in range(threads)]
        host.add_cpu(
            logical,
            package=p,
            core_id=c,
            siblings=siblings,
            node=node,
            apic=apic(p, c, t) if apic else None,
            online=logical not in offline_set,
        )
    blocks_per_node = gib_per_node * GiB // host.block_size
    for n in range(node_count):
        same_package = {m for m in range(node_count) if m // nodes_per_package == n // nodes_per_package}
        distance = [10 if m == n else 12 if m in same_package else 21 for m in range(node_count)]
        host.add_node(n, gib=gib_per_node, first_block=n * blocks_per_node, distance=distance)
    for p in range(packages):
        package_cpus = [logical for (pp, _, _), logical in ids.items() if pp == p]
        host.add_cache(3, "Unified", "32768K", package_cpus)
        for c in range(cores):
            core_cpus = [ids[(p, c, t)] for t in range(threads)]
            host.add_cache(1, "Data", "48K", core_cpus)
            host.add_cache(1, "Instruction", "32K", core_cpus)
            host.add_cache(2, "Unified", "2048K", core_cpus)
    return host
