"""JSON API handlers for a site's webhooks: add (the secret in that answer only), list, remove,
send a test, and the delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from controlplane.errors import Invalid
from controlplane.models import WEBHOOK_EVENTS, Webhook, WebhookDelivery
from controlplane.web import schemas
from controlplane.web.callers import check_site_access, current_user
from controlplane.web.inputs import read_json_object, url_number
from controlplane.web.keys import services
from controlplane.web.openapi import Endpoint
from controlplane.webhooks.webhook_service import DELIVERIES_PER_PAGE, MAX_DELIVERIES_PER_PAGE
from controlplane.webhooks.webhook_urls import MAX_URL_LENGTH

# The largest id a path or query names (url_number reads 12 digits at most).
MAX_ID = 10**12 - 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    """A webhook as the API shows it: never its secret."""
    last = None
    if webhook.last_status is not None and webhook.last_delivery_at is not None:
        last = {"status": webhook.last_status, "created_at": webhook.last_delivery_at.isoformat()}
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": webhook.events,
        "created_by": webhook.created_by,
        "created_at": webhook.created_at.isoformat(),
        "last_delivery": last,
    }


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    """One entry of a webhook's delivery log."""
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event": delivery.event,
        "event_id": delivery.event_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": delivery.created_at.isoformat(),
        "last_attempt_at": _iso(delivery.last_attempt_at),
        "response_status": delivery.response_status,
        "last_error": delivery.last_error,
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "delivered_at": _iso(delivery.delivered_at),
    }


def _webhook_id(request: web.Request) -> int | None:
    """The path's webhook id; None for one that is not a number (it names no webhook)."""
    return url_number(request.match_info["webhook"])


def _query_number(request: web.Request, name: str, low: int, high: int) -> int | None:
    """An optional whole-number query parameter within bounds; Invalid otherwise."""
    raw = request.query.get(name)
    if raw is None:
        return None
    number = url_number(raw)
    if number is None or not low <= number <= high:
        raise Invalid(f"{name} is a whole number from {low} to {high}", code=f"invalid_{name}")
    return number


async def list_webhooks(request: web.Request) -> web.Response:
    """A site's webhooks."""
    webhooks = await services(request).webhooks.list(
        await current_user(request), request.match_info["site"]
    )
    return web.json_response({"webhooks": [webhook_json(webhook) for webhook in webhooks]})


async def add_webhook(request: web.Request) -> web.Response:
    """Add a webhook; its signing secret is in this answer and never again."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    body = await read_json_object(request)
    webhook, secret = await services(request).webhooks.create(
        actor, request.match_info["site"], body.get("url"), body.get("events")
    )
    return web.json_response(
        {**webhook_json(webhook), "secret": secret.reveal()},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


async def delete_webhook(request: web.Request) -> web.Response:
    """Remove a webhook and its delivery log."""
    await services(request).webhooks.delete(
        await current_user(request), request.match_info["site"], _webhook_id(request)
    )
    return web.Response(status=204)


async def test_webhook(request: web.Request) -> web.Response:
    """Queue a webhook.test delivery; 202 with it (its log entry shows how it went)."""
    delivery = await services(request).webhooks.test(
        await current_user(request), request.match_info["site"], _webhook_id(request)
    )
    return web.json_response(delivery_json(delivery), status=202)


async def list_deliveries(request: web.Request) -> web.Response:
    """A page of a webhook's delivery log, newest first."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    limit = _query_number(request, "limit", 1, MAX_DELIVERIES_PER_PAGE) or DELIVERIES_PER_PAGE
    before = _query_number(request, "before", 1, MAX_ID)
    page = await services(request).webhooks.deliveries(
        actor, request.match_info["site"], _webhook_id(request), before, limit
    )
    return web.json_response(
        {
            "deliveries": [delivery_json(delivery) for delivery in page.deliveries],
            "next_before": page.older,
        }
    )


_NEW_WEBHOOK = {
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": {
            "type": "string",
            "description": "http(s), no user or password; its host must resolve to public"
            " addresses unless WHARF_WEBHOOK_ALLOW_PRIVATE",
            "examples": ["https://hooks.example.com/wharf"],
            "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/@#]+(/[^\s#]*)?$",
            "maxLength": MAX_URL_LENGTH,
        },
        "events": {
            "type": "array",
            "items": {"type": "string", "enum": list(WEBHOOK_EVENTS)},
            "minItems": 1,
            "description": "the events to send; all when left out",
        },
    },
}
_PAGE = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_DELIVERIES_PER_PAGE},
    "before": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_ID,
        "description": "a page's `next_before`",
    },
}
_REFUSED_URL = (
    "invalid_webhook_url, webhook_url_too_long, webhook_url_scheme, webhook_url_credentials,"
    " webhook_url_private, webhook_url_unresolvable, invalid_webhook_events, too_many_webhooks"
)

WEBHOOK_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/webhooks",
        list_webhooks,
        "List a site's webhooks (never their secrets)",
        response=schemas.listing("webhooks", schemas.WEBHOOK),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/webhooks",
        add_webhook,
        "Add a webhook; the answer holds its signing secret, shown this once",
        status=201,
        request_body=_NEW_WEBHOOK,
        responses={422: _REFUSED_URL},
        response=schemas.NEW_WEBHOOK,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/sites/{site}/webhooks/{webhook}",
        delete_webhook,
        "Remove a webhook and its delivery log",
        status=204,
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/webhooks/{webhook}/test",
        test_webhook,
        "Queue a webhook.test delivery to this webhook",
        status=202,
        response=schemas.DELIVERY,
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/webhooks/{webhook}/deliveries",
        list_deliveries,
        "A webhook's delivery log, newest first (?limit, ?before for older pages)",
        query=_PAGE,
        responses={422: "invalid_limit, invalid_before"},
        response=schemas.DELIVERIES,
    ),
)
