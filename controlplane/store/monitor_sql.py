"""Monitoring statements: which live environments are due, each check and the state it
changes, certificates' ends, and the summaries the API and /metrics show."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from controlplane.models import MonitorTarget, MonitorTransition
from controlplane.store.sql_base import QueriesBase

_MONITOR_LOCK_ID = 0x5748_4152_4D4F_4E49  # "WHARMONI"


class MonitorQueries(QueriesBase):
    """Monitoring statements."""

    def monitor_lock(self) -> AbstractAsyncContextManager[bool]:
        """The monitor's lock, when no other process holds it; whether held."""
        return self._advisory_lock(_MONITOR_LOCK_ID, wait=False)

    async def monitor_due(self, limit: int, *, everything: bool = False) -> list[MonitorTarget]:
        """Live environments not checked within their site's interval (every one, with
        everything), longest waiting first."""
        rows = await self._all(
            "SELECT s.id AS site_id, s.name AS site, d.environment, d.id AS deploy,"
            " EXISTS (SELECT 1 FROM gates g WHERE g.site_id = s.id"
            "   AND g.environment = d.environment) AS gated"
            " FROM deploys d JOIN sites s ON s.id = d.site_id"
            " LEFT JOIN monitor_states m ON m.site_id = s.id AND m.environment = d.environment"
            " WHERE d.status = 'live' AND d.environment IN ('production', 'staging')"
            " AND (%(all)s OR m.last_checked_at IS NULL"
            "   OR m.last_checked_at < now() - make_interval(secs => s.monitor_interval))"
            " ORDER BY m.last_checked_at NULLS FIRST LIMIT %(n)s",
            {"n": limit, "all": everything},
        )
        return [MonitorTarget(**row) for row in rows]

    async def record_monitor_check(
        self,
        site_id: int,
        environment: str,
        check: dict[str, Any],
        down_after: int,
    ) -> MonitorTransition | None:
        """Keep one check and move the environment's state: down after `down_after` failed
        checks in a row, recovered at the first good one; the change, if any."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "INSERT INTO monitor_checks (site_id, environment, up, status, latency_ms,"
                " problem) VALUES (%(s)s, %(e)s, %(up)s, %(status)s, %(ms)s, %(problem)s)",
                {"s": site_id, "e": environment, **check},
            )
            await cur.execute(
                "INSERT INTO monitor_states (site_id, environment, up) VALUES (%(s)s, %(e)s, true)"
                " ON CONFLICT DO NOTHING",
                {"s": site_id, "e": environment},
            )
            await cur.execute(
                "SELECT up, failures FROM monitor_states"
                " WHERE site_id = %(s)s AND environment = %(e)s FOR UPDATE",
                {"s": site_id, "e": environment},
            )
            state = await cur.fetchone()
            was_up, failures = state["up"], 0 if check["up"] else state["failures"] + 1
            now_up = check["up"] or (was_up and failures < down_after)
            changed = now_up != was_up
            await cur.execute(
                "UPDATE monitor_states SET up = %(up)s, failures = %(f)s, last_checked_at = now(),"
                " since = CASE WHEN %(changed)s THEN now() ELSE since END"
                " WHERE site_id = %(s)s AND environment = %(e)s",
                {"up": now_up, "f": failures, "changed": changed, "s": site_id, "e": environment},
            )
        if not changed:
            return None
        return "recovered" if now_up else "down"

    async def set_monitor_certificate(
        self, site_id: int, environment: str, not_after: datetime | None
    ) -> datetime | None:
        """Note the end of the certificate the host presents; the end an alert was sent for."""
        row = await self._one(
            "UPDATE monitor_states SET certificate_not_after = %(n)s"
            " WHERE site_id = %(s)s AND environment = %(e)s RETURNING certificate_alerted_for",
            {"n": not_after, "s": site_id, "e": environment},
        )
        return row["certificate_alerted_for"] if row else None

    async def mark_certificate_alerted(
        self, site_id: int, environment: str, not_after: datetime
    ) -> None:
        """Remember that the expiry of this certificate was announced (once per certificate)."""
        await self._execute(
            "UPDATE monitor_states SET certificate_alerted_for = %(n)s"
            " WHERE site_id = %(s)s AND environment = %(e)s",
            {"n": not_after, "s": site_id, "e": environment},
        )

    async def prune_monitor_checks(self, days: int) -> int:
        """Drop checks older than the retention; how many went."""
        return await self._execute(
            "DELETE FROM monitor_checks WHERE checked_at < now() - make_interval(days => %(d)s)",
            {"d": days},
        )

    async def monitoring_of(self, site_id: int, recent: int) -> list[dict[str, Any]]:
        """Each monitored environment of a site: its state, uptime over 24 hours and 7 days,
        latency percentiles over 24 hours, and its most recent checks."""
        states = await self._all(
            "SELECT m.environment, m.up, m.since, m.last_checked_at, m.certificate_not_after,"
            " (SELECT avg(c.up::int) FROM monitor_checks c WHERE c.site_id = m.site_id"
            "   AND c.environment = m.environment"
            "   AND c.checked_at > now() - interval '24 hours')::float AS uptime_24h,"
            " (SELECT avg(c.up::int) FROM monitor_checks c WHERE c.site_id = m.site_id"
            "   AND c.environment = m.environment"
            "   AND c.checked_at > now() - interval '7 days')::float AS uptime_7d,"
            " (SELECT percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY c.latency_ms)"
            "   FROM monitor_checks c WHERE c.site_id = m.site_id"
            "   AND c.environment = m.environment AND c.up"
            "   AND c.checked_at > now() - interval '24 hours') AS latency"
            " FROM monitor_states m WHERE m.site_id = %(s)s ORDER BY m.environment",
            {"s": site_id},
        )
        for state in states:
            state["recent"] = await self._all(
                "SELECT checked_at, up, status, latency_ms, problem FROM monitor_checks"
                " WHERE site_id = %(s)s AND environment = %(e)s"
                " ORDER BY checked_at DESC LIMIT %(n)s",
                {"s": site_id, "e": state["environment"], "n": recent},
            )
        return states

    async def monitor_states_all(self) -> list[dict[str, Any]]:
        """Every environment's state with its latest latency, for /metrics."""
        return await self._all(
            "SELECT s.name AS site, m.environment, m.up, m.certificate_not_after,"
            " (SELECT c.latency_ms FROM monitor_checks c WHERE c.site_id = m.site_id"
            "   AND c.environment = m.environment ORDER BY c.checked_at DESC LIMIT 1) AS latency_ms"
            " FROM monitor_states m JOIN sites s ON s.id = m.site_id ORDER BY s.name, m.environment"
        )
