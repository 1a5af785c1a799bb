"""Every route in one table, which registers the handlers and is the OpenAPI document."""

from __future__ import annotations

import hmac

from aiohttp import web

from controlplane.errors import NotFound
from controlplane.web import schemas
from controlplane.web.account_api import ACCOUNT_ENDPOINTS
from controlplane.web.canary_api import CANARY_ENDPOINTS
from controlplane.web.deploy_api import DEPLOY_ENDPOINTS
from controlplane.web.domain_api import DOMAIN_ENDPOINTS
from controlplane.web.gate_api import GATE_ENDPOINTS
from controlplane.web.keys import SETTINGS, services
from controlplane.web.middleware import error_response
from controlplane.web.monitoring_api import MONITORING_ENDPOINTS, metrics
from controlplane.web.openapi import Endpoint, build_openapi
from controlplane.web.site_api import SITE_ENDPOINTS
from controlplane.web.tls_api import TLS_ENDPOINTS
from controlplane.web.webhook_api import WEBHOOK_ENDPOINTS


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise."""
    if not await services(request).database_up():
        return error_response(503, "database_unavailable", "the database does not answer")
    return web.json_response({"status": "ok", "database": "up"})


async def traefik_config(request: web.Request) -> web.Response:
    """The dynamic config as JSON for Traefik's HTTP provider, behind a shared secret."""
    secret = request.app[SETTINGS].traefik_secret
    offered = request.headers.get("X-Wharf-Traefik-Secret", "")
    if secret is None or not hmac.compare_digest(offered.encode(), secret.reveal().encode()):
        raise NotFound("no such route", code="not_found")
    # What the writer last wrote (validated then), never a second render of the live state.
    config = await services(request).routing.written_config()
    if config is None:
        raise NotFound("no routing written yet", code="not_found")
    return web.json_response(config)


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI description of every endpoint."""
    return web.json_response(build_openapi(ENDPOINTS))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        "Prometheus metrics",
        "public",
        content_type="text/plain",
    ),
    Endpoint(
        "GET",
        "/healthz",
        healthz,
        "Database reachable",
        "public",
        responses={503: "db down"},
        response=schemas.HEALTH,
    ),
    Endpoint(
        "GET",
        "/api/v1/openapi.json",
        openapi_document,
        "This document",
        "public",
        response=schemas.ANY_OBJECT,
    ),
    Endpoint(
        "GET",
        "/traefik/config",
        traefik_config,
        "Traefik dynamic config (HTTP provider; needs X-Wharf-Traefik-Secret)",
        "public",
        response=schemas.ANY_OBJECT,
        responses={404: "without the right X-Wharf-Traefik-Secret, or before anything was written"},
    ),
    *ACCOUNT_ENDPOINTS,
    *SITE_ENDPOINTS,
    *DEPLOY_ENDPOINTS,
    *DOMAIN_ENDPOINTS,
    *GATE_ENDPOINTS,
    *TLS_ENDPOINTS,
    *MONITORING_ENDPOINTS,
    *CANARY_ENDPOINTS,
    *WEBHOOK_ENDPOINTS,
)


def add_routes(app: web.Application) -> None:
    """Register every endpoint on the app."""
    for endpoint in ENDPOINTS:
        if endpoint.method == "GET":
            app.router.add_get(endpoint.path, endpoint.handler)  # answers HEAD too
        else:
            app.router.add_route(endpoint.method, endpoint.path, endpoint.handler)
