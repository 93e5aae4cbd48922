"""Every finding code, its severity and what it means: the one list docs/validation.md shows.

A code is a stable name for a rule: scripts may match on it, so it never changes meaning.
Making a finding with a code that is not listed here is a bug in kerf.
"""

from __future__ import annotations

# Severities by value ("error", "warning", "info"); kerf.validate.findings.Severity holds them.
E, W, N = "error", "warning", "info"

CODES: dict[str, tuple[str, str]] = {
    # remarks of the parser and the binding while reading the file
    "dts-warning": (
        W,
        "a remark of the DTS parser (e.g. a wide literal in a cell list)",
    ),
    "dts-wide-literal": (
        W,
        "64-bit properties written with literals wider than 32 bits (/multikernel-v1/)",
    ),
    "binding-unknown-property": (W, "a property the binding does not define (often a typo); ignored"),
    "binding-unknown-node": (W, "a node the binding does not define where it is; ignored"),
    "binding-ignored-property": (W, "a property that has no effect where it is (memory-base of a request)"),
    "cpu-pool-default": (W, "no 'available' list: every CPU that is not host-reserved is in the pool"),
    "cpu-duplicate-id": (E, "a CPU id listed twice in ids, host-reserved or available"),
    "distance-default": (W, "several NUMA nodes but no distance map: 10 local, 20 remote assumed"),
    "distance-legacy-matrix": (W, "distances read from the older flat matrix inside a NUMA node"),
    "distance-legacy-ignored": (W, "an old flat matrix next to a distance map; the map wins"),
    "distance-zero-diagonal": (W, "a node's distance to itself written as 0; read as 10"),
    # the CPU inventory
    "cpu-inventory-empty": (E, "the host describes no CPUs"),
    "cpu-total-mismatch": (W, "total is neither the number of ids nor the highest id + 1"),
    "cpu-not-in-inventory": (E, "host-reserved or available names a CPU the host does not have"),
    "cpu-reserved-and-available": (E, "a CPU is both host-reserved and available"),
    "cpu-pool-empty": (E, "no CPU is available for instances"),
    "cpu-offline": (N, "CPUs neither host-reserved nor available: offline or kept aside"),
    # memory
    "memory-total-invalid": (E, "total-bytes is 0"),
    "memory-pool-empty": (E, "the memory pool is empty"),
    "memory-pool-unaligned": (E, "a pool range's base or size is not 4 KiB-aligned"),
    "memory-pool-overlap": (E, "two pool ranges overlap"),
    "memory-pool-range-empty": (E, "a pool range of size 0"),
    "memory-range-overflow": (E, "a pool or NUMA memory range that runs past 2^64"),
    "memory-overcommitted": (E, "host-reserved-bytes plus the pool exceed total-bytes"),
    "memory-pool-outside-numa": (E, "part of the pool lies in no NUMA node's memory"),
    # topology
    "numa-cpu-unknown": (E, "a NUMA node lists a CPU the host does not have"),
    "numa-cpu-overlap": (E, "a CPU is in two NUMA nodes"),
    "numa-cpu-missing": (E, "a pool CPU is in no NUMA node (topology given)"),
    "numa-memory-overlap": (E, "the memory of two NUMA nodes overlaps"),
    "numa-memory-exceeds-total": (W, "the NUMA nodes hold more memory than total-bytes"),
    "topology-cpu-unknown": (E, "a socket, core or cache lists a CPU the host does not have"),
    "topology-cpu-overlap": (E, "a CPU is in two sockets, two cores or two caches of one level"),
    "distance-unknown-node": (E, "the distance map names a NUMA node that is not described"),
    "distance-diagonal": (E, "a node's distance to itself is not 10"),
    "distance-below-local": (E, "a distance between two nodes is below 10"),
    "distance-remote-local": (E, "a distance between two nodes is 10 (Linux rejects the map)"),
    "distance-too-large": (E, "a distance above 255 (Linux ignores it)"),
    "distance-duplicate": (E, "the distance map gives one pair of nodes two different distances"),
    "distance-missing": (W, "a pair of nodes has no distance (20 assumed)"),
    "distance-asymmetric": (W, "a→b and b→a distances differ"),
    # devices
    "device-duplicate-name": (E, "two devices have the same name"),
    "device-pci-id-format": (E, "pci-id is not DDDD:BB:SS.F"),
    "device-pci-duplicate": (E, "two devices or VFs have the same pci-id"),
    "device-pci-incomplete": (W, "a PCI device lacks pci-id, vendor-id or device-id (the kernel needs them)"),
    "device-vf-device-id-missing": (W, "available VFs have a pci-id but no VF device id (vf-device-id)"),
    "device-numa-unknown": (E, "a device's numa-node is not described"),
    "device-vf-range": (E, "a VF number outside 0..sriov-vfs-1"),
    "device-ns-range": (E, "a namespace id outside 1..namespaces"),
    "device-reserved-and-available": (E, "a VF or namespace is both host-reserved and available"),
    # instances: names and ids
    "instance-name-invalid": (E, "a name that cannot be an instance directory"),
    "instance-name-duplicate": (E, "two instances (or requests) share a name"),
    "instance-id-invalid": (E, "an id outside 1-2047"),
    "instance-id-duplicate": (E, "two instances share an id"),
    # instances: CPUs
    "cpu-list-empty": (E, "an instance's CPU list is empty"),
    "cpu-repeated": (E, "a CPU listed twice in one instance"),
    "cpu-unknown": (E, "an instance uses a CPU the host does not have"),
    "cpu-host-reserved": (E, "an instance uses a host-reserved CPU"),
    "cpu-not-in-pool": (E, "an instance uses a CPU that is offline or kept aside"),
    "cpu-conflict": (E, "two instances use the same CPU"),
    "exclusive-cores-shared": (E, "an instance with exclusive-cores shares a core with another"),
    # instances: memory
    "memory-size-zero": (E, "an instance (or request) has no memory"),
    "memory-unaligned": (E, "an instance's memory base or size is not 4 KiB-aligned"),
    "memory-outside-pool": (E, "an instance's memory lies outside the pool"),
    "memory-wrong-node": (E, "a memory region's NUMA node is not the node holding its address"),
    "memory-overlap": (E, "the memory of two instances overlaps"),
    "memory-exceeds-pool": (E, "the instances' memory adds up to more than the pool"),
    "memory-node-capacity": (E, "the memory placed on a NUMA node exceeds its share of the pool"),
    # instances: devices
    "device-unknown": (E, "a referenced device does not exist"),
    "device-unit-unavailable": (E, "a VF or namespace that is not available (reserved, out of range)"),
    "device-repeated": (E, "a device unit listed twice in one instance"),
    "device-conflict": (E, "two instances use the same device unit"),
    # instances: NUMA and policies
    "numa-unknown-node": (E, "a configured NUMA node does not exist"),
    "numa-remote-cpu": (W, "CPUs outside the instance's configured NUMA nodes"),
    "affinity-compact-spans": (W, "compact affinity with CPUs on several NUMA nodes"),
    "affinity-spread-single": (W, "spread affinity with every CPU on one of several nodes"),
    "affinity-local-spans": (E, "local affinity with CPUs on several NUMA nodes"),
    "affinity-local-mismatch": (E, "local affinity with memory on another node than the CPUs"),
    "policy-local-mismatch": (W, "local memory policy with memory away from the CPUs' nodes"),
    "policy-bind-no-nodes": (E, "bind memory policy without numa-nodes"),
    "policy-bind-outside": (E, "bind memory policy with memory outside the listed nodes"),
    # requests
    "request-cpu-count-exceeds-pool": (E, "a request asks for more CPUs than the pool has"),
    "request-memory-exceeds-pool": (E, "a request asks for more memory than the pool has"),
    "request-local-multi-node": (E, "local affinity with several NUMA nodes listed"),
    "request-local-too-big": (E, "local affinity asking for more CPUs than any allowed node has"),
    # plans (validate_plan)
    "plan-unrequested": (E, "the plan places an instance no request asks for"),
    "plan-unplaced": (N, "a request the plan does not place"),
    "plan-pinned-cpus": (E, "pinned CPUs not kept exactly"),
    "plan-cpu-count": (E, "the CPU count differs from the request"),
    "plan-memory-short": (E, "less memory than requested"),
    "plan-memory-unplaced": (E, "a planned region with neither address nor NUMA node"),
    "plan-id-changed": (E, "the plan changes a requested id"),
    "plan-device-missing": (E, "a wanted device unit is not given"),
    "plan-device-extra": (E, "a device unit is given that was not wanted"),
}
