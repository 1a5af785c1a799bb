"""Login, rate limiting, access tokens and API tokens through the HTTP API."""

from __future__ import annotations

import time

import jwt
from aiohttp.test_utils import TestClient

from controlplane.config import Settings
from controlplane.secrets import derive_key
from controlplane.services import secret_key_for
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES, SETTINGS
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, make_member


def _forwarded(address: str) -> dict[str, str]:
    # The test client connects from 127.0.0.1, a trusted proxy, so X-Forwarded-For names the client.
    return {"X-Forwarded-For": address}


async def _attempt(client: TestClient, password: str, address: str, email: str = ADMIN_EMAIL):
    return await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers=_forwarded(address),
    )


async def test_login_returns_bearer_token(client: TestClient) -> None:
    response = await _attempt(client, ADMIN_PASSWORD, "203.0.113.1")
    assert response.status == 200
    body = await response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    me = await client.get("/api/v1/me", headers={"Authorization": "Bearer " + body["access_token"]})
    assert (await me.json())["email"] == ADMIN_EMAIL


async def test_login_email_is_case_insensitive(client: TestClient) -> None:
    response = await _attempt(client, ADMIN_PASSWORD, "203.0.113.1", ADMIN_EMAIL.upper())
    assert response.status == 200


async def test_login_wrong_password_and_unknown_user_are_401(client: TestClient) -> None:
    wrong = await _attempt(client, "not-the-password", "203.0.113.1")
    unknown = await _attempt(client, ADMIN_PASSWORD, "203.0.113.2", "nobody@example.test")
    for response in (wrong, unknown):
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "invalid_credentials"


async def test_login_missing_fields_are_422(client: TestClient) -> None:
    response = await client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL})
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "missing_credentials"


async def test_login_rate_limited_per_address(client: TestClient) -> None:
    for _ in range(5):
        assert (await _attempt(client, "wrong-password", "198.51.100.7")).status == 401
    blocked = await _attempt(client, ADMIN_PASSWORD, "198.51.100.7")
    assert blocked.status == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 300
    assert (await blocked.json())["error"]["code"] == "rate_limited"


async def test_login_rate_limited_per_account_across_addresses(client: TestClient) -> None:
    for index in range(5):
        assert (await _attempt(client, "wrong-password", f"198.51.100.{index}")).status == 401
    blocked = await _attempt(client, ADMIN_PASSWORD, "198.51.100.99")
    assert blocked.status == 429


async def test_login_success_does_not_reset_another_address(client: TestClient) -> None:
    other = "user2@example.test"
    admin = await client.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    headers = {"Authorization": "Bearer " + (await admin.json())["access_token"]}
    await client.post(
        "/api/v1/users",
        json={"email": other, "password": "second-password"},
        headers=headers,
    )
    for _ in range(4):
        assert (await _attempt(client, "wrong-password", "192.0.2.10", other)).status == 401
    # Someone at another address logs into another account: the first address keeps its count.
    assert (await _attempt(client, ADMIN_PASSWORD, "192.0.2.20")).status == 200
    assert (await _attempt(client, "wrong-password", "192.0.2.10", ADMIN_EMAIL)).status == 401
    assert (await _attempt(client, "second-password", "192.0.2.10", other)).status == 429


async def test_login_untrusted_peer_cannot_spoof_forwarded_for(
    settings: Settings, aiohttp_client
) -> None:
    app = create_app(settings.replace(trusted_proxies=()))
    client = await aiohttp_client(app)
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    for index in range(5):
        assert (await _attempt(client, "wrong-password", f"203.0.113.{index}")).status == 401
    # Each attempt named a new X-Forwarded-For, but the peer is what counts when untrusted.
    blocked = await _attempt(client, "wrong-password", "203.0.113.50", "someone@example.test")
    assert blocked.status == 429


async def test_tokens_rejected_when_tampered_expired_unsigned_or_foreign(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    good = admin_headers["Authorization"].removeprefix("Bearer ")
    header, payload, signature = good.split(".")
    key = derive_key(secret_key_for(client.app[SETTINGS]), "jwt")
    now = int(time.time())
    claims = {"iss": "wharf", "sub": "1", "iat": now - 7200, "exp": now - 3600}
    forged = {
        "tampered": f"{header}.{payload[:-2]}xx.{signature}",
        "expired": jwt.encode(claims, key, algorithm="HS256"),
        "alg none": jwt.encode({**claims, "exp": now + 60}, None, algorithm="none"),
        "wrong key": jwt.encode({**claims, "exp": now + 60}, b"k" * 32, algorithm="HS256"),
        "garbage": "not-a-token",
        "unknown api token": "wharf_" + "x" * 43,
    }
    for label, token in forged.items():
        response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401, label
        assert response.headers["WWW-Authenticate"] == "Bearer"
    expired = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {forged['expired']}"}
    )
    assert (await expired.json())["error"]["code"] == "token_expired"
    assert (await client.get("/api/v1/me")).status == 401


async def test_api_token_created_once_used_and_revoked(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    created = await client.post("/api/v1/tokens", json={"name": "ci"}, headers=admin_headers)
    assert created.status == 201
    body = await created.json()
    token = body["token"]
    assert token.startswith("wharf_")
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await (await client.get("/api/v1/me", headers=bearer)).json())["email"] == ADMIN_EMAIL

    listed = await (await client.get("/api/v1/tokens", headers=admin_headers)).json()
    assert [t["name"] for t in listed["tokens"]] == ["ci"]
    assert token not in str(listed)
    assert listed["tokens"][0]["last_used_at"] is not None

    revoked = await client.delete(f"/api/v1/tokens/{body['id']}", headers=admin_headers)
    assert revoked.status == 204
    assert (await client.get("/api/v1/me", headers=bearer)).status == 401


async def test_api_token_invalid_name_and_id(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    assert (
        await client.post("/api/v1/tokens", json={"name": ""}, headers=admin_headers)
    ).status == 422
    for bad_id in ("abc", "%C2%B2"):  # "²" is a digit to str.isdigit, not to int()
        response = await client.delete(f"/api/v1/tokens/{bad_id}", headers=admin_headers)
        assert response.status == 422
    assert (await client.delete("/api/v1/tokens/999", headers=admin_headers)).status == 404


async def test_users_created_by_admin_log_in(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    member = await make_member(client, admin_headers, "new@example.test")
    me = await (await client.get("/api/v1/me", headers=member)).json()
    assert me["role"] == "member"
    users = await (await client.get("/api/v1/users", headers=admin_headers)).json()
    assert {u["email"] for u in users["users"]} == {ADMIN_EMAIL, "new@example.test"}


async def test_users_bad_input(client: TestClient, admin_headers: dict[str, str]) -> None:
    cases = [
        ({"email": "no-at-sign", "password": "long-enough"}, 422, "invalid_email"),
        ({"email": "a@b.test", "password": "short"}, 422, "invalid_password"),
        ({"email": "a@b.test", "password": "long-enough", "role": "root"}, 422, "invalid_role"),
        ({"email": ADMIN_EMAIL.upper(), "password": "long-enough"}, 409, "user_exists"),
    ]
    for body, status, code in cases:
        response = await client.post("/api/v1/users", json=body, headers=admin_headers)
        assert response.status == status, body
        assert (await response.json())["error"]["code"] == code


async def test_password_change_needs_the_current_one_and_counts_failures(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    url = "/api/v1/me/password"
    new = "a-brand-new-password"
    wrong = await client.put(
        url, json={"current_password": "not-it", "new_password": new}, headers=admin_headers
    )
    assert wrong.status == 403
    assert (await wrong.json())["error"]["code"] == "wrong_password"
    short = await client.put(
        url,
        json={"current_password": ADMIN_PASSWORD, "new_password": "short"},
        headers=admin_headers,
    )
    assert (await short.json())["error"]["code"] == "invalid_password"
    changed = await client.put(
        url, json={"current_password": ADMIN_PASSWORD, "new_password": new}, headers=admin_headers
    )
    assert changed.status == 204
    assert (await _attempt(client, ADMIN_PASSWORD, "203.0.113.9")).status == 401
    assert (await _attempt(client, new, "203.0.113.9")).status == 200
    # Wrong current passwords are failed logins: after 5, the limit holds here too.
    for _ in range(5):
        await client.put(
            url, json={"current_password": "guess", "new_password": new}, headers=admin_headers
        )
    limited = await client.put(
        url, json={"current_password": new, "new_password": ADMIN_PASSWORD}, headers=admin_headers
    )
    assert limited.status == 429 and "Retry-After" in limited.headers
