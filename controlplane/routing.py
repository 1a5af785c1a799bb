"""Routing: the state Traefik's config is rendered from, and writing it after a change."""

from __future__ import annotations

from controlplane.config import Settings
from controlplane.traefik.render import RoutingState
from controlplane.traefik.sync import TraefikConfigWriter


def routing_state(settings: Settings) -> RoutingState:
    """What Traefik's routing depends on, from the settings (custom domains come later)."""
    return RoutingState(settings.base_domain, settings.edge_address)


async def write_routing(settings: Settings) -> set[str]:
    """Render, validate and write Traefik's dynamic config; the router names it holds."""
    writer = TraefikConfigWriter(settings.dynamic_dir, settings.data_dir / "traefik" / "staging")
    return await writer.sync(routing_state(settings))
