"""/instances: placed instances and requests, memory forms, policies, device references."""

from __future__ import annotations

import pytest

from kerf.binding import read_instances
from kerf.dts import parse
from planner.hardware import MemoryRegion
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant
from tests.binding.util import FILE, fails, host_text, loc, read, remarks

GiB = 1 << 30
DEVICES = """\t\t\teth0: ethernet@0 { sriov-vfs = <4>; available-vfs = <1 2 3>; fast: vf@2 { }; };
\t\t\tnvme0: storage@0 { namespaces = <4>; available-ns = <2 3>; };
\t\t\tgpu0: gpu@0 { };"""


def instance(resources: str, name: str = "web", extra: str = "") -> str:
    return f"\t\t{name} {{\n\t\t\t{extra}resources {{ {resources} }};\n\t\t}};"


def with_instances(*blocks: str, header: str = "/dts-v1/;") -> str:
    return host_text(devices=DEVICES, instances="\n".join(blocks), header=header)


def test_placed_instance_with_every_property() -> None:
    text = with_instances(
        instance(
            "cpus = <3 1 2>; memory-bytes = <0x0 0x40000000>; memory-base = <0x0 0x80000000>; numa-nodes = "
            "<0>;"
            ' cpu-affinity = "local"; memory-policy = "bind"; devices = <&gpu0 &fast>; exclusive-cores;',
            extra="id = <7>; ",
        )
    )
    desc = read(text)
    (web,) = desc.instances
    assert desc.requests == ()
    assert web.name == "web"
    assert web.id == 7
    assert web.cpus == (3, 1, 2)  # order kept: the first CPU boots
    assert web.memory == (MemoryRegion(GiB, 2 * GiB, 0),)
    assert web.numa_nodes == (0,)
    assert (web.cpu_affinity, web.memory_policy) == (CpuAffinity.LOCAL, MemoryPolicy.BIND)
    assert web.devices == ("gpu0", "eth0_vf2")
    assert web.exclusive_cores
    assert desc.locations["/instances/web/resources:cpus"] == loc(text, "cpus = <3")


def test_request_block_with_defaults() -> None:
    desc = read(with_instances(instance("cpu-count = <4>; memory-bytes = <0x1 0x0>;", name="batch")))
    (batch,) = desc.requests
    assert desc.instances == ()
    assert (batch.name, batch.cpu_count, batch.cpus, batch.memory_bytes) == ("batch", 4, None, 4 * GiB)
    assert (batch.cpu_affinity, batch.memory_policy) == (CpuAffinity.COMPACT, MemoryPolicy.LOCAL)


def test_placed_instance_without_policies_keeps_them_unset() -> None:
    (web,) = read(with_instances(instance("cpus = <1>; memory-bytes = <0x40000000>;"))).instances
    assert (web.cpu_affinity, web.memory_policy, web.devices, web.id) == (None, None, (), None)
    assert web.memory == (MemoryRegion(GiB),)


def test_memory_regions_extension() -> None:
    block = instance(
        "cpus = <1>; memory@0 { size = <0x0 0x40000000>; base = <0x0 0x80000000>; };"
        " memory@1 { size = <0x0 0x40000000>; numa-node-id = <0>; };"
    )
    (web,) = read(with_instances(block)).instances
    assert web.memory == (MemoryRegion(GiB, 2 * GiB, 0), MemoryRegion(GiB, None, 0))


def test_derived_labels_under_multikernel_v1() -> None:
    block = instance("cpu-count = <1>; memory-bytes = <0x40000000>; devices = <&eth0_vf1 &nvme0_ns3 &gpu0>;")
    (req,) = read(with_instances(block, header="/multikernel-v1/;")).requests
    assert req.devices == tuple(DeviceWant.parse(t) for t in ("eth0_vf1", "nvme0_ns3", "gpu0"))


def test_string_references_are_kept_as_written() -> None:
    block = instance('cpus = <1>; memory-bytes = <0x40000000>; devices = "eth0_vf1", "ghost";')
    (web,) = read(with_instances(block)).instances
    assert web.devices == ("eth0_vf1", "ghost")  # the validator reports ghost


def test_request_wildcards_in_strings() -> None:
    block = instance('cpu-count = <1>; memory-bytes = <0x40000000>; devices = "eth0_vf*";')
    (req,) = read(with_instances(block)).requests
    assert req.devices[0].kind == "any-vf"


def test_unknown_derived_label_lists_what_exists() -> None:
    block = instance("cpus = <1>; memory-bytes = <0x40000000>; devices = <&eth0_vf1 &eth9_vf1>;")
    text = with_instances(block, header="/multikernel-v1/;")
    err = fails(text)
    assert err.location == loc(text, "&eth9_vf1")
    assert err.message == (
        "/instances/web/resources: 'devices' refers to &eth9_vf1, which is neither a device nor a unit of one"
    )
    assert err.hint == "known devices and units: eth0_vf1, eth0_vf2, eth0_vf3, nvme0_ns2, nvme0_ns3, gpu0"


def test_reference_to_a_node_that_is_not_a_device() -> None:
    block = instance("cpus = <1>; memory-bytes = <0x40000000>; devices = <&mem>;")
    text = with_instances(block).replace("memory {", "mem: memory {")
    err = fails(text)
    assert err.location == loc(text, "&mem")
    assert err.message == (
        "/instances/web/resources: 'devices' refers to /resources/memory, which is not a device of "
        "/resources/devices"
    )


@pytest.mark.parametrize(
    ("resources", "needle", "message"),
    [
        (
            'cpus = <1>; memory-bytes = <0x40000000>; cpu-affinity = "tight";',
            "cpu-affinity",
            "/instances/web/resources: property 'cpu-affinity' is \"tight\", which is not one of "
            '"compact", "spread", "local"',
        ),
        (
            'cpus = <1>; memory-bytes = <0x40000000>; memory-policy = "preferred";',
            "memory-policy",
            "/instances/web/resources: property 'memory-policy' is \"preferred\", which is not one of "
            '"local", "interleave", "bind"',
        ),
        (
            "cpus = <1>; cpu-count = <1>; memory-bytes = <0x40000000>;",
            "cpu-count",
            "/instances/web/resources: give either 'cpus' (a pinned list) or 'cpu-count' (let kerf "
            "choose), not both",
        ),
        (
            "memory-bytes = <0x40000000>;",
            "resources { memory-bytes",
            "/instances/web/resources: instance 'web' says neither 'cpus' nor 'cpu-count'",
        ),
        (
            "cpus = <1>;",
            "resources { cpus",
            "/instances/web/resources: property 'memory-bytes' is missing (the instance's memory in bytes)",
        ),
        (
            "cpu-count = <0>; memory-bytes = <0x40000000>;",
            "cpu-count",
            "instance web: CPU count must be at least 1, got 0",
        ),
        (
            "cpus = <1>; memory-bytes = <0x40000000>; exclusive-cores = <2>;",
            "exclusive-cores",
            "/instances/web/resources: property 'exclusive-cores' should be empty (a flag like "
            "'exclusive-cores;') "
            "or <0> / <1>, but it is 1 cell (4 bytes)",
        ),
    ],
)
def test_structural_errors_are_located(resources: str, needle: str, message: str) -> None:
    text = with_instances(instance(resources))
    err = fails(text)
    assert err.location == loc(text, needle)
    assert err.message == message


def test_instance_without_resources() -> None:
    text = with_instances("\t\tweb { id = <1>; };")
    err = fails(text)
    assert err.location == loc(text, "web {")
    assert err.message == "/instances/web: instance 'web' has no resources { ... } block"


def test_rule_violations_are_kept_for_the_validator() -> None:
    blocks = (
        instance("cpus = <0 1 1 99>; memory-bytes = <0x0>;", extra="id = <5000>; "),
        instance("cpus = <1>; memory-bytes = <0x40000000>;", name="bad+name"),
    )
    desc = read(with_instances(*blocks))
    assert [i.name for i in desc.instances] == ["web", "bad+name"]
    assert desc.instances[0].cpus == (0, 1, 1, 99)


def test_memory_base_of_a_request_is_ignored_with_a_warning() -> None:
    text = with_instances(
        instance("cpu-count = <1>; memory-bytes = <0x40000000>; memory-base = <0x80000000>;")
    )
    (remark,) = remarks(read(text), "binding-ignored-property")
    assert remark.location == loc(text, "memory-base")


def test_read_instances_of_a_request_file() -> None:
    host = read(host_text(devices=DEVICES)).host
    requests_text = (
        "/multikernel-v1/;\n/ {\n\tinstances {\n"
        + instance("cpu-count = <2>; memory-bytes = <0x40000000>; devices = <&eth0_vf3>;", name="etl")
        + "\n\t};\n};\n"
    )
    instances, requests = read_instances(parse(requests_text, FILE), host)
    assert instances == ()
    assert [(r.name, r.devices[0].text) for r in requests] == [("etl", "eth0_vf3")]


def test_read_instances_needs_an_instances_node() -> None:
    host = read(host_text()).host
    with pytest.raises(Exception, match="there is no /instances node") as info:
        read_instances(parse("/dts-v1/;\n/ { };\n", FILE), host)
    assert type(info.value).__name__ == "BindingError"


def test_empty_device_name_of_a_request_is_located_at_devices() -> None:
    text = with_instances(instance('cpu-count = <1>; memory-bytes = <0x40000000>; devices = "eth0_vf1", "";'))
    err = fails(text)
    assert err.location == loc(text, "devices =")
    assert err.message == "/instances/web/resources: 'devices' has empty device reference"
