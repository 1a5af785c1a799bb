"""The admin UI's whole path in one browser session, against `wharf up` (control plane, edge
and a real Traefik), the sites visited through Traefik as a visitor would: a folder uploaded
with its progress bar moving, LIVE, a rollback from the list, a domain verified, a password
gate on staging, a share link, and signing out."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Error, Page, async_playwright, expect

from tests.harness.control_plane import ADMIN, control_plane, up_options
from tests.harness.ports import free_port
from tests.integration.test_ui_browser import CHROMIUM, SIZES, _sign_in
from tests.sites import site_files, write_site, zip_bytes

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
STAGING_PASSWORD = "staging-visitors-1"


@dataclass
class Stack:
    """The admin UI's URL, Traefik's HTTP port, an API session with the admin's token, chromium."""

    url: str
    http_port: int
    api: aiohttp.ClientSession
    headers: dict[str, str]
    browser: Browser

    def site(self, host: str) -> str:
        """A site's URL through Traefik (chromium resolves every *.localhost to loopback)."""
        return f"http://{host}:{self.http_port}/"


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """`wharf up` on free loopback ports; its domain checks look through its own Traefik."""
    http_port = free_port()
    options = {
        **up_options(http_port),
        "dns_resolver": f"127.0.0.1:{free_port()}",  # no DNS answers: the HTTP token decides
        "http_check_address": f"127.0.0.1:{http_port}",
        "domain_check_timeout": "2",
    }
    listen = ("127.0.0.1", free_port())
    log = tmp_path / "up.log"
    async with (
        control_plane(tmp_path / "data", database_url, listen, log, "up", **options) as url,
        aiohttp.ClientSession() as api,
        async_playwright() as playwright,
    ):
        async with api.post(f"{url}/api/v1/auth/login", json=ADMIN) as response:
            headers = {"Authorization": "Bearer " + (await response.json())["access_token"]}
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield Stack(url, http_port, api, headers, browser)
        finally:
            await browser.close()


async def _shows(page: Page, url: str, text: str, seconds: float = 20) -> None:
    """Load url until its page contains text (routing reaches Traefik within moments)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response = await page.goto(url)
        if response is not None and response.ok and text in await page.content():
            return
        assert asyncio.get_running_loop().time() < deadline, await page.content()
        await asyncio.sleep(0.25)


async def _upload_folder_watching_the_bar(page: Page, folder: Path) -> set[float]:
    """Upload the folder through a throttled link; every value the progress bar showed."""
    await page.locator("#folder").set_input_files(folder)
    await expect(page.locator("#chosen")).to_contain_text("from the folder dist/")
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    throttled = {"offline": False, "latency": 0, "downloadThroughput": -1}
    await cdp.send("Network.emulateNetworkConditions", {**throttled, "uploadThroughput": 500_000})
    await page.get_by_role("button", name="Upload").click()
    seen: set[float] = set()
    while "/deploys/" not in page.url:
        with contextlib.suppress(Error):  # the page may be navigating to the new deploy
            seen.add(await page.locator("#progress").evaluate("bar => bar.value", timeout=1000))
        await asyncio.sleep(0.05)
    await cdp.send("Network.emulateNetworkConditions", {**throttled, "uploadThroughput": -1})
    return seen


async def test_ui_whole_path_through_traefik_with_a_gate_and_a_share_link(
    stack: Stack, tmp_path: Path
) -> None:
    context = await stack.browser.new_context(viewport=SIZES["laptop"])
    page = await context.new_page()
    await _sign_in(page, stack.url, ADMIN["email"], ADMIN["password"])
    await page.get_by_label("New site").fill("blog")
    await page.get_by_role("button", name="Create site").click()

    # A folder, with a file large enough to watch the bar move on a throttled link.
    files = {**site_files("one"), "assets/photo.bin": os.urandom(1_500_000)}
    folder = await asyncio.to_thread(write_site, tmp_path / "dist", files)
    await page.get_by_role("link", name="Upload a deploy").click()
    seen = await _upload_folder_watching_the_bar(page, folder)
    assert any(0 < value < 100 for value in seen), seen
    await expect(page.locator("#status")).to_contain_text("LIVE", timeout=60_000)
    await expect(page.locator("#log")).to_contain_text("published")
    first = page.url.rsplit("/", 1)[-1]
    visitor = await (await stack.browser.new_context()).new_page()
    await _shows(visitor, stack.site("blog.localhost"), "Hello from release one")

    # A second deploy goes live; rolling back from the list brings the first back.
    second_zip = tmp_path / "two.zip"
    second_zip.write_bytes(zip_bytes(site_files("two")))
    await page.goto(f"{stack.url}/sites/blog/upload")
    await page.get_by_label("The built site, as a ZIP").set_input_files(second_zip)
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("#status")).to_contain_text("LIVE", timeout=60_000)
    await _shows(visitor, stack.site("blog.localhost"), "Hello from release two")
    await page.goto(f"{stack.url}/sites/blog")
    await page.get_by_role("link", name=f"Roll back to {first}").click()
    await page.get_by_role("button", name="Roll back").click()
    await expect(page.get_by_role("status")).to_contain_text(f"{first} is live")
    await _shows(visitor, stack.site("blog.localhost"), "Hello from release one")

    # A custom domain: the TXT record to publish; its HTTP token, served through Traefik, passes.
    await page.get_by_role("link", name="Custom domains").click()
    await page.get_by_label("Add a domain").fill("www.example.test")
    await page.get_by_role("button", name="Add domain").click()
    await expect(page.get_by_label("Name")).to_have_value("_wharf-challenge.www.example.test")
    heading = page.get_by_role("heading", name="www.example.test")
    for _ in range(20):  # until Traefik has the challenge route
        await page.get_by_role("button", name="Check now www.example.test").click()
        if "VERIFIED" in await heading.inner_text():
            break
        await asyncio.sleep(0.5)
    await expect(heading).to_contain_text("VERIFIED")

    # A password gate on staging; a visitor meets its login page, and gets in with it.
    async with stack.api.post(
        f"{stack.url}/api/v1/sites/blog/deploys?environment=staging",
        data=zip_bytes(site_files("stage")),
        headers={**stack.headers, "Content-Type": "application/zip"},
    ) as response:
        assert response.status == 202
    await page.goto(f"{stack.url}/sites/blog/gates")
    staging = page.locator("section", has=page.get_by_role("heading", name="Staging"))
    await staging.get_by_label("A shared password").check()
    await staging.get_by_label("New shared password").fill(STAGING_PASSWORD)
    await staging.get_by_role("button", name="Save the staging gate").click()
    await expect(page.get_by_role("status")).to_contain_text("shared password is set")
    stranger = await (await stack.browser.new_context()).new_page()
    await _shows(stranger, stack.site("blog--staging.localhost"), "Password required")
    await stranger.get_by_label("Password").fill(STAGING_PASSWORD)
    await stranger.get_by_role("button", name="Continue").click()
    await expect(stranger.get_by_text("Hello from release stage")).to_be_visible()

    # A share link opens staging in a third browser, with no password.
    await page.get_by_label("Environment").select_option("staging")
    await page.get_by_role("button", name="Create a share link").click()
    link = await page.get_by_label("The share link").input_value()
    client = await (await stack.browser.new_context()).new_page()
    await client.goto(link)
    await expect(client.get_by_text("Hello from release stage")).to_be_visible()

    # Signed out, the back button shows nothing private.
    await page.goto(f"{stack.url}/sites/blog")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to Wharf")).to_be_visible()
    await page.go_back()
    await expect(page.get_by_role("heading", name="Sign in to Wharf")).to_be_visible()
    assert first not in await page.content()
