"""SQL for webhooks and their delivery log: create, list, delete, queue, claim, record, prune."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from controlplane.models import ClaimedDelivery, DeliveriesPage, Webhook, WebhookDelivery
from controlplane.store.sql_base import QueriesBase, Waiter

WEBHOOKS_CHANNEL = "wharf_webhooks"
_WEBHOOK_COLUMNS = "w.id, w.site_id, w.url, w.events, w.created_by, w.created_at"
# Each webhook with its newest delivery's status and time (none before the first).
_WEBHOOK_SELECT = (
    f"SELECT {_WEBHOOK_COLUMNS}, last.status AS last_status, last.created_at AS last_delivery_at"
    " FROM webhooks w LEFT JOIN LATERAL (SELECT d.status, d.created_at FROM webhook_deliveries d"
    " WHERE d.webhook_id = w.id ORDER BY d.id DESC LIMIT 1) last ON true"
)
_DELIVERY_COLUMNS = (
    "id, webhook_id, event, event_id, status, attempts, created_at, last_attempt_at,"
    " response_status, last_error, next_attempt_at, delivered_at"
)


class WebhookQueries(QueriesBase):
    """Webhook and delivery statements."""

    async def create_webhook(
        self,
        site_id: int,
        url: str,
        events: list[str],
        secret_sealed: str,
        created_by: int,
        limit: int,
    ) -> Webhook | None:
        """Insert a webhook unless the site has `limit` already (None then)."""
        async with self._cursor(transaction=True) as cur:
            # The site's row lock makes the count and the insert one step: two creations at
            # once cannot both see room for one more.
            await cur.execute("SELECT id FROM sites WHERE id = %(s)s FOR UPDATE", {"s": site_id})
            await cur.execute(
                "SELECT count(*) AS n FROM webhooks WHERE site_id = %(s)s", {"s": site_id}
            )
            if (await cur.fetchone())["n"] >= limit:
                return None
            await cur.execute(
                "INSERT INTO webhooks (site_id, url, events, secret_sealed, created_by)"
                " VALUES (%(s)s, %(u)s, %(e)s, %(k)s, %(by)s) RETURNING id",
                {"s": site_id, "u": url, "e": events, "k": secret_sealed, "by": created_by},
            )
            row = await cur.fetchone()
        assert row is not None
        return await self.get_webhook(site_id, row["id"])

    async def list_webhooks(self, site_id: int) -> list[Webhook]:
        """A site's webhooks, oldest first."""
        rows = await self._all(
            f"{_WEBHOOK_SELECT} WHERE w.site_id = %(s)s ORDER BY w.id", {"s": site_id}
        )
        return [Webhook(**row) for row in rows]

    async def get_webhook(self, site_id: int, webhook_id: int) -> Webhook | None:
        """One webhook of a site."""
        row = await self._one(
            f"{_WEBHOOK_SELECT} WHERE w.site_id = %(s)s AND w.id = %(id)s",
            {"s": site_id, "id": webhook_id},
        )
        return Webhook(**row) if row else None

    async def delete_webhook(self, site_id: int, webhook_id: int) -> bool:
        """Delete one webhook of a site, with its delivery log; False when there was none."""
        deleted = await self._execute(
            "DELETE FROM webhooks WHERE site_id = %(s)s AND id = %(id)s",
            {"s": site_id, "id": webhook_id},
        )
        return deleted > 0

    async def site_name_of(self, site_id: int) -> str | None:
        """The name of the site with this id, if it exists."""
        row = await self._one("SELECT name FROM sites WHERE id = %(s)s", {"s": site_id})
        return str(row["name"]) if row else None

    async def queue_deliveries(
        self,
        site_id: int,
        event: str,
        event_id: str,
        body: str,
        webhook_id: int | None = None,
    ) -> list[WebhookDelivery]:
        """One pending delivery for each of the site's webhooks subscribed to the event (or for
        the one webhook named, whatever it subscribed to), as queued (a loop may take them the
        moment they commit). Committed with a NOTIFY, so a woken loop always finds them."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "INSERT INTO webhook_deliveries (webhook_id, event, event_id, body)"
                " SELECT w.id, %(e)s, %(eid)s, %(b)s FROM webhooks w WHERE w.site_id = %(s)s"
                " AND (CASE WHEN %(w)s::bigint IS NULL THEN %(e)s = ANY(w.events)"
                f" ELSE w.id = %(w)s END) ORDER BY w.id RETURNING {_DELIVERY_COLUMNS}",
                {"s": site_id, "e": event, "eid": event_id, "b": body, "w": webhook_id},
            )
            queued = [WebhookDelivery(**row) for row in await cur.fetchall()]
            if queued:
                await cur.execute(f"NOTIFY {WEBHOOKS_CHANNEL}")
        return queued

    async def list_deliveries(
        self, webhook_id: int, limit: int, before: int | None = None
    ) -> DeliveriesPage:
        """A webhook's deliveries, newest first; with `before`, those older than that one."""
        rows = await self._all(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = %(w)s"
            " AND (%(b)s::bigint IS NULL OR id < %(b)s) ORDER BY id DESC LIMIT %(n)s",
            {"w": webhook_id, "b": before, "n": limit + 1},
        )
        deliveries = [WebhookDelivery(**row) for row in rows[:limit]]
        older = deliveries[-1].id if len(rows) > limit else None
        return DeliveriesPage(deliveries, older)

    async def claim_deliveries(
        self, claim: str, lease_seconds: float, limit: int
    ) -> list[ClaimedDelivery]:
        """Take up to `limit` due deliveries for one attempt each: counted, and not due again
        until the lease ends (a loop that dies mid-attempt leaves them to the next one)."""
        rows = await self._all(
            """
            UPDATE webhook_deliveries d SET attempts = d.attempts + 1, claim = %(c)s,
                last_attempt_at = now(),
                next_attempt_at = now() + make_interval(secs => %(lease)s)
            FROM webhooks w
            WHERE w.id = d.webhook_id AND d.id IN (
                SELECT id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at, id LIMIT %(n)s FOR UPDATE SKIP LOCKED
            )
            RETURNING d.id, d.webhook_id, w.url, w.secret_sealed, d.event, d.event_id, d.body,
                d.attempts, d.claim
            """,
            {"c": claim, "lease": lease_seconds, "n": limit},
        )
        return [ClaimedDelivery(**row) for row in rows]

    async def record_attempt(
        self,
        delivery_id: int,
        claim: str,
        *,
        delivered: bool,
        response_status: int | None,
        error: str | None,
        retry_in: float | None,
    ) -> bool:
        """An attempt's outcome: delivered, due again in `retry_in` seconds, or (None) failed
        for good. False when the claim was lost (its lease ran out and another loop took it)."""
        status = "delivered" if delivered else ("pending" if retry_in is not None else "failed")
        updated = await self._execute(
            "UPDATE webhook_deliveries SET status = %(st)s, claim = NULL,"
            " response_status = %(code)s, last_error = %(err)s,"
            " next_attempt_at = CASE WHEN %(st)s = 'pending'"
            "   THEN now() + make_interval(secs => %(retry)s) END,"
            " delivered_at = CASE WHEN %(st)s = 'delivered' THEN now() END"
            " WHERE id = %(id)s AND claim = %(c)s",
            {
                "st": status,
                "code": response_status,
                "err": error,
                "retry": retry_in or 0,
                "id": delivery_id,
                "c": claim,
            },
        )
        return updated > 0

    async def seconds_to_next_delivery(self) -> float | None:
        """How long until the next pending delivery is due (0 when one is); None when none."""
        row = await self._one(
            "SELECT greatest(extract(epoch FROM min(next_attempt_at) - now()), 0)::float AS wait"
            " FROM webhook_deliveries WHERE status = 'pending'"
        )
        wait: Any = row["wait"] if row else None
        return None if wait is None else float(wait)

    async def prune_deliveries(self, max_age_days: int, keep_per_webhook: int) -> int:
        """Forget settled deliveries older than the age, or past the newest `keep` of their
        webhook; how many were removed."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "DELETE FROM webhook_deliveries WHERE status <> 'pending'"
                " AND created_at < now() - make_interval(days => %(d)s)",
                {"d": max_age_days},
            )
            removed: int = cur.rowcount
            await cur.execute(
                "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND id IN ("
                " SELECT id FROM (SELECT id, row_number() OVER"
                " (PARTITION BY webhook_id ORDER BY id DESC) AS n FROM webhook_deliveries) ranked"
                " WHERE n > %(k)s)",
                {"k": keep_per_webhook},
            )
            removed += cur.rowcount
        return removed

    def delivery_notifications(self) -> AbstractAsyncContextManager[Waiter]:
        """Listen for queued deliveries; yields wait(seconds) -> the notifications of that time."""
        return self.notifications(WEBHOOKS_CHANNEL)
