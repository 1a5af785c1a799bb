"""JSON API handlers: parse the request, call one service method, serialise the answer."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web
from prometheus_async.aio.web import server_stats

from controlplane.errors import Invalid, NotFound
from controlplane.models import ApiToken, Site, User
from controlplane.names import site_hosts
from controlplane.web import deploy_api
from controlplane.web.auth import current_user
from controlplane.web.deploy_api import site_settings_json, site_urls
from controlplane.web.domain_api import DOMAIN_ENDPOINTS
from controlplane.web.gate_api import GATE_ENDPOINTS
from controlplane.web.keys import ACCOUNTS, ROUTING, SETTINGS, SITES, STORE
from controlplane.web.middleware import client_address, error_response, read_json_object
from controlplane.web.openapi import Endpoint, build_openapi
from controlplane.web.routing_status import routed_json, routed_no_content, site_routing
from controlplane.web.tls_api import TLS_ENDPOINTS


def user_json(user: User) -> dict[str, Any]:
    """A user as the API shows it."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "created_at": user.created_at.isoformat(),
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    """An API token's metadata as the API shows it."""
    return {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }


def site_json(request: web.Request, site: Site) -> dict[str, Any]:
    """A site as the API shows it."""
    hosts = site_hosts(site.name, request.app[SETTINGS].base_domain)
    return {
        "name": site.name,
        "owner_id": site.owner_id,
        "created_at": site.created_at.isoformat(),
        "hosts": hosts,
        "urls": site_urls(request, dict(hosts)),
        **site_settings_json(site),
    }


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise."""
    try:
        await request.app[STORE].ping()
    except Exception:  # any failure to reach the database means unhealthy
        return error_response(503, "database_unavailable", "the database does not answer")
    return web.json_response({"status": "ok", "database": "up"})


async def login(request: web.Request) -> web.Response:
    """Exchange email and password for a short-lived access token."""
    body = await read_json_object(request)
    accounts = request.app[ACCOUNTS]
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    token = await accounts.login(body.get("email"), body.get("password"), address)
    return web.json_response(
        {"access_token": token, "token_type": "Bearer", "expires_in": accounts.access_token_ttl}
    )


async def me(request: web.Request) -> web.Response:
    """The caller's own account."""
    return web.json_response(user_json(await current_user(request)))


async def change_password(request: web.Request) -> web.Response:
    """Change the caller's own password."""
    actor = await current_user(request)
    body = await read_json_object(request)
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    await request.app[ACCOUNTS].change_password(
        actor, body.get("current_password"), body.get("new_password"), address
    )
    return web.Response(status=204)


async def list_users(request: web.Request) -> web.Response:
    """Every user (admins only)."""
    users = await request.app[ACCOUNTS].list_users(await current_user(request))
    return web.json_response({"users": [user_json(user) for user in users]})


async def create_user(request: web.Request) -> web.Response:
    """Create a user (admins only)."""
    actor = await current_user(request)
    request.app[ACCOUNTS].require_admin(actor)
    body = await read_json_object(request)
    user = await request.app[ACCOUNTS].create_user(
        actor, body.get("email"), body.get("password"), body.get("role", "member")
    )
    return web.json_response(user_json(user), status=201)


async def create_token(request: web.Request) -> web.Response:
    """Create an API token; its text is in this answer and nowhere else, ever."""
    actor = await current_user(request)
    body = await read_json_object(request)
    token, text = await request.app[ACCOUNTS].create_token(actor, body.get("name"))
    return web.json_response({**token_json(token), "token": text}, status=201)


async def list_tokens(request: web.Request) -> web.Response:
    """The caller's API tokens, without their text."""
    tokens = await request.app[ACCOUNTS].list_tokens(await current_user(request))
    return web.json_response({"tokens": [token_json(token) for token in tokens]})


async def delete_token(request: web.Request) -> web.Response:
    """Revoke one of the caller's API tokens."""
    actor = await current_user(request)
    raw_id = request.match_info["token_id"]
    if not (raw_id.isascii() and raw_id.isdigit()):
        raise Invalid("a token id is a number", code="invalid_token_id")
    await request.app[ACCOUNTS].delete_token(actor, int(raw_id))
    return web.Response(status=204)


async def list_sites(request: web.Request) -> web.Response:
    """The sites the caller may see."""
    sites = await request.app[SITES].list(await current_user(request))
    return web.json_response({"sites": [site_json(request, site) for site in sites]})


async def create_site(request: web.Request) -> web.Response:
    """Create a site owned by the caller."""
    actor = await current_user(request)
    body = await read_json_object(request)
    site = await request.app[SITES].create(actor, body.get("name"))
    return await routed_json(request, site_json(request, site), status=201)


async def get_site(request: web.Request) -> web.Response:
    """One site, with its routing status as Traefik reports it."""
    site = await request.app[SITES].get(await current_user(request), request.match_info["site"])
    return web.json_response(
        {**site_json(request, site), "routing": await site_routing(request, site.name)}
    )


async def delete_site(request: web.Request) -> web.Response:
    """Delete a site."""
    await request.app[SITES].delete(await current_user(request), request.match_info["site"])
    return await routed_no_content(request)


async def traefik_config(request: web.Request) -> web.Response:
    """The dynamic config as JSON for Traefik's HTTP provider, behind a shared secret."""
    secret = request.app[SETTINGS].traefik_secret
    offered = request.headers.get("X-Wharf-Traefik-Secret", "")
    if secret is None or not hmac.compare_digest(offered.encode(), secret.reveal().encode()):
        raise NotFound("no such route", code="not_found")
    # What the writer last wrote (validated then), never a second render of the live state.
    config = await request.app[ROUTING].written_config()
    if config is None:
        raise NotFound("no routing written yet", code="not_found")
    return web.json_response(config)


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI description of every endpoint."""
    return web.json_response(build_openapi(ENDPOINTS))


_CREDENTIALS = {
    "type": "object",
    "required": ["email", "password"],
    "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
}
_NAMED = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
_NEW_USER = {
    "type": "object",
    "required": ["email", "password"],
    "properties": {
        "email": {"type": "string"},
        "password": {"type": "string", "minLength": 8},
        "role": {"type": "string", "enum": ["admin", "member"], "default": "member"},
    },
}

_SITE_SETTINGS = {
    "type": "object",
    "properties": {
        "auto_publish": {"type": "boolean"},
        "minify": {"type": "boolean"},
        "spa": {"type": "boolean"},
        "allowed_flags": {"type": "array", "items": {"type": "string"}},
        "tier": {"type": "string", "enum": ["free", "pro"]},
    },
}
_PINNED = {"type": "object", "required": ["pinned"], "properties": {"pinned": {"type": "boolean"}}}
_ROLLBACK = {
    "type": "object",
    "properties": {
        "environment": {"type": "string", "enum": ["production", "staging"]},
        "deploy_id": {"type": "string"},
    },
}

_PASSWORD_CHANGE = {
    "type": "object",
    "required": ["current_password", "new_password"],
    "properties": {
        "current_password": {"type": "string"},
        "new_password": {"type": "string", "minLength": 8, "maxLength": 1024},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/healthz", healthz, "Database reachable", "public", responses={503: "db down"}
    ),
    Endpoint("GET", "/metrics", server_stats, "Prometheus metrics", "public"),
    Endpoint("GET", "/api/v1/openapi.json", openapi_document, "This document", "public"),
    Endpoint(
        "GET",
        "/traefik/config",
        traefik_config,
        "Traefik dynamic config (HTTP provider; needs X-Wharf-Traefik-Secret)",
        "public",
    ),
    Endpoint(
        "POST",
        "/api/v1/auth/login",
        login,
        "Log in for an access token",
        "public",
        request_body=_CREDENTIALS,
        responses={401: "wrong email or password", 429: "too many failures (Retry-After)"},
    ),
    Endpoint("GET", "/api/v1/me", me, "The caller's account"),
    Endpoint(
        "PUT",
        "/api/v1/me/password",
        change_password,
        "Change the caller's password",
        status=204,
        request_body=_PASSWORD_CHANGE,
        responses={403: "current password wrong", 429: "too many failures (Retry-After)"},
    ),
    Endpoint("GET", "/api/v1/users", list_users, "List users", "admin"),
    Endpoint(
        "POST",
        "/api/v1/users",
        create_user,
        "Create a user",
        "admin",
        201,
        _NEW_USER,
        {409: "exists"},
    ),
    Endpoint("GET", "/api/v1/tokens", list_tokens, "List the caller's API tokens"),
    Endpoint(
        "POST",
        "/api/v1/tokens",
        create_token,
        "Create an API token (shown once)",
        "user",
        201,
        _NAMED,
    ),
    Endpoint(
        "DELETE", "/api/v1/tokens/{token_id}", delete_token, "Revoke an API token", status=204
    ),
    Endpoint("GET", "/api/v1/sites", list_sites, "List sites"),
    Endpoint(
        "POST", "/api/v1/sites", create_site, "Create a site", "user", 201, _NAMED, {409: "exists"}
    ),
    Endpoint("GET", "/api/v1/sites/{site}", get_site, "Get a site"),
    Endpoint("DELETE", "/api/v1/sites/{site}", delete_site, "Delete a site", status=204),
    Endpoint(
        "PATCH",
        "/api/v1/sites/{site}",
        deploy_api.update_site,
        "Change deploy settings (auto_publish, minify, allowed_flags; tier: admins)",
        request_body=_SITE_SETTINGS,
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/deploys",
        deploy_api.create_deploy,
        "Upload a ZIP (raw body or multipart field 'archive'); 202 with the deploy",
        status=202,
        responses={413: "archive too large", 415: "not a ZIP or form", 422: "rejected entries"},
    ),
    Endpoint("GET", "/api/v1/sites/{site}/deploys", deploy_api.list_deploys, "Deploy history"),
    Endpoint("GET", "/api/v1/sites/{site}/deploys/{deploy}", deploy_api.get_deploy, "One deploy"),
    Endpoint(
        "PATCH",
        "/api/v1/sites/{site}/deploys/{deploy}",
        deploy_api.update_deploy,
        "Pin or unpin a deploy",
        request_body=_PINNED,
    ),
    Endpoint(
        "GET", "/api/v1/sites/{site}/deploys/{deploy}/log", deploy_api.deploy_log, "Build log"
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/deploys/{deploy}/publish",
        deploy_api.publish_deploy,
        "Make a ready deploy live",
        responses={409: "deploy not ready or pruned"},
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/rollback",
        deploy_api.rollback,
        "Back to the previous live deploy, or the one named",
        request_body=_ROLLBACK,
        responses={409: "no earlier live deploy"},
    ),
    Endpoint(
        "GET", "/api/v1/sites/{site}/publishes", deploy_api.publish_history, "Publish history"
    ),
    *DOMAIN_ENDPOINTS,
    *GATE_ENDPOINTS,
    *TLS_ENDPOINTS,
)


def add_routes(app: web.Application) -> None:
    """Register every endpoint on the app."""
    for endpoint in ENDPOINTS:
        if endpoint.method == "GET":
            app.router.add_get(endpoint.path, endpoint.handler)  # answers HEAD too
        else:
            app.router.add_route(endpoint.method, endpoint.path, endpoint.handler)
