"""Instances the kernel holds outside kerf's creation rules (a name like ``-x``, an automatic
id above 2047) stay addressable by name and by id."""

from __future__ import annotations

import json

import pytest

from kerf.kernel.sim import SimulatedHost
from tests.cli_lifecycle.conftest import Kerf
from tests.kernel.simhost import GiB, create


def made_elsewhere(kerf: Kerf, name: str, ident: int) -> SimulatedHost:
    """An instance written straight to the simulated kernel, as another client would."""
    sim = SimulatedHost(kerf.root / "kernel")
    tx = sim.write_overlay(create(name, cpus=[3], memory=GiB, ident=ident, numa=0))
    assert tx.status.value == "applied", sim.failure_detail(tx.id)
    return sim


@pytest.mark.parametrize("address", [("--", "-x"), ("--id", "3000"), ("--id", "3000", "--", "-x")])
def test_show_reaches_it(initialised: Kerf, address: tuple[str, ...]) -> None:
    made_elsewhere(initialised, "-x", 3000)
    options = [a for a in address if a != "--" and a != "-x"]
    names = ["--", "-x"] if "-x" in address else []
    shown = json.loads(initialised.ok("show", "--json", *options, *names).stdout)
    text = json.dumps(shown)
    assert '"-x"' in text and "3000" in text


@pytest.mark.parametrize("address", [("--", "-x"), ("--id", "3000")])
def test_delete_reaches_it(initialised: Kerf, address: tuple[str, ...]) -> None:
    sim = made_elsewhere(initialised, "-x", 3000)
    initialised.ok("delete", *address)
    assert sim.instances() == []


def test_a_name_with_a_space_is_reachable_by_name(initialised: Kerf) -> None:
    sim = made_elsewhere(initialised, "a b", 7)
    initialised.ok("delete", "a b")
    assert sim.instances() == []


@pytest.mark.parametrize("name", ["", "a/b"])
def test_names_no_instance_can_have_are_still_usage_errors(initialised: Kerf, name: str) -> None:
    result = initialised("show", "--", name)
    assert result.exit_code == 2, result.output
    assert "invalid instance name" in result.stderr


def test_id_zero_is_the_host_not_an_instance(initialised: Kerf) -> None:
    result = initialised("show", "--id", "0")
    assert result.exit_code == 2, result.output


def test_create_still_applies_the_naming_rules(initialised: Kerf) -> None:
    result = initialised("create", "--cpu-count", "1", "--memory", "1G", "--", "-x")
    assert result.exit_code == 2, result.output
    assert "it starts with '-'" in result.stderr
