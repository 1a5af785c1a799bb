"""Migrations apply once, also from two processes at once; the schema matches the snapshot."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controlplane.store import Store, describe_schema, open_pool
from controlplane.store.migrations import bundled_migrations
from tests.conftest import DatabaseServer

SNAPSHOT = Path(__file__).parents[2] / "controlplane" / "schema.sql"


async def _migrate_fresh(url: str) -> tuple[list[str], str]:
    pool = await open_pool(url)
    try:
        applied = await Store(pool).migrate()
        async with pool.acquire() as conn:
            return applied, await describe_schema(conn)
    finally:
        pool.close()
        await pool.wait_closed()


async def test_migrations_apply_once_then_nothing(database_server: DatabaseServer) -> None:
    url = database_server.create(migrated=False)
    try:
        first, schema = await _migrate_fresh(url)
        assert first == [f"{m.version:04d}_{m.name}" for m in bundled_migrations()]
        second, again = await _migrate_fresh(url)
        assert second == []
        assert again == schema
    finally:
        database_server.drop(url)


async def test_migrations_from_two_processes_at_once(database_server: DatabaseServer) -> None:
    url = database_server.create(migrated=False)
    try:
        results = await asyncio.gather(
            _migrate_fresh(url), _migrate_fresh(url), _migrate_fresh(url)
        )
        applied = [names for names, _ in results]
        # Exactly one runner applied everything; the others waited on the lock and found nothing.
        assert sorted(map(len, applied)) == [0, 0, len(bundled_migrations())]
    finally:
        database_server.drop(url)


async def test_schema_matches_committed_snapshot(database_server: DatabaseServer) -> None:
    url = database_server.create(migrated=False)
    try:
        _, schema = await _migrate_fresh(url)
    finally:
        database_server.drop(url)
    assert schema == SNAPSHOT.read_text(), "schema drift: run `make schema` and commit the result"


def test_migration_files_are_numbered_without_gaps() -> None:
    versions = [m.version for m in bundled_migrations()]
    assert versions == list(range(1, len(versions) + 1))
