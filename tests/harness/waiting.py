"""Waiting for a condition instead of sleeping, with the processes' logs when it never holds."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path

LOG_TAIL = 4000


def tail(log: Path, size: int = LOG_TAIL) -> str:
    """The end of a log file, or a note that there is none."""
    return log.read_text(errors="replace")[-size:] if log.exists() else f"({log}: no log)"


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]],
    within: float,
    *logs: Path,
    every: float = 0.05,
) -> None:
    """Poll condition (sync or async) until it holds; after `within` s fail with the logs' tails."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if loop.time() >= deadline:
            dumps = "\n".join(f"--- {log}\n{tail(log)}" for log in logs)
            raise AssertionError(f"not true within {within} s\n{dumps}")
        await asyncio.sleep(every)
