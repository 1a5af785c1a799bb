"""Canary statements: the running canary of an environment, starting, re-weighting and
ending one."""

from __future__ import annotations

import psycopg2.errors

from controlplane.errors import Conflict
from controlplane.models import CanaryRecord
from controlplane.store.sql_base import QueriesBase

_COLUMNS = (
    "c.id, s.name AS site, c.environment, c.deploy_id, c.stable_deploy_id, c.percent, c.state,"
    " c.actor_id, c.started_at, c.ended_at, c.reason"
)
_FROM = "FROM canaries c JOIN sites s ON s.id = c.site_id"


class CanaryQueries(QueriesBase):
    """Canary statements (callers hold the site's publish lock for changes)."""

    async def start_canary(
        self,
        site_id: int,
        environment: str,
        deploy_id: str,
        stable_deploy_id: str,
        percent: int,
        actor_id: int | None,
    ) -> CanaryRecord:
        """Record a running canary; Conflict when the environment runs one already."""
        try:
            row = await self._one(
                f"WITH started AS (INSERT INTO canaries (site_id, environment, deploy_id,"
                f" stable_deploy_id, percent, actor_id) VALUES (%(s)s, %(e)s, %(d)s, %(st)s,"
                f" %(p)s, %(a)s) RETURNING *)"
                f" SELECT {_COLUMNS} FROM started c JOIN sites s ON s.id = c.site_id",
                {
                    "s": site_id,
                    "e": environment,
                    "d": deploy_id,
                    "st": stable_deploy_id,
                    "p": percent,
                    "a": actor_id,
                },
            )
        except psycopg2.errors.UniqueViolation:
            raise Conflict(
                f"{environment} runs a canary already: promote or abort it first",
                code="canary_running",
            ) from None
        assert row is not None
        return CanaryRecord(**row)

    async def running_canary(self, site_id: int, environment: str) -> CanaryRecord | None:
        """The canary an environment runs now, if any."""
        row = await self._one(
            f"SELECT {_COLUMNS} {_FROM}"
            " WHERE c.site_id = %(s)s AND c.environment = %(e)s AND c.state = 'running'",
            {"s": site_id, "e": environment},
        )
        return CanaryRecord(**row) if row else None

    async def set_canary_percent(self, canary_id: int, percent: int) -> None:
        """Change a running canary's share of new visitors."""
        await self._execute(
            "UPDATE canaries SET percent = %(p)s WHERE id = %(i)s AND state = 'running'",
            {"p": percent, "i": canary_id},
        )

    async def end_canary(self, canary_id: int, state: str, reason: str) -> None:
        """End a running canary: promoted, aborted or rolled back, and why."""
        await self._execute(
            "UPDATE canaries SET state = %(st)s, ended_at = now(), reason = %(r)s"
            " WHERE id = %(i)s AND state = 'running'",
            {"st": state, "r": reason, "i": canary_id},
        )

    async def canaries_of(self, site_id: int, limit: int) -> list[CanaryRecord]:
        """A site's canaries, newest first."""
        rows = await self._all(
            f"SELECT {_COLUMNS} {_FROM} WHERE c.site_id = %(s)s ORDER BY c.id DESC LIMIT %(n)s",
            {"s": site_id, "n": limit},
        )
        return [CanaryRecord(**row) for row in rows]
