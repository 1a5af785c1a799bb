"""Routing: after any change, the edge's host map and Traefik's config are rendered and written."""

from __future__ import annotations

import asyncio

from controlplane.config import Settings
from controlplane.edge_config import EdgeConfigWriter
from controlplane.store import Store
from controlplane.traefik.render import GateRoute, RoutingState
from controlplane.traefik.sync import TraefikConfigWriter


async def routing_state(settings: Settings, store: Store) -> RoutingState:
    """What Traefik's routing depends on: the settings, the custom domains and the gates."""
    verified = await store.verified_domains()
    gates = tuple(
        GateRoute(
            gate.site,
            gate.environment,
            gate.mode,
            users=gate.users,
            # A gate covers the environment's custom domains too, or they would open it.
            domains=tuple(
                hostname
                for hostname, site, environment in verified
                if (site, environment) == (gate.site, gate.environment)
            ),
        )
        for gate in await store.routed_gates()
    )
    return RoutingState(
        settings.base_domain,
        settings.edge_address,
        control_url=settings.control_address,
        control_host=settings.control_host,
        custom_domains={hostname: site for hostname, site, _ in verified},
        pending_domains=tuple(await store.pending_hostnames()),
        gates=gates,
    )


class Routing:
    """Keeps `<data>/edge/config.json` and Traefik's dynamic file in step with the database."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.edge = EdgeConfigWriter(store, settings.data_dir)
        self.traefik = TraefikConfigWriter(settings.dynamic_dir, settings.staging_dir)
        self.routers: set[str] = set()
        self._lock = asyncio.Lock()

    async def sync(self) -> set[str]:
        """Write both files from the current state (in order: a newer state is never overtaken)."""
        async with self._lock:
            await self.edge.sync()
            self.routers = await self.traefik.sync(await routing_state(self.settings, self.store))
            return self.routers
