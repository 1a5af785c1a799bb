"""Routing status in API answers: where a write's change stands, and a site's routers."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from controlplane.errors import Invalid
from controlplane.routing import RoutingReport
from controlplane.traefik.api import missing_or_disabled, router_status
from controlplane.traefik.render import site_routers
from controlplane.web.keys import ROUTING, SETTINGS

HTTP = web.AppKey("http", aiohttp.ClientSession)
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
    routing = request.app[ROUTING]
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


async def site_routing(request: web.Request, site: str) -> dict[str, Any]:
    """{"traefik": confirmed|pending|unreachable|unchecked, "routers": {...}, "config_error"}."""
    status = await _traefik_status(request, site)
    # A refused config is never written; the last good one stays and this says why.
    status["config_error"] = (await request.app[ROUTING].report()).error
    return status


async def _traefik_status(request: web.Request, site: str) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    expected = site_routers(await request.app[ROUTING].state(), site)
    if not settings.traefik_api_url:
        return {"traefik": "unchecked", "routers": {name: "unknown" for name in sorted(expected)}}
    try:
        status = await router_status(request.app[HTTP], settings.traefik_api_url)
    except (aiohttp.ClientError, TimeoutError, OSError):
        return {"traefik": "unreachable", "routers": {name: "unknown" for name in sorted(expected)}}
    missing = missing_or_disabled(expected, status)
    return {
        "traefik": "pending" if missing else "confirmed",
        "routers": {name: status.get(name, "missing") for name in sorted(expected)},
    }
