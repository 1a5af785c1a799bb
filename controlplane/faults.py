"""Crash points for fault-injection tests: WHARF_FAULT names the one where the process dies."""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    """SIGKILL this process here when WHARF_FAULT names this point (tests only; unset in use)."""
    # Read at each call, not at import: a test sets it for one child process only.
    if os.environ.get("WHARF_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
