"""A plan CP-SAT once proved wrongly optimal with two symmetry settings on.

OR-Tools 9.15 with ``keep_symmetry_in_presolve`` and ``use_symmetry_in_lp`` proved the
``device`` tier of this batch at 1 although 0 is reachable (r1 on node 0, beside
eth0), and the plan's check against planner.objective stopped it as an internal error.
The search leaves both settings off; these tests hold the plan to its true optimum.
"""

from __future__ import annotations

from pathlib import Path

from kerf.binding import load_host
from planner.cpsat import search
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest, PlanStatus
from planner.solve import PlanOptions, plan
from tests.planner.plan_checks import assert_plan_valid

ROOT = Path(__file__).resolve().parents[2]
GiB = 1 << 30


def batch() -> list[InstanceRequest]:
    return [
        InstanceRequest(
            "r0",
            GiB,
            cpu_count=2,
            cpu_affinity=CpuAffinity.LOCAL,
            memory_policy=MemoryPolicy.INTERLEAVE,
            numa_nodes=(1,),
            exclusive_cores=True,
        ),
        InstanceRequest(
            "r1",
            1 << 20,
            cpu_count=2,
            memory_policy=MemoryPolicy.INTERLEAVE,
            devices=(DeviceWant.parse("eth0_vf*"),),
            exclusive_cores=True,
        ),
        InstanceRequest("r3", GiB, cpu_count=1),
    ]


def test_the_batch_gets_its_true_optimum() -> None:
    desc = load_host(ROOT / "examples" / "numa_topology.dts")
    requests = [*desc.requests, *batch()]
    result = plan(desc.host, desc.instances, requests, PlanOptions())
    assert result.status is PlanStatus.OPTIMAL
    assert result.metrics["tiers"]["device"] == 0
    assert_plan_valid(desc.host, result, requests)


def test_the_search_leaves_the_lp_symmetry_settings_off() -> None:
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    search._configure(solver, search.Settings(time_limit=1.0))
    assert not solver.parameters.keep_symmetry_in_presolve
    assert not solver.parameters.use_symmetry_in_lp
