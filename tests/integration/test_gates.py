"""Gates on a real database: the API, Traefik's file, the forwardAuth check and the login page."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from controlplane.config import Settings
from controlplane.traefik.dynamic_file import FILE_NAME
from controlplane.traefik.render import VERSION_MIDDLEWARE
from tests.conftest import make_member, routed

GATE_URL = "/api/v1/sites/blog/gate"
PASSWORD = "visitor-password-1"


@pytest.fixture
async def owner(client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    """A member who owns the site `blog`."""
    headers = await make_member(client, admin_headers, "owner@example.test")
    created = await client.post("/api/v1/sites", json={"name": "blog"}, headers=headers)
    assert created.status == 201
    return headers


async def _put(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.put(f"{GATE_URL}?wait=true", json=body, headers=headers)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


def _traefik(settings: Settings) -> dict[str, Any]:
    """Traefik's http config as written, without the routing-version marker."""
    config: dict[str, Any] = yaml.safe_load((settings.traefik_watched_dir / FILE_NAME).read_text())
    http: dict[str, Any] = config["http"]
    middlewares = http.get("middlewares", {})
    middlewares.pop(VERSION_MIDDLEWARE, None)
    if not middlewares:
        http.pop("middlewares", None)
    return http


async def _visit(
    client: TestClient,
    method: str,
    path: str,
    *,
    host: str | None = None,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> ClientResponse:
    """A request with exactly the given cookie (the client's jar is emptied first)."""
    client.session.cookie_jar.clear()
    sent = dict(headers or {})
    if host:
        sent["Host"] = host
    if cookie:
        sent["Cookie"] = f"wharf_gate={cookie}"
    return await client.request(method, path, headers=sent, allow_redirects=False, **kwargs)


async def _check(
    client: TestClient, gate: str, host: str, uri: str = "/", cookie: str | None = None
) -> ClientResponse:
    """Ask the check endpoint as Traefik's forwardAuth does."""
    forwarded = {"X-Forwarded-Host": host, "X-Forwarded-Uri": uri, "X-Forwarded-Proto": "http"}
    return await _visit(
        client, "GET", f"/.wharf/gate/check/{gate}", cookie=cookie, headers=forwarded
    )


async def _login(
    client: TestClient, host: str, password: str, next_path: str = "/", proto: str = "http"
) -> ClientResponse:
    return await _visit(
        client,
        "POST",
        "/.wharf/gate/login",
        host=host,
        data={"password": password, "next": next_path},
        headers={"X-Forwarded-Proto": proto},
    )


async def test_gates_api_basic_users_reach_traefik_hashed_and_none_removes_them(
    client: TestClient, owner: dict[str, str], settings: Settings
) -> None:
    listed = await (await client.get(GATE_URL, headers=owner)).json()
    assert listed == {
        "gates": {
            env: {
                "environment": env,
                "mode": "none",
                "users": [],
                "allowed": [],
                "updated_at": None,
            }
            for env in ("production", "staging", "previews")
        }
    }
    users = [
        {"username": "bob", "password": "bob-password"},
        {"username": "alice", "password": "alice-password"},
    ]
    gate = await _put(client, owner, environment="production", mode="basic", users=users)
    assert gate["mode"] == "basic" and gate["users"] == ["alice", "bob"]
    http = _traefik(settings)
    (middleware,) = http["middlewares"].values()
    entries = middleware["basicAuth"]["users"]
    assert [entry.split(":")[0] for entry in entries] == ["alice", "bob"]
    assert all(re.fullmatch(r"\w+:\$2b\$05\$[./A-Za-z0-9]{53}", entry) for entry in entries)
    gated = [r for r in http["routers"].values() if r.get("middlewares")]
    assert [r["rule"] for r in gated] == ["Host(`blog.localhost`)"]

    # A user sent without a password keeps its hash; the others are replaced.
    kept = [{"username": "alice"}, {"username": "carol", "password": "carol-password"}]
    await _put(client, owner, environment="production", mode="basic", users=kept)
    (middleware,) = _traefik(settings)["middlewares"].values()
    assert middleware["basicAuth"]["users"][0] == entries[0]
    assert middleware["basicAuth"]["users"][1].startswith("carol:$2b$05$")

    off = await _put(client, owner, environment="production", mode="none")
    assert off == {
        "environment": "production",
        "mode": "none",
        "users": [],
        "allowed": [],
        "updated_at": None,
        "routing": off["routing"],
    }
    http = _traefik(settings)
    assert "middlewares" not in http
    assert not [name for name in http["routers"] if "gate" in name]


async def test_gates_api_never_shows_a_password_or_hash(
    client: TestClient, owner: dict[str, str], admin_headers: dict[str, str]
) -> None:
    users = [{"username": "alice", "password": "alice-password"}]
    await _put(client, owner, environment="production", mode="basic", users=users)
    await _put(client, owner, environment="staging", mode="password", password=PASSWORD)
    for headers in (owner, admin_headers):
        response = await client.get(GATE_URL, headers=headers)
        text = await response.text()
        assert response.status == 200
        for secret in ("$2", "argon2", "alice-password", PASSWORD, "hash", '"password":'):
            assert secret not in text
        gates = (await response.json())["gates"]
        assert gates["production"]["users"] == ["alice"]
        assert gates["staging"]["mode"] == "password" and gates["staging"]["users"] == []
        assert gates["previews"]["mode"] == "none"


async def test_gates_api_strangers_get_404(
    client: TestClient, owner: dict[str, str], admin_headers: dict[str, str]
) -> None:
    stranger = await make_member(client, admin_headers, "stranger@example.test")
    await _put(client, owner, environment="production", mode="password", password=PASSWORD)
    calls = [
        ("GET", GATE_URL, None),
        ("PUT", GATE_URL, {"environment": "production", "mode": "none"}),
        ("PUT", GATE_URL, {"bad": "body"}),
        ("POST", GATE_URL + "/share", {"environment": "production", "expires_in": 60}),
    ]
    for method, url, body in calls:
        response = await client.request(method, url, json=body, headers=stranger)
        assert response.status == 404, (method, url)
        assert (await response.json())["error"]["code"] == "site_not_found"
    gates = await (await client.get(GATE_URL, headers=owner)).json()
    assert gates["gates"]["production"]["mode"] == "password"  # untouched


BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"mode": "none"}, "invalid_environment"),
    ({"environment": "preview", "mode": "none"}, "invalid_environment"),
    ({"environment": "production", "mode": "open"}, "invalid_mode"),
    ({"environment": "production", "mode": "basic"}, "users_required"),
    ({"environment": "production", "mode": "basic", "users": []}, "users_required"),
    ({"environment": "production", "mode": "basic", "users": ["a"]}, "invalid_users"),
    (
        {"environment": "production", "mode": "basic", "users": [{"username": "a b"}]},
        "invalid_username",
    ),
    (
        {"environment": "production", "mode": "basic", "users": [{"username": "new"}]},
        "invalid_password",
    ),
    (
        {
            "environment": "production",
            "mode": "basic",
            "users": [{"username": "a", "password": "x" * 73}],
        },
        "invalid_password",
    ),
    (
        {
            "environment": "production",
            "mode": "basic",
            "users": [{"username": f"u{i}", "password": "password"} for i in range(51)],
        },
        "too_many_users",
    ),
    (
        {
            "environment": "production",
            "mode": "basic",
            "users": [{"username": "a", "password": "password"}] * 2,
        },
        "duplicate_username",
    ),
    ({"environment": "staging", "mode": "password"}, "invalid_password"),
    ({"environment": "staging", "mode": "password", "password": "short"}, "invalid_password"),
    (
        {"environment": "staging", "mode": "password", "password": "x" * 1025},
        "invalid_password",
    ),
]


async def test_gates_api_refuses_bad_input(
    client: TestClient, owner: dict[str, str], settings: Settings
) -> None:
    await routed(client)  # the site's own routing change is written: only a refusal could follow
    before = (settings.traefik_watched_dir / FILE_NAME).read_text()
    for body, code in BAD_INPUT:
        response = await client.put(GATE_URL, json=body, headers=owner)
        assert response.status == 422, (body, await response.text())
        assert (await response.json())["error"]["code"] == code, body
    assert (settings.traefik_watched_dir / FILE_NAME).read_text() == before
    gates = await (await client.get(GATE_URL, headers=owner)).json()
    assert {gate["mode"] for gate in gates["gates"].values()} == {"none"}


async def test_gates_password_check_login_and_cookie_scope(
    client: TestClient, owner: dict[str, str], settings: Settings
) -> None:
    for environment in ("production", "staging"):  # one password, two hosts
        await _put(client, owner, environment=environment, mode="password", password=PASSWORD)
    middlewares = _traefik(settings)["middlewares"]
    assert sorted(m["forwardAuth"]["address"] for m in middlewares.values()) == [
        f"{settings.control_upstream}/.wharf/gate/check/blog/production",
        f"{settings.control_upstream}/.wharf/gate/check/blog/staging",
    ]

    asked = await _check(client, "blog/production", "blog.localhost:8080", "/about?x=1")
    assert asked.status == 302
    assert asked.headers["Location"] == (
        "http://blog.localhost:8080/.wharf/gate/login?next=%2Fabout%3Fx%3D1"
    )
    form = await _visit(
        client, "GET", "/.wharf/gate/login?next=/about%3Fx%3D1", host="blog.localhost"
    )
    page = await form.text()
    assert form.status == 200 and form.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in form.headers["Content-Security-Policy"]
    assert '<input type="hidden" name="next" value="/about?x=1">' in page
    hostile = await _visit(
        client, "GET", '/.wharf/gate/login?next=/"><script>x</script>', host="blog.localhost"
    )
    assert "<script>" not in await hostile.text()
    assert "&#34;&gt;&lt;script&gt;" in await hostile.text()  # markupsafe spells " as &#34;

    wrong = await _login(client, "blog.localhost", "not-the-password", "/about")
    assert wrong.status == 403
    assert "not right" in await wrong.text() and "wharf_gate" not in wrong.cookies

    right = await _login(client, "blog.localhost:8080", PASSWORD, "/about?x=1")
    assert right.status == 303 and right.headers["Location"] == "/about?x=1"
    cookie = right.cookies["wharf_gate"]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert cookie["path"] == "/" and cookie["max-age"] == str(7 * 24 * 3600)
    assert not cookie["secure"] and not cookie["domain"]
    secure = await _login(client, "blog.localhost", PASSWORD, proto="https")
    assert secure.cookies["wharf_gate"]["secure"] is True
    escaped = await _login(client, "blog.localhost", PASSWORD, "//evil.test/")
    assert escaped.headers["Location"] == "/"

    value = cookie.value
    assert (await _check(client, "blog/production", "blog.localhost", cookie=value)).status == 200
    # A cookie another site set on the parent domain does not hide the visitor's own.
    tossed = f"forged; wharf_gate={value}"
    assert (await _check(client, "blog/production", "blog.localhost", cookie=tossed)).status == 200
    # The same cookie on the staging host of the same site, with the same password: refused.
    other = await _check(client, "blog/staging", "blog--staging.localhost", cookie=value)
    assert (
        other.status == 302
        and "blog--staging.localhost/.wharf/gate/login" in (other.headers["Location"])
    )
    # A host that is not the gate's never passes, whatever it carries.
    assert (await _check(client, "blog/production", "shop.localhost", cookie=value)).status == 403
    assert (await _check(client, "blog/production", "bad host", cookie=value)).status == 403

    # A new password is a new gate version: old cookies stop working.
    await _put(client, owner, environment="production", mode="password", password=PASSWORD)
    assert (await _check(client, "blog/production", "blog.localhost", cookie=value)).status == 302
    # Off: the check (if Traefik still asked) lets everything through.
    await _put(client, owner, environment="production", mode="none")
    assert (await _check(client, "blog/production", "blog.localhost")).status == 200
    assert (await _visit(client, "GET", "/.wharf/gate/login", host="blog.localhost")).status == 404


async def test_gates_login_is_rate_limited_per_address_and_host(
    client: TestClient, owner: dict[str, str]
) -> None:
    await _put(client, owner, environment="production", mode="password", password=PASSWORD)
    for _ in range(5):
        assert (await _login(client, "blog.localhost", "wrong-password")).status == 403
    limited = await _login(client, "blog.localhost", PASSWORD)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "Too many" in await limited.text() and "wharf_gate" not in limited.cookies


async def test_gates_share_link_opens_only_its_host_and_gate(
    client: TestClient, owner: dict[str, str], settings: Settings
) -> None:
    share_url = GATE_URL + "/share"
    body = {"environment": "production", "expires_in": 600}
    refused = await client.post(share_url, json=body, headers=owner)
    assert refused.status == 409
    assert (await refused.json())["error"]["code"] == "share_needs_password_gate"
    users = [{"username": "alice", "password": "alice-password"}]
    await _put(client, owner, environment="production", mode="basic", users=users)
    assert (await client.post(share_url, json=body, headers=owner)).status == 409

    await _put(client, owner, environment="production", mode="password", password=PASSWORD)
    await _put(client, owner, environment="staging", mode="password", password=PASSWORD)
    shared = await client.post(share_url, json=body, headers=owner)
    assert shared.status == 200, await shared.text()
    answer = await shared.json()
    port = settings.http_listen[1]
    prefix = f"http://blog.localhost:{port}/?wharf_share="
    assert answer["url"].startswith(prefix)
    token = answer["url"].removeprefix(prefix)

    opened = await _check(client, "blog/production", "blog.localhost", f"/?a=1&wharf_share={token}")
    assert opened.status == 302 and opened.headers["Location"] == "http://blog.localhost/?a=1"
    cookie = opened.cookies["wharf_gate"]
    assert cookie["httponly"] is True and 595 <= int(cookie["max-age"]) <= 600
    passed = await _check(client, "blog/production", "blog.localhost", cookie=cookie.value)
    assert passed.status == 200
    # Not on another host, not as a cookie, not once tampered.
    elsewhere = await _check(
        client, "blog/staging", "blog--staging.localhost", f"/?wharf_share={token}"
    )
    assert "/.wharf/gate/login" in elsewhere.headers["Location"]
    as_cookie = await _check(client, "blog/production", "blog.localhost", cookie=token)
    assert as_cookie.status == 302
    forged = await _check(client, "blog/production", "blog.localhost", f"/?wharf_share={token}x")
    assert "/.wharf/gate/login" in forged.headers["Location"]

    for bad, code, status in [
        ({"environment": "production", "expires_in": 0}, "invalid_expires_in", 422),
        ({"environment": "production", "expires_in": "60"}, "invalid_expires_in", 422),
        ({"environment": "production", "expires_in": True}, "invalid_expires_in", 422),
        ({"environment": "production", "expires_in": 10**9}, "invalid_expires_in", 422),
        ({"environment": "qa", "expires_in": 60}, "invalid_environment", 422),
        (
            {"environment": "production", "expires_in": 60, "hostname": "www.nope.test"},
            "invalid_hostname",
            422,
        ),
    ]:
        response = await client.post(share_url, json=bad, headers=owner)
        assert response.status == status, bad
        assert (await response.json())["error"]["code"] == code

    await _put(client, owner, environment="previews", mode="password", password=PASSWORD)
    previews = {"environment": "previews", "expires_in": 60}
    missing = await client.post(share_url, json=previews, headers=owner)
    assert (await missing.json())["error"]["code"] == "invalid_deploy_id"
    unknown = await client.post(
        share_url, json={**previews, "deploy_id": "0123456789ab"}, headers=owner
    )
    assert unknown.status == 404


async def test_gates_cover_the_environments_custom_domains(
    client: TestClient, owner: dict[str, str], admin_headers: dict[str, str], settings: Settings
) -> None:
    domains = "/api/v1/sites/blog/domains"
    added = await client.post(domains, json={"hostname": "www.blog.test"}, headers=owner)
    assert added.status == 201
    marked = await client.post(
        f"{domains}/www.blog.test/verify", json={"method": "admin"}, headers=admin_headers
    )
    assert marked.status == 200
    await _put(client, owner, environment="production", mode="password", password=PASSWORD)
    rules = {r["rule"] for r in _traefik(settings)["routers"].values() if r.get("middlewares")}
    assert rules == {"Host(`blog.localhost`)", "Host(`www.blog.test`)"}

    asked = await _check(client, "blog/production", "www.blog.test")
    assert asked.headers["Location"] == "http://www.blog.test/.wharf/gate/login?next=%2F"
    right = await _login(client, "www.blog.test", PASSWORD)
    value = right.cookies["wharf_gate"].value
    assert (await _check(client, "blog/production", "www.blog.test", cookie=value)).status == 200
    assert (await _check(client, "blog/production", "blog.localhost", cookie=value)).status == 302

    shared = await client.post(
        GATE_URL + "/share",
        json={"environment": "production", "expires_in": 60, "hostname": "WWW.blog.test"},
        headers=owner,
    )
    assert (await shared.json())["url"].startswith("http://www.blog.test:")
