"""The admin UI's pages in-process (aiohttp's test client, a real database): paging and search
in SQL, pinning, removing a domain, the settings form's flags and tier, and a member walking
every screen's URL with another member's site and deploy ids."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from controlplane.config import Settings
from controlplane.web import ui_pages
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.certs import self_signed
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, routed
from tests.integration.test_deploys import upload, wait_for
from tests.sites import site_files, zip_bytes

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
async def ui(aiohttp_client: Any, settings: Settings) -> TestClient:
    """A control plane with its worker, an admin signed in to the UI, and a site `blog`."""
    app: web.Application = create_app(settings.replace(job_poll=1, job_lease=5))
    client: TestClient = await aiohttp_client(app)
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    await _sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert (await _post(client, "/sites", {"name": "blog"})).status == 303
    return client


async def _sign_in(client: TestClient, email: str, password: str) -> None:
    response = await _post(client, "/sign-in", {"email": email, "password": password})
    assert response.status == 303, await response.text()


async def _post(client: TestClient, path: str, form: dict[str, str]) -> Any:
    return await client.post(path, data=form, headers=SAME_ORIGIN, allow_redirects=False)


def _text(html: str) -> str:
    """The page's words, without tags or runs of spaces."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def _api_headers(client: TestClient) -> dict[str, str]:
    """The admin's bearer token; same-origin, as the client also holds the UI's cookie."""
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        headers=SAME_ORIGIN,
    )
    assert response.status == 200, await response.text()
    return {"Authorization": "Bearer " + (await response.json())["access_token"], **SAME_ORIGIN}


async def test_ui_sites_are_paged_and_searched_in_sql(ui: TestClient) -> None:
    for number in range(1, 56):
        assert (await _post(ui, "/sites", {"name": f"site-{number:02}"})).status == 303
    first = _text(await (await ui.get("/sites")).text())
    assert "56 sites · page 1 of 2" in first
    assert "site-49" in first and "site-50" not in first  # by name: blog, site-01 … site-49
    second = _text(await (await ui.get("/sites?page=2")).text())
    assert "site-50" in second and "site-55" in second and "site-49" not in second
    assert "Previous" in second and "Next" not in second

    found = _text(await (await ui.get("/sites?q=SITE-5")).text())
    assert "6 sites" in found  # site-50 … site-55: lowercased, and site-05 does not match
    assert "blog" not in found
    # LIKE's wildcards are letters to match, not patterns; and nothing matches them.
    nothing = await ui.get("/sites?q=%25_")
    assert nothing.status == 200
    assert "No site's name contains" in _text(await nothing.text())
    assert (await ui.get("/sites?page=99")).status == 200
    assert (await ui.get("/sites?page=-1")).status == 200
    assert (await ui.get("/sites?q=%00")).status == 422  # refused where input enters


async def test_ui_deploy_history_pages_and_shows_who_and_size(
    ui: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await _api_headers(ui)
    ids = []
    for marker in ("1", "2", "3"):
        accepted = await upload(ui, headers, zip_bytes(site_files(marker)))
        ids.append((await wait_for(ui, headers, accepted["id"], {"live"}))["id"])
    monkeypatch.setattr(ui_pages, "DEPLOYS_PER_PAGE", 2)
    newest = await (await ui.get("/sites/blog")).text()
    assert ids[2] in newest and ids[1] in newest and f"/deploys/{ids[0]}" not in newest
    assert ADMIN_EMAIL in newest and " kB" in newest  # who uploaded it, and its size
    assert f'href="http://{ids[1]}--blog.localhost:8080/"' in newest  # each one's preview
    older = re.search(r'href="(/sites/blog\?before=[^"]+)"', newest)
    assert older is not None
    page = await (await ui.get(older.group(1))).text()
    assert f"/deploys/{ids[0]}" in page and f"/deploys/{ids[2]}" not in page
    # The live deploy is shown LIVE at the top even when it is not on the page listed.
    assert f'LIVE</span> <span class="mono">{ids[2]}' in page
    assert "Older deploys" not in page and "Newest deploys" in page


async def test_ui_health_routing_tls_and_what_a_build_found(ui: TestClient) -> None:
    headers = await _api_headers(ui)
    accepted = await upload(ui, headers, zip_bytes(site_files("1")))
    await wait_for(ui, headers, accepted["id"], {"live"})
    await _post(ui, "/sites/blog/domains", {"hostname": "www.example.test"})
    verified = await ui.post(
        "/api/v1/sites/blog/domains/www.example.test/verify",
        json={"method": "admin"},
        headers=headers,
    )
    assert verified.status == 200, await verified.text()
    await routed(ui)

    sites = _text(await (await ui.get("/sites")).text())
    assert "ROUTED Traefik has loaded every change" in sites
    assert "nothing published" not in sites and accepted["id"] in sites
    site = _text(await (await ui.get("/sites/blog")).text())
    assert "Routing UNCHECKED" in site  # no Traefik API in this test to confirm it
    assert "TLS HTTP ONLY" in site and "1 custom domain, all fine" in site

    deploy = _text(await (await ui.get(f"/sites/blog/deploys/{accepted['id']}")).text())
    assert "_redirects 2 rules _headers 1 rule" in deploy
    assert "6 files served" not in deploy  # _redirects and _headers are rules, not files
    assert "4 files served" in deploy and "assets/app.js" in deploy


async def test_ui_pin_and_unpin_a_deploy(ui: TestClient) -> None:
    headers = await _api_headers(ui)
    accepted = await upload(ui, headers, zip_bytes(site_files("1")))
    await wait_for(ui, headers, accepted["id"], {"live"})
    path = f"/sites/blog/deploys/{accepted['id']}"
    pinned = await _post(ui, path + "/pin", {"pinned": "true"})
    assert pinned.headers["Location"] == path + "?notice=pinned"
    assert "retention keeps this deploy" in await (await ui.get(pinned.headers["Location"])).text()
    api = await (await ui.get(f"/api/v1{path}", headers=headers)).json()
    assert api["pinned"] is True
    await _post(ui, path + "/pin", {"pinned": "false"})
    assert (await (await ui.get(f"/api/v1{path}", headers=headers)).json())["pinned"] is False


async def test_ui_remove_a_domain(ui: TestClient) -> None:
    await _post(ui, "/sites/blog/domains", {"hostname": "www.example.test"})
    assert "_wharf-challenge.www.example.test" in await (await ui.get("/sites/blog/domains")).text()
    removed = await _post(ui, "/sites/blog/domains/www.example.test/remove", {})
    assert removed.status == 303
    page = _text(await (await ui.get(removed.headers["Location"])).text())
    assert "www.example.test is removed" in page
    assert "_wharf-challenge.www.example.test" not in page
    headers = await _api_headers(ui)
    listed = await (await ui.get("/api/v1/sites/blog/domains", headers=headers)).json()
    assert listed["domains"] == []
    assert (await _post(ui, "/sites/blog/domains/www.example.test/remove", {})).status == 404


async def test_ui_settings_save_flags_and_tier_and_refuse_an_unknown_flag(ui: TestClient) -> None:
    form = {"auto_publish": "on", "allowed_flags": "minify, env.API_URL", "tier": "pro"}
    assert (await _post(ui, "/sites/blog/settings", form)).status == 303
    headers = await _api_headers(ui)
    site = await (await ui.get("/api/v1/sites/blog", headers=headers)).json()
    assert (site["allowed_flags"], site["tier"], site["spa"]) == (
        ["env.API_URL", "minify"],
        "pro",
        False,
    )

    refused = await _post(ui, "/sites/blog/settings", {"allowed_flags": "minify nosuchflag"})
    assert refused.status == 422
    page = await refused.text()
    assert 'id="flags-error"' in page and "nosuchflag" in _text(page)
    assert 'value="minify nosuchflag"' in page  # kept for correcting
    after = await (await ui.get("/api/v1/sites/blog", headers=headers)).json()
    assert after["allowed_flags"] == ["env.API_URL", "minify"]  # nothing half-written
    assert after["auto_publish"] is True


async def test_ui_a_member_gets_404_on_every_screen_of_another_members_site(
    ui: TestClient,
) -> None:
    headers = await _api_headers(ui)
    accepted = await upload(ui, headers, zip_bytes(site_files("1")))
    await wait_for(ui, headers, accepted["id"], {"live"})
    await _post(ui, "/sites/blog/domains", {"hostname": "www.example.test"})
    created = await ui.post(
        "/api/v1/users",
        json={"email": "member@example.test", "password": "member-password-1", "role": "member"},
        headers=headers,
    )
    assert created.status == 201
    await _post(ui, "/sign-out", {})
    await _sign_in(ui, "member@example.test", "member-password-1")

    hook = await ui.post(
        "/api/v1/sites/blog/webhooks", json={"url": "https://8.8.8.8/never-sent"}, headers=headers
    )
    assert hook.status == 201
    values = {"site": "blog", "deploy": accepted["id"], "hostname": "www.example.test"}
    values["environment"] = "staging"
    values["webhook"] = str((await hook.json())["id"])
    walked = 0
    for method, path, _ in ui_pages.all_routes():
        if "{site}" not in path:
            continue
        url = re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], path)
        if method == "GET":
            response = await ui.get(url, allow_redirects=False)
        else:
            response = await _post(ui, url, {"confirm": "blog", "pinned": "true"})
        assert response.status == 404, (method, url)
        assert "blog" not in _text(await response.text()).replace("/blog", ""), url
        walked += 1
    assert walked >= 15
    assert "blog" not in _text(await (await ui.get("/sites")).text())


async def test_ui_every_screen_opens_by_its_url_with_breadcrumbs(ui: TestClient) -> None:
    headers = await _api_headers(ui)
    accepted = await upload(ui, headers, zip_bytes(site_files("1")))
    await wait_for(ui, headers, accepted["id"], {"live"})
    # A public address that is never sent anything: no alert is raised here.
    hook = await ui.post(
        "/api/v1/sites/blog/webhooks", json={"url": "https://8.8.8.8/never-sent"}, headers=headers
    )
    assert hook.status == 201
    values = {"site": "blog", "deploy": accepted["id"], "hostname": "www.example.test"}
    values["webhook"] = str((await hook.json())["id"])
    screens = [
        re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], path)
        for method, path, _ in ui_pages.all_routes()
        if method == "GET"
        and not path.endswith("/log")
        and not path.startswith("/auth/")  # redirects to a provider, not screens
        and path not in ("/", "/sign-in")
    ]
    assert len(screens) >= 12
    for url in screens:
        response = await ui.get(url, allow_redirects=False)
        assert response.status == 200, url
        assert 'aria-label="Breadcrumbs"' in await response.text(), url


async def test_ui_hostile_numbers_and_paths_are_refused_cleanly(ui: TestClient) -> None:
    """Numbers past what Python or PostgreSQL take, and `next` paths a browser reads as
    another host, found by review: each answered without a 5xx, and nobody sent away."""
    for query in ("page=999999999999999999", "page=" + "9" * 5000):
        assert (await ui.get(f"/sites?{query}")).status == 200, query
    headers = await _api_headers(ui)
    huge = await ui.delete("/api/v1/tokens/99999999999999999999", headers=headers)
    assert (huge.status, (await huge.json())["error"]["code"]) == (422, "invalid_token_id")
    assert (await _post(ui, "/account/tokens/99999999999999999999/revoke", {})).status == 404
    role = await _post(ui, "/admin/users/" + "9" * 30 + "/role", {"role": "admin"})
    assert role.status == 404

    for sneaky in ("/%5Cevil.example", "/%09/evil.example", "//evil.example"):
        signed_in = await ui.get(f"/sign-in?next={sneaky}", allow_redirects=False)
        assert signed_in.headers["Location"] == "/sites", sneaky
    theme = await _post(ui, "/theme", {"theme": "dark", "next": "/\\evil.example"})
    assert theme.headers["Location"] == "/"


async def test_ui_forms_without_a_cookie_are_still_same_origin_only(ui: TestClient) -> None:
    """Another site must not sign a visitor in to an account of its choosing, nor set the
    theme: the UI's forms are checked with no session cookie too."""
    ui.session.cookie_jar.clear()
    for path, form in (
        ("/sign-in", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        ("/theme", {"theme": "dark"}),
    ):
        crossed = await ui.post(
            path, data=form, headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False
        )
        assert crossed.status == 403, path
        assert "wharf_session" not in crossed.cookies
    assert (
        await _post(ui, "/sign-in", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    ).status == 303


async def test_ui_a_key_pasted_as_the_certificate_is_not_shown_back(ui: TestClient) -> None:
    _, key, _ = self_signed("www.example.test")
    refused = await _post(
        ui, "/sites/blog/tls", {"strategy": "custom", "certificate": key, "key": key}
    )
    assert refused.status == 422
    page = await refused.text()
    assert "PRIVATE KEY" not in page and key.splitlines()[1] not in page
