"""Routing status in API answers: where a write's change stands, and a site's routers."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from controlplane.errors import Invalid
from controlplane.models import RoutingReport, SiteRouting
from controlplane.web.keys import services

# `?wait=true` answers within this bound: pending if Traefik has not confirmed by then.
WAIT_SECONDS = 15.0


def report_json(report: RoutingReport) -> dict[str, Any]:
    """{"state": pending|confirmed|error, "version": n, "error": reason or null}."""
    return {"state": report.state, "version": report.version, "error": report.error}


def _wants_wait(request: web.Request) -> bool:
    value = request.query.get("wait", "false")
    if value not in ("true", "false"):
        raise Invalid("wait is true or false", code="invalid_wait")
    return value == "true"


@web.middleware
async def check_wait(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a bad `?wait=` before the handler writes anything."""
    _wants_wait(request)
    return await handler(request)


async def change_report(request: web.Request) -> RoutingReport:
    """Where the change a write just committed stands; with ?wait=true, once Traefik confirmed
    or refused it (still pending after WAIT_SECONDS)."""
    routing = services(request).routing
    # The newest version is at least the one this request's write counted.
    newest = (await routing.report()).version
    if _wants_wait(request):
        return await routing.wait(newest, WAIT_SECONDS)
    return await routing.report(newest)


async def routed_json(
    request: web.Request, document: dict[str, Any], status: int = 200
) -> web.Response:
    """A write's JSON answer with the routing report of its change under "routing"."""
    report = await change_report(request)
    return web.json_response({**document, "routing": report_json(report)}, status=status)


async def routed_no_content(request: web.Request) -> web.Response:
    """A write's 204 answer, sent once its change is confirmed when ?wait=true asks."""
    await change_report(request)
    return web.Response(status=204)


def site_routing_json(routing: SiteRouting) -> dict[str, Any]:
    """{"traefik": confirmed|pending|unreachable|unchecked, "routers": {...}, "config_error"}."""
    return {
        "traefik": routing.traefik,
        "routers": routing.routers,
        "config_error": routing.config_error,
    }
