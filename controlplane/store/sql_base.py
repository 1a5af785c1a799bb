"""Cursor helpers shared by the query classes of the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiopg
import psycopg2.extras

# wait(seconds) -> the payloads notified in that time, [] when none came.
Waiter = Callable[[float], Awaitable[list[str]]]
SITE_COLUMNS = (
    "id, name, owner_id, created_at, tier, auto_publish, minify, allowed_flags, spa,"
    " probe_rollback, monitor_interval, checks, checks_max_file_bytes"
)


class QueriesBase:
    """Holds the pool and runs statements with named parameters."""

    def __init__(self, pool: aiopg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def _cursor(self, *, transaction: bool = False) -> AsyncIterator[Any]:
        async with (
            self.pool.acquire() as conn,
            conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur,
        ):
            if transaction:
                async with cur.begin():
                    yield cur
            else:
                yield cur

    async def _one(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        async with self._cursor() as cur:
            await cur.execute(sql, params or {})
            row: dict[str, Any] | None = await cur.fetchone()
            return row

    async def _all(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        async with self._cursor() as cur:
            await cur.execute(sql, params or {})
            rows: list[dict[str, Any]] = await cur.fetchall()
            return rows

    async def _execute(self, sql: str, params: dict[str, Any] | None = None) -> int:
        async with self._cursor() as cur:
            await cur.execute(sql, params or {})
            count: int = cur.rowcount
            return count

    @asynccontextmanager
    async def _advisory_lock(
        self, key: int, sub: int | None = None, *, wait: bool = True
    ) -> AsyncIterator[bool]:
        """Hold a session advisory lock for the block; yields whether it is held.

        Session-level, so the lock spans work outside any transaction (a symlink swap, file
        removal). When it cannot be released cleanly (cancelled, connection lost) the connection
        is closed, which ends the session and frees the lock: no pooled connection keeps one.
        """
        args = "%(k)s" if sub is None else "%(k)s::integer, %(s)s::integer"
        params = {"k": key, "s": sub}
        async with self.pool.acquire() as conn:
            cur = await conn.cursor()
            try:
                if wait:
                    await cur.execute(f"SELECT pg_advisory_lock({args})", params)
                    held = True
                else:
                    await cur.execute(f"SELECT pg_try_advisory_lock({args})", params)
                    (held,) = await cur.fetchone()
            except BaseException:
                conn.close()
                raise
            try:
                yield bool(held)
            finally:
                if held:
                    try:
                        await cur.execute(f"SELECT pg_advisory_unlock({args})", params)
                    except BaseException:
                        conn.close()
                        raise
                cur.close()

    @asynccontextmanager
    async def notifications(self, channel: str) -> AsyncIterator[Waiter]:
        """Listen on a channel; yields wait(seconds) -> payloads notified in that time."""
        async with self.pool.acquire() as conn:
            async with conn.cursor() as cur:
                await cur.execute(f"LISTEN {channel}")

            async def wait(seconds: float) -> list[str]:
                payloads = []
                if conn.notifies.empty():
                    try:
                        first = await asyncio.wait_for(conn.notifies.get(), seconds)
                    except TimeoutError:
                        return []
                    except Exception:
                        # asyncio.wait_for in 3.11 raises the inner error instead of the
                        # cancellation when both happen at once: never sleep through a cancel.
                        task = asyncio.current_task()
                        if task is not None and task.cancelling():
                            raise asyncio.CancelledError from None
                        # The listening connection died (database restart): poll instead.
                        await asyncio.sleep(seconds)
                        return []
                    payloads.append(first.payload)
                while not conn.notifies.empty():
                    payloads.append(conn.notifies.get_nowait().payload)
                return payloads

            try:
                yield wait
            finally:
                # The connection may be gone (database restarted); the pool discards it then.
                with contextlib.suppress(Exception):
                    async with conn.cursor() as cur:
                        await cur.execute(f"UNLISTEN {channel}")
