"""Users through the API: a role changed, disabled and enabled, and never losing the last admin."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from controlplane.web.keys import SERVICES
from tests.conftest import login

MEMBER = {"email": "dev@example.test", "password": "dev-password-1", "role": "member"}


async def _create(client: TestClient, headers: dict[str, str], **fields: str) -> int:
    response = await client.post("/api/v1/users", json={**MEMBER, **fields}, headers=headers)
    assert response.status == 201, await response.text()
    user = await response.json()
    assert user["disabled"] is False
    return int(user["id"])


async def _patch(client: TestClient, headers: dict[str, str], user_id: int, body: object):
    return await client.patch(f"/api/v1/users/{user_id}", json=body, headers=headers)


async def test_users_disabled_cannot_log_in_nor_use_tokens_until_enabled(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    user_id = await _create(client, admin_headers)
    access = await login(client, MEMBER["email"], MEMBER["password"])
    token = await (await client.post("/api/v1/tokens", json={"name": "ci"}, headers=access)).json()
    api_token = {"Authorization": "Bearer " + token["token"]}
    accounts = client.app[SERVICES].accounts
    session = await accounts.sign_in(MEMBER["email"], MEMBER["password"], "203.0.113.9")

    response = await _patch(client, admin_headers, user_id, {"disabled": True})
    assert response.status == 200
    assert (await response.json())["disabled"] is True
    for headers in (access, api_token):
        answer = await client.get("/api/v1/me", headers=headers)
        assert answer.status == 401
        assert (await answer.json())["error"]["code"] == "account_disabled"
    credentials = {"email": MEMBER["email"], "password": MEMBER["password"]}
    refused = await client.post("/api/v1/auth/login", json=credentials)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "account_disabled"
    # A wrong password says nothing of the account being disabled.
    wrong = await client.post("/api/v1/auth/login", json={**credentials, "password": "nope-nope"})
    assert (await wrong.json())["error"]["code"] == "invalid_credentials"
    assert await accounts.session_user(session) is None  # the UI session ended
    listed = await (await client.get("/api/v1/users", headers=admin_headers)).json()
    assert [user["disabled"] for user in listed["users"]] == [False, True]

    response = await _patch(client, admin_headers, user_id, {"disabled": False})
    assert (await response.json())["disabled"] is False
    assert (await client.get("/api/v1/me", headers=api_token)).status == 200
    assert (await client.post("/api/v1/auth/login", json=credentials)).status == 200


async def test_users_role_change_and_bad_bodies(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    user_id = await _create(client, admin_headers)
    response = await _patch(client, admin_headers, user_id, {"role": "admin"})
    assert response.status == 200 and (await response.json())["role"] == "admin"
    promoted = await login(client, MEMBER["email"], MEMBER["password"])
    assert (await client.get("/api/v1/users", headers=promoted)).status == 200
    for body, status, code in (
        ({"role": "owner"}, 422, "invalid_role"),
        ({"disabled": "yes"}, 422, "invalid_disabled"),
        ([], 400, None),  # not an object
    ):
        answer = await _patch(client, admin_headers, user_id, body)
        assert answer.status == status, body
        if code:
            assert (await answer.json())["error"]["code"] == code
    for missing in ("999999", "%C2%B2", "9" * 40):
        answer = await client.patch(
            f"/api/v1/users/{missing}", json={"role": "member"}, headers=admin_headers
        )
        assert answer.status == 404, missing
        assert (await answer.json())["error"]["code"] == "user_not_found"


async def test_users_the_last_admin_cannot_be_demoted_or_disabled(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    me = await (await client.get("/api/v1/me", headers=admin_headers)).json()
    for body in ({"role": "member"}, {"disabled": True}):
        answer = await _patch(client, admin_headers, me["id"], body)
        assert answer.status == 409, body
        assert (await answer.json())["error"]["code"] == "last_admin"
    # Still an admin, still signed in.
    assert (await client.get("/api/v1/users", headers=admin_headers)).status == 200
    # With a second admin, either may step down, but not both, even at the same moment.
    other = await _create(client, admin_headers, role="admin")
    other_headers = await login(client, MEMBER["email"], MEMBER["password"])
    answers = await asyncio.gather(
        _patch(client, admin_headers, other, {"role": "member"}),
        _patch(client, other_headers, me["id"], {"role": "member"}),
    )
    # The later one is refused: by the last-admin rule, or because its caller is no admin now.
    statuses = sorted(answer.status for answer in answers)
    assert statuses[0] == 200 and statuses[1] in (403, 409), statuses
    users = await client.app[SERVICES].accounts.store.list_users()
    assert [user.role for user in users].count("admin") == 1
