"""JSON API handlers for deploys: upload, history, logs, publish, rollback, pin, site settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from controlplane.deploys.build_flags import masked
from controlplane.models import CanaryRecord, Deploy, LogLine, PublishEvent, UploadForm
from controlplane.names import preview_host, site_hosts
from controlplane.web import schemas
from controlplane.web.callers import check_site_access, current_user
from controlplane.web.inputs import read_json_object
from controlplane.web.keys import SETTINGS, services
from controlplane.web.log_stream import stream_log
from controlplane.web.openapi import Answer, Endpoint
from controlplane.web.site_api import site_urls
from controlplane.web.uploads import parse_flags_text, receive_upload


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


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
        "message": deploy.message,
        "commit": deploy.commit,
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
        "probes": deploy.probes,
        "hosts": hosts,
        "urls": site_urls(request, hosts),
        "checks": deploy.checks,
    }


def canary_json(canary: CanaryRecord) -> dict[str, Any]:
    """A canary as the API shows it."""
    return {
        "id": canary.id,
        "site": canary.site,
        "environment": canary.environment,
        "deploy_id": canary.deploy_id,
        "stable_deploy_id": canary.stable_deploy_id,
        "percent": canary.percent,
        "state": canary.state,
        "actor_id": canary.actor_id,
        "started_at": canary.started_at.isoformat(),
        "ended_at": canary.ended_at.isoformat() if canary.ended_at else None,
        "reason": canary.reason,
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


async def create_deploy(request: web.Request) -> web.Response:
    """Upload a ZIP (raw body or multipart field `archive`); 202 with the pending deploy."""
    actor = await current_user(request)

    async def receive(path: Path, limit: int) -> UploadForm:
        received = await receive_upload(request, path, limit)
        fields, query = received.fields, request.query
        return UploadForm(
            environment=fields.get("environment") or query.get("environment", "production"),
            flags=parse_flags_text(fields.get("flags") or query.get("flags")),
            message=fields.get("message") or query.get("message"),
            commit=fields.get("commit") or query.get("commit"),
        )

    deploy = await services(request).deploys.receive(actor, request.match_info["site"], receive)
    return web.json_response(deploy_json(request, deploy), status=202)


async def list_deploys(request: web.Request) -> web.Response:
    """A site's deploys, newest first."""
    deploys = await services(request).deploys.for_site(
        await current_user(request), request.match_info["site"]
    )
    return web.json_response({"deploys": [deploy_json(request, d) for d in deploys]})


async def get_deploy(request: web.Request) -> web.Response:
    """One deploy."""
    deploy = await services(request).deploys.get(
        await current_user(request), request.match_info["site"], request.match_info["deploy"]
    )
    return web.json_response(deploy_json(request, deploy))


async def deploy_log(request: web.Request) -> web.Response:
    """A deploy's build log."""
    lines = await services(request).deploys.log(
        await current_user(request), request.match_info["site"], request.match_info["deploy"]
    )
    return web.json_response({"lines": [log_json(line) for line in lines]})


async def follow_deploy_log(request: web.Request) -> web.StreamResponse:
    """A deploy's build log as it is written (server-sent events), until it has settled."""
    actor = await current_user(request)
    deploy = await services(request).deploys.get(
        actor, request.match_info["site"], request.match_info["deploy"]
    )
    return await stream_log(request, actor, deploy, {"Cache-Control": "no-store"})


async def update_deploy(request: web.Request) -> web.Response:
    """Pin or unpin a deploy."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    body = await read_json_object(request)
    deploy = await services(request).deploys.set_pinned(
        actor, request.match_info["site"], request.match_info["deploy"], body.get("pinned")
    )
    return web.json_response(deploy_json(request, deploy))


async def publish_deploy(request: web.Request) -> web.Response:
    """Make a ready deploy live (atomic); `{"force": true}` past failed release checks."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    body = await read_json_object(request) if request.body_exists else {}
    if "canary" in body:
        canary = await services(request).canaries.start(
            actor, request.match_info["site"], request.match_info["deploy"], body["canary"]
        )
        return web.json_response(canary_json(canary), status=201)
    event = await services(request).deploys.publish(
        actor,
        request.match_info["site"],
        request.match_info["deploy"],
        force=body.get("force", False),
    )
    services(request).probes.check_later(event)
    return web.json_response(event_json(event))


async def rollback(request: web.Request) -> web.Response:
    """Back to the previous live deploy, or the one named."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    body = await read_json_object(request) if request.body_exists else {}
    event = await services(request).deploys.rollback(
        actor,
        request.match_info["site"],
        body.get("environment", "production"),
        body.get("deploy_id"),
    )
    services(request).probes.check_later(event)
    return web.json_response(event_json(event))


async def publish_history(request: web.Request) -> web.Response:
    """Every publish and rollback of a site: who, when, from, to."""
    events = await services(request).deploys.history(
        await current_user(request), request.match_info["site"]
    )
    return web.json_response({"events": [event_json(event) for event in events]})


_PUBLISH = {
    "type": "object",
    "properties": {
        "force": {"type": "boolean"},
        "canary": {
            "type": "integer",
            "minimum": 1,
            "maximum": 99,
            "description": "serve it to this percent of new visitors beside the live deploy",
        },
    },
    "examples": [{}, {"force": True}, {"canary": 10}],
}
_PINNED = {"type": "object", "required": ["pinned"], "properties": {"pinned": {"type": "boolean"}}}
_ROLLBACK = {
    "type": "object",
    "properties": {
        "environment": {"type": "string", "enum": ["production", "staging"]},
        "deploy_id": {"type": "string"},
    },
    "examples": [{}, {"environment": "production", "deploy_id": "3f9a2b1c0d4e"}],
}

_ARCHIVE = {"type": "string", "format": "binary", "description": "the site as a ZIP"}
_UPLOAD = {
    "application/zip": _ARCHIVE,
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "archive": _ARCHIVE,
            "environment": {"type": "string", "enum": ["production", "staging"]},
            "flags": {"type": "string", "description": "build flags as a JSON object"},
            "message": {"type": "string", "maxLength": 500, "description": "one line"},
            "commit": {"type": "string", "description": "the commit it was built from"},
            "file": {"type": "string", "format": "binary", "description": "a folder's file"},
        },
    },
}

DEPLOY_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/deploys",
        create_deploy,
        "Upload a ZIP (raw body or multipart field 'archive'); 202 with the deploy",
        status=202,
        request_media=_UPLOAD,
        responses={
            400: "a form without an 'archive' part, or not a readable form; flags not JSON",
            409: "staging asked for a site with no staging host",
            413: "archive too large",
            415: "not a ZIP or form",
            422: "rejected entries, flags, message or commit refused",
        },
        response=schemas.DEPLOY,
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/deploys",
        list_deploys,
        "Deploy history",
        response=schemas.listing("deploys", schemas.DEPLOY),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/deploys/{deploy}",
        get_deploy,
        "One deploy",
        response=schemas.DEPLOY,
    ),
    Endpoint(
        "PATCH",
        "/api/v1/sites/{site}/deploys/{deploy}",
        update_deploy,
        "Pin or unpin a deploy",
        request_body=_PINNED,
        response=schemas.DEPLOY,
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/deploys/{deploy}/log",
        deploy_log,
        "Build log",
        response=schemas.LOG,
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/deploys/{deploy}/log/stream",
        follow_deploy_log,
        "Build log as it is written: server-sent events (id = line number), then `done`",
        # One event: a line (its number as the id), or `done` with the deploy's status.
        response={
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "event": {"type": "string", "enum": ["message", "done"]},
                "data": {"type": "string"},
            },
        },
        content_type="text/event-stream",
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/deploys/{deploy}/publish",
        publish_deploy,
        "Make a ready deploy live; force: true publishes one whose release checks failed;"
        " canary: N serves it to N% of new visitors instead",
        request_body=_PUBLISH,
        responses={
            201: Answer("canary: the canary started", "application/json"),
            409: "deploy not ready or pruned; checks_failed on a site with checks: block;"
            " canary: nothing live, or a canary runs already",
            422: "force is not a boolean; canary is not 1 to 99",
        },
        response=schemas.EVENT,
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/rollback",
        rollback,
        "Back to the previous live deploy, or the one named",
        request_body=_ROLLBACK,
        responses={409: "no earlier live deploy"},
        response=schemas.EVENT,
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/publishes",
        publish_history,
        "Publish history",
        response=schemas.listing("events", schemas.EVENT),
    ),
)
