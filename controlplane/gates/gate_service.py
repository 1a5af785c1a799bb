"""Password gates: validation, basicAuth hashes, signed host-scoped cookies and share links."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, unquote

import bcrypt

from controlplane.accounts import credentials
from controlplane.accounts.rate_limits import record_failure, refuse_when_limited
from controlplane.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from controlplane.models import (
    Decision,
    Gate,
    GateCookie,
    GateEnvironment,
    GateSecret,
    ProviderAccount,
    User,
)
from controlplane.names import (
    HOST_PART_SEPARATOR,
    PASSWORD_MAX,
    is_hostname,
    preview_host,
    safe_next,
    site_hosts,
    validate_email,
    validate_password,
)
from controlplane.sites.site_service import Sites
from controlplane.store import Store
from controlplane.traefik.render import GATE_CHECK_PATH, GATE_PATH_PREFIX

GATE_ENVIRONMENTS: tuple[GateEnvironment, ...] = ("production", "staging", "previews")
Mode = Literal["none", "basic", "password", "oauth"]
MODES: tuple[Mode, ...] = ("none", "basic", "password", "oauth")
# Gates the control plane answers for (forwardAuth, the login page, cookies, share links).
CHECKED_MODES = ("password", "oauth")
USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_USERS = 50
# bcrypt reads only the first 72 bytes of a password (the bcrypt package refuses longer ones).
BCRYPT_MAX_BYTES = 72
# Traefik's basicAuth runs bcrypt on every request, with no cache: cost 5 adds ~2 ms a request
# where cost 10 adds ~57 ms (measured through Traefik 3.7 here; docs/gates.md has the table).
BCRYPT_COST = 5

COOKIE_NAME = "wharf_gate"
SHARE_PARAM = "wharf_share"
COOKIE_TTL = 7 * 24 * 3600
SHARE_MAX_SECONDS = 30 * 24 * 3600
LOGIN_PATH = GATE_PATH_PREFIX + "gate/login"  # routed to the control plane on gated hosts
OAUTH_START_PATH = GATE_PATH_PREFIX + "gate/oauth"  # + /<provider>: off to the provider
OAUTH_DONE_PATH = GATE_PATH_PREFIX + "gate/oauth-done"  # back from it, with a hand-off token
BIND_COOKIE = "wharf_gate_bind"  # ties the hand-off to the browser that started the sign-in
TICKET_SECONDS = 600
HANDOFF_SECONDS = 120
MAX_ALLOWED = 100
_GITHUB_ORG = re.compile(r"github:[a-z0-9][a-z0-9-]{0,38}")
CHECK_PATH = GATE_CHECK_PATH  # one source: the forwardAuth address Traefik is given
MAX_TOKEN = 1024
MAX_COOKIES = 10

_DEPLOY_ID = re.compile(r"[a-z0-9]{12}")  # as the edge reads preview hosts (edge/hosts.py)
_PORT = re.compile(r"[0-9]{1,5}")
TokenKind = Literal["cookie", "share", "ticket", "handoff"]


def validate_gate_environment(value: object) -> GateEnvironment:
    """production, staging or previews."""
    for known in GATE_ENVIRONMENTS:
        if value == known:
            return known
    raise Invalid(
        "environment is 'production', 'staging' or 'previews'", code="invalid_environment"
    )


def validate_mode(value: object) -> Mode:
    """none, basic, password or oauth."""
    for known in MODES:
        if value == known:
            return known
    raise Invalid("mode is 'none', 'basic', 'password' or 'oauth'", code="invalid_mode")


def validate_allowed(value: object, providers: Sequence[str]) -> tuple[str, ...]:
    """An oauth gate's list: emails, @domains (example.com is read as @example.com) and
    github:org entries, lower-cased and without repeats."""
    if not isinstance(value, list) or not value:
        raise Invalid(
            'an oauth gate needs "allowed": emails, @domains or github:orgs',
            code="allowed_required",
        )
    if len(value) > MAX_ALLOWED:
        raise Invalid(f"an oauth gate lists at most {MAX_ALLOWED} entries", code="too_many_allowed")
    entries: list[str] = []
    for raw in value:
        entry = raw.strip().lower() if isinstance(raw, str) else ""
        if entry.startswith("github:"):
            if not _GITHUB_ORG.fullmatch(entry):
                raise Invalid(f"{entry!r} is not a GitHub organisation", code="invalid_allowed")
            if "github" not in providers:
                raise Invalid(
                    "github: entries need sign-in with GitHub configured", code="invalid_allowed"
                )
        elif "@" in entry.lstrip("@"):
            try:
                validate_email(entry)
            except Invalid:
                raise Invalid(
                    f"{entry[:80]!r} is not an email address", code="invalid_allowed"
                ) from None
        elif is_hostname(entry.lstrip("@")):
            entry = "@" + entry.lstrip("@")
        else:
            raise Invalid(
                f"{str(raw)[:80]!r} is not an email, a domain or github:org", code="invalid_allowed"
            )
        if entry not in entries:
            entries.append(entry)
    return tuple(entries)


def admits(allowed: Sequence[str], account: ProviderAccount) -> bool:
    """Whether an oauth gate's list lets this identity in: a verified email, its domain, or
    (signed in with GitHub) an organisation it belongs to."""
    for email in account.verified_emails:
        if email in allowed or "@" + email.rpartition("@")[2] in allowed:
            return True
    return account.provider == "github" and any(f"github:{org}" in allowed for org in account.orgs)


def validate_username(value: object) -> str:
    """1 to 64 of A-Z a-z 0-9 . _ - (nothing that could break a `user:hash` entry)."""
    if not isinstance(value, str) or not USERNAME.fullmatch(value):
        raise Invalid(
            "a username has 1 to 64 letters, digits, '.', '_' or '-'", code="invalid_username"
        )
    return value


def validate_gate_password(value: object, *, basic: bool = False) -> str:
    """A password (names.validate_password); for basic users also at most 72 bytes, all
    bcrypt reads: a longer one would match any password sharing its first 72 bytes."""
    value = validate_password(value)
    if basic and len(value.encode()) > BCRYPT_MAX_BYTES:
        raise Invalid(
            f"a basic-auth password has at most {BCRYPT_MAX_BYTES} bytes (bcrypt's limit)",
            code="invalid_password",
        )
    return value


def validate_users(value: object, known: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """[(username, password or None to keep the user's hash)] from the API's `users` list."""
    if not isinstance(value, list) or not value:
        raise Invalid(
            'a basic gate needs "users": [{"username", "password"}, ...]', code="users_required"
        )
    if len(value) > MAX_USERS:
        raise Invalid(f"a gate has at most {MAX_USERS} users", code="too_many_users")
    users: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for entry in value:
        if not isinstance(entry, dict):
            raise Invalid('each user is {"username", "password"}', code="invalid_users")
        username = validate_username(entry.get("username"))
        if username in seen:
            raise Invalid(f"the user {username!r} is listed twice", code="duplicate_username")
        seen.add(username)
        password = entry.get("password")
        if password is None and username in known:
            users.append((username, None))  # unchanged: keep the stored hash
        else:
            users.append((username, validate_gate_password(password, basic=True)))
    return users


def hash_basic_password(password: str) -> str:
    """A bcrypt hash Traefik's basicAuth verifies (blocking: call it in a thread)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def parse_authority(raw: str) -> tuple[str, str] | None:
    """(hostname, host[:port]) of a Host or X-Forwarded-Host value; None when malformed."""
    authority = raw.strip().lower()
    host, sep, port = authority.partition(":")
    if sep and not _PORT.fullmatch(port):
        return None
    host = host.removesuffix(".")
    if not is_hostname(host):
        return None
    return host, f"{host}:{port}" if sep else host


def base_target(host: str, base_domain: str) -> tuple[str, GateEnvironment] | None:
    """The site and gate environment a host under the base domain names (as the edge reads it)."""
    suffix = "." + base_domain
    if not host.endswith(suffix) or "." in (label := host[: -len(suffix)]):
        return None
    if HOST_PART_SEPARATOR not in label:
        return label, "production"
    first, _, second = label.partition(HOST_PART_SEPARATOR)
    if not first or not second or HOST_PART_SEPARATOR in second:
        return None
    if second == "staging":
        return first, "staging"
    if _DEPLOY_ID.fullmatch(first):
        return second, "previews"
    return None


def without_share(uri: str) -> tuple[str, str | None]:
    """The URI without its `wharf_share` parameters (others kept verbatim), and the token."""
    path, sep, query = uri.partition("?")
    if not sep:
        return uri, None
    token = None
    kept = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if unquote(name) == SHARE_PARAM:
            token = unquote(value)
        else:
            kept.append(part)
    rest = "&".join(kept)
    return (f"{path}?{rest}" if rest else path), token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class GateTokens:
    """Signs and checks cookies and share tokens: HMAC-SHA256 over kind, host, gate, version
    and expiry, so one is good only for its host, its gate's current version, until it expires."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.clock = clock

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, b"wharf-gate:" + payload.encode(), hashlib.sha256).digest())

    def issue(self, kind: TokenKind, host: str, gate: str, version: str, expires: int) -> str:
        """A token for one host of one gate version, valid until `expires` (Unix seconds)."""
        return self.seal(kind, [host, gate, version], expires)

    def check(self, token: str, kind: TokenKind, host: str, gate: str, version: str) -> int | None:
        """The expiry of a valid, unexpired token for exactly this host and gate version."""
        opened = self.open(token, kind)
        if opened is None or opened[0] != [host, gate, version]:
            return None
        return opened[1]

    def seal(self, kind: TokenKind, fields: list[object], expires: int) -> str:
        """A signed token of this kind carrying these JSON fields until `expires`."""
        body = json.dumps([kind, *fields, expires], separators=(",", ":"))
        payload = _b64(body.encode())
        return f"{payload}.{self._sign(payload)}"

    def open(self, token: str, kind: TokenKind) -> tuple[list[Any], int] | None:
        """(fields, expiry) of a valid, unexpired token of this kind; None otherwise."""
        if len(token) > MAX_TOKEN or token.count(".") != 1:
            return None
        payload, signature = token.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            fields = json.loads(_unb64(payload))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(fields, list) or len(fields) < 2 or fields[0] != kind:
            return None
        expires = fields[-1]
        if not isinstance(expires, int) or isinstance(expires, bool) or expires <= self.clock():
            return None
        return fields[1:-1], expires


@dataclass(frozen=True)
class LoginResult:
    """A login attempt's outcome; `unknown` means no password gate on that host."""

    outcome: Literal["ok", "wrong", "limited", "unknown"]
    location: str = "/"
    cookie: GateCookie | None = None
    retry_after: int = 0


@dataclass(frozen=True)
class GateOptions:
    """What the gate service needs from the settings."""

    base_domain: str
    site_link_template: str
    max_failures: int
    failure_window: int
    cookie_ttl: int = COOKIE_TTL
    browser_url: str = ""  # where the control plane's /auth/ pages are (provider sign-in)
    oauth_providers: tuple[str, ...] = ()


class Gates:
    """Gate operations for site owners, and the checks and logins of visitors."""

    def __init__(
        self,
        store: Store,
        sites: Sites,
        key: bytes,
        options: GateOptions,
    ) -> None:
        self.store = store
        self.sites = sites
        self.tokens = GateTokens(key)
        self.options = options

    # Owners

    async def list(self, actor: User, site_name: str) -> dict[GateEnvironment, Gate | None]:
        """Each environment's gate, None where it is off."""
        site = await self.sites.get(actor, site_name)
        found = {gate.environment: gate for gate in await self.store.list_gates(site.id)}
        return {environment: found.get(environment) for environment in GATE_ENVIRONMENTS}

    async def set(
        self,
        actor: User,
        site_name: str,
        environment: object,
        mode: object,
        users: object = None,
        password: object = None,
        allowed: object = None,
    ) -> Gate | None:
        """Set an environment's gate (mode none turns it off); the gate, None when off."""
        site = await self.sites.get(actor, site_name)
        env = validate_gate_environment(environment)
        chosen = validate_mode(mode)
        version = secrets.token_urlsafe(16)
        if chosen == "none":
            await self.store.delete_gate(site.id, env)
        elif chosen == "basic":
            known = await self.store.gate_user_hashes(site.id, env)
            wanted = validate_users(users, known)

            def hash_all() -> list[tuple[str, str]]:
                return [
                    (name, known[name] if secret is None else hash_basic_password(secret))
                    for name, secret in wanted
                ]

            hashed = await asyncio.to_thread(hash_all)
            await self.store.set_gate(site.id, env, "basic", version, None, hashed)
        elif chosen == "oauth":
            if not self.options.oauth_providers:
                raise Conflict(
                    "an oauth gate needs a sign-in provider; configure one (docs/oauth.md)",
                    code="no_provider",
                )
            entries = validate_allowed(allowed, self.options.oauth_providers)
            await self.store.set_gate(site.id, env, "oauth", version, None, [], entries)
        else:
            password_hash = await credentials.hash_password(validate_gate_password(password))
            await self.store.set_gate(site.id, env, "password", version, password_hash, [])
        return (await self.list(actor, site_name))[env]

    async def share(
        self,
        actor: User,
        site_name: str,
        environment: object,
        expires_in: object,
        deploy_id: object = None,
        hostname: object = None,
    ) -> tuple[str, datetime]:
        """A link that opens a password-gated environment until it expires: (url, expires_at)."""
        site = await self.sites.get(actor, site_name)
        env = validate_gate_environment(environment)
        if (
            not isinstance(expires_in, int)
            or isinstance(expires_in, bool)
            or not 1 <= expires_in <= SHARE_MAX_SECONDS
        ):
            raise Invalid(
                f"expires_in is a number of seconds from 1 to {SHARE_MAX_SECONDS}",
                code="invalid_expires_in",
            )
        gate = await self.store.gate_secret(site.name, env)
        if gate is None or gate.mode not in CHECKED_MODES:
            raise Conflict(
                "share links open password and oauth gates only (basic gates are checked by"
                " Traefik)",
                code="share_needs_password_gate",
            )
        host = await self._share_host(site.id, site.name, env, deploy_id, hostname)
        expires = int(self.tokens.clock()) + expires_in
        token = self.tokens.issue("share", host, f"{site.name}/{env}", gate.version, expires)
        url = self.options.site_link_template.format(host=host)
        separator = "&" if "?" in url else "?"
        return f"{url}{separator}{SHARE_PARAM}={token}", datetime.fromtimestamp(expires, UTC)

    async def _share_host(
        self, site_id: int, site: str, env: GateEnvironment, deploy_id: object, hostname: object
    ) -> str:
        """The host a share link names: the environment's own, a custom domain, or a preview."""
        if env == "previews":
            if not isinstance(deploy_id, str) or not _DEPLOY_ID.fullmatch(deploy_id):
                raise Invalid("a previews share link needs a deploy_id", code="invalid_deploy_id")
            if await self.store.get_deploy(site_id, deploy_id) is None:
                raise NotFound(f"no deploy {deploy_id!r} on this site", code="deploy_not_found")
            preview = preview_host(deploy_id, site, self.options.base_domain)
            if preview is None:
                raise Conflict("this site's name is too long for preview hosts", code="no_preview")
            return preview
        if hostname is None:
            own = site_hosts(site, self.options.base_domain)[env]
            if own is None:
                raise Conflict(
                    "this site's name is too long for a staging host", code="no_staging_host"
                )
            return own
        parsed = parse_authority(hostname) if isinstance(hostname, str) else None
        if parsed is None or parsed[0] != parsed[1]:  # a port has no place here
            raise Invalid(
                "hostname is a custom domain of this environment", code="invalid_hostname"
            )
        if await self.store.verified_domain_target(parsed[0]) != (site, env):
            raise Invalid(
                f"{parsed[0]} is not a verified custom domain of {site} {env}",
                code="invalid_hostname",
            )
        return parsed[0]

    # Visitors

    async def target(self, host: str) -> tuple[str, GateEnvironment] | None:
        """The site and gate environment serving a hostname, if any."""
        found = base_target(host, self.options.base_domain)
        if found is not None:
            return found
        domain = await self.store.verified_domain_target(host)
        if domain is None:
            return None
        return domain[0], validate_gate_environment(domain[1])

    async def check(
        self,
        site: str,
        environment: str,
        forwarded_host: str,
        forwarded_uri: str,
        https: bool,
        cookies: Sequence[str],
    ) -> Decision:
        """Traefik's forwardAuth question for a gated host: may this request pass?"""
        parsed = parse_authority(forwarded_host)
        if parsed is None:
            return Decision("deny")
        host, authority = parsed
        # The router that asked is the gate's own: a host that is not the gate's never passes.
        if await self.target(host) != (site, environment):
            return Decision("deny")
        gate = await self.store.gate_secret(site, environment)
        if gate is None:
            return Decision("allow")  # turned off; Traefik drops the middleware in milliseconds
        if gate.mode not in CHECKED_MODES:
            return Decision("deny")
        key = f"{site}/{environment}"
        # Every `wharf_gate` value the browser sent: another site under a shared parent domain
        # may set one too (Domain=<base>), and it must not hide the visitor's real cookie.
        for cookie in cookies[:MAX_COOKIES]:
            if self.tokens.check(cookie, "cookie", host, key, gate.version):
                return Decision("allow")
        scheme = "https" if https else "http"
        uri, share = without_share(safe_next(forwarded_uri))
        if share is not None:
            expires = self.tokens.check(share, "share", host, key, gate.version)
            if expires is not None:
                value = self.tokens.issue("cookie", host, key, gate.version, expires)
                max_age = max(1, math.ceil(expires - self.tokens.clock()))
                return Decision(
                    "redirect", f"{scheme}://{authority}{uri}", GateCookie(value, max_age, https)
                )
        return Decision(
            "redirect", f"{scheme}://{authority}{LOGIN_PATH}?next={quote(uri, safe='')}"
        )

    async def login_gate(self, host_header: str) -> tuple[str, str, GateSecret] | None:
        """(hostname, gate key, gate) of the password or oauth gate on this host, if any."""
        parsed = parse_authority(host_header)
        if parsed is None:
            return None
        target = await self.target(parsed[0])
        if target is None:
            return None
        gate = await self.store.gate_secret(*target)
        if gate is None or gate.mode not in CHECKED_MODES:
            return None
        return parsed[0], f"{target[0]}/{target[1]}", gate

    async def login(
        self, host_header: str, https: bool, password: object, next_path: object, client: str
    ) -> LoginResult:
        """Check a visitor's password; the cookie on success; failures count toward 429."""
        found = await self.login_gate(host_header)
        if found is None or found[2].mode != "password":
            return LoginResult("unknown")
        host, key, gate = found
        account = f"gate:{host}"
        try:
            await refuse_when_limited(
                self.store, client, account, self.options.max_failures, self.options.failure_window
            )
        except RateLimited as exc:
            return LoginResult("limited", retry_after=exc.retry_after)
        ok = (
            isinstance(password, str)
            and 0 < len(password) <= PASSWORD_MAX
            and await credentials.verify_password(gate.password_hash, password)
        )
        if not ok:
            await record_failure(self.store, client, account, self.options.failure_window)
            return LoginResult("wrong")
        await self.store.clear_login_failures(client, account)
        expires = int(self.tokens.clock()) + self.options.cookie_ttl
        value = self.tokens.issue("cookie", host, key, gate.version, expires)
        return LoginResult(
            "ok", safe_next(next_path), GateCookie(value, self.options.cookie_ttl, https)
        )

    # Visitors of oauth gates: the gated host hands the visitor to the control plane's
    # provider sign-in with a ticket, and gets them back with a hand-off token for its cookie.

    async def oauth_ticket(
        self, host_header: str, https: bool, next_path: object
    ) -> tuple[str, str] | None:
        """(ticket, binding cookie value) to start a provider sign-in for the oauth gate on
        this host; None when it has none."""
        found = await self.login_gate(host_header)
        parsed = parse_authority(host_header)
        if found is None or parsed is None or found[2].mode != "oauth":
            return None
        _, key, gate = found
        binding = secrets.token_urlsafe(24)
        expires = int(self.tokens.clock()) + TICKET_SECONDS
        fields: list[object] = [
            parsed[1],
            https,
            key,
            gate.version,
            safe_next(next_path),
            _hash(binding),
        ]
        return self.tokens.seal("ticket", fields, expires), binding

    async def ticket_gate(self, ticket: object) -> GateSecret:
        """The oauth gate a valid ticket is for (to start its sign-in); Forbidden otherwise."""
        opened = self.tokens.open(ticket, "ticket") if isinstance(ticket, str) else None
        if opened is None or len(opened[0]) != 6:
            raise Forbidden(
                "this sign-in link has expired; open the site again", code="ticket_expired"
            )
        site, _, environment = str(opened[0][2]).partition("/")
        gate = await self.store.gate_secret(site, environment)
        if gate is None or gate.mode != "oauth" or gate.version != opened[0][3]:
            raise Forbidden(
                "the site's gate changed while you signed in; open the site again",
                code="ticket_expired",
            )
        return gate

    async def admit_oauth(self, ticket: object, account: ProviderAccount) -> str:
        """Where to send a visitor who signed in with a provider: back to the gated host with a
        hand-off token when the gate's list has them; Forbidden (saying who) otherwise."""
        gate = await self.ticket_gate(ticket)
        opened = self.tokens.open(str(ticket), "ticket")
        assert opened is not None  # ticket_gate opened it a moment ago
        authority, https, key, version, next_path, binding_hash = opened[0]
        if not admits(gate.allowed, account):
            who = ", ".join(account.verified_emails) or account.email or "this account"
            raise Forbidden(
                f"you signed in as {who}, who is not on the list of people who may open this"
                " site; ask its owner to add you, or sign in with another account",
                code="not_on_list",
            )
        expires = int(self.tokens.clock()) + HANDOFF_SECONDS
        handoff = self.tokens.seal(
            "handoff", [authority, key, version, binding_hash, next_path], expires
        )
        scheme = "https" if https else "http"
        return f"{scheme}://{authority}{OAUTH_DONE_PATH}?token={quote(handoff, safe='')}"

    async def finish_oauth(
        self, host_header: str, https: bool, token: object, binding: str | None
    ) -> LoginResult:
        """The gate cookie for a visitor back from a provider with a good hand-off token,
        in the browser that started it; `wrong` otherwise."""
        parsed = parse_authority(host_header)
        opened = self.tokens.open(token, "handoff") if isinstance(token, str) else None
        if parsed is None or opened is None or len(opened[0]) != 5 or not binding:
            return LoginResult("wrong")
        authority, key, version, binding_hash, next_path = opened[0]
        if authority != parsed[1] or not hmac.compare_digest(
            str(binding_hash).encode(), _hash(binding).encode()
        ):
            return LoginResult("wrong")
        found = await self.login_gate(host_header)
        if found is None or found[1] != key or found[2].version != version:
            return LoginResult("wrong")
        expires = int(self.tokens.clock()) + self.options.cookie_ttl
        value = self.tokens.issue("cookie", found[0], key, version, expires)
        return LoginResult(
            "ok", safe_next(next_path), GateCookie(value, self.options.cookie_ttl, https)
        )


def _hash(value: str) -> str:
    """A binding value's digest, as a ticket carries it (the value itself stays in the cookie)."""
    return _b64(hashlib.sha256(value.encode()).digest())
