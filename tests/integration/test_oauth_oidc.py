"""Sign-in with OpenID Connect: the real provider (npm oidc-provider) for the flow a person
goes through, and a fake issuer for ID tokens a real provider never mints (wrong audience,
nonce, expiry, key, algorithm, issuer). Each refusal is a page that says what happened."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login
from tests.harness.fake_issuer import FakeIssuer, fake_issuer
from tests.harness.oidc_provider import ALICE, MALLORY, oidc_provider, require_node, sign_in
from tests.harness.ports import free_port
from tests.harness.wharf_sign_in import (
    callback_uri,
    come_back,
    follow_issuer,
    page_text,
    sign_in_with,
    signed_in_cookie,
    start,
    wharf_app,
)

pytestmark = pytest.mark.one_database


def _oidc(issuer: str, client_id: str, secret: str, **more: str) -> dict[str, str]:
    return {
        "oidc_issuer": issuer,
        "oidc_client_id": client_id,
        "oidc_client_secret": secret,
        "oidc_name": "Test IdP",
        **more,
    }


async def _alice(client: TestClient) -> None:
    """alice@example.test as a member with a password (the account her identity links to)."""
    headers = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    for email in ("alice@example.test", "mallory@example.test"):
        created = await client.post(
            "/api/v1/users",
            json={"email": email, "password": "member-password-1", "role": "member"},
            headers=headers,
        )
        assert created.status == 201, await created.text()


async def test_oidc_sign_in_links_a_verified_email_and_refuses_an_unverified_one(
    database_url: str, tmp_path: Path
) -> None:
    require_node()
    port = free_port()
    async with oidc_provider([callback_uri(port, "oidc")]) as provider:
        options = _oidc(provider.issuer, provider.client_id, provider.client_secret)
        async with wharf_app(database_url, tmp_path / "data", port, **options) as client:
            await _alice(client)
            form = await page_text(await client.get("/sign-in"))
            assert "Sign in with Test IdP" in form

            async def as_alice(url: str) -> str:
                return await sign_in(url, ALICE)

            back = await sign_in_with(client, "oidc", as_alice, "?next=/sites/blog")
            assert back.status == 200, await back.text()
            assert 'content="0;url=/sites/blog"' in await back.text()  # on, as the same site
            sites = await client.get("/sites")
            assert "alice@example.test" in await page_text(sites)
            identities = await client.server.app[SERVICES].store.list_identities(2)
            assert [(i.provider, i.issuer, i.email) for i in identities] == [
                ("oidc", provider.issuer, "alice@example.test")
            ]

            client.session.cookie_jar.clear()

            async def as_mallory(url: str) -> str:
                return await sign_in(url, MALLORY)

            refused = await sign_in_with(client, "oidc", as_mallory)
            text = await page_text(refused)
            assert refused.status == 403
            assert "has not verified mallory@example.test" in text and "email_unverified" in text
            assert signed_in_cookie(client) is None
            assert await client.server.app[SERVICES].store.list_identities(3) == []


async def test_oidc_state_tampering_a_missing_flow_and_a_replayed_code_are_refused(
    database_url: str, tmp_path: Path
) -> None:
    require_node()
    port = free_port()
    async with oidc_provider([callback_uri(port, "oidc")]) as provider:
        options = _oidc(provider.issuer, provider.client_id, provider.client_secret)
        async with wharf_app(database_url, tmp_path / "data", port, **options) as client:
            await _alice(client)
            authorize = URL(await start(client, "/auth/oidc/start"))
            assert authorize.query["code_challenge_method"] == "S256"
            assert {"state", "nonce", "code_challenge"} <= set(authorize.query)
            back = URL(await sign_in(str(authorize), ALICE))
            flow = next(c for c in client.session.cookie_jar if c.key == "wharf_oauth")

            tampered = await come_back(client, str(back.update_query(state="forged")))
            assert tampered.status == 403
            assert "state_mismatch" in await page_text(tampered)
            # A refusal ends the flow: the cookie is gone, so even the right answer is refused.
            gone = await come_back(client, str(back))
            assert "flow_missing" in await page_text(gone)

            client.session.cookie_jar.update_cookies({"wharf_oauth": flow.value}, URL(str(back)))
            first = await come_back(client, str(back))
            assert first.status == 200 and signed_in_cookie(client) is not None
            client.session.cookie_jar.clear()
            client.session.cookie_jar.update_cookies({"wharf_oauth": flow.value}, URL(str(back)))
            replayed = await come_back(client, str(back))
            assert replayed.status == 403
            assert "code_refused" in await page_text(replayed)
            assert signed_in_cookie(client) is None

            denied = await come_back(
                client, f"/auth/oidc/callback?error=access_denied&state={back.query['state']}"
            )
            assert denied.status == 403 and "declined the sign-in" in await page_text(denied)


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        ("aud", "its aud claim is not for this Wharf"),
        ("nonce", "the nonce is not this sign-in"),
        ("exp", "it has expired"),
        ("unknown_kid", "signed by a key the provider does not publish"),
        ("alg_none", "signed with an algorithm the provider does not use"),
        ("iss", "its iss claim is not for this Wharf"),
    ],
)
async def test_oidc_id_tokens_a_real_provider_would_not_mint_are_refused(
    database_url: str, tmp_path: Path, tamper: str, says: str
) -> None:
    async with fake_issuer() as issuer:
        options = _oidc(issuer.url, issuer.client_id, issuer.client_secret)
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            issuer.tamper = tamper  # type: ignore[assignment]
            refused = await sign_in_with(client, "oidc", follow_issuer)
            text = await page_text(refused)
            assert refused.status == 403, text
            assert "invalid_id_token" in text and says in text
            assert signed_in_cookie(client) is None
            assert issuer.authorize_requests[-1]["code_challenge_method"] == "S256"

            issuer.tamper = None  # the same issuer, honest: the very same path works
            await _allow(client, issuer)
            honest = await sign_in_with(client, "oidc", follow_issuer)
            assert honest.status == 200, await page_text(honest)
            assert signed_in_cookie(client) is not None


async def _allow(client: TestClient, issuer: FakeIssuer) -> None:
    """A user with the fake issuer's email, so its honest sign-in links to someone."""
    await client.server.app[SERVICES].accounts.create_user(
        None, issuer.email, "member-password-1", "member"
    )


async def test_oidc_unknown_keys_refetch_the_jwks_at_most_once_a_minute(
    database_url: str, tmp_path: Path
) -> None:
    async with fake_issuer() as issuer:
        options = _oidc(issuer.url, issuer.client_id, issuer.client_secret, login_max_failures="50")
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            issuer.tamper = "unknown_kid"
            for _ in range(10):
                refused = await sign_in_with(client, "oidc", follow_issuer)
                assert refused.status == 403
            # The first token fetched the keys, the first unknown kid once more; no more.
            assert issuer.jwks_fetches == 2


async def test_oidc_failures_are_rate_limited_like_passwords(
    database_url: str, tmp_path: Path
) -> None:
    async with fake_issuer() as issuer:
        options = _oidc(issuer.url, issuer.client_id, issuer.client_secret)
        async with wharf_app(database_url, tmp_path / "data", **options) as client:
            attacker, visitor = {"X-Forwarded-For": "192.0.2.1"}, {"X-Forwarded-For": "192.0.2.2"}
            for _ in range(5):
                tampered = await client.get("/auth/oidc/callback?code=x&state=y", headers=attacker)
                assert tampered.status == 403
            limited = await client.get("/auth/oidc/start", headers=attacker, allow_redirects=False)
            assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
            assert "Too many failed sign-ins; try again in" in await page_text(limited)
            # Counted per address: someone else signs in as ever.
            other = await client.get("/auth/oidc/start", headers=visitor, allow_redirects=False)
            assert other.status == 303


async def test_oidc_a_provider_that_does_not_answer_gets_a_page_not_a_crash(
    database_url: str, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    options = _oidc(nowhere, "wharf", "secret-of-nobody")
    async with wharf_app(database_url, tmp_path / "data", **options) as client:
        down = await client.get("/auth/oidc/start", allow_redirects=False)
        assert down.status == 502
        assert "Test IdP did not answer; try again in a minute" in await page_text(down)
        unknown = await client.get("/auth/github/start", allow_redirects=False)
        assert unknown.status == 404 and "provider_not_found" in await page_text(unknown)
