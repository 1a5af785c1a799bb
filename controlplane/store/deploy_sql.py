"""SQL for deploys: creation with their build job, the job queue, logs, publishing, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import psycopg2.extras

from controlplane.errors import Conflict, NotFound
from controlplane.models import BuildJob, Deploy, LogLine, PublishEvent
from controlplane.store.sql_base import QueriesBase, Waiter

JOBS_CHANNEL = "wharf_build_jobs"
PUBLISH_CHANNEL = "wharf_publishes"
# Statuses a publish or rollback may make live.
PUBLISHABLE = ("ready", "superseded", "live")
_DEPLOY_SELECT = (
    "SELECT d.id, d.site_id, s.name AS site_name, d.environment, d.status, d.error,"
    " d.created_by, d.created_at, d.started_at, d.finished_at, d.published_at, d.pinned,"
    " d.pruned_at, d.artifact_bytes, d.file_count, d.total_bytes, d.flags, d.report,"
    " u.email AS created_by_email, d.message, d.git_commit AS commit, d.probes, d.checks"
    " FROM deploys d JOIN sites s ON s.id = d.site_id LEFT JOIN users u ON u.id = d.created_by"
)
# Any fixed number, distinct from the migration lock; the second key is the site id.
_PUBLISH_LOCK_CLASS = 0x57485042
_RECONCILE_LOCK_ID = 0x5748_4152_464C_4956  # "WHARFLIV"


class DeployQueries(QueriesBase):
    """Deploy, job-queue and publish statements."""

    async def create_deploy(
        self,
        deploy_id: str,
        site_id: int,
        environment: str,
        created_by: int,
        artifact_bytes: int,
        flags: dict[str, Any],
        message: str | None = None,
        commit: str | None = None,
    ) -> Deploy:
        """Insert a pending deploy and its queued build job in one transaction, waking workers."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "INSERT INTO deploys (id, site_id, environment, status, created_by,"
                " artifact_bytes, flags, message, git_commit) VALUES (%(id)s, %(site)s, %(env)s,"
                " 'pending', %(by)s, %(bytes)s, %(flags)s, %(message)s, %(commit)s)",
                {
                    "message": message,
                    "commit": commit,
                    "id": deploy_id,
                    "site": site_id,
                    "env": environment,
                    "by": created_by,
                    "bytes": artifact_bytes,
                    "flags": psycopg2.extras.Json(flags),
                },
            )
            await cur.execute(
                "INSERT INTO build_jobs (deploy_id) VALUES (%(id)s)", {"id": deploy_id}
            )
            # Delivered at commit, so a woken worker always finds the job.
            await cur.execute(f"NOTIFY {JOBS_CHANNEL}")
        deploy = await self.get_deploy(site_id, deploy_id)
        assert deploy is not None
        return deploy

    async def get_deploy(self, site_id: int, deploy_id: str) -> Deploy | None:
        """One deploy of a site."""
        row = await self._one(
            f"{_DEPLOY_SELECT} WHERE d.site_id = %(s)s AND d.id = %(id)s",
            {"s": site_id, "id": deploy_id},
        )
        return Deploy(**row) if row else None

    async def deploy_by_id(self, deploy_id: str) -> Deploy | None:
        """A deploy by id alone (for the build worker)."""
        row = await self._one(f"{_DEPLOY_SELECT} WHERE d.id = %(id)s", {"id": deploy_id})
        return Deploy(**row) if row else None

    async def list_deploys(
        self, site_id: int, limit: int = 100, before: str | None = None
    ) -> list[Deploy]:
        """A site's deploys, newest first; with `before`, those older than that deploy."""
        rows = await self._all(
            f"{_DEPLOY_SELECT} WHERE d.site_id = %(s)s AND (%(b)s::text IS NULL"
            " OR (d.created_at, d.id) < (SELECT created_at, id FROM deploys WHERE id = %(b)s))"
            " ORDER BY d.created_at DESC, d.id DESC LIMIT %(n)s",
            {"s": site_id, "n": limit, "b": before},
        )
        return [Deploy(**row) for row in rows]

    async def live_deploys_of(self, site_id: int) -> list[Deploy]:
        """A site's live deploys (one per environment at most)."""
        rows = await self._all(
            f"{_DEPLOY_SELECT} WHERE d.site_id = %(s)s AND d.status = 'live'", {"s": site_id}
        )
        return [Deploy(**row) for row in rows]

    # The job queue

    async def fail_abandoned_jobs(self, max_attempts: int) -> list[str]:
        """Give up on jobs whose workers died max_attempts times; their deploys fail."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "UPDATE build_jobs SET state = 'done', worker = NULL"
                " WHERE state = 'running' AND lease_expires_at < now()"
                " AND attempts >= %(max)s RETURNING deploy_id",
                {"max": max_attempts},
            )
            ids = [row["deploy_id"] for row in await cur.fetchall()]
            if ids:
                await cur.execute(
                    "UPDATE deploys SET status = 'failed', finished_at = now(),"
                    " error = 'the build was interrupted too many times'"
                    " WHERE id = ANY(%(ids)s)",
                    {"ids": ids},
                )
            return ids

    async def claim_job(
        self, worker: str, lease_seconds: float, max_attempts: int = 3
    ) -> BuildJob | None:
        """Take the oldest queued job, or one whose lease expired; None when there is none."""
        row = await self._one(
            """
            UPDATE build_jobs SET state = 'running', worker = %(w)s, attempts = attempts + 1,
                lease_expires_at = now() + make_interval(secs => %(lease)s)
            WHERE deploy_id = (
                SELECT deploy_id FROM build_jobs
                WHERE state = 'queued' OR (
                    state = 'running' AND lease_expires_at < now() AND attempts < %(max)s
                )
                ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED
            )
            RETURNING deploy_id, attempts
            """,
            {"w": worker, "lease": lease_seconds, "max": max_attempts},
        )
        return BuildJob(**row) if row else None

    async def extend_lease(self, deploy_id: str, worker: str, lease_seconds: float) -> bool:
        """Renew a running job's lease; False when the job is no longer this worker's."""
        updated = await self._execute(
            "UPDATE build_jobs SET lease_expires_at = now() + make_interval(secs => %(lease)s)"
            " WHERE deploy_id = %(id)s AND worker = %(w)s AND state = 'running'",
            {"id": deploy_id, "w": worker, "lease": lease_seconds},
        )
        return updated > 0

    async def requeue_job(self, deploy_id: str, worker: str) -> None:
        """Hand a job back (worker stopping); it does not count as an attempt."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "UPDATE build_jobs SET state = 'queued', worker = NULL, lease_expires_at = NULL,"
                " attempts = greatest(attempts - 1, 0)"
                " WHERE deploy_id = %(id)s AND worker = %(w)s AND state = 'running'",
                {"id": deploy_id, "w": worker},
            )
            await cur.execute(
                "UPDATE deploys SET status = 'pending' WHERE id = %(id)s AND status = 'building'",
                {"id": deploy_id},
            )
            await cur.execute(f"NOTIFY {JOBS_CHANNEL}")

    async def start_build(self, deploy_id: str) -> None:
        """Mark a deploy as building."""
        await self._execute(
            "UPDATE deploys SET status = 'building', started_at = now(), error = NULL"
            " WHERE id = %(id)s AND status IN ('pending', 'building')",
            {"id": deploy_id},
        )

    async def finish_build(
        self,
        deploy_id: str,
        worker: str,
        *,
        error: str | None,
        report: dict[str, Any],
        file_count: int | None = None,
        total_bytes: int | None = None,
        checks: dict[str, Any] | None = None,
    ) -> bool:
        """Record a build's outcome (with its release checks) and close its job; False when the
        job was taken from us."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "UPDATE build_jobs SET state = 'done', worker = NULL, lease_expires_at = NULL"
                " WHERE deploy_id = %(id)s AND worker = %(w)s AND state = 'running'",
                {"id": deploy_id, "w": worker},
            )
            if cur.rowcount == 0:
                return False
            await cur.execute(
                "UPDATE deploys SET status = %(status)s, error = %(error)s, report = %(report)s,"
                " file_count = %(files)s, total_bytes = %(bytes)s, checks = %(checks)s,"
                " finished_at = now() WHERE id = %(id)s",
                {
                    "id": deploy_id,
                    "status": "failed" if error else "ready",
                    "error": error,
                    "report": psycopg2.extras.Json(report),
                    "files": file_count,
                    "bytes": total_bytes,
                    "checks": None if checks is None else psycopg2.extras.Json(checks),
                },
            )
            return True

    async def pending_job_count(self) -> int:
        """Jobs not finished yet (for metrics and tests)."""
        row = await self._one("SELECT count(*) AS n FROM build_jobs WHERE state <> 'done'")
        assert row is not None
        return int(row["n"])

    def job_notifications(self) -> AbstractAsyncContextManager[Waiter]:
        """Listen for new jobs; yields wait(seconds) -> the notifications of that time."""
        return self.notifications(JOBS_CHANNEL)

    def publish_notifications(self) -> AbstractAsyncContextManager[Waiter]:
        """Listen for publishes; yields wait(seconds) -> names of sites published in that time."""
        return self.notifications(PUBLISH_CHANNEL)

    # Build logs

    async def append_log_lines(self, deploy_id: str, first_line_no: int, lines: list[str]) -> None:
        """Store consecutive log lines starting at a line number."""
        if not lines:
            return
        await self._execute(
            "INSERT INTO deploy_log_lines (deploy_id, line_no, text)"
            " SELECT %(id)s, %(first)s + ordinality - 1, line"
            " FROM unnest(%(lines)s::text[]) WITH ORDINALITY AS t(line, ordinality)"
            " ON CONFLICT (deploy_id, line_no) DO NOTHING",
            {"id": deploy_id, "first": first_line_no, "lines": lines},
        )

    async def next_log_line_no(self, deploy_id: str) -> int:
        """The number the next log line of a deploy gets (a retried build appends)."""
        row = await self._one(
            "SELECT coalesce(max(line_no), 0) + 1 AS n FROM deploy_log_lines"
            " WHERE deploy_id = %(id)s",
            {"id": deploy_id},
        )
        assert row is not None
        return int(row["n"])

    async def log_lines(self, deploy_id: str) -> list[LogLine]:
        """A deploy's build log in order."""
        rows = await self._all(
            "SELECT line_no, logged_at, text FROM deploy_log_lines"
            " WHERE deploy_id = %(id)s ORDER BY line_no",
            {"id": deploy_id},
        )
        return [LogLine(**row) for row in rows]

    # Publishing

    def reconcile_lock(self) -> AbstractAsyncContextManager[bool]:
        """The live-pointer reconcile's lock, when no other process holds it; whether held."""
        return self._advisory_lock(_RECONCILE_LOCK_ID, wait=False)

    @asynccontextmanager
    async def site_lock(self, site_id: int) -> AsyncIterator[None]:
        """Hold the site's publish lock, across processes, for the block.

        Publishing, rollback, retention and the live-pointer reconcile of one site take it, so
        a deploy cannot be pruned between a publish's checks and its symlink swap, and swaps
        happen in commit order. An advisory lock rather than row locks: it must also cover the
        symlink swap and the file removal, which happen outside any transaction.
        """
        async with self._advisory_lock(_PUBLISH_LOCK_CLASS, site_id):
            yield

    async def set_deploy_probes(self, deploy_id: str, probes: dict[str, Any]) -> None:
        """Keep what the probes after a deploy's publish found."""
        await self._execute(
            "UPDATE deploys SET probes = %(p)s WHERE id = %(id)s",
            {"p": psycopg2.extras.Json(probes), "id": deploy_id},
        )

    async def publish(
        self,
        site_id: int,
        deploy_id: str,
        *,
        kind: str,
        actor_id: int | None,
        reason: str | None = None,
    ) -> PublishEvent:
        """Commit a deploy as live in its environment and record the event (hold site_lock)."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "SELECT d.status, d.environment, d.pruned_at, s.name FROM deploys d"
                " JOIN sites s ON s.id = d.site_id WHERE d.id = %(id)s AND d.site_id = %(s)s"
                " FOR UPDATE OF d",
                {"id": deploy_id, "s": site_id},
            )
            target = await cur.fetchone()
            if target is None:
                raise NotFound("no such deploy", code="deploy_not_found")
            if target["pruned_at"] is not None:
                raise Conflict(
                    "this deploy's files were removed by retention", code="deploy_pruned"
                )
            if target["status"] not in PUBLISHABLE:
                raise Conflict(
                    f"a {target['status']} deploy cannot be published", code="deploy_not_ready"
                )
            await cur.execute(
                "SELECT id FROM deploys WHERE site_id = %(s)s AND environment = %(env)s"
                " AND status = 'live' FOR UPDATE",
                {"s": site_id, "env": target["environment"]},
            )
            current = await cur.fetchone()
            previous = current["id"] if current else None
            if previous != deploy_id:
                await cur.execute(
                    "UPDATE deploys SET status = 'superseded' WHERE id = %(id)s", {"id": previous}
                )
                await cur.execute(
                    "UPDATE deploys SET status = 'live', published_at = now() WHERE id = %(id)s",
                    {"id": deploy_id},
                )
            await cur.execute(
                "INSERT INTO publish_events (site_id, environment, kind, from_deploy, to_deploy,"
                " actor_id, reason) VALUES (%(s)s, %(env)s, %(kind)s, %(from)s, %(to)s,"
                " %(actor)s, %(reason)s) RETURNING id, environment, kind, from_deploy,"
                " to_deploy, actor_id, reason, created_at",
                {
                    "s": site_id,
                    "env": target["environment"],
                    "kind": kind,
                    "from": previous,
                    "to": deploy_id,
                    "actor": actor_id,
                    "reason": reason,
                },
            )
            row = await cur.fetchone()
            # Delivered at commit: the reconciler checks this site's pointers, in any process.
            await cur.execute(
                f"SELECT pg_notify('{PUBLISH_CHANNEL}', %(n)s)", {"n": target["name"]}
            )
        return PublishEvent(site_name=target["name"], **row)

    async def previous_live_deploy(self, site_id: int, environment: str) -> str | None:
        """The deploy that was live before the current one (the target of a plain rollback)."""
        row = await self._one(
            "SELECT e.from_deploy FROM publish_events e JOIN deploys d ON d.id = e.to_deploy"
            " WHERE e.site_id = %(s)s AND e.environment = %(env)s AND d.status = 'live'"
            " AND e.from_deploy IS NOT NULL AND e.from_deploy <> e.to_deploy"
            " ORDER BY e.id DESC LIMIT 1",
            {"s": site_id, "env": environment},
        )
        return row["from_deploy"] if row else None

    async def publish_events(self, site_id: int, limit: int = 100) -> list[PublishEvent]:
        """A site's publishes and rollbacks, newest first."""
        rows = await self._all(
            "SELECT e.id, s.name AS site_name, e.environment, e.kind, e.from_deploy,"
            " e.to_deploy, e.actor_id, e.reason, e.created_at FROM publish_events e"
            " JOIN sites s ON s.id = e.site_id WHERE e.site_id = %(s)s"
            " ORDER BY e.id DESC LIMIT %(n)s",
            {"s": site_id, "n": limit},
        )
        return [PublishEvent(**row) for row in rows]

    async def auto_publish_due(self, deploy_id: str | None = None) -> list[tuple[str, str]]:
        """(site, deploy) of ready deploys that should be live: newest of their environment,
        newer than its live deploy, the site publishes automatically (staging always), and
        its release checks did not hold it back."""
        rows = await self._all(
            """
            SELECT s.name, d.id FROM deploys d JOIN sites s ON s.id = d.site_id
            WHERE d.status = 'ready' AND d.pruned_at IS NULL
              AND (%(id)s::text IS NULL OR d.id = %(id)s)
              AND (s.auto_publish OR d.environment = 'staging')
              AND NOT coalesce((d.checks ->> 'blocked')::boolean, false)
              AND NOT EXISTS (
                  SELECT 1 FROM deploys other
                  WHERE other.site_id = d.site_id AND other.environment = d.environment
                    AND other.status IN ('ready', 'live') AND other.created_at > d.created_at
              )
            ORDER BY d.created_at
            """,
            {"id": deploy_id},
        )
        return [(row["name"], row["id"]) for row in rows]

    async def live_deploys(self) -> list[tuple[str, str, str]]:
        """(site name, environment, deploy id) of every live deploy, for reconciliation."""
        rows = await self._all(
            "SELECT s.name, d.environment, d.id FROM deploys d JOIN sites s ON s.id = d.site_id"
            " WHERE d.status = 'live' ORDER BY s.name, d.environment"
        )
        return [(row["name"], row["environment"], row["id"]) for row in rows]

    async def live_deploy_id(self, site_id: int, environment: str) -> str | None:
        """The deploy the database says is live in one environment of a site."""
        row = await self._one(
            "SELECT id FROM deploys WHERE site_id = %(s)s AND environment = %(env)s"
            " AND status = 'live'",
            {"s": site_id, "env": environment},
        )
        return row["id"] if row else None

    async def set_pinned(self, site_id: int, deploy_id: str, pinned: bool) -> None:
        """Pin a deploy (retention never removes it) or unpin it."""
        updated = await self._execute(
            "UPDATE deploys SET pinned = %(p)s WHERE site_id = %(s)s AND id = %(id)s",
            {"p": pinned, "s": site_id, "id": deploy_id},
        )
        if not updated:
            raise NotFound("no such deploy", code="deploy_not_found")

    # Retention

    async def prunable_deploys(self, keep_free: int, keep_pro: int) -> list[tuple[int, str, str]]:
        """(site id, site, deploy) of ready deploys past the newest N per site and environment."""
        rows = await self._all(
            """
            SELECT site_id, name, id FROM (
                SELECT d.site_id, s.name, d.id, s.tier, row_number() OVER (
                    PARTITION BY d.site_id, d.environment ORDER BY d.created_at DESC, d.id
                ) AS newer
                FROM deploys d JOIN sites s ON s.id = d.site_id
                WHERE d.status IN ('ready', 'superseded') AND NOT d.pinned
                  AND d.pruned_at IS NULL
            ) ranked
            WHERE newer > CASE tier WHEN 'pro' THEN %(pro)s ELSE %(free)s END
            """,
            {"free": keep_free, "pro": keep_pro},
        )
        return [(row["site_id"], row["name"], row["id"]) for row in rows]

    async def mark_pruned(self, deploy_id: str) -> bool:
        """Mark a deploy's files as removed (publishing it is refused from now on) and drop its
        log; False when it became live or pinned meanwhile."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "UPDATE deploys SET pruned_at = now() WHERE id = %(id)s"
                " AND status IN ('ready', 'superseded') AND NOT pinned AND pruned_at IS NULL",
                {"id": deploy_id},
            )
            if cur.rowcount == 0:
                return False
            await cur.execute(
                "DELETE FROM deploy_log_lines WHERE deploy_id = %(id)s", {"id": deploy_id}
            )
            return True

    async def expired_failed_deploys(self, max_age_days: int) -> list[tuple[str, str]]:
        """(site, deploy) of failed deploys older than the limit."""
        rows = await self._all(
            "SELECT s.name, d.id FROM deploys d JOIN sites s ON s.id = d.site_id"
            " WHERE d.status = 'failed'"
            " AND coalesce(d.finished_at, d.created_at) < now() - make_interval(days => %(d)s)",
            {"d": max_age_days},
        )
        return [(row["name"], row["id"]) for row in rows]

    async def delete_deploy(self, deploy_id: str) -> None:
        """Delete a deploy row (its job, log and events go with it)."""
        await self._execute("DELETE FROM deploys WHERE id = %(id)s", {"id": deploy_id})

    async def deploy_ids_by_site(self) -> dict[str, tuple[int, set[str]]]:
        """Every site name with its id and the ids of its unpruned deploys (others' files are
        orphans)."""
        rows = await self._all(
            "SELECT s.id AS site_id, s.name, d.id FROM sites s"
            " LEFT JOIN deploys d ON d.site_id = s.id AND d.pruned_at IS NULL"
        )
        found: dict[str, tuple[int, set[str]]] = {}
        for row in rows:
            _, ids = found.setdefault(row["name"], (row["site_id"], set()))
            if row["id"]:
                ids.add(row["id"])
        return found
