"""Gates through a real Traefik, in front of the real edge and the real control plane."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import Morsel
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from controlplane.config import Settings
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.traefik.traefik_api import missing_or_disabled, router_status
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.harness.ports import free_port
from tests.harness.releases import install_release
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.harness.waiting import wait_for
from tests.sites import site_files

pytestmark = pytest.mark.slow
RELEASES = {("blog", "production"): "aaaaaaaaaaa1", ("blog", "staging"): "bbbbbbbbbbb2"}
RELEASES[("shop", "production")] = "ccccccccccc3"
PASSWORD = "visitor-password-1"


@dataclass
class Stack:
    """Traefik's URL, the control plane's API, and the admin's headers."""

    settings: Settings
    app: web.Application
    traefik: str
    api: str
    admin: dict[str, str]
    session: aiohttp.ClientSession

    async def put_gate(self, site: str, **body: Any) -> None:
        """Set a gate and wait until Traefik shows exactly the routers Wharf wrote."""
        url = f"{self.api}/api/v1/sites/{site}/gate?wait=true"
        async with self.session.put(url, json=body, headers=self.admin) as response:
            assert response.status == 200, await response.text()
        await self.routers_live()

    async def routers_live(self) -> None:
        """Wait (5 s at most) for Traefik to show every written router, enabled, and no other."""
        host, port = self.settings.traefik_api_listen
        expected = self.app[SERVICES].routing.routers

        async def shown() -> bool:
            status = await router_status(self.session, f"http://{host}:{port}")
            return set(status) == expected and not missing_or_disabled(expected, status)

        await wait_for(shown, 5, self.settings.layout.traefik_log)

    async def get(
        self, host: str, path: str = "/", cookie: str | None = None, **headers: str
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        """GET through Traefik with this Host header and exactly this cookie, no redirects."""
        if cookie:
            headers["Cookie"] = f"wharf_gate={cookie}"
        async with self.session.get(
            self.traefik.rstrip("/") + path,
            headers={"Host": host, **headers},
            allow_redirects=False,
        ) as response:
            return response.status, await response.text(), response

    async def post_login(
        self, host: str, password: str, next_path: str
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        """POST the login form through Traefik."""
        async with self.session.post(
            self.traefik.rstrip("/") + "/.wharf/gate/login",
            data={"password": password, "next": next_path},
            headers={"Host": host},
            allow_redirects=False,
        ) as response:
            return response.status, await response.text(), response


def _cookie(response: aiohttp.ClientResponse) -> Morsel[str]:
    return response.cookies["wharf_gate"]


@pytest.fixture
async def stack(aiohttp_server: Any, database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """Control plane (test server on a free port), edge and Traefik; sites blog and shop."""
    control_port = free_port()
    settings = stack_settings(
        tmp_path / "data",
        database_url=database_url,
        listen=f"127.0.0.1:{control_port}",
        worker="false",
        # The releases below are installed without deploy rows: no reconcile may undo them.
        reconcile_interval="3600",
    )
    app = create_app(settings)
    server = await aiohttp_server(app, port=control_port)
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    api = f"http://127.0.0.1:{server.port}"
    session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    credentials = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    async with session.post(f"{api}/api/v1/auth/login", json=credentials) as response:
        admin = {"Authorization": "Bearer " + (await response.json())["access_token"]}
    for site in ("blog", "shop"):
        async with session.post(f"{api}/api/v1/sites", json={"name": site}, headers=admin) as r:
            assert r.status == 201
    files = ReleaseFiles(settings.data_dir)
    for (site, environment), deploy_id in RELEASES.items():
        install_release(settings.data_dir, site, deploy_id, site_files(deploy_id))
        files.activate(site, environment, deploy_id)
    try:
        async with edge_and_traefik(settings, app[SERVICES].routing.routers) as url:
            yield Stack(settings, app, url, api, admin, session)
    finally:
        await session.close()


async def test_gates_through_traefik_basic_password_share_and_off(stack: Stack) -> None:
    blog_marker, shop_marker = RELEASES[("blog", "production")], RELEASES[("shop", "production")]
    status, body, _ = await stack.get("blog.localhost")
    assert status == 200 and blog_marker in body

    # basic: Traefik itself asks for the users set through the API.
    users = [{"username": "alice", "password": "alice-password"}]
    await stack.put_gate("blog", environment="production", mode="basic", users=users)
    status, _, response = await stack.get("blog.localhost")
    assert status == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    good = "Basic " + base64.b64encode(b"alice:alice-password").decode()
    bad = "Basic " + base64.b64encode(b"alice:wrong-password").decode()
    assert (await stack.get("blog.localhost", Authorization=bad))[0] == 401
    status, body, _ = await stack.get("blog.localhost", Authorization=good)
    assert status == 200 and blog_marker in body
    assert (await stack.get("blog--staging.localhost"))[0] == 200  # another environment: open

    # password: one password on two hosts, so only the cookie's host scope tells them apart.
    await stack.put_gate("shop", environment="production", mode="password", password=PASSWORD)
    await stack.put_gate("blog", environment="staging", mode="password", password=PASSWORD)
    status, _, response = await stack.get("shop.localhost", "/about/?x=1")
    login_url = "http://shop.localhost/.wharf/gate/login?next=%2Fabout%2F%3Fx%3D1"
    assert status == 302 and response.headers["Location"] == login_url
    status, page, _ = await stack.get(
        "shop.localhost", login_url.removeprefix("http://shop.localhost")
    )
    assert status == 200 and 'name="next" value="/about/?x=1"' in page
    status, page, response = await stack.post_login("shop.localhost", "wrong-password", "/about/")
    assert status == 403 and "not right" in page and "wharf_gate" not in response.cookies
    status, _, response = await stack.post_login("shop.localhost", PASSWORD, "/about/?x=1")
    assert status == 303 and response.headers["Location"] == "/about/?x=1"
    cookie = _cookie(response)
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    status, body, _ = await stack.get("shop.localhost", "/about/", cookie=cookie.value)
    assert status == 200 and f"About {shop_marker}" in body
    status, _, response = await stack.get("blog--staging.localhost", cookie=cookie.value)
    assert status == 302
    assert response.headers["Location"].startswith("http://blog--staging.localhost/.wharf/gate/")
    # Claiming the cookie's host does not help: Traefik puts the real Host in X-Forwarded-Host.
    spoofed = {"X-Forwarded-Host": "shop.localhost"}
    status, _, response = await stack.get("blog--staging.localhost", cookie=cookie.value, **spoofed)
    assert status == 302
    assert response.headers["Location"].startswith("http://blog--staging.localhost/.wharf/gate/")

    # A share link (2 s) opens the host, then no longer.
    async with stack.session.post(
        f"{stack.api}/api/v1/sites/shop/gate/share",
        json={"environment": "production", "expires_in": 2},
        headers=stack.admin,
    ) as shared:
        link = await shared.json()
    started = time.monotonic()
    parts = urlsplit(link["url"])
    authority = f"shop.localhost:{parts.port}"
    status, _, response = await stack.get(authority, f"/?{parts.query}")
    assert status == 302 and response.headers["Location"] == f"http://{authority}/"
    shared_cookie = _cookie(response).value
    status, body, _ = await stack.get(authority, cookie=shared_cookie)
    assert status == 200 and shop_marker in body
    await asyncio.sleep(max(0.0, 2.2 - (time.monotonic() - started)))
    status, _, response = await stack.get(authority, cookie=shared_cookie)
    assert status == 302 and "/.wharf/gate/login" in response.headers["Location"]
    status, _, response = await stack.get(authority, f"/?{parts.query}")
    assert status == 302 and "/.wharf/gate/login" in response.headers["Location"]

    # Off: at once, nothing asked.
    await stack.put_gate("shop", environment="production", mode="none")
    await stack.put_gate("blog", environment="production", mode="none")
    status, body, _ = await stack.get("shop.localhost")
    assert status == 200 and shop_marker in body
    status, body, _ = await stack.get("blog.localhost")
    assert status == 200 and blog_marker in body
    assert (await stack.get("blog--staging.localhost"))[0] == 302  # still gated


async def test_gates_wait_true_answers_once_traefik_applies_the_new_password(
    stack: Stack,
) -> None:
    url = f"{stack.api}/api/v1/sites/blog/gate?wait=true"
    for round_ in range(5):  # several rounds: one lucky timing proves nothing
        old, new = f"password-{round_}", f"password-{round_ + 1}"
        users = [{"username": "alice", "password": new}]
        body = {"environment": "production", "mode": "basic", "users": users}
        async with stack.session.put(url, json=body, headers=stack.admin) as response:
            assert response.status == 200, await response.text()
            routing = (await response.json())["routing"]
        assert routing["state"] == "confirmed" and routing["error"] is None
        # Right after the answer, with no waiting of our own: the old password is refused.
        stale = "Basic " + base64.b64encode(f"alice:{old}".encode()).decode()
        fresh = "Basic " + base64.b64encode(f"alice:{new}".encode()).decode()
        assert (await stack.get("blog.localhost", Authorization=stale))[0] == 401
        assert (await stack.get("blog.localhost", Authorization=fresh))[0] == 200
