"""An aiohttp app served in the test's own event loop on a free loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from tests.harness.ports import free_port


@contextlib.asynccontextmanager
async def serve(app: web.Application, port: int | None = None) -> AsyncIterator[str]:
    """Serve app on 127.0.0.1 (port, or a free one); yields its base URL, no trailing slash."""
    port = port or free_port()
    # No access log: a failing test's output should show the test's requests, not ours.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
