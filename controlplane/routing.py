"""Routing: after any change, the edge's host map and Traefik's config are rendered and written."""

from __future__ import annotations

import asyncio

from controlplane.config import Settings
from controlplane.edge_config import EdgeConfigWriter
from controlplane.secrets import SecretBox
from controlplane.store import Store
from controlplane.tls import routing_tls
from controlplane.traefik.render import GateRoute, RoutingState
from controlplane.traefik.sync import TraefikConfigWriter


async def routing_state(settings: Settings, store: Store, box: SecretBox) -> RoutingState:
    """What Traefik's routing depends on: the settings, custom domains, gates and TLS."""
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
    tls = await routing_tls(store, box)
    return RoutingState(
        settings.base_domain,
        settings.edge_address,
        control_url=settings.control_address,
        control_host=settings.control_host,
        custom_domains={hostname: site for hostname, site, _ in verified},
        pending_domains=tuple(await store.pending_hostnames()),
        gates=gates,
        base_tls=tls.base_tls,
        site_tls=tls.site_tls,
        domain_tls=tls.domain_tls,
        certificates=tls.certificates,
        default_certificate=tls.default_certificate,
        cert_resolver=settings.traefik_cert_resolver,
        wildcard_resolver=settings.traefik_wildcard_resolver,
    )


class Routing:
    """Keeps `<data>/edge/config.json` and Traefik's dynamic file in step with the database."""

    def __init__(self, settings: Settings, store: Store, box: SecretBox) -> None:
        self.settings = settings
        self.store = store
        self.box = box
        self.edge = EdgeConfigWriter(store, settings.data_dir)
        self.traefik = TraefikConfigWriter(settings.dynamic_dir, settings.staging_dir)
        self.routers: set[str] = set()
        self._lock = asyncio.Lock()

    async def sync(self) -> set[str]:
        """Write both files from the current state (in order: a newer state is never overtaken)."""
        async with self._lock:
            await self.edge.sync()
            self.routers = await self.traefik.sync(await self.state())
            return self.routers

    async def state(self) -> RoutingState:
        """The routing state as of now."""
        return await routing_state(self.settings, self.store, self.box)
