"""Sign-in with a provider in a real browser (Debian's chromium) against the real OpenID
provider (npm oidc-provider): the button, the provider's login and consent, back signed in as
the linked user; and every new screen looked at (laptop and phone, light and dark, axe-core)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.harness.control_plane import ADMIN, control_plane
from tests.harness.oidc_provider import oidc_provider, require_node
from tests.harness.ports import free_port
from tests.harness.wharf_sign_in import callback_uri
from tests.integration.test_ui_browser import CHROMIUM, Running, _serious, _sign_in

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
ACCOUNTS = {
    "alice": {"email": "alice@example.test", "email_verified": True, "name": "Alice"},
    "mallory": {"email": "mallory@example.test", "email_verified": False},
}


@pytest.fixture
async def running(database_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    """`wharf serve` with an OpenID provider configured, the member alice, site blog behind an
    oauth gate, and chromium."""
    assert shutil.which(CHROMIUM), "install Debian's chromium (make debian-deps, as root)"
    require_node()
    port = free_port()
    async with oidc_provider([callback_uri(port, "oidc")], ACCOUNTS) as provider:
        options = {
            "public_url": f"http://127.0.0.1:{port}",
            "oidc_issuer": provider.issuer,
            "oidc_client_id": provider.client_id,
            "oidc_client_secret": provider.client_secret,
            "oidc_name": "Acme ID",
        }
        listen = ("127.0.0.1", port)
        log = tmp_path / "serve.log"
        async with (
            control_plane(tmp_path / "data", database_url, listen, log, **options) as url,
            aiohttp.ClientSession() as api,
            async_playwright() as playwright,
        ):
            async with api.post(f"{url}/api/v1/auth/login", json=ADMIN) as response:
                headers = {"Authorization": "Bearer " + (await response.json())["access_token"]}
            member = {"email": "alice@example.test", "password": "alice-password-1"}
            for path, body in (
                ("/api/v1/users", {**member, "role": "member"}),
                ("/api/v1/sites", {"name": "blog"}),
            ):
                async with api.post(url + path, json=body, headers=headers) as response:
                    assert response.status == 201, await response.text()
            gate = {"environment": "production", "mode": "oauth", "allowed": ["@example.test"]}
            async with api.put(f"{url}/api/v1/sites/blog/gate", json=gate, headers=headers) as r:
                assert r.status == 200, await r.text()
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                yield Running(url, api, headers, browser)
            finally:
                await browser.close()


async def _at_provider(page: Page, login: str) -> None:
    """oidc-provider's development login (any password) and consent pages."""
    await page.locator("input[name=login]").fill(login)
    await page.locator("input[name=password]").fill("any password")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()


async def test_oauth_browser_sign_in_with_the_provider_lands_signed_in_as_the_linked_user(
    running: Running,
) -> None:
    page = await running.browser.new_page()
    await page.goto(running.url + "/account")  # signed out: the sign-in page, coming back here
    await expect(page.get_by_role("link", name="Sign in with Acme ID")).to_be_visible()
    await running.screens(page, "sign-in-providers")
    await page.get_by_role("link", name="Sign in with Acme ID").click()
    await _at_provider(page, "alice")
    await page.wait_for_url(running.url + "/account")
    await expect(page.get_by_role("link", name="alice@example.test")).to_be_visible()
    await expect(page.get_by_role("cell", name="Acme ID", exact=True)).to_be_visible()
    await expect(
        page.get_by_role("button", name="Unlink Acme ID alice@example.test")
    ).to_be_visible()
    await running.screens(page, "account-identities")

    # Another person, another browser (the provider remembers alice in this one).
    page = await (await running.browser.new_context()).new_page()
    await page.goto(running.url + "/sign-in")
    await page.get_by_role("link", name="Sign in with Acme ID").click()
    await _at_provider(page, "mallory")
    await expect(page.get_by_role("heading", name="That sign-in did not work")).to_be_visible()
    await expect(page.get_by_text("has not verified mallory@example.test")).to_be_visible()
    await running.screens(page, "sign-in-refused")
    await page.get_by_role("link", name="Try again").click()
    await expect(page.get_by_role("heading", name="Sign in to Wharf")).to_be_visible()
    print("axe-core:", running.accessibility or "no violations")
    assert _serious(running) == []


async def test_oauth_browser_admin_and_gate_screens(running: Running) -> None:
    page = await running.browser.new_page()
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.goto(running.url + "/admin/users#sign-in")
    callback = f"{running.url}/auth/oidc/callback"
    await expect(page.get_by_text(callback, exact=True)).to_be_visible()
    await running.screens(page, "admin-sign-in")

    await page.goto(running.url + "/sites/blog/gates")
    await expect(page.locator("#production-oauth")).to_be_checked()
    await expect(page.locator("#staging-oauth")).not_to_be_checked()
    await expect(
        page.get_by_label("Emails, domains and GitHub organisations, one a line").first
    ).to_have_value("@example.test")
    await running.screens(page, "gates-oauth")

    # The visitors' page on the gated host (chromium resolves *.localhost to loopback).
    port = running.url.rsplit(":", 1)[1]
    await page.goto(f"http://blog.localhost:{port}/.wharf/gate/login?next=/docs/")
    await expect(page.get_by_role("heading", name="Sign in to continue")).to_be_visible()
    link = page.get_by_role("link", name="Sign in with Acme ID")
    assert await link.get_attribute("href") == "/.wharf/gate/oauth/oidc?next=/docs/"
    await running.screens(page, "gate-sign-in")
    print("axe-core:", running.accessibility or "no violations")
    assert _serious(running) == []
