"""The instance lifecycle: the operations behind ``kerf init``, ``create``, ``update``,
``delete``, ``load``, ``exec``, ``kill``, ``unload`` and ``show``.

Each operation takes a :class:`~kerf.lifecycle.session.Session` (which kernel, which state
directory) and returns an :class:`~kerf.lifecycle.common.Outcome` (a message, a JSON
document, notices); the CLI only parses options and prints. See docs/lifecycle.md.
"""

from kerf.lifecycle.common import Outcome
from kerf.lifecycle.session import BackendKind, Location, Session, locate, simulated_location

__all__ = ["BackendKind", "Location", "Outcome", "Session", "locate", "simulated_location"]
