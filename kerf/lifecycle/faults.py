"""A tiny fault-injection hook for crash tests.

``KERF_CRASH_AT=<checkpoint>`` makes kerf kill itself with SIGKILL when it reaches that
checkpoint, exactly as a power cut or ``kill -9`` would stop it: no cleanup handlers, no
flushing, the flock released by the kernel. The crash tests run a command once per
checkpoint and then check that the next command repairs what was left. Checkpoints (see
docs/lifecycle.md) name the moment right *after* the step they are called after, e.g.
``overlay-written-1`` after the first overlay of a batch is written.

Unset (the normal case) the hook does nothing.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "KERF_CRASH_AT"


def checkpoint(name: str) -> None:
    """Die here (SIGKILL) when ``KERF_CRASH_AT`` names this checkpoint."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
