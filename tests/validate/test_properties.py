"""Property tests of the validator: any host and workload gives a report, never an exception,
and the report's claims are consistent with the objects."""

from __future__ import annotations

import json

from hypothesis import given, settings

from kerf.binding import host_to_tree, read_host
from kerf.dts import format_dts, parse
from kerf.validate import Severity, validate_description, validate_host, validate_plan
from kerf.validate.summary import summarize
from planner.hardware import Host, Instance
from planner.request import InstanceRequest
from tests.binding.strategies import described

Case = tuple[Host, list[Instance], list[InstanceRequest]]


@settings(max_examples=80, deadline=None)
@given(described())
def test_any_description_gives_a_report(case: Case) -> None:
    host, instances, requests = case
    report = validate_host(host, instances, requests)
    assert report.ok == (not any(f.severity is Severity.ERROR for f in report.findings))
    cpu_owners: dict[int, str] = {}
    shared = False
    for inst in instances:
        for cpu in set(inst.cpus):
            shared |= cpu in cpu_owners
            cpu_owners[cpu] = inst.name
    assert ("cpu-conflict" in report.codes) == shared


@settings(max_examples=40, deadline=None)
@given(described())
def test_the_file_path_agrees_with_the_object_path(case: Case) -> None:
    """Validating the written description finds what validating the objects finds."""
    host, instances, requests = case
    direct = validate_host(host, instances, requests)
    desc = read_host(parse(format_dts(host_to_tree(host, instances, requests)), "case.dts"))
    via_file = validate_description(desc)
    remarks = {"distance-default"}
    assert [f.code for f in via_file.findings if f.code not in remarks] == list(direct.codes)
    json.dumps(summarize(desc, via_file))


@settings(max_examples=40, deadline=None)
@given(described())
def test_plans_give_a_report(case: Case) -> None:
    host, instances, requests = case
    report = validate_plan(host, instances[:1], instances[1:], requests)
    assert all(f.code != "plan-unrequested" or f.severity is Severity.ERROR for f in report.findings)
    assert report.codes.count("plan-unplaced") == len(
        {r.name for r in requests} - {i.name for i in instances[1:]}
    )
