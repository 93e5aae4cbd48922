"""What a benchmark run records, and writing it as JSON and CSV.

One :class:`RunRecord` per (topology, scenario, seed, contender): a
:class:`Decision` per request and a :class:`Sample` of the host state after every
event. Quality figures come from :func:`planner.metrics.instance_metrics`, the same
evaluator for every contender.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

#: The per-instance figures kept from planner.metrics.InstanceMetrics.
QUALITY_FIELDS = (
    "numa_span",
    "min_numa_span",
    "numa_excess",
    "kubelet_aligned",
    "socket_span",
    "l3_span",
    "distance_cost",
    "max_distance",
    "interleave_bandwidth",
    "shared_cores",
    "split_cores",
    "sibling_pairs",
    "preferred_misses",
    "device_local_misses",
    "bind_misses",
)


@dataclass
class O1Check:
    """A decision compared with the planner's per-decision optimum on the same state.

    ``equal``: same objective vector; ``first_tier``: the first objective tier where
    they differ; ``worse``: True when the decision is lexicographically worse than the
    optimum (False: better, which would be a planner defect when it claimed optimal);
    ``planner_status``: the planner's status on that state."""

    equal: bool
    first_tier: str | None
    worse: bool | None
    planner_status: str


@dataclass
class Decision:
    """One request's decision."""

    event: int
    request: str
    size: int
    affinity: str
    policy: str
    exclusive: bool
    device: bool
    listed_nodes: int
    phase: str
    measured: bool
    gang: int
    admitted: bool
    seconds: float
    free_before: int
    status: str | None = None
    gap: float | None = None
    stopped_at: str | None = None
    joint: bool = False
    quality: dict[str, Any] | None = None
    o1: O1Check | None = None


@dataclass
class Sample:
    """The host after one event."""

    event: int
    alive: int
    free_cpus: int
    free_cores: int
    largest_free_cores_in_node: int
    free_numa_nodes: int
    free_l3: int
    stranded_threads: int
    fgd: float
    balance: float
    capacity: dict[str, int]


@dataclass
class RunRecord:
    """Everything one contender did on one scenario."""

    topology: str
    scenario: str
    sequence: str
    seed: int
    contender: str
    family: str
    pool_cpus: int
    decisions: list[Decision] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False
    error: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """(topology, scenario, seed): runs with the same key faced the same requests."""
        return (self.topology, self.scenario, self.seed)

    def measured(self) -> list[Decision]:
        """The decisions that count in the statistics."""
        return [d for d in self.decisions if d.measured]


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def run_to_json(run: RunRecord) -> dict[str, Any]:
    """A run as plain JSON data."""
    data: dict[str, Any] = _plain(asdict(run))
    return data


def run_from_json(data: Mapping[str, Any]) -> RunRecord:
    """The inverse of :func:`run_to_json`."""
    decisions = []
    for d in data["decisions"]:
        entry = dict(d)
        if entry.get("o1") is not None:
            entry["o1"] = O1Check(**entry["o1"])
        decisions.append(Decision(**entry))
    samples = [Sample(**s) for s in data["samples"]]
    scalars = {
        f.name: data[f.name]
        for f in fields(RunRecord)
        if f.name not in ("decisions", "samples") and f.name in data
    }
    return RunRecord(**scalars, decisions=decisions, samples=samples)


class RunWriter:
    """Appends runs to a gzip-compressed JSON-lines file, one run per line, as they finish."""

    def __init__(self, path: Path) -> None:
        # Open for the writer's lifetime; close() (or the with-block) ends the file.
        self._out = gzip.open(path, "wt", encoding="utf-8")  # noqa: SIM115

    def write(self, run: RunRecord) -> None:
        """Add one run."""
        self._out.write(json.dumps(run_to_json(run), separators=(",", ":")) + "\n")
        self._out.flush()

    def close(self) -> None:
        """Finish the file."""
        self._out.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_runs(path: Path) -> Iterator[RunRecord]:
    """The runs of a file written by :class:`RunWriter`, one at a time (a partial file
    of an interrupted run reads up to its last complete line)."""
    with gzip.open(path, "rt", encoding="utf-8") as src:
        try:
            for line in src:
                if line.strip():
                    yield run_from_json(json.loads(line))
        except (EOFError, json.JSONDecodeError):
            return  # the run was interrupted while writing: keep what is complete


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows (dicts with the same keys) as CSV; nothing is written for no rows."""
    if not rows:
        return
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _plain(v) for k, v in row.items()})
