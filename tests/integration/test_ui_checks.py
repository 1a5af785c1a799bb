"""The release checks in a real browser against `wharf serve`: the deploy page's checks panel, a
held-back deploy published anyway from the publish page, and the site setting."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.harness.control_plane import ADMIN
from tests.harness.waiting import wait_for
from tests.integration.test_deploy_checks import BROKEN
from tests.integration.test_ui_browser import SIZES, Running, _serious, _sign_in, running
from tests.sites import zip_bytes

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
__all__ = ["running"]  # the fixture, imported to be used here


async def _api(running: Running, method: str, path: str, **kwargs: Any) -> Any:
    async with running.api.request(
        method,
        running.url + path,
        headers={**running.headers, **kwargs.pop("headers", {})},
        **kwargs,
    ) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def _broken_deploy(running: Running) -> str:
    """A deploy of a site with checks: block whose links are broken; it waits, ready."""
    await _api(running, "POST", "/api/v1/sites", json={"name": "docs"})
    await _api(running, "PATCH", "/api/v1/sites/docs", json={"checks": "block", "minify": False})
    accepted = await _api(
        running,
        "POST",
        "/api/v1/sites/docs/deploys",
        data=zip_bytes(BROKEN),
        headers={"Content-Type": "application/zip"},
    )

    async def built() -> bool:
        deploy = await _api(running, "GET", f"/api/v1/sites/docs/deploys/{accepted['id']}")
        return deploy["status"] in ("ready", "live", "failed")

    await wait_for(built, 60)
    return str(accepted["id"])


async def _page(running: Running) -> Page:
    context = await running.browser.new_context(viewport=SIZES["laptop"])
    return await context.new_page()


async def test_ui_checks_panel_and_publish_anyway(running: Running) -> None:
    deploy_id = await _broken_deploy(running)
    page = await _page(running)
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.goto(f"{running.url}/sites/docs")
    row = page.locator("tr", has=page.get_by_text(deploy_id, exact=True))
    await expect(row.get_by_text("HELD BACK")).to_be_visible()
    await page.goto(f"{running.url}/sites/docs/deploys/{deploy_id}")
    await expect(page.get_by_role("heading", name="Checks before publish")).to_be_visible()
    await expect(page.locator(".card.checks .badge.bad")).to_have_text("FAILED")
    await expect(page.get_by_text("HELD BACK")).to_be_visible()
    table = page.locator("table.checks")
    await expect(table.locator("tbody tr")).to_have_count(4)
    row = table.locator("tr", has=page.get_by_text("/nowhere", exact=True))
    await expect(row).to_contain_text("index.html:6")
    await expect(row).to_contain_text("404 Not Found")
    await running.screens(page, "deploy-checks")

    await page.get_by_role("link", name="Publish it anyway").click()
    await expect(page.get_by_role("heading", name=f"Publish {deploy_id}?")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("3 errors, 1 warning")
    await expect(page.locator("table.checks tbody tr")).to_have_count(4)
    await running.screens(page, "publish-checks")
    await page.get_by_role("button", name="Publish anyway").click()
    await expect(page.get_by_role("status").first).to_contain_text(f"{deploy_id} is live")
    deploy = await _api(running, "GET", f"/api/v1/sites/docs/deploys/{deploy_id}")
    assert deploy["status"] == "live"
    print("axe-core:", running.accessibility or "no violations")
    assert _serious(running) == []


async def test_ui_checks_setting_saved_from_the_settings_form(running: Running) -> None:
    await _api(running, "POST", "/api/v1/sites", json={"name": "docs"})
    page = await _page(running)
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.goto(f"{running.url}/sites/docs/settings")
    await expect(page.get_by_label("Warn: report problems, publish anyway")).to_be_checked()
    await page.get_by_label("Block: a deploy with broken links", exact=False).check()
    await page.get_by_label("Warn of files over (MiB)").fill("12")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved")
    site = await _api(running, "GET", "/api/v1/sites/docs")
    assert (site["checks"], site["checks_max_file_bytes"]) == ("block", 12 * 1024 * 1024)
    await expect(page.get_by_label("Warn of files over (MiB)")).to_have_value("12")
    await running.screens(page, "site-settings-checks")
    assert _serious(running) == []
