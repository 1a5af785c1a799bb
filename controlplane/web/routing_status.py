"""Routing status of a site, as Traefik's API reports the routers that serve it."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from controlplane.traefik.api import missing_or_disabled, router_status
from controlplane.traefik.render import site_routers
from controlplane.web.keys import ROUTING, SETTINGS

HTTP = web.AppKey("http", aiohttp.ClientSession)


async def site_routing(request: web.Request, site: str) -> dict[str, Any]:
    """{"traefik": confirmed|pending|unreachable|unchecked, "routers": {...}, "config_error"}."""
    status = await _traefik_status(request, site)
    # A refused config is never written; the last good one stays and this says why.
    status["config_error"] = request.app[ROUTING].traefik.last_error
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
