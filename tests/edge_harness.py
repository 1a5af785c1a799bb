"""Edge test harness: one edge worker in the test's event loop, raw HTTP on its socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.deploys.release_files import ReleaseFiles
from edge.responder import EdgeConfig
from edge.server import EdgeOptions, _serve_worker
from tests.harness.ports import free_port


def publish(data_dir: Path, site: str, environment: str, deploy_id: str) -> None:
    """Point an environment's live symlink at a release (one rename)."""
    ReleaseFiles(data_dir).activate(site, environment, deploy_id)


def write_edge_config(data_dir: Path, document: Mapping[str, object]) -> None:
    """Write <data>/edge/config.json atomically, as the control plane does."""
    folder = data_dir / "edge"
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / ".config.json.tmp"
    temp.write_text(json.dumps(document))
    os.replace(temp, folder / "config.json")


@dataclass
class RawResponse:
    """One HTTP response as it came off the socket."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes = field(repr=False, default=b"")

    def header(self, name: str) -> str | None:
        """The value of the last header of that name (case-insensitive)."""
        found = [value for key, value in self.headers if key.lower() == name.lower()]
        return found[-1] if found else None


async def read_response(reader: asyncio.StreamReader, *, head_only: bool = False) -> RawResponse:
    """Read one response: status line, headers, then Content-Length bytes of body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    status, reason = status_line[1], status_line[2] if len(status_line) > 2 else ""
    headers = [
        (name.strip(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:])
    ]
    response = RawResponse(int(status), reason, headers, b"", head)
    length = response.header("Content-Length")
    if not head_only and response.status != 304 and length is not None:
        response.body = await reader.readexactly(int(length))
    return response


async def exchange(port: int, data: bytes, *, patience: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection; everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        received = b""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(patience):
                while chunk := await reader.read(65536):
                    received += chunk
        return received
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@dataclass
class Edge:
    """A running edge worker."""

    port: int
    data_dir: Path

    def url(self, path: str) -> str:
        """An absolute URL on the edge; send the Host header separately."""
        return f"http://127.0.0.1:{self.port}{path}"


@contextlib.asynccontextmanager
async def running_edge(
    data_dir: Path, base_domain: str = "localhost", *, idle_timeout: float = 60.0
) -> AsyncIterator[Edge]:
    """One edge worker serving data_dir in this event loop, stopped as SIGTERM stops it."""
    port = free_port()
    ready = asyncio.Event()
    options = EdgeOptions("127.0.0.1", port, 1, idle_timeout=idle_timeout)
    task = asyncio.create_task(_serve_worker(EdgeConfig(data_dir, base_domain), options, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # raises what stopped the worker
    assert ready.is_set(), "the edge worker did not start listening within 10 s"
    try:
        yield Edge(port, data_dir)
    finally:
        await _stop(task)


async def _stop(task: asyncio.Task[None]) -> None:
    """Stop the worker through its own SIGTERM handler (so it closes its listener), else cancel."""
    handler = signal.getsignal(signal.SIGTERM)
    if not task.done() and handler not in (signal.SIG_DFL, signal.SIG_IGN, None):
        # The loop's handler only wakes the loop; the worker then sets its stop event.
        os.kill(os.getpid(), signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), 5)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
