"""The admin UI in a real browser (Debian's chromium through Playwright), against `wharf serve`
run as an operator runs it: sign in, sites, a site's deploys with the LIVE badge, publish and
roll back from the list, sign out; the session cookie's guards; screenshots of every screen."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.harness.control_plane import ADMIN, control_plane
from tests.harness.ports import free_port
from tests.harness.waiting import wait_for
from tests.sites import site_files, zip_bytes

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(
    os.environ.get("WHARF_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots")
)
AXE = Axe()
expect.set_options(timeout=15_000)  # a loaded CI machine is slower than the 5 s default
SIZES = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@dataclass
class Running:
    """The control plane's URL, an API session with the admin's token, and a browser."""

    url: str
    api: aiohttp.ClientSession
    headers: dict[str, str]
    browser: Browser
    # (screen, scheme, rule, impact) of every axe-core violation met, for the assertion.
    accessibility: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def deploy(self, site: str, marker: str) -> str:
        """Upload a release through the API and wait until it is built; its id."""
        headers = {**self.headers, "Content-Type": "application/zip"}
        async with self.api.post(
            f"{self.url}/api/v1/sites/{site}/deploys",
            data=zip_bytes(site_files(marker)),
            headers=headers,
        ) as response:
            assert response.status == 202, await response.text()
            deploy_id: str = (await response.json())["id"]

        async def built() -> bool:
            url = f"{self.url}/api/v1/sites/{site}/deploys/{deploy_id}"
            async with self.api.get(url, headers=self.headers) as answer:
                return (await answer.json())["status"] in ("live", "ready", "failed")

        await wait_for(built, 60)
        return deploy_id

    async def screens(self, page: Page, name: str) -> None:
        """Screenshots of the page as it is, laptop and phone, light and dark, and axe-core's
        accessibility checks in both schemes (serious and critical violations are failures)."""
        await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
        for size_name, size in SIZES.items():
            await page.set_viewport_size(size)
            for scheme in ("light", "dark"):
                await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                await page.screenshot(
                    path=SCREENSHOTS / f"{name}-{size_name}-{scheme}.png", full_page=True
                )
                if size_name == "laptop":
                    results = await AXE.run(page)
                    for violation in results.response["violations"]:
                        found = (name, scheme, violation["id"], violation["impact"])
                        self.accessibility.append(found)
        await page.set_viewport_size(SIZES["laptop"])
        await page.emulate_media(color_scheme="light")


@pytest.fixture
async def running(database_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    """`wharf serve` with the admin, an API token, and chromium."""
    assert shutil.which(CHROMIUM), "install Debian's chromium (make debian-deps, as root)"
    listen = ("127.0.0.1", free_port())
    log = tmp_path / "serve.log"
    nowhere = f"127.0.0.1:{free_port()}"  # ownership checks stay on loopback, and fail
    options = {
        "job_poll": "1",
        "dns_resolver": nowhere,
        "http_check_address": nowhere,
        "domain_check_timeout": "1",
    }
    async with (
        control_plane(tmp_path / "data", database_url, listen, log, **options) as url,
        aiohttp.ClientSession() as api,
        async_playwright() as playwright,
    ):
        async with api.post(f"{url}/api/v1/auth/login", json=ADMIN) as response:
            headers = {"Authorization": "Bearer " + (await response.json())["access_token"]}
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield Running(url, api, headers, browser)
        finally:
            await browser.close()


def _serious(running: Running) -> list[tuple[str, str, str, str]]:
    return [found for found in running.accessibility if found[3] in ("serious", "critical")]


async def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    await page.goto(url + "/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_ui_sign_in_sites_live_badge_rollback_and_sign_out(running: Running) -> None:
    context = await running.browser.new_context(viewport=SIZES["laptop"])
    page = await context.new_page()
    await page.goto(running.url + "/")
    await expect(page.get_by_role("heading", name="Sign in to Wharf")).to_be_visible()
    await running.screens(page, "sign-in")

    await _sign_in(page, running.url, ADMIN["email"], "not-the-password")
    await expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await expect(page.get_by_role("heading", name="Sites", exact=True)).to_be_visible()
    await expect(page.get_by_text("No sites yet")).to_be_visible()

    # A bad name is refused next to the field, and kept for correcting.
    await page.get_by_label("New site").fill("Not A Name")
    await page.get_by_role("button", name="Create site").click()
    await expect(page.locator("#name-error")).to_be_visible()
    await expect(page.get_by_label("New site")).to_have_value("Not A Name")
    await running.screens(page, "sites-error")
    await page.get_by_label("New site").fill("blog")
    await page.get_by_role("button", name="Create site").click()
    await expect(page.get_by_role("heading", name="blog", exact=True)).to_be_visible()
    await expect(page.get_by_text("nothing published").first).to_be_visible()

    first = await running.deploy("blog", "one")
    second = await running.deploy("blog", "two")
    await page.reload()
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(2)
    live_row = page.locator("tr", has=page.get_by_text(second, exact=True))
    await expect(live_row.locator(".badge.live")).to_have_text("LIVE")
    await running.screens(page, "site")

    # Roll back from the list: a confirmation page, then the first is LIVE again.
    old_row = page.locator("tr", has=page.get_by_text(first, exact=True))
    await old_row.get_by_role("link", name=f"Roll back to {first}").click()
    await expect(page.get_by_role("heading", name=f"Roll back to {first}?")).to_be_visible()
    await running.screens(page, "rollback-confirm")
    await page.get_by_role("button", name="Roll back").click()
    await expect(page.get_by_role("status").first).to_contain_text(f"{first} is live")
    await expect(old_row.locator(".badge.live")).to_have_text("LIVE")
    async with running.api.get(
        f"{running.url}/api/v1/sites/blog/deploys/{first}", headers=running.headers
    ) as response:
        assert (await response.json())["status"] == "live"

    # A deploy's page: its status and its build log.
    await page.get_by_role("link", name=second, exact=True).click()
    await expect(page.get_by_role("heading", name=f"Deploy {second}")).to_be_visible()
    await expect(page.locator("#log")).to_contain_text("extracted")
    await running.screens(page, "deploy")

    # Signed out, the back button shows nothing private: the pages were no-store.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to Wharf")).to_be_visible()
    await page.go_back()
    await expect(page.get_by_role("heading", name="Sign in to Wharf")).to_be_visible()
    await expect(page.locator("table")).to_have_count(0)  # no deploy list, from cache or not
    await context.close()
    print("axe-core:", running.accessibility or "no violations")
    assert _serious(running) == []


async def test_ui_another_member_sees_none_of_it(running: Running) -> None:
    async with running.api.post(
        f"{running.url}/api/v1/sites", json={"name": "private"}, headers=running.headers
    ) as response:
        assert response.status == 201
    member = {"email": "member@example.test", "password": "member-password-1", "role": "member"}
    async with running.api.post(
        f"{running.url}/api/v1/users", json=member, headers=running.headers
    ) as response:
        assert response.status == 201
    page = await (await running.browser.new_context()).new_page()
    await _sign_in(page, running.url, member["email"], member["password"])
    await expect(page.get_by_text("No sites yet")).to_be_visible()
    for path in ("/sites/private", "/sites/private/deploys/000000000000/publish"):
        response = await page.goto(running.url + path)
        assert response is not None and response.status == 404, path
        await expect(page.get_by_role("heading", name="Not found")).to_be_visible()


async def test_ui_session_cookie_is_strict_and_cross_origin_forms_are_refused(
    running: Running,
) -> None:
    form = {"email": ADMIN["email"], "password": ADMIN["password"], "next": "/sites"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser:
        async with browser.post(
            running.url + "/sign-in",
            data=form,
            headers={"Sec-Fetch-Site": "same-origin"},  # as a browser signing in sends it
            allow_redirects=False,
        ) as response:
            assert response.status == 303
            cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Domain" not in cookie
        session = {"Cookie": cookie.split(";")[0]}
        # A form posted from a user's site (a sibling subdomain: same-site, not same-origin),
        # or from anywhere else, is refused while the session cookie rides along.
        hostile: list[dict[str, Any]] = [
            {"Sec-Fetch-Site": "same-site"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "http://blog.localhost"},
            {},
        ]
        for headers in hostile:
            async with browser.post(
                running.url + "/sites", data={"name": "csrf"}, headers={**session, **headers}
            ) as response:
                assert response.status == 403, headers
        async with browser.post(
            running.url + "/sites",
            data={"name": "honest"},
            headers={**session, "Sec-Fetch-Site": "same-origin"},
            allow_redirects=False,
        ) as response:
            assert response.status == 303 and response.headers["Location"] == "/sites/honest"
        # A token id that is not a plain number names no token: the 404 page, never a 500.
        for raw in ("%C2%B2", "9" * 40):
            async with browser.post(
                f"{running.url}/account/tokens/{raw}/revoke",
                headers={**session, "Sec-Fetch-Site": "same-origin"},
                allow_redirects=False,
            ) as response:
                assert response.status == 404, raw
        # A password change ends every session of that user.
        change = {"current_password": ADMIN["password"], "new_password": "a-new-password-2"}
        async with running.api.put(
            f"{running.url}/api/v1/me/password", json=change, headers=running.headers
        ) as response:
            assert response.status == 204
        async with browser.get(
            running.url + "/sites", headers=session, allow_redirects=False
        ) as response:
            assert response.status == 303 and response.headers["Location"].startswith("/sign-in")
    async with running.api.get(f"{running.url}/api/v1/sites", headers=running.headers) as response:
        assert [site["name"] for site in (await response.json())["sites"]] == ["honest"]


async def test_ui_build_log_streams_as_server_sent_events_and_resumes(running: Running) -> None:
    async with running.api.post(
        f"{running.url}/api/v1/sites", json={"name": "blog"}, headers=running.headers
    ) as response:
        assert response.status == 201
    deploy = await running.deploy("blog", "one")

    async def probed() -> bool:
        url = f"{running.url}/api/v1/sites/blog/deploys/{deploy}"
        async with running.api.get(url, headers=running.headers) as answer:
            return (await answer.json())["probes"] is not None

    await wait_for(probed, 30)  # the probes after the publish write the log's last lines
    form = {"email": ADMIN["email"], "password": ADMIN["password"]}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser:
        async with browser.post(
            running.url + "/sign-in",
            data=form,
            headers={"Sec-Fetch-Site": "same-origin"},  # as a browser signing in sends it
            allow_redirects=False,
        ) as response:
            session = {"Cookie": response.headers["Set-Cookie"].split(";")[0]}
        url = f"{running.url}/sites/blog/deploys/{deploy}/log"

        async def events(**headers: str) -> list[tuple[str, str, str]]:
            """(event, id, data) of every event until the stream ends."""
            async with browser.get(url, headers={**session, **headers}) as response:
                assert response.headers["Content-Type"].startswith("text/event-stream")
                text = await response.text()
            found = []
            for block in text.strip().split("\n\n"):
                fields = dict(line.split(": ", 1) for line in block.splitlines())
                found.append((fields.get("event", "message"), fields.get("id", ""), fields["data"]))
            return found

        everything = await events()
        assert everything[-1] == ("done", "", "live")
        lines = everything[:-1]
        assert len(lines) >= 3 and [int(n) for _, n, _ in lines] == list(range(1, len(lines) + 1))
        assert any("extracted" in data for _, _, data in lines)
        resumed = await events(**{"Last-Event-ID": lines[1][1]})
        assert resumed[:-1] == lines[2:]


async def test_ui_account_tokens_shown_once_revoked_and_password_change_signs_out(
    running: Running,
) -> None:
    page = await (await running.browser.new_context(viewport=SIZES["laptop"])).new_page()
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.get_by_role("link", name=ADMIN["email"]).click()
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    await page.get_by_label("Name of a new token").fill("deploy from CI")
    await page.get_by_role("button", name="Create token").click()
    token = await page.get_by_label("The new token").input_value()
    await expect(page.get_by_role("button", name="Copy")).to_be_visible()
    await running.screens(page, "token-created")
    me = f"{running.url}/api/v1/me"
    async with running.api.get(me, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200
    # Shown once: the account page never shows the token's text again.
    await page.goto(running.url + "/account")
    assert token not in await page.content()
    await running.screens(page, "account")
    await page.get_by_role("button", name="Revoke deploy from CI").click()
    await expect(page.get_by_role("status")).to_contain_text("revoked")
    async with running.api.get(me, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 401

    await page.get_by_label("Current password").fill(ADMIN["password"])
    await page.get_by_label("New password").fill("a-brand-new-password")
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_role("status")).to_contain_text("password is changed")
    await page.goto(running.url + "/account")  # the old session ended with the change
    await expect(page.get_by_role("heading", name="Sign in to Wharf")).to_be_visible()
    await _sign_in(page, running.url, ADMIN["email"], "a-brand-new-password")
    await expect(page.get_by_role("heading", name="Sites", exact=True)).to_be_visible()
    assert _serious(running) == []


async def test_ui_upload_a_zip_with_progress_and_a_refused_one_shows_each_file(
    running: Running, tmp_path: Path
) -> None:
    page = await (await running.browser.new_context(viewport=SIZES["laptop"])).new_page()
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.get_by_label("New site").fill("blog")
    await page.get_by_role("button", name="Create site").click()
    await page.get_by_role("link", name="Upload a deploy").click()
    await expect(page.get_by_role("heading", name="Upload to blog")).to_be_visible()

    bad = tmp_path / "bad.zip"
    bad.write_bytes(zip_bytes({"index.html": "<p>ok</p>", "../evil.html": "<p>out</p>"}))
    await page.get_by_label("The built site, as a ZIP").set_input_files(bad)
    await page.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("alert")).to_contain_text("nothing was kept")
    await expect(page.locator("#upload-result td.mono")).to_contain_text(["../evil.html"])
    # The page stayed: the chosen file is still selected, ready for a second try.
    assert await page.locator("#archive").evaluate("input => input.files.length") == 1
    await running.screens(page, "upload-refused")

    good = tmp_path / "good.zip"
    good.write_bytes(zip_bytes(site_files("uploaded")))
    await page.get_by_label("The built site, as a ZIP").set_input_files(good)
    await page.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("heading", name="Build log")).to_be_visible()
    await expect(page.locator("#status")).to_contain_text("LIVE", timeout=30_000)
    await expect(page.locator("#log")).to_contain_text("published")
    assert _serious(running) == []


async def test_ui_domains_show_the_exact_record_and_the_last_check(running: Running) -> None:
    page = await (await running.browser.new_context(viewport=SIZES["laptop"])).new_page()
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.get_by_label("New site").fill("blog")
    await page.get_by_role("button", name="Create site").click()
    await page.get_by_role("link", name="Custom domains").click()
    await page.get_by_label("Add a domain").fill("not a hostname")
    await page.get_by_role("button", name="Add domain").click()
    await expect(page.locator("#hostname-error")).to_be_visible()
    await page.get_by_label("Add a domain").fill("www.example.test")
    await page.get_by_role("button", name="Add domain").click()
    await expect(page.get_by_label("Name")).to_have_value("_wharf-challenge.www.example.test")
    token = await page.get_by_label("Value").input_value()
    assert len(token) > 20
    await expect(page.locator(".notice.warn code")).to_have_text("_wharf-challenge.www")
    await expect(page.get_by_text("Not checked yet.")).to_be_visible()
    await page.get_by_role("button", name="Check now www.example.test").click()
    await expect(page.get_by_text("Last checked")).to_be_visible()
    await expect(page.locator(".badge", has_text="PENDING")).to_be_visible()
    await running.screens(page, "domains")
    assert _serious(running) == []


async def test_ui_settings_lock_auto_publish_and_delete_asks_for_the_name(
    running: Running,
) -> None:
    page = await (await running.browser.new_context(viewport=SIZES["laptop"])).new_page()
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await page.get_by_label("New site").fill("blog")
    await page.get_by_role("button", name="Create site").click()
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_label("Publish each production deploy once it is built").uncheck()
    await page.get_by_label("Single-page app").check()
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await running.screens(page, "settings")
    async with running.api.get(
        f"{running.url}/api/v1/sites/blog", headers=running.headers
    ) as response:
        site = await response.json()
    assert site["auto_publish"] is False and site["spa"] is True
    # The lock is said on the site's page, and a new deploy stays ready, not live.
    deploy = await running.deploy("blog", "locked")
    await page.goto(running.url + "/sites/blog")
    await expect(page.get_by_text("Auto-publish is locked.")).to_be_visible()
    row = page.locator("tr", has=page.get_by_text(deploy, exact=True))
    await expect(row.get_by_role("link", name=f"Publish {deploy}")).to_be_visible()

    await page.goto(running.url + "/sites/blog/delete")
    await page.get_by_label("Type blog to confirm").fill("blgo")
    await page.get_by_role("button", name="Delete blog").click()
    await expect(page.locator("#confirm-error")).to_contain_text("Type blog")
    await running.screens(page, "delete-site")
    await page.get_by_label("Type blog to confirm").fill("blog")
    await page.get_by_role("button", name="Delete blog").click()
    await expect(page.get_by_role("status")).to_contain_text("blog is deleted")
    async with running.api.get(
        f"{running.url}/api/v1/sites/blog", headers=running.headers
    ) as response:
        assert response.status == 404
    assert _serious(running) == []
