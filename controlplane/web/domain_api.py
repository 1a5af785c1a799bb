"""JSON API handlers for custom domains: attach, list, read, detach, verify."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.domains.ownership_checks import challenge_record_name, challenge_url
from controlplane.models import Domain
from controlplane.web import schemas
from controlplane.web.callers import check_site_access, current_user
from controlplane.web.inputs import read_json_object
from controlplane.web.keys import services
from controlplane.web.openapi import Endpoint
from controlplane.web.routing_status import routed_json, routed_no_content


def domain_json(domain: Domain) -> dict[str, Any]:
    """A domain as the API shows it, with what the owner must publish to prove ownership."""
    wildcard = domain.hostname.startswith("*.")
    return {
        "hostname": domain.hostname,
        "environment": domain.environment,
        "status": "verified" if domain.verified else "pending",
        "verified_at": domain.verified_at.isoformat() if domain.verified_at else None,
        "verified_by": domain.verified_by,
        "token": domain.token,
        "dns_record": {
            "name": challenge_record_name(domain.hostname),
            "type": "TXT",
            "value": domain.token,
        },
        # A wildcard has no single host to fetch from: DNS only.
        "http_check": None
        if wildcard
        else {"url": challenge_url(domain.hostname, domain.token), "body": domain.token},
        "last_checked_at": domain.last_checked_at.isoformat() if domain.last_checked_at else None,
        "last_error": domain.last_error,
        "created_at": domain.created_at.isoformat(),
    }


async def list_domains(request: web.Request) -> web.Response:
    """A site's custom domains."""
    domains = await services(request).domains.list(
        await current_user(request), request.match_info["site"]
    )
    return web.json_response({"domains": [domain_json(domain) for domain in domains]})


async def add_domain(request: web.Request) -> web.Response:
    """Attach a hostname to an environment; pending until its ownership check passes."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    body = await read_json_object(request)
    domain = await services(request).domains.add(
        actor,
        request.match_info["site"],
        body.get("hostname"),
        body.get("environment", "production"),
    )
    return await routed_json(request, domain_json(domain), status=201)


async def get_domain(request: web.Request) -> web.Response:
    """One custom domain and the state of its check."""
    domain = await services(request).domains.get(
        await current_user(request), request.match_info["site"], request.match_info["hostname"]
    )
    return web.json_response(domain_json(domain))


async def delete_domain(request: web.Request) -> web.Response:
    """Detach a custom domain."""
    await services(request).domains.delete(
        await current_user(request), request.match_info["site"], request.match_info["hostname"]
    )
    return await routed_no_content(request)


async def verify_domain(request: web.Request) -> web.Response:
    """Run the ownership check now (or, for admins, vouch for the domain with method admin)."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    body = await read_json_object(request) if request.body_exists else {}
    domain = await services(request).domains.verify(
        actor, request.match_info["site"], request.match_info["hostname"], body.get("method")
    )
    return await routed_json(request, domain_json(domain))


_NEW_DOMAIN = {
    "type": "object",
    "required": ["hostname"],
    "properties": {
        "hostname": {
            "type": "string",
            "description": "Unicode or ASCII (stored as IDNA ASCII); `*.` for a wildcard",
            "examples": ["www.example.com", "*.example.com"],
            # At least two labels, nothing a hostname never holds; the rest is checked (422).
            "pattern": r"^[^\s/:@?#]+\.[^\s/:@?#]+$",
            "maxLength": 253,
        },
        "environment": {
            "type": "string",
            "enum": ["production", "staging"],
            "default": "production",
        },
    },
}
_VERIFY = {
    "type": "object",
    "properties": {"method": {"type": "string", "enum": ["dns", "http", "admin"]}},
}

DOMAIN_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/domains",
        list_domains,
        "List custom domains",
        response=schemas.listing("domains", schemas.DOMAIN),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/domains",
        add_domain,
        "Attach a custom domain (pending until its ownership check passes)",
        status=201,
        request_body=_NEW_DOMAIN,
        responses={409: "hostname attached to a site already"},
        response=schemas.routed(schemas.DOMAIN),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/domains/{hostname}",
        get_domain,
        "One custom domain",
        response=schemas.DOMAIN,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/sites/{site}/domains/{hostname}",
        delete_domain,
        "Detach a custom domain",
        status=204,
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/domains/{hostname}/verify",
        verify_domain,
        "Check ownership now: DNS TXT, HTTP token, or both (no body); 'admin' vouches (admins)",
        request_body=_VERIFY,
        responses={403: "method 'admin' by a non-admin"},
        response=schemas.routed(schemas.DOMAIN),
    ),
)
