"""Signing in with a provider: starting a flow (its secrets in a short-lived signed cookie
bound to the browser), finishing it (state, code, who signed in), and what that identity
means here: a session for its linked user, a link to a user by verified email, a new member
the allow-list admits, or a refusal that says why. Identities are listed and unlinked here."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from controlplane.accounts.account_service import Accounts
from controlplane.accounts.github_client import GitHubClient
from controlplane.accounts.oidc_client import OidcClient
from controlplane.accounts.providers import (
    FlowSecrets,
    ProviderClient,
    ProviderConfig,
    SignInRefused,
)
from controlplane.accounts.rate_limits import record_failure, refuse_when_limited
from controlplane.errors import Conflict, Forbidden, Invalid, NotFound, WharfError
from controlplane.models import Identity, ProviderAccount, ProviderKey, User
from controlplane.names import safe_next
from controlplane.store import Store

log = logging.getLogger(__name__)

Purpose = Literal["sign_in", "link", "gate"]
FLOW_SECONDS = 600  # the provider's login and consent must be done within ten minutes
# Provider sign-in failures count per client address (the account is not known before the
# provider answers): a stranger's failures never lock anyone else out.
FAILURES_PREFIX = "provider-sign-in:"
MAX_PARAM = 4096


@dataclass(frozen=True)
class SignInOptions:
    """What the sign-in service needs from the settings."""

    browser_url: str
    allowed_domains: tuple[str, ...]
    allowed_orgs: tuple[str, ...]
    max_failures: int
    failure_window: int


@dataclass(frozen=True)
class FinishedFlow:
    """A flow whose callback checked out: who signed in, and what the flow was for."""

    purpose: Purpose
    account: ProviderAccount
    next_path: str
    actor_id: int | None = None  # link: the signed-in user who asked
    gate_ticket: str | None = None  # gate: the visitor's ticket from the gated host


def _enabled(user: User) -> User:
    """The user, unless disabled (then SignInRefused: the provider's word changes nothing)."""
    if user.disabled:
        raise SignInRefused(
            "this account is disabled; an admin of this Wharf can enable it again",
            code="account_disabled",
        )
    return user


def client_for(config: ProviderConfig) -> ProviderClient:
    """The client that speaks this provider's protocol."""
    return GitHubClient(config) if config.key == "github" else OidcClient(config)


class ExternalSignIn:
    """Provider sign-in flows and the identities they link."""

    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        clients: Mapping[ProviderKey, ProviderClient],
        key: bytes,
        options: SignInOptions,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.clients = dict(clients)
        self._key = key
        self.options = options

    @property
    def providers(self) -> list[ProviderConfig]:
        """The configured providers, in button order."""
        return [client.config for client in self.clients.values()]

    def redirect_uri(self, provider: ProviderKey) -> str:
        """The callback URL to register at the provider."""
        return f"{self.options.browser_url}/auth/{provider}/callback"

    def _client(self, provider: str) -> ProviderClient:
        for key, client in self.clients.items():
            if key == provider:
                return client
        raise NotFound("no such sign-in provider is configured", code="provider_not_found")

    async def start(
        self,
        provider: str,
        purpose: Purpose,
        next_path: object,
        client_address: str,
        *,
        actor: User | None = None,
        gate_ticket: str | None = None,
        wants_orgs: bool = False,
    ) -> tuple[str, str]:
        """(the provider's authorization URL, the flow cookie to set) for a new flow."""
        client = self._client(provider)
        await self._refuse_when_limited(client_address)
        # GitHub's read:org only when an organisation list is to be checked.
        orgs = client.config.key == "github" and (
            wants_orgs or (purpose == "sign_in" and bool(self.options.allowed_orgs))
        )
        flow = FlowSecrets(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            redirect_uri=self.redirect_uri(client.config.key),
            wants_orgs=orgs,
        )
        url = await client.authorization_url(flow)
        claims = {
            "p": client.config.key,
            "s": flow.state,
            "n": flow.nonce,
            "v": flow.code_verifier,
            "o": orgs,
            "u": purpose,
            "x": safe_next(next_path, "/sites" if purpose == "sign_in" else "/"),
            "a": actor.id if actor else None,
            "g": gate_ticket,
            "exp": int(time.time()) + FLOW_SECONDS,
        }
        return url, jwt.encode(claims, self._key, algorithm="HS256")

    async def finish(
        self, provider: str, query: Mapping[str, str], cookie: str | None, client_address: str
    ) -> FinishedFlow:
        """Check the callback against the browser's flow cookie and ask the provider who signed
        in; SignInRefused or RateLimited otherwise (the caller reports a refusal)."""
        client = self._client(provider)
        await self._refuse_when_limited(client_address)
        claims, flow_secrets = self._read_flow(client.config.key, query, cookie)
        code = query.get("code", "")
        if not code or len(code) > MAX_PARAM:
            raise SignInRefused(
                "the provider sent no sign-in code back; sign in again", code="missing_code"
            )
        account = await client.account(code, flow_secrets)
        purpose: Purpose = claims["u"]
        return FinishedFlow(purpose, account, claims["x"], claims.get("a"), claims.get("g"))

    async def _refuse_when_limited(self, client_address: str) -> None:
        await refuse_when_limited(
            self.store,
            client_address,
            FAILURES_PREFIX + client_address,
            self.options.max_failures,
            self.options.failure_window,
        )

    async def refused(self, provider: str, exc: WharfError, client_address: str) -> None:
        """Note a refused sign-in: logged by its reason only (never a code, state or token),
        and counted toward the address's limit unless the provider itself failed."""
        log.info(
            "provider sign-in refused",
            extra={"provider": provider[:20], "reason": exc.code, "client": client_address},
        )
        if exc.status == 403:
            await record_failure(
                self.store,
                client_address,
                FAILURES_PREFIX + client_address,
                self.options.failure_window,
            )

    def flow_purpose(self, cookie: str | None) -> Purpose:
        """What the browser's flow was for (signed by us, even if expired), for the page that
        says a sign-in did not work; sign_in when there is no readable flow."""
        try:
            claims = jwt.decode(
                cookie or "", self._key, algorithms=["HS256"], options={"verify_exp": False}
            )
        except jwt.InvalidTokenError:
            return "sign_in"
        purpose = claims.get("u")
        return purpose if purpose in ("sign_in", "link", "gate") else "sign_in"

    def _read_flow(
        self, provider: ProviderKey, query: Mapping[str, str], cookie: str | None
    ) -> tuple[dict[str, Any], FlowSecrets]:
        """The flow cookie's claims and secrets, once the callback is this flow's answer."""
        error = query.get("error")
        if error:
            denied = error == "access_denied"
            raise SignInRefused(
                "you (or the provider) declined the sign-in; nothing was changed. Sign in again"
                " and allow Wharf to read your email address"
                if denied
                else f"the provider refused the sign-in ({error[:60]}); sign in again",
                code="consent_denied" if denied else "provider_error",
            )
        if not cookie or len(cookie) > MAX_PARAM:
            raise SignInRefused(
                "this sign-in was not started in this browser, or took longer than ten minutes;"
                " start it again from the sign-in page",
                code="flow_missing",
            )
        try:
            claims = jwt.decode(
                cookie, self._key, algorithms=["HS256"], options={"require": ["exp"]}
            )
        except jwt.InvalidTokenError:
            raise SignInRefused(
                "this sign-in has expired; start it again from the sign-in page",
                code="flow_expired",
            ) from None
        state = query.get("state", "")
        if claims.get("p") != provider or not hmac.compare_digest(
            state.encode()[:MAX_PARAM], str(claims.get("s", "")).encode()
        ):
            raise SignInRefused(
                "the sign-in answer does not belong to the sign-in this browser started"
                " (state mismatch); start again from the sign-in page",
                code="state_mismatch",
            )
        flow = FlowSecrets(
            state=claims["s"],
            nonce=claims["n"],
            code_verifier=claims["v"],
            redirect_uri=self.redirect_uri(provider),
            wants_orgs=bool(claims.get("o")),
        )
        return claims, flow

    # What an identity means here

    async def sign_in(self, account: ProviderAccount, client_address: str) -> str:
        """A session for the user this identity belongs to (linked, found by verified email, or
        created when the allow-list admits it); SignInRefused otherwise."""
        user = await self._user_for(account)
        await self.store.clear_login_failures(client_address, FAILURES_PREFIX + client_address)
        return await self.accounts.open_session(user)

    async def _user_for(self, account: ProviderAccount) -> User:
        linked = await self.store.user_for_identity(account.issuer, account.subject, account.email)
        if linked is not None:
            return _enabled(linked)
        if not account.email:
            raise SignInRefused(
                "the provider did not share an email address; allow Wharf to read it and sign"
                " in again",
                code="no_email",
            )
        if not account.email_verified:
            raise SignInRefused(
                f"the provider has not verified {account.email}; verify it there, then sign in"
                " again",
                code="email_unverified",
            )
        found = await self.store.user_credentials(account.email)
        if found is not None:
            user = _enabled(found[0])  # before linking: a refusal changes nothing
            await self.store.link_identity(user.id, account)
            return user
        if not self._admitted(account):
            raise SignInRefused(
                f"there is no Wharf account for {account.email}; ask an admin of this Wharf to"
                " create one with this email, then sign in again",
                code="not_allowed",
            )
        try:
            return await self.store.create_user_with_identity(account.email, "member", account)
        except Conflict:  # created a moment ago by a parallel sign-in: link to it
            found = await self.store.user_credentials(account.email)
            assert found is not None
            await self.store.link_identity(found[0].id, account)
            return found[0]

    def _admitted(self, account: ProviderAccount) -> bool:
        """Whether the allow-list lets this verified identity create an account."""
        domain = (account.email or "").rpartition("@")[2]
        if account.email_verified and domain in self.options.allowed_domains:
            return True
        return any(org in self.options.allowed_orgs for org in account.orgs)

    async def link(self, flow: FinishedFlow) -> Identity:
        """Link the identity to the user whose session started the flow (the flow cookie,
        signed and bound to this browser, names them: the session cookie itself is not sent
        on the provider's redirect back)."""
        user = await self.store.get_user(flow.actor_id) if flow.actor_id else None
        if user is None:
            raise SignInRefused(
                "this link was not started from your account page; start it there again",
                code="state_mismatch",
            )
        _enabled(user)
        try:
            return await self.store.link_identity(user.id, flow.account)
        except Conflict as exc:
            raise SignInRefused(exc.message, code=exc.code) from None

    async def identities(self, actor: User) -> list[Identity]:
        """The actor's linked identities."""
        return await self.store.list_identities(actor.id)

    async def unlink(self, actor: User, identity_id: int) -> None:
        """Unlink one of the actor's identities, unless it is their last way to sign in."""
        break_glass = await self.store.break_glass_user()
        password_works = await self.store.has_password(actor.id) and (
            break_glass is None or break_glass == actor.id
        )
        removed = await self.store.unlink_identity(
            actor.id, identity_id, keep_one=not password_works
        )
        if removed is None:
            raise NotFound("no such identity", code="identity_not_found")
        if not removed:
            raise Conflict(
                "this is your last way to sign in; link another provider first",
                code="last_sign_in_method",
            )

    # Password sign-in policy

    async def break_glass_user(self) -> int | None:
        """The one admin who may still use a password, when password sign-in is off."""
        return await self.store.break_glass_user()

    async def set_password_sign_in(self, actor: User, enabled: object, break_glass: object) -> None:
        """Turn password sign-in on for everyone, or off for all but one admin with a password."""
        self.accounts.require_admin(actor)
        if enabled is True:
            await self.store.set_break_glass_user(None)
            return
        if enabled is not False:
            raise Invalid("enabled is true or false", code="invalid_enabled")
        if not self.clients:
            raise Conflict(
                "configure a sign-in provider before turning password sign-in off",
                code="no_provider",
            )
        user = await self.store.get_user(break_glass) if isinstance(break_glass, int) else None
        if user is None or not user.is_admin or user.disabled:
            raise Invalid("the break-glass account must be an enabled admin", code="invalid_user")
        if not await self.store.has_password(user.id):
            raise Forbidden(
                "the break-glass admin needs a password (it is the way in when providers fail)",
                code="break_glass_needs_password",
            )
        await self.store.set_break_glass_user(user.id)
