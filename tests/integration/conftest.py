"""Fixtures of the integration tests that drive the `wharf` executable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.control_plane import control_plane
from tests.harness.ports import free_port
from tests.harness.wharf_cli import WharfCli


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """`wharf serve` with the admin of ADMIN; its URL."""
    listen = ("127.0.0.1", free_port())
    nowhere = f"127.0.0.1:{free_port()}"
    options = {"job_poll": "1", "dns_resolver": nowhere, "http_check_address": nowhere}
    async with control_plane(
        tmp_path / "data", database_url, listen, tmp_path / "serve.log", **options
    ) as url:
        yield url


@pytest.fixture
def cli(server: str, tmp_path: Path) -> WharfCli:
    """`wharf` pointed at the server by WHARF_URL, with a config folder of its own."""
    return WharfCli(tmp_path / "home", server)
