"""`wharf up`'s child processes: started with the control plane, stopped with it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from controlplane.config import Settings

log = logging.getLogger(__name__)


async def _start(name: str, argv: list[str], ready_text: bytes) -> asyncio.subprocess.Process:
    """Start a child and wait for the line that says it is ready."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, env={**os.environ}
    )
    assert process.stdout is not None
    while line := await asyncio.wait_for(process.stdout.readline(), 30):
        if ready_text in line:
            return process
    raise RuntimeError(f"{name} exited before it was ready (code {await process.wait()})")


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after ten seconds."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


@asynccontextmanager
async def edge_process(settings: Settings) -> AsyncIterator[str]:
    """The edge file server as a child process; yields the URL it serves on."""
    host, port = settings.edge_listen
    argv = [
        sys.executable, "-m", "controlplane.cli", "edge",
        "--data-dir", str(settings.data_dir),
        "--base-domain", settings.base_domain,
        "--edge-listen", f"{host}:{port}",
        "--edge-workers", str(settings.edge_workers),
        "--log-level", settings.log_level.lower(),
    ]  # fmt: skip
    process = await _start("edge", argv, b"edge listening")
    try:
        yield f"http://{host}:{port}/"
    finally:
        with contextlib.suppress(ProcessLookupError):
            await _stop(process)
