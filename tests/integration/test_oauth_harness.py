"""The sign-in test harness on its own: oidc-provider, the fake GitHub and the fake issuer,
driven by the OAuth client the feature uses (Authlib over httpx2, joserfc for ID tokens)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tests.harness.fake_issuer import TAMPERS, FakeIssuer, Tamper, fake_issuer
from tests.harness.github import OCTOCAT, FakeGitHub, authorize, fake_github
from tests.harness.oauth_checks import new_verifier, s256
from tests.harness.oidc_provider import ALICE, MALLORY, OidcProvider, oidc_provider, sign_in
from tests.harness.ports import free_port

pytestmark = pytest.mark.slow

OIDC_SCOPE = "openid email profile"


@pytest.fixture
def redirect_uri() -> str:
    """A callback on a port nothing serves: the tests read the Location header instead."""
    return f"http://127.0.0.1:{free_port()}/oauth/callback"


@pytest.fixture
async def provider(redirect_uri: str) -> AsyncIterator[OidcProvider]:
    """oidc-provider with alice and mallory, its client registered for redirect_uri."""
    async with oidc_provider([redirect_uri]) as running:
        yield running


def query(url: str) -> dict[str, str]:
    """The query parameters of url, one value each."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def oidc_client(
    client_id: str, client_secret: str, redirect_uri: str, **options: Any
) -> AsyncOAuth2Client:
    """An Authlib client with PKCE S256, as the feature configures it."""
    return AsyncOAuth2Client(
        client_id,
        client_secret,
        scope=OIDC_SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=10,
        **options,
    )


async def get_json(url: str) -> Any:
    """GET url and decode its JSON body, after asserting a 200."""
    async with httpx2.AsyncClient(timeout=10) as http:
        answer = await http.get(url)
    assert answer.status_code == 200, answer.text
    return answer.json()


def validated_claims(
    id_token: str, jwks: KeySet, *, issuer: str, client_id: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims after Core 1.0 §3.1.3.7 checks: RS256 signature by a key of jwks,
    iss, aud, exp and iat, nonce; raises JoseError otherwise."""
    token = jwt.decode(id_token, jwks, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(token.claims)
    return dict(token.claims)


async def test_oidc_provider_discovery_and_jwks(provider: OidcProvider) -> None:
    """Discovery names the loopback issuer, code flow, S256 and RS256; the JWKS has one key."""
    meta = await get_json(provider.discovery_url)
    assert meta["issuer"] == provider.issuer
    assert meta["authorization_endpoint"].startswith(provider.issuer)
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email", "profile"} <= set(meta["scopes_supported"])
    jwks = await get_json(meta["jwks_uri"])
    assert [(key["kty"], key["alg"]) for key in jwks["keys"]] == [("RSA", "RS256")]
    assert jwks["keys"][0]["kid"]


async def test_oidc_provider_code_flow_with_pkce(provider: OidcProvider, redirect_uri: str) -> None:
    """alice signs in through the login and consent pages; the code, exchanged with its PKCE
    verifier, gives an ID token signed by the JWKS with email_verified; a second use fails."""
    meta = await get_json(provider.discovery_url)
    jwks = KeySet.import_key_set(await get_json(meta["jwks_uri"]))
    verifier = new_verifier()
    async with oidc_client(provider.client_id, provider.client_secret, redirect_uri) as client:
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce="nonce-1"
        )
        assert query(url)["code_challenge"] == s256(verifier)
        callback = await sign_in(url, ALICE)
        assert callback.startswith(redirect_uri + "?")
        assert query(callback)["state"] == state
        assert query(callback)["iss"] == provider.issuer  # RFC 9207, advertised in discovery
        token = await client.fetch_token(
            meta["token_endpoint"],
            authorization_response=callback,
            state=state,
            code_verifier=verifier,
        )
        claims = validated_claims(
            token["id_token"],
            jwks,
            issuer=provider.issuer,
            client_id=provider.client_id,
            nonce="nonce-1",
        )
        assert (claims["sub"], claims["email"], claims["email_verified"]) == (
            ALICE,
            "alice@example.test",
            True,
        )
        with pytest.raises(OAuthError) as again:
            await client.fetch_token(
                meta["token_endpoint"],
                authorization_response=callback,
                state=state,
                code_verifier=verifier,
            )
    assert again.value.error == "invalid_grant"


async def test_oidc_provider_gives_mallory_unverified_email(
    provider: OidcProvider, redirect_uri: str
) -> None:
    """The default mallory account signs in with email_verified false."""
    meta = await get_json(provider.discovery_url)
    verifier = new_verifier()
    async with oidc_client(provider.client_id, provider.client_secret, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce="n"
        )
        token = await client.fetch_token(
            meta["token_endpoint"],
            authorization_response=await sign_in(url, MALLORY),
            code_verifier=verifier,
        )
    claims = jwt.decode(token["id_token"], KeySet.import_key_set(await get_json(meta["jwks_uri"])))
    assert (claims.claims["email"], claims.claims["email_verified"]) == (
        "mallory@example.test",
        False,
    )


async def test_oidc_provider_requires_pkce(provider: OidcProvider, redirect_uri: str) -> None:
    """An authorization request without code_challenge comes back with invalid_request."""
    meta = await get_json(provider.discovery_url)
    async with oidc_client(provider.client_id, provider.client_secret, redirect_uri) as client:
        url, _ = client.create_authorization_url(meta["authorization_endpoint"], nonce="n")
    async with httpx2.AsyncClient(timeout=10) as http:
        answer = await http.get(url)
    assert answer.status_code in (302, 303)
    back = query(answer.headers["Location"])
    assert back["error"] == "invalid_request"
    assert "PKCE" in back["error_description"]


async def test_oidc_provider_cancel_is_access_denied(
    provider: OidcProvider, redirect_uri: str
) -> None:
    """Pressing "[ Cancel ]" on the consent page sends error=access_denied with the state."""
    meta = await get_json(provider.discovery_url)
    async with oidc_client(provider.client_id, provider.client_secret, redirect_uri) as client:
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=new_verifier(), nonce="n"
        )
    back = query(await sign_in(url, ALICE, consent=False))
    assert (back["error"], back["state"]) == ("access_denied", state)


async def test_oidc_provider_unknown_login_is_access_denied(
    provider: OidcProvider, redirect_uri: str
) -> None:
    """A login naming no configured account comes back as error=access_denied."""
    meta = await get_json(provider.discovery_url)
    async with oidc_client(provider.client_id, provider.client_secret, redirect_uri) as client:
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=new_verifier(), nonce="n"
        )
    back = query(await sign_in(url, "nobody"))
    assert (back["error"], back["state"]) == ("access_denied", state)


async def test_oidc_provider_userinfo_only_claims(redirect_uri: str) -> None:
    """With id_token_claims=False the ID token carries no email; UserInfo has it."""
    async with oidc_provider([redirect_uri], id_token_claims=False) as op:
        meta = await get_json(op.discovery_url)
        verifier = new_verifier()
        async with oidc_client(op.client_id, op.client_secret, redirect_uri) as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce="n"
            )
            token = await client.fetch_token(
                meta["token_endpoint"],
                authorization_response=await sign_in(url, ALICE),
                code_verifier=verifier,
            )
            userinfo = (await client.get(meta["userinfo_endpoint"])).json()
        jwks = KeySet.import_key_set(await get_json(meta["jwks_uri"]))
    assert "email" not in jwt.decode(token["id_token"], jwks).claims
    assert (userinfo["sub"], userinfo["email"], userinfo["email_verified"]) == (
        ALICE,
        "alice@example.test",
        True,
    )


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_oidc_provider_takes_basic_and_post(
    provider: OidcProvider, redirect_uri: str, method: str
) -> None:
    """The client authenticates at the token endpoint with HTTP Basic or in the body."""
    meta = await get_json(provider.discovery_url)
    verifier = new_verifier()
    options = {"token_endpoint_auth_method": method}
    async with oidc_client(
        provider.client_id, provider.client_secret, redirect_uri, **options
    ) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce="n"
        )
        token = await client.fetch_token(
            meta["token_endpoint"],
            authorization_response=await sign_in(url, ALICE),
            code_verifier=verifier,
        )
    assert token["token_type"] == "Bearer"
    assert jwt.decode(token["id_token"], KeySet.import_key_set(await get_json(meta["jwks_uri"])))


async def test_oidc_provider_refuses_a_wrong_secret(
    provider: OidcProvider, redirect_uri: str
) -> None:
    """A wrong client secret is invalid_client."""
    meta = await get_json(provider.discovery_url)
    verifier = new_verifier()
    async with oidc_client(provider.client_id, "wrong", redirect_uri) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce="n"
        )
        with pytest.raises(OAuthError) as refused:
            await client.fetch_token(
                meta["token_endpoint"],
                authorization_response=await sign_in(url, ALICE),
                code_verifier=verifier,
            )
    assert refused.value.error == "invalid_client"


# The fake GitHub.


def github_client(github: FakeGitHub, redirect_uri: str, scope: str) -> AsyncOAuth2Client:
    """An Authlib client for the fake GitHub: secret in the body (GitHub's documented way)."""
    return AsyncOAuth2Client(
        github.client_id,
        github.client_secret,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
        timeout=10,
    )


async def api(github: FakeGitHub, path: str, token: str) -> httpx2.Response:
    """GET path of the fake GitHub's REST API with token."""
    async with httpx2.AsyncClient(base_url=github.api_url, timeout=10) as http:
        return await http.get(path, headers={"Authorization": f"Bearer {token}"})


async def test_fake_github_code_flow_with_pkce(redirect_uri: str) -> None:
    """octocat authorizes; the scopes asked are recorded, the code and verifier give a token
    granting them (comma-separated), and /user, /user/emails and /user/orgs answer with it."""
    async with fake_github() as github:
        verifier = new_verifier()
        async with github_client(github, redirect_uri, "read:user user:email read:org") as client:
            url, state = client.create_authorization_url(
                github.authorize_url, code_verifier=verifier
            )
            callback = await authorize(url, OCTOCAT.login)
            assert query(callback)["state"] == state
            token = await client.fetch_token(
                github.token_url,
                authorization_response=callback,
                state=state,
                code_verifier=verifier,
            )
        assert github.scopes_asked == [["read:user", "user:email", "read:org"]]
        assert github.authorize_requests[0]["code_challenge"] == s256(verifier)
        assert (token["token_type"], token["scope"]) == ("bearer", "read:user,user:email,read:org")
        user = await api(github, "/user", token["access_token"])
        assert user.json()["login"] == "octocat"
        assert {"id": 1, "name": "The Octocat", "email": None}.items() <= user.json().items()
        emails = await api(github, "/user/emails", token["access_token"])
        assert emails.json() == [
            {
                "email": "octo@example.test",
                "primary": True,
                "verified": True,
                "visibility": "private",
            }
        ]
        orgs = await api(github, "/user/orgs", token["access_token"])
        assert [org["login"] for org in orgs.json()] == ["wharf-dev", "octo-public"]
        assert orgs.headers["X-OAuth-Scopes"] == "read:user, user:email, read:org"


async def test_fake_github_bad_verifier_is_200_bad_verification_code(redirect_uri: str) -> None:
    """A wrong code_verifier gets GitHub's HTTP 200 bad_verification_code answer; the code is
    spent by that attempt, as by any use."""
    async with fake_github() as github:
        challenge_for = new_verifier()
        params = {
            "client_id": github.client_id,
            "redirect_uri": redirect_uri,
            "scope": "user:email",
            "state": "s1",
            "code_challenge": s256(challenge_for),
            "code_challenge_method": "S256",
        }
        url = str(httpx2.URL(github.authorize_url, params=params))
        code = query(await authorize(url, OCTOCAT.login))["code"]
        body = {
            "client_id": github.client_id,
            "client_secret": github.client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        }
        headers = {"Accept": "application/json"}
        async with httpx2.AsyncClient(timeout=10) as http:
            wrong = await http.post(
                github.token_url, data=body | {"code_verifier": new_verifier()}, headers=headers
            )
            again = await http.post(
                github.token_url, data=body | {"code_verifier": challenge_for}, headers=headers
            )
    assert wrong.status_code == 200
    assert wrong.json()["error"] == "bad_verification_code"
    assert wrong.json()["error_description"] == "The code passed is incorrect or expired."
    assert (again.status_code, again.json()["error"]) == (200, "bad_verification_code")


async def test_fake_github_code_works_once(redirect_uri: str) -> None:
    """A second exchange of the same code is refused with bad_verification_code."""
    async with fake_github() as github:
        verifier = new_verifier()
        async with github_client(github, redirect_uri, "user:email") as client:
            url, _ = client.create_authorization_url(github.authorize_url, code_verifier=verifier)
            callback = await authorize(url, OCTOCAT.login)
            await client.fetch_token(
                github.token_url, authorization_response=callback, code_verifier=verifier
            )
            with pytest.raises(OAuthError) as again:
                await client.fetch_token(
                    github.token_url, authorization_response=callback, code_verifier=verifier
                )
    assert again.value.error == "bad_verification_code"


async def test_fake_github_scopes_gate_emails_and_orgs() -> None:
    """Without read:org (or user) /user/orgs is 403 and lists nothing; /users/{login}/orgs
    shows only public memberships; without user:email /user/emails is 404, as on GitHub."""
    async with fake_github() as github:
        email_only = github.issue_token("octocat", ["user:email"])
        orgs = await api(github, "/user/orgs", email_only)
        assert orgs.status_code == 403
        assert "read:org" in orgs.json()["message"]
        public = await api(github, "/users/octocat/orgs", email_only)
        assert [org["login"] for org in public.json()] == ["octo-public"]
        nothing = github.issue_token("octocat", [])
        assert (await api(github, "/user/emails", nothing)).status_code == 404
        assert (await api(github, "/user", nothing)).status_code == 200
        broad = github.issue_token("octocat", ["user"])  # user includes user:email and orgs
        assert (await api(github, "/user/emails", broad)).status_code == 200
        assert len((await api(github, "/user/orgs", broad)).json()) == 2


async def test_fake_github_bad_token_is_401() -> None:
    """An unknown token gets 401 Bad credentials, with either Authorization scheme."""
    async with fake_github() as github, httpx2.AsyncClient(base_url=github.api_url) as http:
        for header in ("Bearer gho_nope", "token gho_nope"):
            answer = await http.get("/user", headers={"Authorization": header})
            assert answer.status_code == 401
            assert answer.json()["message"] == "Bad credentials"


async def test_fake_github_cancel_is_access_denied(redirect_uri: str) -> None:
    """ "Cancel" sends the user back with error=access_denied and the state."""
    async with fake_github() as github:
        async with github_client(github, redirect_uri, "user:email") as client:
            url, state = client.create_authorization_url(
                github.authorize_url, code_verifier=new_verifier()
            )
        back = query(await authorize(url, None))
    assert (back["error"], back["state"]) == ("access_denied", state)
    assert back["error_description"] == "The user has denied your application access."


async def test_fake_github_redirect_uri_outside_callback(redirect_uri: str) -> None:
    """With a registered callback URL, a redirect_uri on another host goes back to the
    callback with redirect_uri_mismatch; a path under it on another loopback port passes."""
    callback = f"http://127.0.0.1:{free_port()}/oauth"
    async with fake_github(callback_url=callback) as github:
        async with github_client(github, "http://evil.test/oauth/callback", "") as client:
            url, _ = client.create_authorization_url(github.authorize_url)
        back = await authorize(url, OCTOCAT.login)
        assert back.startswith(callback + "?")
        assert query(back)["error"] == "redirect_uri_mismatch"
        async with github_client(github, redirect_uri, "") as client:
            url, _ = client.create_authorization_url(github.authorize_url)
        assert "code" in query(await authorize(url, OCTOCAT.login))


# The fake issuer.


async def issuer_id_token(issuer: FakeIssuer, redirect_uri: str, nonce: str) -> str:
    """Run the code flow against the fake issuer (it approves at once) and return the ID token."""
    verifier = new_verifier()
    async with oidc_client(issuer.client_id, issuer.client_secret, redirect_uri) as client:
        meta = await get_json(issuer.discovery_url)
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        async with httpx2.AsyncClient(timeout=10) as http:
            answer = await http.get(url)
        assert answer.status_code == 302, answer.text
        token = await client.fetch_token(
            meta["token_endpoint"],
            authorization_response=answer.headers["Location"],
            state=state,
            code_verifier=verifier,
        )
    assert issuer.authorize_requests[-1]["nonce"] == nonce
    return str(token["id_token"])


async def test_fake_issuer_honest_token_passes(redirect_uri: str) -> None:
    """Without tampering the ID token passes every check, against the JWKS fetched once."""
    async with fake_issuer() as issuer:
        id_token = await issuer_id_token(issuer, redirect_uri, "nonce-ok")
        meta = await get_json(issuer.discovery_url)
        jwks = KeySet.import_key_set(await get_json(meta["jwks_uri"]))
        claims = validated_claims(
            id_token, jwks, issuer=issuer.url, client_id=issuer.client_id, nonce="nonce-ok"
        )
    assert (claims["email"], claims["email_verified"]) == (issuer.email, True)
    assert issuer.jwks_fetches == 1


@pytest.mark.parametrize("tamper", TAMPERS)
async def test_fake_issuer_tampered_token_is_refused(tamper: Tamper, redirect_uri: str) -> None:
    """Each tamper mode yields an ID token that joserfc and the claims checks refuse."""
    async with fake_issuer() as issuer:
        issuer.tamper = tamper
        id_token = await issuer_id_token(issuer, redirect_uri, "nonce-1")
        jwks = KeySet.import_key_set(await get_json(f"{issuer.url}/jwks"))
        with pytest.raises(JoseError):
            validated_claims(
                id_token, jwks, issuer=issuer.url, client_id=issuer.client_id, nonce="nonce-1"
            )
