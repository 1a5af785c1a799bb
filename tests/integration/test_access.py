"""Every endpoint, called by a member who owns nothing: other people's things are invisible."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from controlplane.web.routes import ENDPOINTS
from tests.conftest import make_member

# (method, path as the route declares it) -> (concrete path, body, status a stranger gets)
STRANGER_CALLS: dict[tuple[str, str], tuple[str, object, int]] = {
    ("GET", "/api/v1/users"): ("/api/v1/users", None, 403),
    ("POST", "/api/v1/users"): (
        "/api/v1/users",
        '{"email": "x@y.test", "password": "12345678"}',
        403,
    ),
    ("PATCH", "/api/v1/users/{user_id}"): ("/api/v1/users/1", '{"role": "member"}', 403),
    ("GET", "/api/v1/sites/{site}"): ("/api/v1/sites/owned", None, 404),
    ("DELETE", "/api/v1/sites/{site}"): ("/api/v1/sites/owned", None, 404),
    ("DELETE", "/api/v1/tokens/{token_id}"): ("/api/v1/tokens/{token_id}", None, 404),
    ("PATCH", "/api/v1/sites/{site}"): ("/api/v1/sites/owned", "{}", 404),
    ("POST", "/api/v1/sites/{site}/deploys"): ("/api/v1/sites/owned/deploys", b"PK", 404),
    ("GET", "/api/v1/sites/{site}/deploys"): ("/api/v1/sites/owned/deploys", None, 404),
    ("GET", "/api/v1/sites/{site}/deploys/{deploy}"): (
        "/api/v1/sites/owned/deploys/000000000000",
        None,
        404,
    ),
    ("PATCH", "/api/v1/sites/{site}/deploys/{deploy}"): (
        "/api/v1/sites/owned/deploys/000000000000",
        '{"pinned": true}',
        404,
    ),
    ("GET", "/api/v1/sites/{site}/deploys/{deploy}/log"): (
        "/api/v1/sites/owned/deploys/000000000000/log",
        None,
        404,
    ),
    ("GET", "/api/v1/sites/{site}/deploys/{deploy}/log/stream"): (
        "/api/v1/sites/owned/deploys/000000000000/log/stream",
        None,
        404,
    ),
    ("POST", "/api/v1/sites/{site}/deploys/{deploy}/publish"): (
        "/api/v1/sites/owned/deploys/000000000000/publish",
        None,
        404,
    ),
    ("POST", "/api/v1/sites/{site}/rollback"): ("/api/v1/sites/owned/rollback", "{}", 404),
    ("GET", "/api/v1/sites/{site}/publishes"): ("/api/v1/sites/owned/publishes", None, 404),
    ("GET", "/api/v1/sites/{site}/domains"): ("/api/v1/sites/owned/domains", None, 404),
    ("POST", "/api/v1/sites/{site}/domains"): (
        "/api/v1/sites/owned/domains",
        '{"hostname": "www.owned.test"}',
        404,
    ),
    ("GET", "/api/v1/sites/{site}/domains/{hostname}"): (
        "/api/v1/sites/owned/domains/www.owned.test",
        None,
        404,
    ),
    ("DELETE", "/api/v1/sites/{site}/domains/{hostname}"): (
        "/api/v1/sites/owned/domains/www.owned.test",
        None,
        404,
    ),
    ("POST", "/api/v1/sites/{site}/domains/{hostname}/verify"): (
        "/api/v1/sites/owned/domains/www.owned.test/verify",
        '{"method": "admin"}',
        404,
    ),
    ("GET", "/api/v1/sites/{site}/gate"): ("/api/v1/sites/owned/gate", None, 404),
    ("GET", "/api/v1/sites/{site}/monitoring"): ("/api/v1/sites/owned/monitoring", None, 404),
    ("GET", "/api/v1/sites/{site}/canaries"): ("/api/v1/sites/owned/canaries", None, 404),
    ("PATCH", "/api/v1/sites/{site}/canary"): (
        "/api/v1/sites/owned/canary",
        '{"environment": "production", "percent": 10}',
        404,
    ),
    ("POST", "/api/v1/sites/{site}/canary/promote"): (
        "/api/v1/sites/owned/canary/promote",
        "{}",
        404,
    ),
    ("POST", "/api/v1/sites/{site}/canary/abort"): ("/api/v1/sites/owned/canary/abort", "{}", 404),
    ("PUT", "/api/v1/sites/{site}/gate"): (
        "/api/v1/sites/owned/gate",
        '{"environment": "production", "mode": "none"}',
        404,
    ),
    ("POST", "/api/v1/sites/{site}/gate/share"): (
        "/api/v1/sites/owned/gate/share",
        '{"environment": "production", "expires_in": 60}',
        404,
    ),
    ("GET", "/api/v1/tls"): ("/api/v1/tls", None, 403),
    ("PUT", "/api/v1/tls"): ("/api/v1/tls", '{"strategy": "none"}', 403),
    ("GET", "/api/v1/sites/{site}/tls"): ("/api/v1/sites/owned/tls", None, 404),
    ("PUT", "/api/v1/sites/{site}/tls"): ("/api/v1/sites/owned/tls", '{"strategy": "none"}', 404),
    ("PUT", "/api/v1/sites/{site}/domains/{hostname}/tls"): (
        "/api/v1/sites/owned/domains/www.owned.test/tls",
        '{"strategy": "none"}',
        404,
    ),
    ("GET", "/api/v1/sites/{site}/webhooks"): ("/api/v1/sites/owned/webhooks", None, 404),
    ("POST", "/api/v1/sites/{site}/webhooks"): (
        "/api/v1/sites/owned/webhooks",
        '{"url": "ftp://refused.test/"}',  # refused when judged: a 404 says it never was
        404,
    ),
    ("DELETE", "/api/v1/sites/{site}/webhooks/{webhook}"): (
        "/api/v1/sites/owned/webhooks/{webhook_id}",
        None,
        404,
    ),
    ("POST", "/api/v1/sites/{site}/webhooks/{webhook}/test"): (
        "/api/v1/sites/owned/webhooks/{webhook_id}/test",
        None,
        404,
    ),
    ("GET", "/api/v1/sites/{site}/webhooks/{webhook}/deliveries"): (
        "/api/v1/sites/owned/webhooks/{webhook_id}/deliveries?limit=0",
        None,
        404,
    ),
}
# Endpoints that act only on the caller's own things or are public: checked separately below.
OWN_OR_PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/traefik/config"),
    ("POST", "/api/v1/auth/login"),
    ("GET", "/api/v1/me"),
    ("PUT", "/api/v1/me/password"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("GET", "/api/v1/sites"),
    ("POST", "/api/v1/sites"),
    # A visitor's gate check and login page: they answer for a host's gate, never for an API user.
    ("GET", "/.wharf/gate/check/{site}/{environment}"),
    ("GET", "/.wharf/gate/login"),
    ("POST", "/.wharf/gate/login"),
    ("GET", "/.wharf/gate/oauth/{provider}"),
    ("GET", "/.wharf/gate/oauth-done"),
}


def test_access_table_covers_every_endpoint() -> None:
    declared = {(endpoint.method, endpoint.path) for endpoint in ENDPOINTS}
    assert declared == set(STRANGER_CALLS) | OWN_OR_PUBLIC


async def test_access_stranger_gets_404_or_403_everywhere(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    owner = await make_member(client, admin_headers, "owner@example.test")
    stranger = await make_member(client, admin_headers, "stranger@example.test")
    assert (await client.post("/api/v1/sites", json={"name": "owned"}, headers=owner)).status == 201
    token = await (await client.post("/api/v1/tokens", json={"name": "t"}, headers=owner)).json()
    hook = await client.post(
        "/api/v1/sites/owned/webhooks", json={"url": "https://8.8.8.8/never-sent"}, headers=owner
    )
    assert hook.status == 201, await hook.text()
    webhook_id = (await hook.json())["id"]

    for (method, _), (path, body, status) in STRANGER_CALLS.items():
        url = path.format(token_id=token["id"], webhook_id=webhook_id)
        response = await client.request(method, url, data=body, headers=stranger)
        assert response.status == status, (method, url)
        assert "error" in await response.json()

    # Admin-only endpoints refuse before they read the body.
    assert (await client.post("/api/v1/users", data="{bad", headers=stranger)).status == 403

    # The lists show the stranger nothing of the owner's.
    sites = await (await client.get("/api/v1/sites", headers=stranger)).json()
    assert sites["sites"] == []
    tokens = await (await client.get("/api/v1/tokens", headers=stranger)).json()
    assert tokens["tokens"] == []
    # And the owner's things are untouched.
    assert (await client.get("/api/v1/sites/owned", headers=owner)).status == 200
    hooks = await (await client.get("/api/v1/sites/owned/webhooks", headers=owner)).json()
    assert [listed["id"] for listed in hooks["webhooks"]] == [webhook_id]
    assert (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token['token']}"})
    ).status == 200


async def test_access_admin_sees_and_deletes_any_site(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    owner = await make_member(client, admin_headers, "owner@example.test")
    await client.post("/api/v1/sites", json={"name": "theirs"}, headers=owner)
    listed = await (await client.get("/api/v1/sites", headers=admin_headers)).json()
    assert [site["name"] for site in listed["sites"]] == ["theirs"]
    assert (await client.delete("/api/v1/sites/theirs", headers=admin_headers)).status == 204


async def test_access_every_non_public_endpoint_needs_a_token(client: TestClient) -> None:
    for endpoint in ENDPOINTS:
        if endpoint.access == "public":
            continue
        path = endpoint.path.format(
            site="owned",
            token_id="1",
            user_id="1",
            deploy="000000000000",
            hostname="www.owned.test",
            webhook="1",
        )
        response = await client.request(endpoint.method, path, json={})
        assert response.status == 401, (endpoint.method, path)
