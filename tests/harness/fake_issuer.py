"""A fake OpenID issuer that mints bad ID tokens on request, for what a real provider won't do.

Each tamper mode breaks one rule of OpenID Connect Core 1.0 §3.1.3.7, ID Token Validation
(https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation), that a relying party
must check before it trusts the token:
- "iss": another issuer (rule 2: iss MUST exactly match the issuer of the discovery document);
- "aud": another audience (rule 3: aud MUST contain the client_id);
- "alg_none": an unsigned `alg: none` token (rules 6-8: signed with the advertised alg, RS256);
- "unknown_kid": signed by a key K2 whose kid the JWKS lacks (rule 6: validate the signature
  with the issuer's keys; a relying party refetches the JWKS once for an unknown kid, but a flood
  of such tokens must not become a flood of fetches, which jwks_fetches lets a test count);
- "exp": expired an hour ago (rule 9: the current time MUST be before exp);
- "nonce": a nonce other than the one the authorization request sent (rule 11).
With tamper None the token is honest. Set `issuer.tamper` before the callback reaches /token.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from yarl import URL

from tests.harness.oauth_checks import client_credentials, verifies
from tests.harness.ports import free_port
from tests.harness.serving import serve

Tamper = Literal["aud", "nonce", "exp", "unknown_kid", "alg_none", "iss"]
TAMPERS: tuple[Tamper, ...] = get_args(Tamper)
ID_TOKEN_LIFETIME = 300


def _rsa_key(kid: str) -> RSAKey:
    """A fresh RS256 signing key named kid."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass(frozen=True)
class _Grant:
    """What /authorize recorded for one code."""

    redirect_uri: str
    nonce: str | None
    code_challenge: str | None


@dataclass
class FakeIssuer:
    """A running fake issuer: its URL (the `iss`), its one client, what it saw, and the tamper
    mode of the next ID token. sub and email are the claims of every token it mints."""

    url: str
    client_id: str
    client_secret: str
    tamper: Tamper | None = None
    sub: str = "fake-subject-1"
    email: str = "fake@example.test"
    jwks_fetches: int = 0
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    key: RSAKey = field(default_factory=lambda: _rsa_key("K1-" + secrets.token_hex(4)))
    other_key: RSAKey = field(default_factory=lambda: _rsa_key("K2-" + secrets.token_hex(4)))
    _codes: dict[str, _Grant] = field(default_factory=dict, repr=False)

    @property
    def discovery_url(self) -> str:
        """The issuer's OpenID configuration document."""
        return f"{self.url}/.well-known/openid-configuration"

    @property
    def jwks(self) -> KeySet:
        """The public keys /jwks serves (K1 only)."""
        return KeySet([RSAKey.import_key(self.key.as_dict(private=False))])

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        return app

    def id_token(self, nonce: str | None, tamper: Tamper | None = None) -> str:
        """An ID token for sub and email, broken as tamper says (None: honest)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url + "/other" if tamper == "iss" else self.url,
            "sub": self.sub,
            "aud": "another-client" if tamper == "aud" else self.client_id,
            "iat": now - 3600 - ID_TOKEN_LIFETIME if tamper == "exp" else now,
            "exp": now - 3600 if tamper == "exp" else now + ID_TOKEN_LIFETIME,
            "email": self.email,
            "email_verified": True,
        }
        if tamper == "nonce":
            claims["nonce"] = "not-the-nonce-" + secrets.token_hex(4)
        elif nonce is not None:
            claims["nonce"] = nonce
        if tamper == "alg_none":
            # joserfc refuses to produce "none" (RFC 7518 §3.6 lets it be refused), so by hand.
            return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        key = self.other_key if tamper == "unknown_kid" else self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    async def _discovery(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "scopes_supported": ["openid", "email", "profile"],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email"],
            }
        )

    async def _jwks(self, _request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response(self.jwks.as_dict(private=False))

    async def _authorize(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri")
        if query.get("client_id") != self.client_id or not redirect_uri:
            raise web.HTTPBadRequest(text="unknown client_id or no redirect_uri")
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Grant(
            redirect_uri=redirect_uri,
            nonce=query.get("nonce"),
            code_challenge=query.get("code_challenge"),
        )
        params = {"code": code} | ({"state": query["state"]} if "state" in query else {})
        raise web.HTTPFound(str(URL(redirect_uri).update_query(params)))

    async def _token(self, request: web.Request) -> web.Response:
        form = {name: str(value) for name, value in (await request.post()).items()}
        if client_credentials(request, form) != (self.client_id, self.client_secret):
            return _oauth_error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "only authorization_code")
        grant = self._codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "invalid_grant", "unknown or spent code, or redirect_uri")
        if grant.code_challenge is not None and not verifies(
            form.get("code_verifier"), grant.code_challenge
        ):
            return _oauth_error(400, "invalid_grant", "PKCE verification failed")
        return web.json_response(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self.id_token(grant.nonce, self.tamper),
            },
            headers={"Cache-Control": "no-store"},
        )


def _b64(part: Mapping[str, Any]) -> str:
    """One base64url JWT segment without padding."""
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    """An RFC 6749 §5.2 error answer."""
    return web.json_response({"error": error, "error_description": description}, status=status)


@contextlib.asynccontextmanager
async def fake_issuer(
    client_id: str = "wharf-fake-client", client_secret: str | None = None
) -> AsyncIterator[FakeIssuer]:
    """A fake issuer on a free loopback port for one confidential client; stopped on exit."""
    port = free_port()
    issuer = FakeIssuer(
        url=f"http://127.0.0.1:{port}",
        client_id=client_id,
        client_secret=client_secret or secrets.token_urlsafe(24),
    )
    async with serve(issuer.app(), port):
        yield issuer
