"""What a provider identity means for accounts: new members the domain list admits, linking
from the account page, unlinking (never the last way in), disabled accounts, and password
sign-in turned off for all but a break-glass admin."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login
from tests.harness.fake_issuer import FakeIssuer, fake_issuer
from tests.harness.wharf_sign_in import (
    follow_issuer,
    page_text,
    sign_in_with,
    signed_in_cookie,
    wharf_app,
)

pytestmark = pytest.mark.one_database
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def _oidc(issuer: FakeIssuer, **more: str) -> dict[str, str]:
    return {
        "oidc_issuer": issuer.url,
        "oidc_client_id": issuer.client_id,
        "oidc_client_secret": issuer.client_secret,
        "oidc_name": "Corp ID",
        **more,
    }


async def _password_sign_in(client: TestClient, email: str, password: str) -> int:
    response = await client.post(
        "/sign-in",
        data={"email": email, "password": password, "next": "/sites"},
        headers=SAME_ORIGIN,
        allow_redirects=False,
    )
    return response.status


async def test_accounts_a_listed_domain_makes_a_member_who_cannot_unlink_their_only_way_in(
    database_url: str, tmp_path: Path
) -> None:
    async with fake_issuer() as issuer:
        issuer.email = "bo@corp.test"
        options = _oidc(issuer, oauth_allowed_domains="corp.test")
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            assert (await sign_in_with(client, "oidc", follow_issuer)).status == 200
            account = await page_text(await client.get("/account"))
            assert "Corp ID" in account and "bo@corp.test" in account
            assert "Your account has no password" in account
            identity = (await client.server.app[SERVICES].store.list_identities(2))[0]
            refused = await client.post(
                f"/account/identities/{identity.id}/unlink", headers=SAME_ORIGIN
            )
            assert refused.status == 409
            assert "This is your last way to sign in" in await page_text(refused)
            assert await client.server.app[SERVICES].store.list_identities(2) == [identity]
            # Nobody can sign in with that account's (non-existent) password.
            client.session.cookie_jar.clear()
            assert await _password_sign_in(client, "bo@corp.test", "") == 401

            issuer.email, issuer.sub = "eve@elsewhere.test", "another-subject"
            refused = await sign_in_with(client, "oidc", follow_issuer)
            assert refused.status == 403
            assert "no Wharf account for eve@elsewhere.test" in await page_text(refused)


async def test_accounts_link_from_the_account_page_then_unlink_when_a_password_remains(
    database_url: str, tmp_path: Path
) -> None:
    async with fake_issuer() as issuer:
        issuer.email = "admin-at-idp@corp.test"  # another address than the Wharf account's
        async with wharf_app(database_url, tmp_path / "data", **_oidc(issuer)) as client:
            assert await _password_sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD) == 303
            account = await page_text(await client.get("/account"))
            assert "Link Corp ID" in account and "No provider account is linked yet" in account
            linked = await sign_in_with(client, "oidc", follow_issuer, "?link=1")
            assert linked.status == 200
            assert 'content="0;url=/account?notice=linked"' in await linked.text()
            account = await page_text(await client.get("/account"))
            assert "admin-at-idp@corp.test" in account

            client.session.cookie_jar.clear()  # the identity signs the admin in now
            assert (await sign_in_with(client, "oidc", follow_issuer)).status == 200
            assert ADMIN_EMAIL in await page_text(await client.get("/sites"))

            identity = (await client.server.app[SERVICES].store.list_identities(1))[0]
            unlinked = await client.post(
                f"/account/identities/{identity.id}/unlink",
                headers=SAME_ORIGIN,
                allow_redirects=False,
            )
            assert unlinked.headers["Location"] == "/account?notice=unlinked"
            client.session.cookie_jar.clear()
            refused = await sign_in_with(client, "oidc", follow_issuer)
            assert refused.status == 403  # no longer linked, and its email matches nobody


async def test_accounts_password_sign_in_off_but_for_the_break_glass_admin(
    database_url: str, tmp_path: Path
) -> None:
    async with fake_issuer() as issuer:
        options = _oidc(issuer)
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            services = client.server.app[SERVICES]
            await services.accounts.create_user(
                None, "dev@example.test", "dev-password-1", "member"
            )
            assert await _password_sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD) == 303
            users = await page_text(await client.get("/admin/users"))
            assert "/auth/oidc/callback" in users and issuer.client_id in users
            assert issuer.client_secret not in users
            saved = await client.post(
                "/admin/sign-in",
                data={"password_sign_in": "off", "break_glass": "1"},
                headers=SAME_ORIGIN,
                allow_redirects=False,
            )
            assert saved.headers["Location"] == "/admin/users?done=policy#sign-in"

            client.session.cookie_jar.clear()
            assert await _password_sign_in(client, "dev@example.test", "dev-password-1") == 403
            page = await page_text(await client.get("/sign-in"))
            assert "Break-glass admin: sign in with a password" in page
            api = await client.post(
                "/api/v1/auth/login",
                json={"email": "dev@example.test", "password": "dev-password-1"},
            )
            assert api.status == 403
            assert (await api.json())["error"]["code"] == "password_sign_in_off"
            assert await _password_sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD) == 303

            not_an_admin = await client.post(
                "/admin/sign-in",
                data={"password_sign_in": "off", "break_glass": "2"},
                headers=SAME_ORIGIN,
            )
            assert not_an_admin.status == 422
            assert "must be an enabled admin" in await page_text(not_an_admin)
            demoted = await client.post(
                "/admin/users/1/role", data={"role": "member"}, headers=SAME_ORIGIN
            )
            assert demoted.status == 409
            assert "is the break-glass account" in await page_text(demoted)
            back_on = await client.post(
                "/admin/sign-in", data={"password_sign_in": "on"}, headers=SAME_ORIGIN
            )
            assert back_on.status == 200
            client.session.cookie_jar.clear()
            assert await _password_sign_in(client, "dev@example.test", "dev-password-1") == 303


async def test_accounts_a_disabled_user_cannot_sign_in_with_a_provider(
    database_url: str, tmp_path: Path
) -> None:
    async with fake_issuer() as issuer:
        options = _oidc(issuer)
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            services = client.server.app[SERVICES]
            user = await services.accounts.create_user(
                None, issuer.email, "member-password-1", "member"
            )
            await services.store.change_user(user.id, disabled=True)
            refused = await sign_in_with(client, "oidc", follow_issuer)
            assert refused.status == 403 and "This account is disabled" in await page_text(refused)
            assert signed_in_cookie(client) is None


async def test_accounts_oauth_gates_through_the_api_list_who_may_pass(
    database_url: str, tmp_path: Path
) -> None:
    async with fake_issuer() as issuer:
        options = _oidc(issuer)
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            headers = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
            created = await client.post("/api/v1/sites", json={"name": "blog"}, headers=headers)
            assert created.status == 201
            body = {"environment": "staging", "mode": "oauth", "allowed": ["Ana@Example.com"]}
            gate = await client.put("/api/v1/sites/blog/gate", json=body, headers=headers)
            answer = await gate.json()
            assert gate.status == 200, answer
            assert (answer["mode"], answer["allowed"]) == ("oauth", ["ana@example.com"])
            listed = await (await client.get("/api/v1/sites/blog/gate", headers=headers)).json()
            assert listed["gates"]["staging"]["allowed"] == ["ana@example.com"]
            for allowed, code in ((None, "allowed_required"), (["github:org"], "invalid_allowed")):
                refused = await client.put(
                    "/api/v1/sites/blog/gate",
                    json={"environment": "staging", "mode": "oauth", "allowed": allowed},
                    headers=headers,
                )
                assert refused.status == 422
                assert (await refused.json())["error"]["code"] == code
            share = await client.post(
                "/api/v1/sites/blog/gate/share",
                json={"environment": "staging", "expires_in": 3600},
                headers=headers,
            )
            assert share.status == 200 and "wharf_share=" in (await share.json())["url"]
