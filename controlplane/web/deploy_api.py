"""JSON API handlers for deploys: upload, history, logs, publish, rollback, pin, site settings."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from controlplane.flags import masked
from controlplane.models import Deploy, LogLine, PublishEvent, Site
from controlplane.names import preview_host, site_hosts
from controlplane.web.auth import current_user
from controlplane.web.keys import DEPLOYS, SETTINGS, SITES
from controlplane.web.middleware import read_json_object
from controlplane.web.routing_status import routed_json
from controlplane.web.uploads import parse_flags_text, receive_upload


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def site_urls(request: web.Request, hosts: dict[str, str | None]) -> dict[str, str | None]:
    """Hostnames turned into links with the WHARF_SITE_URL template."""
    template = request.app[SETTINGS].site_url_template
    return {name: template.format(host=host) if host else None for name, host in hosts.items()}


def deploy_json(request: web.Request, deploy: Deploy) -> dict[str, Any]:
    """A deploy as the API shows it (secret flag values masked)."""
    base = request.app[SETTINGS].base_domain
    hosts = {
        "preview": preview_host(deploy.id, deploy.site_name, base),
        "environment": site_hosts(deploy.site_name, base)[deploy.environment],
    }
    return {
        "id": deploy.id,
        "site": deploy.site_name,
        "environment": deploy.environment,
        "status": deploy.status,
        "error": deploy.error,
        "created_by": deploy.created_by,
        "created_at": _iso(deploy.created_at),
        "started_at": _iso(deploy.started_at),
        "finished_at": _iso(deploy.finished_at),
        "published_at": _iso(deploy.published_at),
        "pinned": deploy.pinned,
        "pruned": deploy.pruned_at is not None,
        "artifact_bytes": deploy.artifact_bytes,
        "file_count": deploy.file_count,
        "total_bytes": deploy.total_bytes,
        "flags": masked(deploy.flags),
        "report": deploy.report,
        "hosts": hosts,
        "urls": site_urls(request, hosts),
    }


def event_json(event: PublishEvent) -> dict[str, Any]:
    """A publish or rollback record."""
    return {
        "id": event.id,
        "site": event.site_name,
        "environment": event.environment,
        "kind": event.kind,
        "from_deploy": event.from_deploy,
        "to_deploy": event.to_deploy,
        "actor_id": event.actor_id,
        "reason": event.reason,
        "created_at": _iso(event.created_at),
    }


def log_json(line: LogLine) -> dict[str, Any]:
    """One build log line."""
    return {"n": line.line_no, "at": _iso(line.logged_at), "text": line.text}


def site_settings_json(site: Site) -> dict[str, Any]:
    """A site's deploy settings."""
    return {
        "tier": site.tier,
        "auto_publish": site.auto_publish,
        "minify": site.minify,
        "allowed_flags": site.allowed_flags,
        "spa": site.spa,
    }


async def create_deploy(request: web.Request) -> web.Response:
    """Upload a ZIP (raw body or multipart field `archive`); 202 with the pending deploy."""
    actor = await current_user(request)
    deploys = request.app[DEPLOYS]
    site = await request.app[SITES].get(actor, request.match_info["site"])
    upload = deploys.files.new_upload_path()
    try:
        received = await receive_upload(request, upload, deploys.limits.max_upload_bytes)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            upload.unlink()
        raise
    environment = received.fields.get("environment") or request.query.get(
        "environment", "production"
    )
    flags = parse_flags_text(received.fields.get("flags") or request.query.get("flags"))
    deploy = await deploys.create(actor, site.name, upload, environment, flags)
    return web.json_response(deploy_json(request, deploy), status=202)


async def list_deploys(request: web.Request) -> web.Response:
    """A site's deploys, newest first."""
    deploys = await request.app[DEPLOYS].for_site(
        await current_user(request), request.match_info["site"]
    )
    return web.json_response({"deploys": [deploy_json(request, d) for d in deploys]})


async def get_deploy(request: web.Request) -> web.Response:
    """One deploy."""
    deploy = await request.app[DEPLOYS].get(
        await current_user(request), request.match_info["site"], request.match_info["deploy"]
    )
    return web.json_response(deploy_json(request, deploy))


async def deploy_log(request: web.Request) -> web.Response:
    """A deploy's build log."""
    lines = await request.app[DEPLOYS].log(
        await current_user(request), request.match_info["site"], request.match_info["deploy"]
    )
    return web.json_response({"lines": [log_json(line) for line in lines]})


async def update_deploy(request: web.Request) -> web.Response:
    """Pin or unpin a deploy."""
    actor = await current_user(request)
    # Access first: a stranger learns nothing from how the body is judged.
    await request.app[DEPLOYS].get(actor, request.match_info["site"], request.match_info["deploy"])
    body = await read_json_object(request)
    deploy = await request.app[DEPLOYS].set_pinned(
        actor, request.match_info["site"], request.match_info["deploy"], body.get("pinned")
    )
    return web.json_response(deploy_json(request, deploy))


async def publish_deploy(request: web.Request) -> web.Response:
    """Make a ready deploy live (atomic)."""
    event = await request.app[DEPLOYS].publish(
        await current_user(request), request.match_info["site"], request.match_info["deploy"]
    )
    return web.json_response(event_json(event))


async def rollback(request: web.Request) -> web.Response:
    """Back to the previous live deploy, or the one named."""
    actor = await current_user(request)
    await request.app[SITES].get(actor, request.match_info["site"])
    body = await read_json_object(request) if request.body_exists else {}
    event = await request.app[DEPLOYS].rollback(
        actor,
        request.match_info["site"],
        body.get("environment", "production"),
        body.get("deploy_id"),
    )
    return web.json_response(event_json(event))


async def publish_history(request: web.Request) -> web.Response:
    """Every publish and rollback of a site: who, when, from, to."""
    events = await request.app[DEPLOYS].history(
        await current_user(request), request.match_info["site"]
    )
    return web.json_response({"events": [event_json(event) for event in events]})


async def update_site(request: web.Request) -> web.Response:
    """Change a site's deploy settings."""
    actor = await current_user(request)
    await request.app[SITES].get(actor, request.match_info["site"])
    body = await read_json_object(request)
    site = await request.app[SITES].update(actor, request.match_info["site"], body)
    return await routed_json(request, site_settings_json(site))
