"""The interface every baseline offers, and the placement flow they share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from planner.baselines.workspace import Workspace
from planner.hardware import Host, Instance
from planner.request import InstanceRequest


class Allocator(Protocol):
    """A placement strategy: one request at a time, existing placements frozen."""

    name: str

    def place(self, host: Host, existing: Sequence[Instance], request: InstanceRequest) -> Instance | None:
        """The placed instance, or None when this strategy cannot place the request."""
        ...


class GreedyAllocator:
    """Shared flow: pinned lists are taken as given; otherwise :meth:`candidates` proposes
    CPU sets and the first one whose memory and devices can be found wins.

    Subclasses implement :meth:`choose_in` (CPUs for ``n`` inside a set of NUMA nodes),
    or override :meth:`candidates` when they handle node preferences themselves.
    """

    #: Whether device wildcards prefer units on the CPUs' nodes (topology-aware baselines).
    prefer_local_devices: bool = True

    def __init__(self, name: str) -> None:
        self.name = name

    def place(self, host: Host, existing: Sequence[Instance], request: InstanceRequest) -> Instance | None:
        """Place ``request`` on ``host`` next to ``existing``; None when it does not fit."""
        ws = Workspace.prepare(host, existing, request)
        if request.cpus is not None:
            pinned = ws.pinned_cpus()
            return None if pinned is None else ws.finish(pinned, prefer_local_devices=True)
        for cpus in self.candidates(ws, request.size):
            placed = ws.finish(tuple(sorted(cpus)), prefer_local_devices=self.prefer_local_devices)
            if placed is not None:
                return placed
        return None

    def candidates(self, ws: Workspace, n: int) -> Iterator[Sequence[int]]:
        """CPU sets to try in turn: one per scope (listed nodes first, then all nodes)."""
        for scope in ws.scopes():
            if len(ws.usable_in(scope)) < n:
                continue
            cpus = self.choose_in(ws, scope, n)
            if cpus is not None:
                yield cpus

    def choose_in(self, ws: Workspace, nodes: tuple[int, ...], n: int) -> Sequence[int] | None:
        """``n`` usable CPUs on ``nodes`` (honouring local affinity), or None."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
