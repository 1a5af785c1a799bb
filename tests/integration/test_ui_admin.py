"""The admin screens in a real browser against `wharf serve`: users created, disabled and enabled
from the UI (a disabled member's session ends), the last admin kept, the theme toggle, and the
patterns page under axe-core in light and dark."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.harness.control_plane import ADMIN
from tests.integration.test_ui_browser import SIZES, Running, _serious, _sign_in, running

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
__all__ = ["running"]  # the fixture, imported to be used here
MEMBER = {"email": "dev@example.test", "password": "dev-password-1"}


async def _page(running: Running) -> Page:
    context = await running.browser.new_context(viewport=SIZES["laptop"])
    return await context.new_page()


async def test_ui_admin_creates_a_member_who_signs_in_then_disables_them(running: Running) -> None:
    admin = await _page(running)
    await _sign_in(admin, running.url, ADMIN["email"], ADMIN["password"])
    await admin.get_by_role("link", name="Admin", exact=True).click()
    await expect(admin.get_by_role("heading", name="Users")).to_be_visible()
    await expect(admin.get_by_text("WHARF_BASE_DOMAIN")).to_be_visible()

    # A bad email and a short password: each refused next to its field, nothing created.
    await admin.get_by_label("Email").fill("not an email")
    await admin.get_by_label("Password", exact=True).fill("short")
    await admin.get_by_role("button", name="Create user").click()
    await expect(admin.locator("#new-email-error")).to_be_visible()
    await expect(admin.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    await expect(admin.get_by_label("Email")).to_have_value("not an email")
    assert "short" not in await admin.content()  # the password is never sent back
    await running.screens(admin, "admin-users-error")
    await admin.get_by_label("Email").fill(MEMBER["email"])
    await admin.get_by_label("Password", exact=True).fill("short")
    await admin.get_by_role("button", name="Create user").click()
    await expect(admin.locator("#new-password-error")).to_contain_text("8")

    await admin.get_by_label("Password", exact=True).fill(MEMBER["password"])
    await admin.get_by_role("button", name="Create user").click()
    await expect(admin.get_by_role("status")).to_contain_text(f"{MEMBER['email']} can sign in now")
    assert MEMBER["password"] not in admin.url and MEMBER["password"] not in await admin.content()
    row = admin.locator("tr", has=admin.get_by_text(MEMBER["email"]))
    await expect(row.get_by_text("enabled")).to_be_visible()
    await running.screens(admin, "admin-users")

    # The member signs in; the admin screens are a 404 to them, and there is no Admin link.
    member = await _page(running)
    await _sign_in(member, running.url, MEMBER["email"], MEMBER["password"])
    await expect(member.get_by_role("heading", name="Sites", exact=True)).to_be_visible()
    await expect(member.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    for path in ("/admin/users", "/admin/patterns"):
        response = await member.goto(running.url + path)
        assert response is not None and response.status == 404, path
        await expect(member.get_by_role("heading", name="Not found")).to_be_visible()

    # Disabled: the member's open session ends, and signing in again says why.
    await row.get_by_role("button", name=f"Disable {MEMBER['email']}").click()
    await expect(admin.get_by_role("status")).to_contain_text("is disabled")
    await expect(row.get_by_text("disabled", exact=True)).to_be_visible()
    await member.goto(running.url + "/sites")
    await expect(member.get_by_role("heading", name="Sign in to Wharf")).to_be_visible()
    await _sign_in(member, running.url, MEMBER["email"], MEMBER["password"])
    await expect(member.get_by_role("alert")).to_contain_text("disabled")

    # Enabled again, they sign in.
    await row.get_by_role("button", name=f"Enable {MEMBER['email']}").click()
    await expect(admin.get_by_role("status")).to_contain_text("enabled again")
    await _sign_in(member, running.url, MEMBER["email"], MEMBER["password"])
    await expect(member.get_by_role("heading", name="Sites", exact=True)).to_be_visible()

    # Made an admin from the UI, they see the Admin link.
    await row.get_by_label(f"Role of {MEMBER['email']}").select_option("admin")
    await row.get_by_role("button", name=f"Change role of {MEMBER['email']}").click()
    await expect(admin.get_by_role("status")).to_contain_text("is admin now")
    await member.reload()
    await expect(member.get_by_role("link", name="Admin", exact=True)).to_be_visible()
    assert _serious(running) == []


async def test_ui_admin_demoting_the_last_admin_is_refused_with_a_message(
    running: Running,
) -> None:
    page = await _page(running)
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.goto(running.url + "/admin/users")
    row = page.locator("tr", has=page.get_by_text(ADMIN["email"]))
    await row.get_by_label(f"Role of {ADMIN['email']}").select_option("member")
    await row.get_by_role("button", name=f"Change role of {ADMIN['email']}").click()
    await expect(page.get_by_role("alert")).to_contain_text("no admin")
    await expect(row.locator(".field-error")).to_contain_text("make another user an admin first")
    await running.screens(page, "admin-users-last-admin")
    await row.get_by_role("button", name=f"Disable {ADMIN['email']}").click()
    await expect(row.locator(".field-error")).to_contain_text("no admin")
    # Still the admin, still signed in.
    await page.goto(running.url + "/admin/users")
    await expect(page.get_by_role("heading", name="Users")).to_be_visible()
    assert _serious(running) == []


async def _background(page: Page) -> str:
    return str(await page.evaluate("getComputedStyle(document.body).backgroundColor"))


LIGHT_BG, DARK_BG = "rgb(244, 245, 247)", "rgb(20, 23, 28)"


async def test_ui_theme_toggle_is_kept_and_auto_follows_the_browser(running: Running) -> None:
    page = await _page(running)
    await page.emulate_media(color_scheme="light")
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    assert await _background(page) == LIGHT_BG
    await page.get_by_role("button", name="Dark theme").click()
    await expect(page.get_by_role("button", name="Dark theme")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert page.url.endswith("/sites")  # back where it was chosen
    # The next load is dark from the start, though the browser prefers light.
    await page.goto(running.url + "/account")
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert await _background(page) == DARK_BG
    cookie = next(c for c in await page.context.cookies() if c["name"] == "wharf_theme")
    assert cookie["value"] == "dark" and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    # Light wins over a browser that prefers dark.
    await page.get_by_role("button", name="Light theme").click()
    await page.emulate_media(color_scheme="dark")
    await page.reload()
    assert await _background(page) == LIGHT_BG
    # Auto follows the browser, both ways; it works signed out too.
    await page.get_by_role("button", name="Auto theme").click()
    assert await _background(page) == DARK_BG
    await page.emulate_media(color_scheme="light")
    assert await _background(page) == LIGHT_BG
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("button", name="Dark theme").click()
    await expect(page.get_by_role("heading", name="Sign in to Wharf")).to_be_visible()
    assert await _background(page) == DARK_BG


async def test_ui_patterns_page_passes_axe_in_light_and_dark(running: Running) -> None:
    page = await _page(running)
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.goto(running.url + "/admin/patterns")
    await expect(page.get_by_role("heading", name="Patterns")).to_be_visible()
    for badge in ("LIVE", "pending", "building", "ready", "failed", "superseded"):
        await expect(page.locator(".badge", has_text=badge).first).to_be_visible()
    await expect(page.locator("#p-error")).to_have_attribute(
        "aria-describedby", "p-error-help p-error-error"
    )
    await running.screens(page, "patterns")
    print("axe-core:", running.accessibility or "no violations")
    assert _serious(running) == []
