"""Open the database a process should use: the configured server or the embedded one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from controlplane.config import Settings
from controlplane.runtime.embedded_database import EmbeddedPostgres
from controlplane.store import Store, open_pool

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_store(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Store]:
    """A migrated Store for the settings; an embedded server is started and released around it."""
    embedded: EmbeddedPostgres | None = None
    if settings.database_url is not None:
        dsn = settings.database_url.reveal()
    else:
        embedded = EmbeddedPostgres(settings.layout.pg)
        dsn = await asyncio.to_thread(embedded.start)
    try:
        pool = await open_pool(dsn)
        try:
            store = Store(pool)
            if migrate and (applied := await store.migrate()):
                log.info("migrations applied", extra={"migrations": applied})
            yield store
        finally:
            pool.close()
            await pool.wait_closed()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
