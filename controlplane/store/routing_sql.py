"""SQL for routing progress: the change counter, what was written, confirmed or refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import wraps
from typing import ParamSpec, TypeVar

from controlplane.models import RoutingProgress
from controlplane.store.sql_base import QueriesBase, Waiter

ROUTING_CHANNEL = "wharf_routing"
# One writer of Traefik's file at a time, across every process sharing the database.
_WRITER_LOCK_ID = 0x5748_4152_4652_5452  # "WHARFRTR"

P = ParamSpec("P")
R = TypeVar("R")


def changes_routing(
    method: Callable[P, Awaitable[R]],
) -> Callable[P, Awaitable[R]]:
    """Mark a store write that changes routing: once it committed, bump and notify."""

    @wraps(method)
    async def write(*args: P.args, **kwargs: P.kwargs) -> R:
        result = await method(*args, **kwargs)
        queries = args[0]
        assert isinstance(queries, RoutingQueries)
        # After the commit, in its own statement: a reader of the new version always sees the
        # write, and the counter's row lock is never held while waiting for another lock.
        await queries.routing_changed()
        return result

    return write


class RoutingQueries(QueriesBase):
    """Routing progress statements."""

    async def routing_changed(self) -> int:
        """Count a routing change and wake every reconciler; the new version."""
        row = await self._one(
            "WITH bumped AS (UPDATE routing_progress SET version = version + 1,"
            " updated_at = now() RETURNING version)"
            f" SELECT version, pg_notify('{ROUTING_CHANNEL}', version::text) FROM bumped"
        )
        assert row is not None
        return int(row["version"])

    async def routing_progress(self) -> RoutingProgress:
        """The change counter and what the writer did with it."""
        row = await self._one(
            "SELECT version, written_version, confirmed_version, refused_version,"
            " refused_reason FROM routing_progress"
        )
        assert row is not None
        return RoutingProgress(**row)

    async def record_routing_written(self, version: int) -> None:
        """The config of this version is in Traefik's folder."""
        await self._execute(
            "UPDATE routing_progress SET written_version = greatest(written_version, %(v)s),"
            " updated_at = now()",
            {"v": version},
        )

    async def record_routing_confirmed(self, version: int) -> None:
        """Traefik's API shows the config of this version."""
        await self._execute(
            "UPDATE routing_progress SET confirmed_version = greatest(confirmed_version, %(v)s),"
            " updated_at = now()",
            {"v": version},
        )

    async def record_routing_refused(self, version: int, reason: str) -> None:
        """The config of this version failed validation and was not written."""
        await self._execute(
            "UPDATE routing_progress SET refused_version = greatest(refused_version, %(v)s),"
            " refused_reason = %(r)s, updated_at = now()",
            {"v": version, "r": reason},
        )

    def routing_writer_lock(self) -> AbstractAsyncContextManager[bool]:
        """The lock of Traefik's file writer, when no other process holds it; whether held."""
        return self._advisory_lock(_WRITER_LOCK_ID, wait=False)

    def routing_notifications(self) -> AbstractAsyncContextManager[Waiter]:
        """Listen for routing changes; yields wait(seconds) -> versions notified meanwhile."""
        return self.notifications(ROUTING_CHANNEL)
