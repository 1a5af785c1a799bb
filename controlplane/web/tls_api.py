"""JSON API handlers for TLS: the base domain's strategy, a site's, a custom domain's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from controlplane.models import BaseTls, HostsStatus, SiteTlsView, StoredCertificate
from controlplane.tls.tls_service import HSTS_MAX, STRATEGIES
from controlplane.web import schemas
from controlplane.web.callers import check_site_access, current_user
from controlplane.web.inputs import read_json_object
from controlplane.web.keys import services
from controlplane.web.openapi import Endpoint
from controlplane.web.routing_status import routed_json


def certificate_json(cert: StoredCertificate | None) -> dict[str, Any] | None:
    """A certificate's public facts; never its key."""
    if cert is None:
        return None
    return {
        "source": cert.source,
        "issuer": cert.issuer,
        "names": list(cert.names),
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "expires_in_seconds": int((cert.not_after - datetime.now(UTC)).total_seconds()),
        "fingerprint_sha256": cert.fingerprint,
    }


def status_json(status: HostsStatus) -> dict[str, Any]:
    """The TLS status of some hosts."""
    return {
        "hostnames": list(status.hostnames),
        "strategy": status.strategy,
        "effective_strategy": status.effective,
        "certificate": certificate_json(status.certificate),
        "last_error": status.last_error,
        "next_attempt_at": status.retry_at.isoformat() if status.retry_at else None,
    }


def base_json(base: BaseTls, status: HostsStatus) -> dict[str, Any]:
    """The base domain's TLS."""
    return {
        **status_json(status),
        "redirect_https": base.redirect_https,
        "hsts_max_age": base.hsts_max_age,
    }


def site_tls_json(view: SiteTlsView) -> dict[str, Any]:
    """A site's TLS, its base-domain hosts' and each verified custom domain's."""
    return {
        "strategy": view.settings.strategy,
        "effective_strategy": view.effective,
        "redirect_https": view.redirect_https,
        "hsts_max_age": view.hsts_max_age,
        "certificate": certificate_json(view.certificate),
        "base_domain": status_json(view.base),
        "domains": [status_json(domain) for domain in view.domains],
    }


async def get_base_tls(request: web.Request) -> web.Response:
    """The base domain's TLS (admins)."""
    base, status = await services(request).tls.base(await current_user(request))
    return web.json_response(base_json(base, status))


async def put_base_tls(request: web.Request) -> web.Response:
    """Set the base domain's TLS (admins)."""
    actor = await current_user(request)
    services(request).accounts.require_admin(actor)  # before the body is judged
    base, status = await services(request).tls.set_base(actor, await read_json_object(request))
    return await routed_json(request, base_json(base, status))


async def get_site_tls(request: web.Request) -> web.Response:
    """A site's TLS."""
    view = await services(request).tls.site(await current_user(request), request.match_info["site"])
    return web.json_response(site_tls_json(view))


async def put_site_tls(request: web.Request) -> web.Response:
    """Set a site's TLS."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    view = await services(request).tls.set_site(
        actor, request.match_info["site"], await read_json_object(request)
    )
    return await routed_json(request, site_tls_json(view))


async def put_domain_tls(request: web.Request) -> web.Response:
    """Set one custom domain's own TLS strategy."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    view = await services(request).tls.set_domain(
        actor,
        request.match_info["site"],
        request.match_info["hostname"],
        await read_json_object(request),
    )
    return await routed_json(request, site_tls_json(view))


_PEM_FIELDS = {
    "certificate": {"type": "string", "description": "PEM: the leaf, or leaf then issuers"},
    "chain": {"type": "string", "description": "PEM: the issuers, leaf's issuer first"},
    "key": {"type": "string", "description": "PEM private key (never shown again)"},
}
_STRATEGY = {"type": "string", "enum": list(STRATEGIES)}
_INHERITED = {"type": ["string", "null"], "enum": [*STRATEGIES, None]}
_REDIRECT = {"type": ["boolean", "null"], "description": "null: on when a certificate exists"}
_HSTS = {"type": ["integer", "null"], "minimum": 0, "maximum": HSTS_MAX}
_BASE_BODY = {
    "type": "object",
    "required": ["strategy"],
    "properties": {
        "strategy": _STRATEGY,
        "redirect_https": _REDIRECT,
        "hsts_max_age": _HSTS,
        **_PEM_FIELDS,
    },
}
_SITE_BODY = {
    "type": "object",
    "properties": {
        "strategy": {**_INHERITED, "description": "null: the base domain's if a CA's, else none"},
        "redirect_https": _REDIRECT,
        "hsts_max_age": {**_HSTS, "description": "null: the base domain's"},
        **_PEM_FIELDS,
    },
}
_DOMAIN_BODY = {
    "type": "object",
    "properties": {
        "strategy": {**_INHERITED, "description": "null: the site's"},
        **_PEM_FIELDS,
    },
}
_TLS_ERRORS = {422: "bad strategy, or a certificate that fails its checks (code says which)"}

TLS_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/api/v1/tls",
        get_base_tls,
        "The base domain's TLS",
        "admin",
        response=schemas.BASE_TLS,
    ),
    Endpoint(
        "PUT",
        "/api/v1/tls",
        put_base_tls,
        "Set the base domain's (wildcard's) TLS strategy, redirect, HSTS or certificate",
        "admin",
        request_body=_BASE_BODY,
        responses=_TLS_ERRORS,
        response=schemas.routed(schemas.BASE_TLS),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/tls",
        get_site_tls,
        "A site's TLS and its domains'",
        response=schemas.SITE_TLS,
    ),
    Endpoint(
        "PUT",
        "/api/v1/sites/{site}/tls",
        put_site_tls,
        "Set a site's TLS: strategy for its custom domains, redirect, HSTS, certificate",
        request_body=_SITE_BODY,
        responses=_TLS_ERRORS,
        response=schemas.routed(schemas.SITE_TLS),
    ),
    Endpoint(
        "PUT",
        "/api/v1/sites/{site}/domains/{hostname}/tls",
        put_domain_tls,
        "Set one verified custom domain's TLS strategy or certificate",
        request_body=_DOMAIN_BODY,
        responses=_TLS_ERRORS,
        response=schemas.routed(schemas.SITE_TLS),
    ),
)
