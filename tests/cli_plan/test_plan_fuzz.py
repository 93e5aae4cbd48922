"""`kerf plan` on request files built from random field values, valid and not.

Whatever a requests file holds, the command answers with a plan (exit 0), a plan that
leaves something out with its reasons (exit 4), or one located error (exit 2 or 3) —
never a traceback, never a plan the validator rejects (that would be exit 70).
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerf.errors import ExitCode

from .conftest import Kerf

# Values a careless or hostile file may hold for any field.
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(min_value=-3, max_value=70), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
SIZES = st.one_of(
    st.sampled_from(["1G", "512M", "4GiB", "16GB", "1.5G", "0", "-1G", "1000", "1e3G", "7T", "G", ""]),
    ODD,
)
FIELDS: dict[str, st.SearchStrategy[object]] = {
    "name": st.one_of(st.sampled_from(["web", "db", "a.b-c_1", "../x", "a/b", "", "x" * 70]), ODD),
    "cpu-count": st.one_of(st.integers(min_value=-2, max_value=40), st.just(1 << 63), ODD),
    "cpus": st.one_of(
        st.lists(st.integers(min_value=-1, max_value=60), max_size=6),
        st.sampled_from(["0-3", "5,7", "3-1"]),
        ODD,
    ),
    "memory": SIZES,
    "memory-bytes": st.one_of(st.integers(min_value=-1, max_value=1 << 80), ODD),
    "numa-nodes": st.one_of(
        st.lists(st.integers(min_value=-1, max_value=5), max_size=3), st.just("0-1"), ODD
    ),
    "cpu-affinity": st.one_of(st.sampled_from(["compact", "spread", "local", "tight"]), ODD),
    "memory-policy": st.one_of(st.sampled_from(["local", "interleave", "bind", "any"]), ODD),
    "devices": st.one_of(
        st.lists(
            st.sampled_from(["eth0_vf1", "eth0_vf*", "eth0", "gpu0", "nvme9_ns1", "eth0_vf99"]), max_size=3
        ),
        ODD,
    ),
    "exclusive-cores": st.one_of(st.booleans(), ODD),
    "id": st.one_of(st.integers(min_value=-1, max_value=3000), ODD),
}


@st.composite
def entries(draw: st.DrawFn) -> dict[str, object]:
    """One instance entry: a plausible core (name, size, memory) with random extra fields."""
    entry: dict[str, object] = {}
    if draw(st.booleans()):
        entry = {"name": draw(st.sampled_from(["web", "db", "cache"])), "cpu-count": 2, "memory": "1G"}
    for key in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=4, unique=True)):
        entry[key] = draw(FIELDS[key])
    return entry


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(entries(), min_size=1, max_size=3), st.sampled_from(["avoid", "pack"]))
def test_any_requests_file_gets_a_plan_or_a_clear_error(
    kerf: Kerf, host_file: Path, tmp_path: Path, instances: list[dict[str, object]], sharing: str
) -> None:
    file = tmp_path / "fuzz.json"
    file.write_text(json.dumps({"instances": instances}))
    args = ("--json", "--time-limit", "5", "--core-sharing", sharing)
    result = kerf("plan", str(host_file), "--requests", str(file), *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    code = result.exit_code
    assert code in (ExitCode.OK, ExitCode.USAGE, ExitCode.INPUT, ExitCode.UNPLACED), (code, result.stderr)
    if code in (ExitCode.USAGE, ExitCode.INPUT):
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
    else:
        data = json.loads(result.stdout)
        assert data["status"] in ("optimal", "feasible", "infeasible")
        assert (code == ExitCode.UNPLACED) == bool(data["unplaced"])
