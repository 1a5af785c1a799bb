"""Probes right after a publish, with the real worker, edge and Traefik: a healthy release
stays live with its report; one whose `/` answers 404 (a forced `_redirects` rule) is rolled
back within seconds, the reason in the publish history; the site may turn that off."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import async_playwright, expect

from controlplane.config import Settings
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.harness.ports import free_port
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.harness.waiting import wait_for
from tests.integration.test_ui_browser import CHROMIUM, Running, _serious, _sign_in
from tests.sites import site_files, zip_bytes

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
BROKEN_ROOT = {"_redirects": "/  /nowhere.html  404!\n"}


class Api:
    """The control plane's API with the admin's token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        headers: dict[str, str],
        app: web.Application | None = None,
    ) -> None:
        self.session, self.url, self.headers, self.app = session, url, headers, app

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; its JSON."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.session.request(
            method, self.url + path, headers=headers, **kwargs
        ) as response:
            assert response.status < 300, (response.status, await response.text())
            return await response.json()

    async def deploy(self, marker: str, extra: dict[str, str | bytes] | None = None) -> str:
        """Upload a release of blog; its id once the worker has built and probed it."""
        body = zip_bytes(site_files(marker, extra))
        deploy = await self.call(
            "POST",
            "/api/v1/sites/blog/deploys",
            data=body,
            headers={"Content-Type": "application/zip"},
        )

        async def probed() -> bool:
            found = await self.call("GET", f"/api/v1/sites/blog/deploys/{deploy['id']}")
            return found["probes"] is not None or found["status"] == "failed"

        await wait_for(probed, 30)
        return str(deploy["id"])


async def _deploy_page(api: Api, deploy_id: str) -> str:
    """The deploy's page in the admin UI, signed in as the admin, its text folded."""
    jar = aiohttp.CookieJar(unsafe=True)  # the UI's cookie on 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        credentials = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        async with browser.post(
            f"{api.url}/sign-in", data=credentials, headers={"Sec-Fetch-Site": "same-origin"}
        ) as signed_in:
            assert signed_in.status == 200
        async with browser.get(f"{api.url}/sites/blog/deploys/{deploy_id}") as page:
            return " ".join((await page.text()).split())


async def _look_at(api: Api, deploy_id: str) -> None:
    """The deploy page with its probes, and the site's settings, in chromium: screenshots in
    light and dark, laptop and phone, and no serious axe-core finding."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            running = Running(api.url, api.session, api.headers, browser)
            page = await browser.new_page()
            await _sign_in(page, api.url, ADMIN_EMAIL, ADMIN_PASSWORD)
            await page.goto(f"{api.url}/sites/blog/deploys/{deploy_id}")
            await expect(
                page.get_by_role("heading", name="After its publish FAILED")
            ).to_be_visible()
            await running.screens(page, "deploy-probes")
            await page.goto(f"{api.url}/sites/blog/settings")
            await expect(
                page.get_by_label("Roll back an automatic publish that fails its probes")
            ).to_be_checked()
            await running.screens(page, "site-settings-probes")
        finally:
            await browser.close()
    assert _serious(running) == []


@contextlib.asynccontextmanager
async def signed_in_api(aiohttp_server: Any, settings: Settings) -> AsyncIterator[Api]:
    """The control plane of these settings in this process, its admin signed in through the
    API, and the site blog created (the probes, monitoring and canary stacks share it)."""
    app: web.Application = create_app(settings)
    await aiohttp_server(app, port=settings.listen[1])
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{settings.listen[1]}"
        credentials = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        async with session.post(f"{url}/api/v1/auth/login", json=credentials) as response:
            headers = {"Authorization": "Bearer " + (await response.json())["access_token"]}
        client = Api(session, url, headers, app)
        await client.call("POST", "/api/v1/sites", json={"name": "blog"})
        yield client


@pytest.fixture
async def api(aiohttp_server: Any, database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """Control plane with its worker, the edge and Traefik; the site blog."""
    port = free_port()
    settings = stack_settings(
        tmp_path / "data", database_url=database_url, listen=f"127.0.0.1:{port}", job_poll="1"
    )
    host, http_port = settings.http_listen
    settings = settings.replace(probe_traefik_url=f"http://{host}:{http_port}")
    async with signed_in_api(aiohttp_server, settings) as client:
        assert client.app is not None
        async with edge_and_traefik(settings, client.app[SERVICES].routing.routers):
            yield client


async def test_probes_keep_a_healthy_release_and_roll_a_broken_one_back(api: Api) -> None:
    healthy = await api.deploy("one")
    found = await api.call("GET", f"/api/v1/sites/blog/deploys/{healthy}")
    assert found["status"] == "live"
    probes = found["probes"]
    assert probes["status"] == "passed" and probes["host"] == "blog.localhost"
    paths = {(probe["path"], probe["via"], probe["status"]) for probe in probes["probes"]}
    assert {("/", "edge", 200), ("/", "traefik", 200), ("/about/index.html", "edge", 200)} <= paths
    assert any(probe["expected"] == 404 and probe["status"] == 404 for probe in probes["probes"])

    started = time.monotonic()
    broken = await api.deploy("two", BROKEN_ROOT)
    took = time.monotonic() - started
    found = await api.call("GET", f"/api/v1/sites/blog/deploys/{broken}")
    assert found["status"] == "superseded" and found["probes"]["status"] == "failed"
    first = next(p for p in found["probes"]["probes"] if not p["ok"])
    assert (first["path"], first["status"]) == ("/", 404)
    history = (await api.call("GET", "/api/v1/sites/blog/publishes"))["events"]
    assert [(e["kind"], e["to_deploy"]) for e in history[:2]] == [
        ("auto_rollback", healthy),
        ("auto_publish", broken),
    ]
    assert (
        history[0]["reason"].startswith("probes failed:") and "answered 404" in history[0]["reason"]
    )
    assert (await api.call("GET", f"/api/v1/sites/blog/deploys/{healthy}"))["status"] == "live"
    assert took < 20, took
    log = await api.call("GET", f"/api/v1/sites/blog/deploys/{broken}/log")
    texts = [line["text"] for line in log["lines"]]
    assert texts[-2].startswith("probes failed") and texts[-1] == f"rolled back to {healthy}"
    assert found["probes"]["rolled_back_to"] == healthy
    page = await _deploy_page(api, broken)
    assert 'After its publish <span class="badge bad">FAILED</span>' in page
    assert "answered 404, expected 200" in page

    await _look_at(api, broken)

    # A site may keep what it published, probes or not: the report still says what failed.
    await api.call("PATCH", "/api/v1/sites/blog", json={"probe_rollback": False})
    kept = await api.deploy("three", BROKEN_ROOT)
    found = await api.call("GET", f"/api/v1/sites/blog/deploys/{kept}")
    assert found["status"] == "live" and found["probes"]["status"] == "failed"
