"""A site's webhooks on behalf of its owner (added with a secret shown once, listed, removed,
tested, their delivery log), and `notify`: an alert queued, in the database and in the same
call, for every webhook of the site that subscribed to its event."""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controlplane.errors import Invalid, NotFound
from controlplane.models import (
    WEBHOOK_EVENTS,
    DeliveriesPage,
    Site,
    User,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)
from controlplane.secrets import Secret, SecretBox
from controlplane.sites.site_service import Sites
from controlplane.store.webhook_sql import WebhookQueries
from controlplane.webhooks.webhook_events import alert_body, check_event, new_event_id
from controlplane.webhooks.webhook_signatures import new_secret
from controlplane.webhooks.webhook_urls import destination, parse_webhook_url

log = logging.getLogger(__name__)

MAX_WEBHOOKS_PER_SITE = 10
DELIVERIES_PER_PAGE = 50
MAX_DELIVERIES_PER_PAGE = 100


@dataclass(frozen=True)
class WebhookOptions:
    """What the webhook service needs from the settings."""

    allow_private: bool = False
    max_per_site: int = MAX_WEBHOOKS_PER_SITE
    resolve_timeout: float = 5.0


def validate_events(raw: object) -> list[WebhookEvent]:
    """The events a webhook subscribes to, in Wharf's order (None: every one), else Invalid."""
    if raw is None:
        return list(WEBHOOK_EVENTS)
    if not isinstance(raw, list) or not raw:
        raise Invalid(
            f"events is a non-empty list of: {', '.join(WEBHOOK_EVENTS)} (leave it out for all)",
            code="invalid_webhook_events",
        )
    for name in raw:
        if name not in WEBHOOK_EVENTS:
            shown = repr(name)[:80]
            raise Invalid(
                f"{shown} is not an event; choose among {', '.join(WEBHOOK_EVENTS)}",
                code="invalid_webhook_events",
                details={"event": name if isinstance(name, str) else None},
            )
    return [event for event in WEBHOOK_EVENTS if event in raw]


class Webhooks:
    """Webhook operations on behalf of a user, and alerts from the rest of Wharf."""

    def __init__(
        self, store: WebhookQueries, sites: Sites, box: SecretBox, options: WebhookOptions
    ) -> None:
        self.store = store
        self.sites = sites
        self.box = box
        self.options = options

    async def create(
        self, actor: User, site_name: str, url: object, events: object = None
    ) -> tuple[Webhook, Secret]:
        """Add a webhook to a site; it and its signing secret, which is never shown again."""
        site = await self.sites.get(actor, site_name)
        target = parse_webhook_url(url)
        chosen = validate_events(events)
        # Refused now rather than at the first alert; checked again before every attempt.
        try:
            async with asyncio.timeout(self.options.resolve_timeout):
                await destination(target, self.options.allow_private)
        except TimeoutError:
            raise Invalid(
                f"{target.host} did not resolve within {self.options.resolve_timeout:g} s",
                code="webhook_url_unresolvable",
            ) from None
        secret = new_secret()
        webhook = await self.store.create_webhook(
            site.id, target.url, list(chosen), self.box.seal(secret), actor.id,
            self.options.max_per_site,
        )  # fmt: skip
        if webhook is None:
            raise Invalid(
                f"{site.name} has {self.options.max_per_site} webhooks, the most a site may"
                " have: remove one first",
                code="too_many_webhooks",
            )
        log.info(
            "webhook added",
            extra={"site": site.name, "webhook": webhook.id, "host": target.host},
        )
        return webhook, secret

    async def list(self, actor: User, site_name: str) -> list[Webhook]:
        """A site's webhooks, oldest first."""
        site = await self.sites.get(actor, site_name)
        return await self.store.list_webhooks(site.id)

    async def _get(self, site: Site, webhook_id: int | None) -> Webhook:
        webhook = None if webhook_id is None else await self.store.get_webhook(site.id, webhook_id)
        if webhook is None:
            raise NotFound(f"{site.name} has no such webhook", code="webhook_not_found")
        return webhook

    async def get(self, actor: User, site_name: str, webhook_id: int | None) -> Webhook:
        """One webhook of a site the actor may see (None: an id that names none)."""
        return await self._get(await self.sites.get(actor, site_name), webhook_id)

    async def delete(self, actor: User, site_name: str, webhook_id: int | None) -> None:
        """Remove a webhook and its delivery log; nothing more is sent to it."""
        site = await self.sites.get(actor, site_name)
        if webhook_id is None or not await self.store.delete_webhook(site.id, webhook_id):
            raise NotFound(f"{site.name} has no such webhook", code="webhook_not_found")
        log.info("webhook removed", extra={"site": site.name, "webhook": webhook_id})

    async def test(self, actor: User, site_name: str, webhook_id: int | None) -> WebhookDelivery:
        """Queue a webhook.test delivery to one webhook, whatever events it subscribed to."""
        site = await self.sites.get(actor, site_name)
        webhook = await self._get(site, webhook_id)
        data = {"webhook_id": webhook.id}
        queued = await self._queue(site.id, site.name, "webhook.test", data, webhook.id)
        if not queued:  # removed meanwhile
            raise NotFound(f"{site.name} has no such webhook", code="webhook_not_found")
        return queued[0]

    async def deliveries(
        self,
        actor: User,
        site_name: str,
        webhook_id: int | None,
        before: int | None = None,
        limit: int = DELIVERIES_PER_PAGE,
    ) -> DeliveriesPage:
        """A page of a webhook's delivery log, newest first (`before`: older than that one)."""
        webhook = await self.get(actor, site_name, webhook_id)
        limit = min(max(limit, 1), MAX_DELIVERIES_PER_PAGE)
        return await self.store.list_deliveries(webhook.id, limit, before)

    async def notify(self, site_id: int, event: str, data: Mapping[str, Any]) -> int:
        """Queue an alert for every webhook of the site subscribed to the event; how many.

        The deliveries are committed before this returns, so the alert survives a restart;
        the delivery loop is woken and sends them within a second. ValueError for an event
        Wharf does not know or data that is not JSON. A site that is gone gets nothing (0).
        """
        checked = check_event(event)
        site_name = await self.store.site_name_of(site_id)
        if site_name is None:
            return 0
        return len(await self._queue(site_id, site_name, checked, data))

    async def _queue(
        self,
        site_id: int,
        site_name: str,
        event: WebhookEvent,
        data: Mapping[str, Any],
        webhook_id: int | None = None,
    ) -> builtins.list[WebhookDelivery]:
        event_id = new_event_id()
        body = alert_body(event_id, event, site_name, datetime.now(UTC), data)
        queued = await self.store.queue_deliveries(site_id, event, event_id, body, webhook_id)
        if queued:
            log.info(
                "webhook alert queued",
                extra={"site": site_name, "alert_event": event, "deliveries": len(queued)},
            )
        return queued
