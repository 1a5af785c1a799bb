"""Driving Wharf's provider sign-in over HTTP, as a browser would: start it, let the provider
answer, and bring the answer back to the callback with the browser's cookies."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from controlplane.config import Settings, load_settings
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.harness.ports import free_port

# The provider's part: from its authorization URL to the redirect back to Wharf.
ProviderStep = Callable[[str], Awaitable[str]]


async def follow_issuer(authorize_url: str) -> str:
    """A provider that answers at once (the fake issuer): its redirect back to the client."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(authorize_url, allow_redirects=False) as answer,
    ):
        assert answer.status in (302, 303), await answer.text()
        return str(URL(authorize_url).join(URL(answer.headers["Location"])))


async def start(client: TestClient, path: str) -> str:
    """GET a Wharf /auth/…/start URL; the provider URL it sends the browser to."""
    response = await client.get(path, allow_redirects=False)
    assert response.status == 303, (response.status, await response.text())
    return response.headers["Location"]


async def come_back(client: TestClient, back: str) -> aiohttp.ClientResponse:
    """The provider's redirect back to Wharf, followed with the browser's cookies (no further)."""
    return await client.get(URL(back).path_qs, allow_redirects=False)


async def sign_in_with(
    client: TestClient, provider: str, step: ProviderStep, query: str = ""
) -> aiohttp.ClientResponse:
    """The whole round: Wharf's start, the provider's step, Wharf's callback."""
    return await come_back(
        client, await step(await start(client, f"/auth/{provider}/start{query}"))
    )


@contextlib.asynccontextmanager
async def wharf_app(
    database_url: str, data_dir: Path, port: int | None = None, **options: str
) -> AsyncIterator[TestClient]:
    """The control plane in this process on a port that may be chosen first (a provider must
    know the callback URL before Wharf starts), with the admin of tests.conftest; options are
    settings."""
    port = port or free_port()
    settings: Settings = load_settings(
        {
            "data_dir": str(data_dir),
            "database_url": database_url,
            "public_url": f"http://127.0.0.1:{port}",
            **options,
        },
        environ={},
    )
    app: web.Application = create_app(settings)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    try:
        await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
        yield client
    finally:
        await client.close()


def callback_uri(port: int, provider: str) -> str:
    """The redirect URI Wharf on this port sends for a provider."""
    return f"http://127.0.0.1:{port}/auth/{provider}/callback"


async def page_text(response: aiohttp.ClientResponse) -> str:
    """A page's text with its markup's whitespace folded (for assertions on wording)."""
    return " ".join((await response.text()).split())


def signed_in_cookie(client: TestClient) -> Any:
    """The admin UI session cookie the client holds now, if any."""
    return next((c for c in client.session.cookie_jar if c.key == "wharf_session"), None)
