"""JSON API handlers for sites: create, list, read (with routing), change settings, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.models import Site
from controlplane.names import DNS_LABEL, site_hosts
from controlplane.web import schemas
from controlplane.web.callers import check_site_access, current_user
from controlplane.web.inputs import read_json_object
from controlplane.web.keys import SETTINGS, services
from controlplane.web.openapi import Endpoint
from controlplane.web.routing_status import routed_json, routed_no_content, site_routing_json


def site_urls(request: web.Request, hosts: dict[str, str | None]) -> dict[str, str | None]:
    """Hostnames turned into links with the WHARF_SITE_URL template."""
    template = request.app[SETTINGS].site_link_template
    return {name: template.format(host=host) if host else None for name, host in hosts.items()}


def site_settings_json(site: Site) -> dict[str, Any]:
    """A site's deploy settings."""
    return {
        "tier": site.tier,
        "auto_publish": site.auto_publish,
        "minify": site.minify,
        "allowed_flags": site.allowed_flags,
        "spa": site.spa,
        "probe_rollback": site.probe_rollback,
        "monitor_interval": site.monitor_interval,
        "checks": site.checks,
        "checks_max_file_bytes": site.checks_max_file_bytes,
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


async def list_sites(request: web.Request) -> web.Response:
    """The sites the caller may see."""
    sites = await services(request).sites.list(await current_user(request))
    return web.json_response({"sites": [site_json(request, site) for site in sites]})


async def create_site(request: web.Request) -> web.Response:
    """Create a site owned by the caller."""
    actor = await current_user(request)
    body = await read_json_object(request)
    site = await services(request).sites.create(actor, body.get("name"))
    return await routed_json(request, site_json(request, site), status=201)


async def get_site(request: web.Request) -> web.Response:
    """One site, with its routing status as Traefik reports it."""
    site = await services(request).sites.get(
        await current_user(request), request.match_info["site"]
    )
    routing = await services(request).routing.site(site.name)
    return web.json_response({**site_json(request, site), "routing": site_routing_json(routing)})


async def delete_site(request: web.Request) -> web.Response:
    """Delete a site."""
    await services(request).sites.delete(await current_user(request), request.match_info["site"])
    return await routed_no_content(request)


_SITE_SETTINGS = {
    "type": "object",
    "properties": {
        "auto_publish": {"type": "boolean"},
        "monitor_interval": {
            "type": "integer",
            "minimum": 10,
            "maximum": 3600,
            "description": "seconds between the monitor's checks of each live environment",
        },
        "probe_rollback": {
            "type": "boolean",
            "description": "roll an automatic publish back when its probes fail",
        },
        "minify": {"type": "boolean"},
        "spa": {"type": "boolean"},
        "allowed_flags": {"type": "array", "items": {"type": "string"}},
        "tier": {"type": "string", "enum": ["free", "pro"]},
        "checks": {"type": "string", "enum": ["off", "warn", "block"]},
        "checks_max_file_bytes": {"type": "integer", "minimum": 1024, "maximum": 1 << 40},
    },
    "examples": [
        {"auto_publish": False},
        {"spa": True, "allowed_flags": ["minify", "env.*"]},
        {"checks": "block", "checks_max_file_bytes": 10485760},
    ],
}


async def update_site(request: web.Request) -> web.Response:
    """Change a site's deploy settings."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    body = await read_json_object(request)
    site = await services(request).sites.update(actor, request.match_info["site"], body)
    return await routed_json(request, site_settings_json(site))


# A DNS label; reserved names and "--" are refused too (422), which a pattern cannot say simply.
_SITE_NAME = {"type": "string", "pattern": f"^{DNS_LABEL}$"}
_NAMED = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _SITE_NAME},
    "examples": [{"name": "blog"}],
}

SITE_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/api/v1/sites",
        list_sites,
        "List sites",
        response=schemas.listing("sites", schemas.SITE),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites",
        create_site,
        "Create a site",
        "user",
        201,
        _NAMED,
        {409: "exists"},
        response=schemas.routed(schemas.SITE),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/{site}",
        get_site,
        "Get a site",
        response=schemas.with_properties(schemas.SITE, routing=schemas.SITE_ROUTING),
    ),
    Endpoint("DELETE", "/api/v1/sites/{site}", delete_site, "Delete a site", status=204),
    Endpoint(
        "PATCH",
        "/api/v1/sites/{site}",
        update_site,
        "Change deploy settings (auto_publish, minify, spa, allowed_flags, checks,"
        " checks_max_file_bytes; tier: admins)",
        request_body=_SITE_SETTINGS,
        responses={403: "a member changing the tier (admin_required)"},
        response=schemas.routed(schemas.SITE_SETTINGS),
    ),
)
