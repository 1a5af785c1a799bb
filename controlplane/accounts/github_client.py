"""GitHub (and GitHub Enterprise) through its OAuth apps API: the authorization request with
PKCE, the code exchange (Authlib), then `/user`, `/user/emails` and, when an organisation list
needs it, `/user/orgs`. GitHub issues no ID token: the account is its numeric user id.
https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps"""

from __future__ import annotations

import logging
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from controlplane.accounts.providers import (
    PROVIDER_TIMEOUT,
    FlowSecrets,
    ProviderConfig,
    ProviderDown,
    SignInRefused,
)
from controlplane.models import ProviderAccount

log = logging.getLogger(__name__)

# The least GitHub offers for a name and the verified emails; read:org only for org lists.
SCOPES = ("read:user", "user:email")
ORG_SCOPE = "read:org"
_API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
MAX_ORG_PAGES = 5  # 100 organisations a page


class GitHubClient:
    """GitHub's OAuth app flow for one configured app."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    def _oauth(self, flow: FlowSecrets) -> AsyncOAuth2Client:
        scopes = (*SCOPES, ORG_SCOPE) if flow.wants_orgs else SCOPES
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret.reveal(),
            # GitHub reads the client's credentials from the form body.
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method's name)
            redirect_uri=flow.redirect_uri,
            scope=" ".join(scopes),
            code_challenge_method="S256",
            timeout=PROVIDER_TIMEOUT,
        )

    async def authorization_url(self, flow: FlowSecrets) -> str:
        """GitHub's authorize URL for this flow (PKCE S256, state)."""
        async with self._oauth(flow) as client:
            url, _ = client.create_authorization_url(
                f"{self.config.issuer}/login/oauth/authorize",
                state=flow.state,
                code_verifier=flow.code_verifier,
            )
        return str(url)

    async def account(self, code: str, flow: FlowSecrets) -> ProviderAccount:
        """Exchange the code; the user's id, primary email, verified emails and organisations."""
        async with self._oauth(flow) as client:
            try:
                await client.fetch_token(
                    f"{self.config.issuer}/login/oauth/access_token",
                    code=code,
                    code_verifier=flow.code_verifier,
                )
            except AuthlibBaseError as exc:
                # GitHub answers a bad code with 200 and {"error": "bad_verification_code"}.
                log.info(
                    "sign-in code refused by GitHub",
                    extra={"provider": "github", "error": getattr(exc, "error", "")},
                )
                raise SignInRefused(
                    "GitHub refused the sign-in code (it may have expired or been used already);"
                    " sign in again",
                    code="code_refused",
                ) from None
            except (httpx2.HTTPError, ValueError):
                raise ProviderDown(
                    "GitHub did not answer; try again in a minute", code="provider_down"
                ) from None
            user = await self._api(client, "/user")
            emails = await self._api(client, "/user/emails")
            orgs: list[Any] = []
            if flow.wants_orgs:
                for page in range(1, MAX_ORG_PAGES + 1):
                    found = await self._api(client, f"/user/orgs?per_page=100&page={page}")
                    orgs.extend(found if isinstance(found, list) else [])
                    if not isinstance(found, list) or len(found) < 100:
                        break
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise ProviderDown("GitHub did not say who signed in", code="provider_down")
        listed = [
            entry
            for entry in (emails if isinstance(emails, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("email"), str)
        ]
        verified = tuple(e["email"].lower() for e in listed if e.get("verified") is True)
        primary = next((e["email"].lower() for e in listed if e.get("primary") is True), None)
        return ProviderAccount(
            provider="github",
            issuer=self.config.issuer,
            subject=str(user["id"]),
            email=primary,
            email_verified=primary is not None and primary in verified,
            verified_emails=verified,
            orgs=tuple(
                o["login"].lower()
                for o in orgs
                if isinstance(o, dict) and isinstance(o.get("login"), str)
            ),
        )

    async def _api(self, client: AsyncOAuth2Client, path: str) -> Any:
        """A GET of GitHub's REST API with the user's token."""
        try:
            response = await client.get(f"{self.config.api_url}{path}", headers=_API_HEADERS)
            response.raise_for_status()
            return response.json()
        except (httpx2.HTTPError, ValueError, AuthlibBaseError) as exc:
            log.warning(
                "GitHub API call failed",
                extra={
                    "provider": "github",
                    "path": path.partition("?")[0],
                    "error": type(exc).__name__,
                },
            )
            raise ProviderDown(
                "GitHub did not say who signed in; try again in a minute", code="provider_down"
            ) from None
