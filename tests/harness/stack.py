"""The one real stack for tests: the edge and Traefik as child processes, as `wharf up` runs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from controlplane.config import Settings, load_settings
from controlplane.runtime.stack import edge_process, traefik_process
from tests.harness.ports import free_port
from tests.harness.waiting import tail


def stack_settings(data_dir: Path, **overrides: str) -> Settings:
    """Settings for a stack on free loopback ports (one edge worker); overrides win."""
    api_port = free_port()
    raw = {
        "data_dir": str(data_dir),
        "edge_listen": f"127.0.0.1:{free_port()}",
        "edge_workers": "1",
        "http_listen": f"127.0.0.1:{free_port()}",
        "https_listen": f"127.0.0.1:{free_port()}",
        "traefik_api_listen": f"127.0.0.1:{api_port}",
        "traefik_api_url": f"http://127.0.0.1:{api_port}",
    }
    return load_settings(raw | overrides, environ={})


@contextlib.asynccontextmanager
async def edge_and_traefik(
    settings: Settings, routers: set[str], *, edge: bool = True
) -> AsyncIterator[str]:
    """The edge (unless edge=False) and Traefik, ready once Traefik enables `routers`; yields
    Traefik's HTTP URL. Traefik's log is printed when the block exits, shown on a failure."""
    try:
        async with contextlib.AsyncExitStack() as processes:
            if edge:
                await processes.enter_async_context(edge_process(settings))
            yield await processes.enter_async_context(traefik_process(settings, routers))
    finally:
        print(f"traefik log:\n{tail(settings.layout.traefik_log)}")
