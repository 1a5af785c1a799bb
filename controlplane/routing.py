"""Routing: after any change, the edge's host map and Traefik's config are rendered and written."""

from __future__ import annotations

import asyncio

from controlplane.config import Settings
from controlplane.edge_config import EdgeConfigWriter
from controlplane.store import Store
from controlplane.traefik.render import RoutingState
from controlplane.traefik.sync import TraefikConfigWriter


async def routing_state(settings: Settings, store: Store) -> RoutingState:
    """What Traefik's routing depends on: the settings and the custom domains."""
    verified = await store.verified_domains()
    return RoutingState(
        settings.base_domain,
        settings.edge_address,
        custom_domains={hostname: site for hostname, site, _ in verified},
        pending_domains=tuple(await store.pending_hostnames()),
    )


class Routing:
    """Keeps `<data>/edge/config.json` and Traefik's dynamic file in step with the database."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.edge = EdgeConfigWriter(store, settings.data_dir)
        self.traefik = TraefikConfigWriter(
            settings.dynamic_dir, settings.data_dir / "traefik" / "staging"
        )
        self.routers: set[str] = set()
        self._lock = asyncio.Lock()

    async def sync(self) -> set[str]:
        """Write both files from the current state (in order: a newer state is never overtaken)."""
        async with self._lock:
            await self.edge.sync()
            self.routers = await self.traefik.sync(await routing_state(self.settings, self.store))
            return self.routers
