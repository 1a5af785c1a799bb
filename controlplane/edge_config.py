"""The edge's view of site settings: rendered from the database, written atomically to disk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from controlplane.atomic import write_atomically
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


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Write a JSON file whole or not at all: temp file in the same folder, fsync, rename."""
    text = json.dumps(document, indent=1, sort_keys=True)
    if json.loads(text) != document:  # round-trip check before anything is replaced
        raise ValueError(f"{path.name} would not read back as written")
    write_atomically(path, text)


class EdgeConfigWriter:
    """Keeps `<data>/edge/config.json` in step with the database."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.path = data_dir / "edge" / "config.json"
        self._lock = asyncio.Lock()

    async def sync(self) -> None:
        """Render from the current state and write (serialised, so the newest state wins)."""
        async with self._lock:
            document = render_edge_config(
                await self.store.list_sites(None), await self.store.verified_domains()
            )
            await asyncio.to_thread(write_json_atomically, self.path, document)
