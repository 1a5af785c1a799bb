"""An OpenID Connect provider (Authentik, Keycloak, GitLab, Dex, Google...), found by discovery:
the authorization request, the code exchange (Authlib), and the ID token checked by
joserfc as OpenID Connect Core 1.0 §3.1.3.7 says (signature by a key of the provider's JWKS,
`iss`, `aud`, `azp`, `exp`/`iat` with a small leeway, `nonce`)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet

from controlplane.accounts.providers import (
    PROVIDER_TIMEOUT,
    FlowSecrets,
    ProviderConfig,
    ProviderDown,
    SignInRefused,
)
from controlplane.models import ProviderAccount

log = logging.getLogger(__name__)

SCOPES = "openid email profile"
LEEWAY_SECONDS = 30
METADATA_TTL = 3600
# An ID token naming an unknown key makes Wharf fetch the JWKS again (the provider may have
# rotated its keys), but at most once a minute: a flood of forged kids costs one fetch.
JWKS_REFETCH_INTERVAL = 60.0
_SYMMETRIC = ("HS256", "HS384", "HS512")


def _bad_token(reason: str) -> SignInRefused:
    return SignInRefused(
        f"the provider's ID token was refused ({reason}); sign in again, and if it keeps"
        " happening, tell your Wharf admin",
        code="invalid_id_token",
    )


class OidcClient:
    """One OpenID Connect provider; the discovery document and keys are cached."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._refreshed_at = -JWKS_REFETCH_INTERVAL  # when an unknown kid last made us look
        self._lock = asyncio.Lock()

    def _http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(timeout=PROVIDER_TIMEOUT, follow_redirects=False)

    async def _get_json(self, url: str) -> Any:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                return response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            log.warning(
                "sign-in provider unreachable",
                extra={"provider": self.config.key, "url": url, "error": type(exc).__name__},
            )
            raise ProviderDown(
                f"{self.config.label} did not answer; try again in a minute", code="provider_down"
            ) from None

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached for an hour), checked to name the
        configured issuer (OpenID Connect Discovery 1.0 §4.3)."""
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL:
                issuer = self.config.issuer.rstrip("/")
                found = await self._get_json(f"{issuer}/.well-known/openid-configuration")
                needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
                if not isinstance(found, dict) or any(
                    not isinstance(found.get(key), str) for key in needed
                ):
                    raise ProviderDown(
                        f"{self.config.label}'s discovery document is incomplete",
                        code="provider_misconfigured",
                    )
                if found["issuer"].rstrip("/") != issuer:
                    raise ProviderDown(
                        f"{self.config.label} names itself {found['issuer']!r}, not the configured"
                        " issuer; set WHARF_OIDC_ISSUER to exactly that",
                        code="provider_misconfigured",
                    )
                self._metadata, self._metadata_at = found, time.monotonic()
            return self._metadata

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys (kept an hour); with refresh, fetched again unless an
        unknown key made Wharf fetch them within the last minute already."""
        metadata = await self.metadata()
        async with self._lock:
            now = time.monotonic()
            refetch = refresh and now - self._refreshed_at > JWKS_REFETCH_INTERVAL
            if self._keys is None or now - self._keys_at > METADATA_TTL or refetch:
                try:
                    self._keys = KeySet.import_key_set(await self._get_json(metadata["jwks_uri"]))
                except (JoseError, ValueError, TypeError, KeyError):
                    raise ProviderDown(
                        f"{self.config.label}'s keys (JWKS) could not be read",
                        code="provider_misconfigured",
                    ) from None
                self._keys_at = now
                if refresh:
                    self._refreshed_at = now
            return self._keys

    def _algorithms(self, metadata: dict[str, Any]) -> list[str]:
        """The signing algorithms the provider says it uses; never none, never a shared secret."""
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [
            a for a in offered if isinstance(a, str) and a != "none" and a not in _SYMMETRIC
        ]
        return algorithms or ["RS256"]

    def _oauth(self, metadata: dict[str, Any], flow: FlowSecrets) -> AsyncOAuth2Client:
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret.reveal(),
            token_endpoint_auth_method=method,
            redirect_uri=flow.redirect_uri,
            scope=SCOPES,
            code_challenge_method="S256",
            timeout=PROVIDER_TIMEOUT,
        )

    async def authorization_url(self, flow: FlowSecrets) -> str:
        """The provider's authorization URL for this flow (code, PKCE S256, state, nonce)."""
        metadata = await self.metadata()
        async with self._oauth(metadata, flow) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=flow.state,
                code_verifier=flow.code_verifier,
                nonce=flow.nonce,
            )
        return str(url)

    async def account(self, code: str, flow: FlowSecrets) -> ProviderAccount:
        """Exchange the code, verify the ID token, and say who signed in."""
        metadata = await self.metadata()
        async with self._oauth(metadata, flow) as client:
            try:
                token = await client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=flow.code_verifier
                )
            except AuthlibBaseError as exc:
                log.info(
                    "sign-in code refused by the provider",
                    extra={"provider": self.config.key, "error": getattr(exc, "error", "")},
                )
                raise SignInRefused(
                    f"{self.config.label} refused the sign-in code (it may have expired or been"
                    " used already); sign in again",
                    code="code_refused",
                ) from None
            except (httpx2.HTTPError, ValueError):
                raise ProviderDown(
                    f"{self.config.label} did not answer; try again in a minute",
                    code="provider_down",
                ) from None
            claims = await self.verify_id_token(token.get("id_token"), flow.nonce, metadata)
            email, verified = claims.get("email"), claims.get("email_verified")
            if email is None and isinstance(metadata.get("userinfo_endpoint"), str):
                email, verified = await self._userinfo_email(client, metadata, claims["sub"])
        email = email.strip().lower() if isinstance(email, str) and email.strip() else None
        verified = verified is True or verified == "true"  # some providers send a string
        return ProviderAccount(
            provider=self.config.key,
            issuer=metadata["issuer"],
            subject=claims["sub"],
            email=email,
            email_verified=bool(email) and verified,
            verified_emails=(email,) if email and verified else (),
        )

    async def _userinfo_email(
        self, client: AsyncOAuth2Client, metadata: dict[str, Any], subject: str
    ) -> tuple[object, object]:
        """The email claims from the UserInfo endpoint, whose `sub` must be the ID token's
        (OpenID Connect Core 1.0 §5.3.2)."""
        try:
            response = await client.get(metadata["userinfo_endpoint"])
            response.raise_for_status()
            info = response.json()
        except (httpx2.HTTPError, ValueError, AuthlibBaseError):
            raise ProviderDown(
                f"{self.config.label} did not say who signed in; try again in a minute",
                code="provider_down",
            ) from None
        if not isinstance(info, dict) or info.get("sub") != subject:
            raise _bad_token("the UserInfo subject is not the ID token's")
        return info.get("email"), info.get("email_verified")

    async def verify_id_token(
        self, id_token: object, nonce: str, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, authorized party,
        times and nonce hold; SignInRefused otherwise."""
        if not isinstance(id_token, str) or len(id_token) > 16384:
            raise _bad_token("no ID token")
        algorithms = self._algorithms(metadata)
        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(), algorithms=algorithms)
            except InvalidKeyIdError:
                # Perhaps rotated keys: look once more (bounded), then refuse.
                keys = await self._key_set(refresh=True)
                decoded = jwt.decode(id_token, keys, algorithms=algorithms)
            registry = jwt.JWTClaimsRegistry(
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": metadata["issuer"]},
                aud={"essential": True, "value": self.config.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True},
            )
            registry.validate(decoded.claims)
        except InvalidKeyIdError:
            raise _bad_token("signed by a key the provider does not publish") from None
        except ExpiredTokenError:
            raise _bad_token("it has expired") from None
        except ClaimError as exc:
            raise _bad_token(f"its {exc.claim} claim is not for this Wharf") from None
        except UnsupportedAlgorithmError:
            raise _bad_token("signed with an algorithm the provider does not use") from None
        except BadSignatureError:
            raise _bad_token("its signature does not match") from None
        except (JoseError, ValueError):
            raise _bad_token("it is malformed") from None
        claims = decoded.claims
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(
            claims["nonce"].encode(), nonce.encode()
        ):
            raise _bad_token("the nonce is not this sign-in's")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        # §3.1.3.7 points 4-5: several audiences need azp, and azp must be this client.
        if (azp is not None or len(audiences) > 1) and azp != self.config.client_id:
            raise _bad_token("issued to another party (azp)")
        return dict(claims)
