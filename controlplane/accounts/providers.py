"""The sign-in providers an install configured (OpenID Connect, Google, GitHub), what a flow
hands them, and the one error every provider failure becomes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from controlplane.config import Settings
from controlplane.errors import WharfError
from controlplane.models import ProviderAccount, ProviderKey
from controlplane.secrets import Secret

GOOGLE_ISSUER = "https://accounts.google.com"
# Seconds any one request to a provider may take: a provider that hangs fails the sign-in
# with a page that says so, instead of holding the browser.
PROVIDER_TIMEOUT = 10.0


class SignInRefused(WharfError):
    """A sign-in with a provider did not succeed; the code says why, the message what to do."""

    status = 403
    default_code = "sign_in_refused"


class ProviderDown(SignInRefused):
    """The provider did not answer, or answered nonsense (502)."""

    status = 502
    default_code = "provider_unavailable"


@dataclass(frozen=True)
class ProviderConfig:
    """One configured provider: its key in URLs, the button's label, the client's
    credentials, and where it lives (the OIDC issuer; GitHub's web and API addresses)."""

    key: ProviderKey
    label: str
    client_id: str
    client_secret: Secret
    issuer: str
    api_url: str = ""


@dataclass(frozen=True)
class FlowSecrets:
    """What one authorization request carries and its callback must match."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    wants_orgs: bool = False  # GitHub: ask for read:org (an org allow-list needs it)


class ProviderClient(Protocol):
    """What the sign-in service needs of a provider."""

    config: ProviderConfig

    async def authorization_url(self, flow: FlowSecrets) -> str:
        """Where to send the browser to sign in (authorization code with PKCE S256)."""
        ...

    async def account(self, code: str, flow: FlowSecrets) -> ProviderAccount:
        """Exchange the code and say who signed in; SignInRefused or ProviderDown if not."""
        ...


def configured_providers(settings: Settings) -> tuple[ProviderConfig, ...]:
    """The providers whose client id and secret are set, in button order."""
    found = []
    if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret:
        found.append(
            ProviderConfig(
                "oidc",
                settings.oidc_name,
                settings.oidc_client_id,
                settings.oidc_client_secret,
                settings.oidc_issuer,
            )
        )
    if settings.oauth_google_client_id and settings.oauth_google_client_secret:
        found.append(
            ProviderConfig(
                "google",
                "Google",
                settings.oauth_google_client_id,
                settings.oauth_google_client_secret,
                GOOGLE_ISSUER,
            )
        )
    if settings.oauth_github_client_id and settings.oauth_github_client_secret:
        found.append(
            ProviderConfig(
                "github",
                "GitHub",
                settings.oauth_github_client_id,
                settings.oauth_github_client_secret,
                settings.oauth_github_url,
                settings.oauth_github_api_url,
            )
        )
    return tuple(found)
