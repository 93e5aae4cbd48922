"""``kerf config``: host-wide settings kept in kerf's state directory.

One setting so far: the core-sharing mode that `kerf create` and `kerf update` use when
neither ``--core-sharing`` nor ``KERF_CORE_SHARING`` says otherwise (an operator decides
once per host whether instances may share SMT siblings, as kubelet's CPU manager options
are set per node). Settings touch no kernel state; they only change future placements.
"""

from __future__ import annotations

from kerf.lifecycle.common import Outcome
from kerf.lifecycle.session import Session
from kerf.state import Settings
from planner.policy import CoreSharing


def config(session: Session, *, core_sharing: CoreSharing | None = None, dry_run: bool = False) -> Outcome:
    """Show the settings, or change the ones given (nothing given: only show)."""
    if core_sharing is None or dry_run:
        with session.read_locked() as state:
            current = state.settings()
        if core_sharing is None:
            return Outcome(_describe(current), _data(session, current))
        wanted = Settings(core_sharing=core_sharing)
        data = {**_data(session, wanted), "dry_run": True}
        return Outcome(f"would set {_describe(wanted)} (was {current.core_sharing.value})", data)
    wanted = Settings(core_sharing=core_sharing)
    with session.locked(create=True) as state:
        changed = state.settings() != wanted
        if changed:
            state.write_settings(wanted)
    return Outcome(f"{'set' if changed else 'unchanged:'} {_describe(wanted)}", _data(session, wanted))


def _describe(settings: Settings) -> str:
    return f"core sharing {settings.core_sharing.value}"


def _data(session: Session, settings: Settings) -> dict[str, object]:
    return {"core_sharing": settings.core_sharing.value, "state": str(session.location.state_dir)}
