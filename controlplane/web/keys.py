"""Typed application keys: the settings, and the services every handler calls."""

from __future__ import annotations

from aiohttp import web

from controlplane.config import Settings
from controlplane.services import Services

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    """The services of the app serving this request."""
    return request.app[SERVICES]
