"""Canary handlers: start one by publishing with `{"canary": percent}`, list a site's
canaries, change a running one's share, promote it or abort it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.web import schemas
from controlplane.web.callers import check_site_access, current_user
from controlplane.web.deploy_api import canary_json, event_json
from controlplane.web.inputs import read_json_object
from controlplane.web.keys import services
from controlplane.web.openapi import Endpoint


async def list_canaries(request: web.Request) -> web.Response:
    """A site's canaries, newest first."""
    found = await services(request).canaries.current(
        await current_user(request), request.match_info["site"]
    )
    return web.json_response({"canaries": [canary_json(canary) for canary in found]})


async def _body(request: web.Request) -> tuple[Any, dict[str, Any]]:
    actor = await current_user(request)
    await check_site_access(request, actor)
    return actor, await read_json_object(request) if request.body_exists else {}


async def change_canary(request: web.Request) -> web.Response:
    """Give the running canary another share of new visitors."""
    actor, body = await _body(request)
    record = await services(request).canaries.set_percent(
        actor, request.match_info["site"], body.get("environment"), body.get("percent")
    )
    return web.json_response(canary_json(record))


async def promote_canary(request: web.Request) -> web.Response:
    """Publish the canary for every visitor."""
    actor, body = await _body(request)
    event = await services(request).canaries.promote(
        actor, request.match_info["site"], body.get("environment", "production")
    )
    services(request).probes.check_later(event)
    return web.json_response(event_json(event))


async def abort_canary(request: web.Request) -> web.Response:
    """Send everyone back to the live release and end the canary."""
    actor, body = await _body(request)
    record = await services(request).canaries.abort(
        actor,
        request.match_info["site"],
        body.get("environment", "production"),
        f"aborted by {actor.email}",
    )
    return web.json_response(canary_json(record))


CANARY = schemas.record(
    id=schemas.INTEGER,
    site=schemas.STRING,
    environment=schemas.enum("production", "staging"),
    deploy_id=schemas.STRING,
    stable_deploy_id=schemas.STRING,
    percent=schemas.INTEGER,
    state=schemas.enum("running", "promoted", "aborted", "rolled_back"),
    actor_id=schemas.INTEGER_OR_NULL,
    started_at=schemas.TIME,
    ended_at={"type": ["string", "null"], "format": "date-time"},
    reason=schemas.TEXT_OR_NULL,
)
_ENVIRONMENT = {
    "type": "object",
    "properties": {"environment": {"type": "string", "enum": ["production", "staging"]}},
}
_PERCENT = {
    "type": "object",
    "required": ["environment", "percent"],
    "properties": {
        "environment": {"type": "string", "enum": ["production", "staging"]},
        "percent": {"type": "integer", "minimum": 1, "maximum": 99},
    },
}
_NO_CANARY = {404: "no such site, or the environment runs no canary"}
CANARY_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/canaries",
        list_canaries,
        "A site's canaries, newest first",
        response=schemas.listing("canaries", CANARY),
    ),
    Endpoint(
        "PATCH",
        "/api/v1/sites/{site}/canary",
        change_canary,
        "Change the running canary's share of new visitors",
        request_body=_PERCENT,
        responses=_NO_CANARY,
        response=CANARY,
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/canary/promote",
        promote_canary,
        "Publish the running canary for every visitor",
        request_body=_ENVIRONMENT,
        responses={**_NO_CANARY, 409: "the canary cannot be published (pruned, files lost)"},
        response=schemas.EVENT,
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/canary/abort",
        abort_canary,
        "Send every visitor back to the live release and end the canary",
        request_body=_ENVIRONMENT,
        responses=_NO_CANARY,
        response=CANARY,
    ),
)
