"""The edge's view of site settings: rendered from the database, written atomically to disk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from controlplane.atomic import write_json_atomically
from controlplane.layout import DataLayout
from controlplane.models import Site
from controlplane.store import Store


def render_edge_config(
    sites: list[Site], verified_domains: list[tuple[str, str, str]]
) -> dict[str, Any]:
    """The document the edge reads: single-page-app sites and verified custom domains."""
    return {
        "version": 1,
        "spa": sorted(site.name for site in sites if site.spa),
        "domains": {
            hostname: {"site": site, "environment": environment}
            for hostname, site, environment in verified_domains
        },
    }


class EdgeConfigWriter:
    """Keeps `<data>/edge/config.json` in step with the database."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.path = DataLayout(data_dir).edge_config
        self._lock = asyncio.Lock()

    async def sync(self) -> None:
        """Render from the current state and write (serialised, so the newest state wins)."""
        async with self._lock:
            document = render_edge_config(
                await self.store.list_sites(None), await self.store.verified_domains()
            )
            await asyncio.to_thread(write_json_atomically, self.path, document)
