"""JSON Schemas of what the API answers, beside the `*_json` functions that build the answers;
the OpenAPI document publishes them and the contract tests hold every answer to them."""

from __future__ import annotations

from typing import Any, get_args

from controlplane.models import (
    CertificateSource,
    ChecksMode,
    DeliveryStatus,
    DeployStatus,
    Environment,
    GateEnvironment,
    PublishKind,
    Role,
    RoutingStateName,
    Strategy,
    Tier,
    TraefikView,
    VerifiedBy,
    WebhookEvent,
)

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
TEXT_OR_NULL: Schema = {"type": ["string", "null"]}
INTEGER: Schema = {"type": "integer"}
INTEGER_OR_NULL: Schema = {"type": ["integer", "null"]}
BOOLEAN: Schema = {"type": "boolean"}
BOOLEAN_OR_NULL: Schema = {"type": ["boolean", "null"]}
TIME: Schema = {"type": "string", "format": "date-time"}
TIME_OR_NULL: Schema = {"type": ["string", "null"], "format": "date-time"}
ANY_OBJECT: Schema = {"type": "object"}


def enum(*values: str | None) -> Schema:
    """One of the values (None allows null)."""
    types = ["string", "null"] if None in values else "string"
    return {"type": types, "enum": list(values)}


def record(**properties: Schema) -> Schema:
    """An object with exactly these properties, all of them present."""
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


def or_null(schema: Schema) -> Schema:
    """The record schema, or null."""
    return {**schema, "type": ["object", "null"]}


def listing(key: str, item: Schema) -> Schema:
    """{key: [item, ...]}."""
    return record(**{key: {"type": "array", "items": item}})


def with_properties(schema: Schema, **properties: Schema) -> Schema:
    """The record schema with more properties (all present)."""
    return {
        **schema,
        "required": [*schema["required"], *properties],
        "properties": {**schema["properties"], **properties},
    }


ENVIRONMENT = enum(*get_args(Environment))
HOSTS = record(production=STRING, staging=TEXT_OR_NULL)
URLS = record(production=STRING, staging=TEXT_OR_NULL)
ROUTING = record(state=enum(*get_args(RoutingStateName)), version=INTEGER, error=TEXT_OR_NULL)


def routed(schema: Schema) -> Schema:
    """A write's answer: the record and where its routing change stands."""
    return with_properties(schema, routing=ROUTING)


HEALTH = record(status=STRING, database=STRING)
LOGIN = record(access_token=STRING, token_type=enum("Bearer"), expires_in=INTEGER)
USER = record(
    id=INTEGER, email=STRING, role=enum(*get_args(Role)), created_at=TIME, disabled=BOOLEAN
)
TOKEN = record(id=INTEGER, name=STRING, created_at=TIME, last_used_at=TIME_OR_NULL)
NEW_TOKEN = with_properties(TOKEN, token=STRING)

SITE_SETTINGS = record(
    tier=enum(*get_args(Tier)),
    auto_publish=BOOLEAN,
    minify=BOOLEAN,
    allowed_flags={"type": "array", "items": STRING},
    spa=BOOLEAN,
    probe_rollback=BOOLEAN,
    monitor_interval=INTEGER,
    checks=enum(*get_args(ChecksMode)),
    checks_max_file_bytes=INTEGER,
)
SITE = with_properties(
    SITE_SETTINGS, name=STRING, owner_id=INTEGER, created_at=TIME, hosts=HOSTS, urls=URLS
)
SITE_ROUTING = record(
    traefik=enum(*get_args(TraefikView)),
    routers={"type": "object", "additionalProperties": STRING},
    config_error=TEXT_OR_NULL,
)

# One problem the release checks found: where, what, and what the edge answers for it.
CHECK_PROBLEM = record(
    kind=STRING,
    severity=enum("error", "warning"),
    page=STRING,
    line=INTEGER_OR_NULL,
    link=TEXT_OR_NULL,
    source=TEXT_OR_NULL,
    status=INTEGER_OR_NULL,
    answer=TEXT_OR_NULL,
    message=STRING,
)
CHECKS = or_null(
    record(
        status=enum("passed", "warned", "failed"),
        problems={"type": "array", "items": CHECK_PROBLEM},
        errors=INTEGER,
        warnings=INTEGER,
        omitted=INTEGER,
        pages=INTEGER,
        links=INTEGER,
        seconds={"type": "number"},
        blocked=BOOLEAN,
    )
)

DEPLOY = record(
    id=STRING,
    site=STRING,
    environment=ENVIRONMENT,
    status=enum(*get_args(DeployStatus)),
    error=TEXT_OR_NULL,
    created_by=INTEGER_OR_NULL,
    message=TEXT_OR_NULL,
    commit=TEXT_OR_NULL,
    created_at=TIME,
    started_at=TIME_OR_NULL,
    finished_at=TIME_OR_NULL,
    published_at=TIME_OR_NULL,
    pinned=BOOLEAN,
    pruned=BOOLEAN,
    artifact_bytes=INTEGER_OR_NULL,
    file_count=INTEGER_OR_NULL,
    total_bytes=INTEGER_OR_NULL,
    flags={"type": "object", "additionalProperties": record(value={}, secret=BOOLEAN)},
    report={"type": ["object", "null"]},
    probes={"type": ["object", "null"]},
    hosts=record(preview=TEXT_OR_NULL, environment=TEXT_OR_NULL),
    urls=record(preview=TEXT_OR_NULL, environment=TEXT_OR_NULL),
    checks=CHECKS,
)
EVENT = record(
    id=INTEGER,
    site=STRING,
    environment=ENVIRONMENT,
    kind=enum(*get_args(PublishKind)),
    from_deploy=TEXT_OR_NULL,
    to_deploy=STRING,
    actor_id=INTEGER_OR_NULL,
    reason=TEXT_OR_NULL,
    created_at=TIME,
)
LOG = listing("lines", record(n=INTEGER, at=TIME, text=STRING))

DOMAIN = record(
    hostname=STRING,
    environment=ENVIRONMENT,
    status=enum("pending", "verified"),
    verified_at=TIME_OR_NULL,
    verified_by=enum(*get_args(VerifiedBy), None),
    token=STRING,
    dns_record=record(name=STRING, type=enum("TXT"), value=STRING),
    http_check=or_null(record(url=STRING, body=STRING)),
    last_checked_at=TIME_OR_NULL,
    last_error=TEXT_OR_NULL,
    created_at=TIME,
)

GATE = record(
    environment=enum(*get_args(GateEnvironment)),
    mode=enum("none", "basic", "password", "oauth"),
    users={"type": "array", "items": STRING},
    allowed={"type": "array", "items": STRING},
    updated_at=TIME_OR_NULL,
)
GATES = record(gates={"type": "object", "additionalProperties": GATE})
SHARE = record(url=STRING, expires_at=TIME)

STRATEGY = enum(*get_args(Strategy))
STRATEGY_OR_INHERITED = enum(*get_args(Strategy), None)
CERTIFICATE = or_null(
    record(
        source=enum(*get_args(CertificateSource)),
        issuer=STRING,
        names={"type": "array", "items": STRING},
        not_before=TIME,
        not_after=TIME,
        expires_in_seconds=INTEGER,
        fingerprint_sha256=STRING,
    )
)
HOSTS_TLS = record(
    hostnames={"type": "array", "items": STRING},
    strategy=STRATEGY_OR_INHERITED,
    effective_strategy=STRATEGY,
    certificate=CERTIFICATE,
    last_error=TEXT_OR_NULL,
    next_attempt_at=TIME_OR_NULL,
)
BASE_TLS = with_properties(HOSTS_TLS, redirect_https=BOOLEAN_OR_NULL, hsts_max_age=INTEGER)
SITE_TLS = record(
    strategy=STRATEGY_OR_INHERITED,
    effective_strategy=STRATEGY,
    redirect_https=BOOLEAN_OR_NULL,
    hsts_max_age=INTEGER,
    certificate=CERTIFICATE,
    base_domain=HOSTS_TLS,
    domains={"type": "array", "items": HOSTS_TLS},
)

WEBHOOK_EVENT = enum(*get_args(WebhookEvent))
WEBHOOK = record(
    id=INTEGER,
    url=STRING,
    events={"type": "array", "items": WEBHOOK_EVENT},
    created_by=INTEGER_OR_NULL,
    created_at=TIME,
    last_delivery=or_null(record(status=enum(*get_args(DeliveryStatus)), created_at=TIME)),
)
NEW_WEBHOOK = with_properties(WEBHOOK, secret=STRING)
DELIVERY = record(
    id=INTEGER,
    webhook_id=INTEGER,
    event=WEBHOOK_EVENT,
    event_id=STRING,
    status=enum(*get_args(DeliveryStatus)),
    attempts=INTEGER,
    created_at=TIME,
    last_attempt_at=TIME_OR_NULL,
    response_status=INTEGER_OR_NULL,
    last_error=TEXT_OR_NULL,
    next_attempt_at=TIME_OR_NULL,
    delivered_at=TIME_OR_NULL,
)
DELIVERIES = record(deliveries={"type": "array", "items": DELIVERY}, next_before=INTEGER_OR_NULL)

# Published once under components/schemas and referred to wherever they appear.
COMPONENTS: dict[str, Schema] = {
    "Routing": ROUTING,
    "User": USER,
    "Token": TOKEN,
    "SiteSettings": SITE_SETTINGS,
    "Site": SITE,
    "SiteRouting": SITE_ROUTING,
    "Deploy": DEPLOY,
    "Checks": CHECKS,
    "PublishEvent": EVENT,
    "Domain": DOMAIN,
    "Gate": GATE,
    "Certificate": CERTIFICATE,
    "HostsTls": HOSTS_TLS,
    "BaseTls": BASE_TLS,
    "SiteTls": SITE_TLS,
    "Webhook": WEBHOOK,
    "WebhookDelivery": DELIVERY,
}
