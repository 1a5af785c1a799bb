"""Plain records passed between the store, the services and the web layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Role = Literal["admin", "member"]
ROLES: tuple[Role, ...] = ("admin", "member")


@dataclass(frozen=True)
class User:
    """An account that can log in; admins see everything, members their own sites."""

    id: int
    email: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        """Whether this user may act on every site and manage users."""
        return self.role == "admin"

    @property
    def disabled(self) -> bool:
        """Whether an admin disabled this account (no sign-in, no tokens, no sessions)."""
        return self.disabled_at is not None


@dataclass(frozen=True)
class ApiToken:
    """A long-lived API token's metadata (never the token itself)."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


Tier = Literal["free", "pro"]
# What a site does with the release checks: none, report and publish, report and hold back.
ChecksMode = Literal["off", "warn", "block"]
Environment = Literal["production", "staging"]
ENVIRONMENTS: tuple[Environment, ...] = ("production", "staging")
DeployStatus = Literal["pending", "building", "ready", "live", "failed", "superseded"]
# How a deploy became live (the reconcile's own repairs included).
PublishKind = Literal["publish", "auto_publish", "rollback", "repair", "auto_rollback"]


@dataclass(frozen=True)
class Site:
    """A site: a DNS-label name, its owner and its deploy settings."""

    id: int
    name: str
    owner_id: int
    created_at: datetime
    tier: Tier
    auto_publish: bool
    minify: bool
    allowed_flags: list[str]
    spa: bool
    probe_rollback: bool = True  # an automatic publish that fails its probes goes back
    monitor_interval: int = 60  # seconds between the monitor's checks of a live environment
    checks: ChecksMode = "warn"  # the release checks: off, warn (publish anyway), block
    checks_max_file_bytes: int = 5 * 1024 * 1024  # files over this are a warning


@dataclass(frozen=True)
class SiteSummary:
    """A site as the list of sites shows it: with its live production deploy, and since when."""

    site: Site
    live_deploy: str | None
    live_since: datetime | None
    domains: int = 0  # its custom domains
    tls_errors: int = 0  # of them, those whose last certificate order failed
    tls_expires: datetime | None = None  # the soonest expiry of a certificate of its own


@dataclass(frozen=True)
class SitesPage:
    """One page of the sites a user may see, by name, and how many match in all."""

    sites: list[SiteSummary]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class DeploysPage:
    """One page of a site's deploys, newest first; `older` continues after the last one."""

    deploys: list[Deploy]
    older: str | None


@dataclass(frozen=True)
class Deploy:
    """One upload of a site and what became of it."""

    id: str
    site_id: int
    site_name: str
    environment: Environment
    status: DeployStatus
    error: str | None
    created_by: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    published_at: datetime | None
    pinned: bool
    pruned_at: datetime | None
    artifact_bytes: int
    file_count: int | None
    total_bytes: int | None
    flags: dict[str, Any]
    report: dict[str, Any]
    created_by_email: str | None = None  # who uploaded it, for the UI's history
    message: str | None = None  # what the uploader said of it ("fix the footer")
    commit: str | None = None  # the commit it was built from
    probes: dict[str, Any] | None = None  # what the probes after its publish found
    checks: dict[str, Any] | None = None  # the release checks' report; None unchecked or off


@dataclass(frozen=True)
class BuildJob:
    """A claimed build job: which deploy, and how many times it was tried."""

    deploy_id: str
    attempts: int


@dataclass(frozen=True)
class PublishEvent:
    """One publish or rollback: who, when, from which deploy to which."""

    id: int
    site_name: str
    environment: Environment
    kind: str
    from_deploy: str | None
    to_deploy: str
    actor_id: int | None
    created_at: datetime
    reason: str | None = None  # why Wharf published on its own (repair, auto_rollback)


@dataclass(frozen=True)
class RoutingProgress:
    """The routing change counter, and the newest version written, confirmed and refused."""

    version: int
    written_version: int
    confirmed_version: int
    refused_version: int
    refused_reason: str | None


RoutingStateName = Literal["pending", "confirmed", "error"]
# What Traefik's API says of a site's routers: all enabled, not yet, no answer, no API set.
TraefikView = Literal["confirmed", "pending", "unreachable", "unchecked"]


@dataclass(frozen=True)
class RoutingReport:
    """Where a routing change stands: pending, confirmed by Traefik, or refused (with why)."""

    state: RoutingStateName
    version: int
    error: str | None = None


@dataclass(frozen=True)
class SiteRouting:
    """A site's routers as Traefik shows them, and why the newest config was refused, if so."""

    traefik: TraefikView
    routers: dict[str, str]  # router name -> enabled, disabled, missing or unknown
    config_error: str | None


@dataclass(frozen=True)
class LogLine:
    """One line of a deploy's build log."""

    line_no: int
    logged_at: datetime
    text: str


@dataclass(frozen=True)
class LoginFailureCounts:
    """Recent failed logins for one client address and one account, with when each window frees."""

    address_failures: int
    address_retry_after: float
    account_failures: int
    account_retry_after: float


VerifiedBy = Literal["dns", "http", "admin"]


@dataclass(frozen=True)
class Domain:
    """A custom hostname of a site's environment and the state of its ownership check."""

    id: int
    site_id: int
    hostname: str
    environment: Environment
    token: str
    verified_at: datetime | None
    verified_by: VerifiedBy | None
    last_checked_at: datetime | None
    last_error: str | None
    created_at: datetime

    @property
    def verified(self) -> bool:
        """Whether ownership was shown (or an admin vouched for it)."""
        return self.verified_at is not None


GateEnvironment = Literal["production", "staging", "previews"]


GateMode = Literal["basic", "password", "oauth"]


@dataclass(frozen=True)
class Gate:
    """A gate as its owner may see it: never a password or a hash."""

    id: int
    site_id: int
    environment: GateEnvironment
    mode: GateMode
    version: str
    updated_at: datetime
    usernames: tuple[str, ...]
    allowed: tuple[str, ...] = ()  # oauth: emails, @domains and github:orgs let in


@dataclass(frozen=True)
class GateSecret:
    """What a visitor's check needs: the mode, the version cookies carry, the password hash."""

    mode: GateMode
    version: str
    password_hash: str | None
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutedGate:
    """A gate as routing renders it: basic users come as `name:bcrypt-hash`."""

    site: str
    environment: GateEnvironment
    mode: GateMode
    users: tuple[str, ...]


Strategy = Literal["none", "traefik", "wharf", "custom", "cloudflare"]


CertificateSource = Literal["acme", "upload"]


@dataclass(frozen=True)
class Owner:
    """Whose certificate: the base domain (both None), a site's upload, or one custom domain."""

    site_id: int | None = None
    domain_id: int | None = None


@dataclass(frozen=True)
class BaseTls:
    """The base domain's (wildcard's) TLS choice and its issuance state."""

    strategy: Strategy
    redirect_https: bool | None
    hsts_max_age: int
    attempts: int
    retry_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class SiteTls:
    """A site's TLS defaults; None means "as the base domain / the default"."""

    strategy: Strategy | None = None
    redirect_https: bool | None = None
    hsts_max_age: int | None = None


@dataclass(frozen=True)
class DomainTls:
    """A verified custom domain with its TLS choice and issuance state."""

    domain_id: int
    site_id: int
    hostname: str
    strategy: Strategy | None
    attempts: int
    retry_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class NewCertificate:
    """What storing a certificate needs (the key encrypted already)."""

    source: CertificateSource
    names: tuple[str, ...]
    cert_pem: str
    chain_pem: str
    key_encrypted: str
    issuer: str
    not_before: datetime
    not_after: datetime
    fingerprint: str


@dataclass(frozen=True)
class StoredCertificate(NewCertificate):
    """A certificate as stored, with its owner; the key is still encrypted."""

    id: int
    site_id: int | None
    domain_id: int | None
    created_at: datetime

    @property
    def owner(self) -> Owner:
        """Whose certificate this is."""
        return Owner(self.site_id, self.domain_id)


BASE = Owner()  # the base domain's certificate owner


@dataclass(frozen=True)
class HostsStatus:
    """The TLS of some hosts: the strategy chosen and in effect, the certificate, the last error."""

    hostnames: tuple[str, ...]
    strategy: Strategy | None  # as set; None: inherited
    effective: Strategy
    certificate: StoredCertificate | None  # the one served, when Wharf holds it
    last_error: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True)
class SiteTlsView:
    """A site's TLS: its own settings, what they resolve to, and each custom domain's status."""

    settings: SiteTls
    effective: Strategy
    redirect_https: bool | None
    hsts_max_age: int
    certificate: StoredCertificate | None  # the site's upload
    base: HostsStatus
    domains: tuple[HostsStatus, ...]


@dataclass(frozen=True)
class GateCookie:
    """A cookie to set: its value, its lifetime, and whether it is HTTPS-only."""

    value: str
    max_age: int
    secure: bool


@dataclass(frozen=True)
class Decision:
    """What the forwardAuth check answers: allow (200), redirect (302) or deny (403)."""

    outcome: Literal["allow", "redirect", "deny"]
    location: str | None = None
    cookie: GateCookie | None = None


@dataclass(frozen=True)
class UploadForm:
    """What came with an upload besides the archive: its environment and flags, unvalidated."""

    environment: object
    flags: object
    message: object = None
    commit: object = None


CanaryState = Literal["running", "promoted", "aborted", "rolled_back"]


@dataclass(frozen=True)
class CanaryRecord:
    """A canary: the deploy served to a share of an environment's new visitors beside the
    stable (live) one, and how it ended."""

    id: int
    site: str
    environment: Environment
    deploy_id: str
    stable_deploy_id: str
    percent: int
    state: CanaryState
    actor_id: int | None
    started_at: datetime
    ended_at: datetime | None
    reason: str | None


MonitorTransition = Literal["down", "recovered"]


@dataclass(frozen=True)
class MonitorTarget:
    """A live environment the monitor is to check now."""

    site_id: int
    site: str
    environment: Environment
    deploy: str
    gated: bool


ProviderKey = Literal["oidc", "google", "github"]


@dataclass(frozen=True)
class Identity:
    """A provider's account linked to a Wharf user: (issuer, subject) names it for good."""

    id: int
    user_id: int
    provider: ProviderKey
    issuer: str
    subject: str
    email: str | None
    created_at: datetime
    last_used_at: datetime


@dataclass(frozen=True)
class ProviderAccount:
    """Who a provider says signed in: its stable subject, and only emails it verified."""

    provider: ProviderKey
    issuer: str
    subject: str
    email: str | None  # the primary (or only) email, verified or not
    email_verified: bool
    verified_emails: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()  # GitHub organisations, lower-cased


WebhookEvent = Literal[
    "site.down", "site.recovered", "deploy.rolled_back", "certificate.expiring", "webhook.test"
]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "site.down",
    "site.recovered",
    "deploy.rolled_back",
    "certificate.expiring",
    "webhook.test",
)
DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True)
class Webhook:
    """A URL of a site's that Wharf POSTs alerts to (its secret is never in this record)."""

    id: int
    site_id: int
    url: str
    events: list[WebhookEvent]
    created_by: int | None
    created_at: datetime
    last_status: DeliveryStatus | None = None  # its newest delivery's, None before any
    last_delivery_at: datetime | None = None


@dataclass(frozen=True)
class WebhookDelivery:
    """One alert for one webhook, and where its sending stands."""

    id: int
    webhook_id: int
    event: WebhookEvent
    event_id: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    response_status: int | None  # the last attempt's HTTP status, None when none came
    last_error: str | None
    next_attempt_at: datetime | None  # when pending; None once delivered or failed
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeliveriesPage:
    """A page of a webhook's delivery log, newest first; `older` continues after the last."""

    deliveries: list[WebhookDelivery]
    older: int | None


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a loop holds for one attempt: what to send where, and its claim."""

    id: int
    webhook_id: int
    url: str
    secret_sealed: str
    event: WebhookEvent
    event_id: str
    body: str
    attempts: int  # this attempt included
    claim: str
