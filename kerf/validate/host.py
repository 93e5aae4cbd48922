"""Validating a host description: the host, its instances and its requests together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kerf.binding import BindingDiagnostic, HostDescription
from kerf.errors import SourceLocation
from kerf.validate.findings import Collector, Finding, Report, Severity
from kerf.validate.instances import (
    Entry,
    check_cpu_conflicts,
    check_cpu_list,
    check_device_conflicts,
    check_devices_of,
    check_memory_of,
    check_memory_totals,
    check_names_and_ids,
)
from kerf.validate.inventory import check_inventory
from kerf.validate.numa import check_instance_numa
from kerf.validate.requests import check_request
from planner.hardware import Host, Instance
from planner.request import InstanceRequest


def validate_host(
    host: Host,
    instances: Sequence[Instance] = (),
    requests: Sequence[InstanceRequest] = (),
    *,
    locations: Mapping[str, SourceLocation] | None = None,
) -> Report:
    """Check a host, the instances placed on it and the requests waiting for placement.

    ``locations`` (from :class:`~kerf.binding.HostDescription`) lets findings point at
    the file and line where the offending node or property was written.
    """
    out = Collector(locations)
    check_all(host, instances, requests, out)
    return out.report()


def check_all(
    host: Host, instances: Sequence[Instance], requests: Sequence[InstanceRequest], out: Collector
) -> None:
    """Every rule of a description, into ``out`` (shared by validate_host and validate_plan)."""
    check_inventory(host, out)
    entries = [Entry("instance", i.name, i.id) for i in instances]
    entries += [Entry("request", r.name, r.id) for r in requests]
    check_names_and_ids(entries, out)
    for inst in instances:
        subject = f"instance {inst.name}"
        check_cpu_list(host, inst.name, inst.cpus, subject, out)
        check_memory_of(host, inst, subject, out)
        check_devices_of(host, inst.name, inst.devices, subject, out)
        check_instance_numa(host, inst, subject, out)
    check_cpu_conflicts(host, instances, out)
    check_memory_totals(host, instances, out)
    check_device_conflicts(instances, out)
    for req in requests:
        check_request(host, req, out)


def validate_inventory(desc: HostDescription) -> Report:
    """Only the host's own description: the binding's error remarks and the inventory
    rules (CPUs, cores, NUMA nodes, memory, distances, devices), not its instances.
    What plan and capacity require before they place anything."""
    out = Collector(desc.locations)
    for remark in desc.warnings:
        if isinstance(remark, BindingDiagnostic) and Severity(remark.severity) is Severity.ERROR:
            where, subject = remark.location, remark.subject or desc.source
            out.keep(Finding(remark.code, Severity.ERROR, remark.message, remark.hint, where, subject))
    check_inventory(desc.host, out)
    return out.report()


def validate_description(desc: HostDescription) -> Report:
    """Check a description read by the binding; its parser and binding remarks come first."""
    out = Collector(desc.locations)
    for remark in desc.warnings:
        if isinstance(remark, BindingDiagnostic):
            severity = Severity(remark.severity)
            code, subject = remark.code, remark.subject or desc.source
        else:
            severity, code, subject = Severity.WARNING, "dts-warning", desc.source
        out.keep(Finding(code, severity, remark.message, remark.hint, remark.location, subject))
    check_all(desc.host, desc.instances, desc.requests, out)
    return out.report()
