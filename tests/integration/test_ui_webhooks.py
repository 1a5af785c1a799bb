"""The admin UI's webhooks screen in a real browser (chromium through Playwright) against
`wharf serve` and receivers on loopback: a refused URL said next to its field, the secret
shown once with a copy button, tests delivered and failed in the recent deliveries, the
delivery log, removal; screenshots in light and dark, laptop and phone, and axe-core."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.harness.control_plane import ADMIN, control_plane
from tests.harness.ports import free_port
from tests.harness.serving import serve
from tests.harness.waiting import wait_for
from tests.harness.webhook_receiver import Receiver
from tests.integration.test_ui_browser import CHROMIUM, SIZES, Running, _serious, _sign_in

pytestmark = [pytest.mark.slow, pytest.mark.one_database]


@pytest.fixture
async def running(database_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    """`wharf serve` that may post to loopback (retrying after a minute), and chromium."""
    assert shutil.which(CHROMIUM), "install Debian's chromium (make debian-deps, as root)"
    listen = ("127.0.0.1", free_port())
    options = {"job_poll": "1", "webhook_allow_private": "true", "webhook_retry_delays": "60"}
    async with (
        control_plane(
            tmp_path / "data", database_url, listen, tmp_path / "serve.log", **options
        ) as url,
        aiohttp.ClientSession() as api,
        async_playwright() as playwright,
    ):
        async with api.post(f"{url}/api/v1/auth/login", json=ADMIN) as response:
            headers = {"Authorization": "Bearer " + (await response.json())["access_token"]}
        async with api.post(f"{url}/api/v1/sites", json={"name": "blog"}, headers=headers) as made:
            assert made.status == 201
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield Running(url, api, headers, browser)
        finally:
            await browser.close()


async def _add(page: Page, url: str, *, only_tests: bool = False) -> None:
    await page.get_by_label("Add a webhook").fill(url)
    if only_tests:
        for box in await page.locator("input[name=events]").all():
            if await box.get_attribute("value") != "webhook.test":
                await box.uncheck()
    await page.get_by_role("button", name="Add webhook").click()


async def test_ui_webhooks_add_with_the_secret_once_test_see_deliveries_and_remove(
    running: Running,
) -> None:
    context = await running.browser.new_context(
        viewport=SIZES["laptop"], permissions=["clipboard-read", "clipboard-write"]
    )
    page = await context.new_page()
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.goto(running.url + "/sites/blog")
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.get_by_role("heading", name="Webhooks of blog")).to_be_visible()
    await expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    await running.screens(page, "webhooks-empty")

    # Refused next to the field, the URL kept for correcting.
    await _add(page, "ftp://hooks.example.test/wharf")
    await expect(page.locator("#url-error")).to_contain_text("starts with https:// or http://")
    await expect(page.get_by_label("Add a webhook")).to_have_value("ftp://hooks.example.test/wharf")
    await running.screens(page, "webhooks-refused")

    taking, refusing = Receiver(), Receiver(answers=[500])
    async with serve(taking.app()) as good, serve(refusing.app()) as bad:
        await _add(page, f"{good}/hooks/chat")
        secret_field = page.get_by_label("The webhook's signing secret")
        secret = await secret_field.input_value()
        assert secret.startswith("whsec_")
        await page.get_by_role("button", name="Copy").click()
        await expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert await page.evaluate("navigator.clipboard.readText()") == secret
        await running.screens(page, "webhook-created")
        taking.secret = secret

        # Shown once: the screen never has it again.
        await page.goto(running.url + "/sites/blog/webhooks")
        assert secret not in await page.content()
        await _add(page, f"{bad}/hooks/broken", only_tests=True)
        await page.goto(running.url + "/sites/blog/webhooks")

        for webhook in (1, 2):
            await page.get_by_role("button", name=f"Send a test to webhook {webhook}").click()
            await expect(page.get_by_role("status")).to_contain_text("A test is on its way")
        await wait_for(lambda: bool(taking.received and refusing.received), 15)
    assert taking.received[0].signed

    async def settled() -> bool:
        await page.reload()
        return await page.locator("#webhook-2 td", has_text="answered 500").count() == 1

    await wait_for(settled, 15)
    first = page.locator("#webhook-1")
    await expect(first.locator("h2 .badge")).to_have_text("delivered")
    await expect(first.locator("tbody tr")).to_contain_text(["answered 200"])
    second = page.locator("#webhook-2")
    await expect(second.locator("h2 .badge")).to_have_text("pending")
    await expect(second.get_by_text("Sends webhook.test.")).to_be_visible()
    await running.screens(page, "webhooks")

    await second.get_by_role("link", name="Every delivery to webhook 2").click()
    await expect(page.get_by_role("heading", name="Deliveries to webhook 2")).to_be_visible()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody tr")).to_contain_text(["answered 500"])
    await running.screens(page, "webhook-deliveries")

    await page.get_by_role("link", name="Webhooks").click()
    await page.get_by_role("button", name="Remove webhook 2").click()
    await expect(page.get_by_role("status")).to_contain_text("The webhook is removed")
    await expect(page.locator("section.card")).to_have_count(1)
    async with running.api.get(
        f"{running.url}/api/v1/sites/blog/webhooks", headers=running.headers
    ) as response:
        assert [hook["id"] for hook in (await response.json())["webhooks"]] == [1]
    await context.close()
    print("axe-core:", running.accessibility or "no violations")
    assert _serious(running) == []
