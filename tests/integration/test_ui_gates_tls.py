"""The admin UI's gates and TLS screens in a real browser (chromium through Playwright), against
`wharf serve`: gates set with forms reach the API, a share link lets a visitor past the gate
check, certificates uploaded show their expiry and never their key; screenshots and axe-core."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography.hazmat.primitives import hashes
from playwright.async_api import Page, Response, expect

from tests.certs import self_signed
from tests.harness.control_plane import ADMIN
from tests.integration.test_ui_browser import (  # the fixture, shared with the other screens
    SIZES,
    Running,
    _serious,
    _sign_in,
    running,
)

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
__all__ = ["running"]  # a fixture: pytest finds it by its name in this module
MEMBER = {"email": "member@example.test", "password": "member-password-1", "role": "member"}


async def _api(running: Running, method: str, path: str, body: Any = None) -> Any:
    async with running.api.request(
        method, running.url + path, json=body, headers=running.headers
    ) as response:
        assert response.status < 300, await response.text()
        return await response.json() if response.status != 204 else None


async def _submit(page: Page, button: str) -> Response:
    """Click a form's button; the answer to its POST (the page it led to follows)."""
    async with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        await page.get_by_role("button", name=button).click()
    answer = await posted.value
    await page.wait_for_load_state()
    return answer


async def _signed_in_page(running: Running, **options: Any) -> Page:
    context = await running.browser.new_context(viewport=SIZES["laptop"], **options)
    page = await context.new_page()
    await _sign_in(page, running.url, ADMIN["email"], ADMIN["password"])
    await expect(page.get_by_role("heading", name="Sites", exact=True)).to_be_visible()
    return page


async def test_ui_gates_password_staging_basic_production_and_a_share_link_lets_a_visitor_in(
    running: Running, tmp_path: Path
) -> None:
    await _api(running, "POST", "/api/v1/sites", {"name": "blog"})
    page = await _signed_in_page(running, permissions=["clipboard-read", "clipboard-write"])
    await page.goto(running.url + "/sites/blog")
    await page.get_by_role("link", name="Gates").click()
    await expect(page.get_by_role("heading", name="Gates of blog")).to_be_visible()
    # Both complaints answered on the page itself: production can be gated, and share links.
    await expect(page.get_by_text("production included")).to_be_visible()
    await expect(page.get_by_role("heading", name="Production OPEN")).to_be_visible()
    await expect(
        page.get_by_text("No environment has a shared password or a sign-in gate yet")
    ).to_be_visible()
    await running.screens(page, "gates")

    # A password too short is refused next to its field, with a 422, and nothing is set.
    staging = page.locator("section", has=page.get_by_role("heading", name="Staging"))
    await staging.get_by_label("A shared password").check()
    await staging.get_by_label("New shared password").fill("short")
    answer = await _submit(page, "Save the staging gate")
    assert answer.status == 422
    error = page.locator("#staging-password-error")
    await expect(error).to_contain_text("8")
    field = page.locator("#staging-password-field")
    await expect(field).to_have_attribute("aria-invalid", "true")
    assert "staging-password-error" in (await field.get_attribute("aria-describedby") or "")
    await expect(staging.get_by_label("A shared password")).to_be_checked()  # the choice kept
    assert "short" not in await page.content()
    gates = (await _api(running, "GET", "/api/v1/sites/blog/gate"))["gates"]
    assert gates["staging"]["mode"] == "none"
    await running.screens(page, "gates-error")

    await staging.get_by_label("A shared password").check()
    await staging.get_by_label("New shared password").fill("client-preview-7")
    answer = await _submit(page, "Save the staging gate")
    assert answer.status == 303 and "client-preview-7" not in answer.headers["location"]
    await expect(page.get_by_role("status")).to_contain_text("Staging: the shared password is set")
    assert "client-preview-7" not in await page.content()

    # Production, behind basic auth users.
    production = page.locator("section", has=page.get_by_role("heading", name="Production"))
    await production.get_by_label("Basic auth users").check()
    await production.get_by_label("Add a user").fill("alice")
    await production.get_by_label("Their password").fill("alice-secret-1")
    await _submit(page, "Save the production gate")
    await expect(page.get_by_role("status")).to_contain_text("Production: basic auth with 1 user")
    gates = (await _api(running, "GET", "/api/v1/sites/blog/gate"))["gates"]
    assert gates["staging"]["mode"] == "password"
    assert gates["production"]["mode"] == "basic" and gates["production"]["users"] == ["alice"]
    assert gates["previews"]["mode"] == "none"
    await expect(page.get_by_role("heading", name="Production BASIC AUTH")).to_be_visible()
    assert "alice-secret-1" not in await page.content()

    # A share link for staging: shown once with a copy button that copies it.
    await page.get_by_label("Environment").select_option("staging")
    await page.get_by_label("Expires after").select_option(label="7 days")
    answer = await _submit(page, "Create a share link")
    assert answer.status == 201
    link = await page.get_by_label("The share link").input_value()
    assert link.startswith("http://blog--staging.localhost") and "wharf_share=" in link
    await expect(page.get_by_role("status")).to_contain_text("valid until")
    await page.get_by_role("button", name="Copy").click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == link
    await running.screens(page, "gates-share")

    # The visitor with the link gets past the gate check (as Traefik's forwardAuth asks it),
    # and one without it is sent to the login page.
    parts = urlsplit(link)
    check = f"{running.url}/.wharf/gate/check/blog/staging"
    forwarded = {"X-Forwarded-Host": parts.netloc, "X-Forwarded-Proto": "http"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as visitor:
        async with visitor.get(
            check,
            headers={**forwarded, "X-Forwarded-Uri": "/"},
            allow_redirects=False,
        ) as response:
            assert response.status == 302 and "/.wharf/gate/login" in response.headers["Location"]
        async with visitor.get(
            check,
            headers={**forwarded, "X-Forwarded-Uri": f"{parts.path}?{parts.query}"},
            allow_redirects=False,
        ) as response:
            assert response.status == 302 and "wharf_share" not in response.headers["Location"]
            cookie = response.cookies["wharf_gate"].value
        async with visitor.get(
            check,
            headers={**forwarded, "X-Forwarded-Uri": "/", "Cookie": f"wharf_gate={cookie}"},
            allow_redirects=False,
        ) as response:
            assert response.status == 200
    # The page loaded again holds no link: it was shown once.
    await page.goto(running.url + "/sites/blog/gates")
    assert parts.query not in await page.content()
    log = (tmp_path / "serve.log").read_text()  # the fixture's `wharf serve` log
    assert "client-preview-7" not in log and "alice-secret-1" not in log
    assert _serious(running) == []


async def test_ui_gates_and_tls_of_another_members_site_are_not_found(running: Running) -> None:
    await _api(running, "POST", "/api/v1/sites", {"name": "private"})
    await _api(running, "POST", "/api/v1/users", MEMBER)
    page = await (await running.browser.new_context()).new_page()
    await _sign_in(page, running.url, MEMBER["email"], MEMBER["password"])
    await expect(page.get_by_text("No sites yet")).to_be_visible()
    for path in ("/sites/private/gates", "/sites/private/tls"):
        response = await page.goto(running.url + path)
        assert response is not None and response.status == 404, path
        await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    # The base domain's TLS is the admins': a member gets 403, as from the API.
    response = await page.goto(running.url + "/admin/tls")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", name="Admins only")).to_be_visible()
    # A form posted to another's site changes nothing.
    for path, form in (
        ("/sites/private/gates/staging", {"mode": "password", "password": "a-long-one-1"}),
        ("/sites/private/tls", {"strategy": "none"}),
        ("/admin/tls", {"strategy": "none"}),
    ):
        answer = await page.request.post(
            running.url + path, form=form, headers={"Origin": running.url}
        )
        assert answer.status in (403, 404), path
    gates = (await _api(running, "GET", "/api/v1/sites/private/gate"))["gates"]
    assert gates["staging"]["mode"] == "none"


async def test_ui_tls_upload_shows_expiry_and_fingerprint_never_the_key(
    running: Running, tmp_path: Path
) -> None:
    await _api(running, "POST", "/api/v1/sites", {"name": "shop"})
    body = {"hostname": "www.shop.test", "environment": "production"}
    await _api(running, "POST", "/api/v1/sites/shop/domains", body)
    await _api(
        running, "POST", "/api/v1/sites/shop/domains/www.shop.test/verify", {"method": "admin"}
    )
    page = await _signed_in_page(running)
    await page.goto(running.url + "/sites/shop")
    await page.get_by_role("link", name="TLS").click()
    await expect(page.get_by_role("heading", name="TLS of shop")).to_be_visible()
    await expect(page.get_by_role("heading", name="www.shop.test")).to_be_visible()
    await expect(page.get_by_text("HTTP ONLY").first).to_be_visible()

    # A key that is not the certificate's: refused next to the key field, and the key is gone.
    cert, key, parsed = self_signed("www.shop.test", days=60)
    _, other_key, _ = self_signed("www.shop.test")
    site = page.locator("section", has=page.get_by_role("heading", name="Custom domains of shop"))
    await site.get_by_label("Strategy").select_option("custom")
    await site.get_by_text("Upload a certificate for the custom domains").click()
    await site.get_by_label("Certificate (PEM").fill(cert)
    await site.get_by_label("Private key").fill(other_key)
    answer = await _submit(page, "Save the TLS of shop")
    assert answer.status == 422
    await expect(page.locator("#site-key-error")).to_contain_text("does not belong")
    await expect(page.locator("#site-key")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#site-key")).to_have_value("")
    await expect(page.locator("#site-certificate")).to_have_value(cert)  # public: kept
    assert "PRIVATE KEY" not in await page.content()
    await running.screens(page, "site-tls-error")

    await page.locator("#site-key").fill(key)
    answer = await _submit(page, "Save the TLS of shop")
    assert answer.status == 303
    await expect(page.get_by_role("status")).to_contain_text("use custom")
    shown = parsed.fingerprint(hashes.SHA256()).hex()
    tls = await _api(running, "GET", "/api/v1/sites/shop/tls")
    assert tls["certificate"]["fingerprint_sha256"].replace(":", "").lower() == shown
    domain = page.locator("section", has=page.get_by_role("heading", name="www.shop.test"))
    await expect(domain.locator(".badge")).to_have_text("HTTPS")
    expiry = parsed.not_valid_after_utc.strftime("%Y-%m-%d")
    await expect(domain.get_by_text(expiry)).to_be_visible()
    await expect(domain.get_by_text(f"SHA-256 {shown}")).to_be_visible()
    content = await page.content()
    assert "PRIVATE KEY" not in content and key.splitlines()[1] not in content
    assert tls["domains"][0]["certificate"]["not_after"].startswith(expiry)
    await running.screens(page, "site-tls")

    # One domain opts out of the site's strategy.
    await domain.get_by_label("Strategy").select_option("none")
    await _submit(page, "Save the TLS of www.shop.test")
    await expect(page.get_by_role("status")).to_contain_text("www.shop.test")
    tls = await _api(running, "GET", "/api/v1/sites/shop/tls")
    assert tls["domains"][0]["strategy"] == "none"
    await expect(domain.locator(".badge")).to_have_text("HTTP ONLY")
    log = (tmp_path / "serve.log").read_text()
    assert key.splitlines()[1] not in log and other_key.splitlines()[1] not in log
    assert _serious(running) == []


async def test_ui_base_domain_tls_upload_and_bad_hsts_refused(running: Running) -> None:
    page = await _signed_in_page(running)
    await page.goto(running.url + "/admin/tls")
    await expect(page.get_by_role("heading", name="TLS of the base domain")).to_be_visible()
    await page.get_by_label("HSTS max-age").fill("a year")
    answer = await _submit(page, "Save the base domain's TLS")
    assert answer.status == 422
    await expect(page.locator("#base-hsts-error")).to_be_visible()
    await expect(page.get_by_label("HSTS max-age")).to_have_attribute("aria-invalid", "true")
    await running.screens(page, "base-tls-error")

    cert, key, parsed = self_signed("localhost", "*.localhost", days=30)
    await page.get_by_label("HSTS max-age").fill("31536000")
    await page.get_by_label("Strategy").select_option("custom")
    await page.get_by_text("Upload the wildcard certificate").click()
    await page.get_by_label("Certificate (PEM").fill(cert)
    await page.get_by_label("Private key").fill(key)
    answer = await _submit(page, "Save the base domain's TLS")
    assert answer.status == 303
    await expect(page.get_by_role("status")).to_contain_text("uses custom")
    await expect(page.locator(".badge").first).to_have_text("HTTPS")
    expiry = parsed.not_valid_after_utc.strftime("%Y-%m-%d")
    await expect(page.get_by_text(expiry)).to_be_visible()
    assert "PRIVATE KEY" not in await page.content()
    base = await _api(running, "GET", "/api/v1/tls")
    assert base["strategy"] == "custom" and base["hsts_max_age"] == 31536000
    assert base["certificate"]["not_after"].startswith(expiry)
    await running.screens(page, "base-tls")
    # A site's TLS page shows the base domain's certificate for its own hosts.
    await _api(running, "POST", "/api/v1/sites", {"name": "blog"})
    await page.goto(running.url + "/sites/blog/tls")
    own = page.locator("section", has=page.get_by_role("heading", name="The site's own hosts"))
    await expect(own.get_by_text(expiry)).to_be_visible()
    assert _serious(running) == []
