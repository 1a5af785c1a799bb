"""Routing: after any change, the edge's host map and Traefik's config are rendered and written."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from controlplane.config import Settings
from controlplane.edge_config import EdgeConfigWriter
from controlplane.secrets import SecretBox
from controlplane.store import Store
from controlplane.store.tls import StoredCertificate, Strategy
from controlplane.tls import served_tls
from controlplane.traefik.render import GateRoute, HostTls, RoutingState, TlsCertificate
from controlplane.traefik.sync import TraefikConfigWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsRouting:
    """The TLS part of the routing state (see controlplane.traefik.render.RoutingState)."""

    base_tls: HostTls
    site_tls: dict[str, HostTls]
    domain_tls: dict[str, HostTls]
    certificates: tuple[TlsCertificate, ...]
    default_certificate: TlsCertificate | None


def _host_tls(strategy: Strategy, certificate: object, redirect: bool | None, hsts: int) -> HostTls:
    """How hosts are served: "traefik", "stored" when Wharf holds their certificate, else
    "none"; redirect when asked or, unset, whenever they have TLS."""
    served = "traefik" if strategy == "traefik" else "stored" if certificate else "none"
    if served == "none":
        return HostTls()
    return HostTls(served, redirect=True if redirect is None else redirect, hsts_max_age=hsts)


async def routing_tls(store: Store, box: SecretBox) -> TlsRouting:
    """What Traefik needs for TLS: each host's way of serving it, and the certificates."""
    served = await served_tls(store)
    base = served.base
    opened: dict[int, TlsCertificate] = {}

    def serve(cert: StoredCertificate | None) -> TlsCertificate | None:
        """The certificate with its key opened, once each; None if it cannot be opened."""
        if cert is None:
            return None
        if cert.id not in opened:
            try:
                key = box.open(cert.key_encrypted)
            except ValueError:
                log.error(
                    "certificate %s: its key cannot be decrypted (a new secret key?)", cert.id
                )
                return None
            opened[cert.id] = TlsCertificate(cert.cert_pem + cert.chain_pem, key)
        return opened[cert.id]

    base_cert = serve(served.base_certificate)
    base_tls = _host_tls(base.strategy, base_cert, base.redirect_https, base.hsts_max_age)
    site_tls = {
        name: _host_tls(
            base.strategy,
            base_cert,
            base.redirect_https if own.redirect_https is None else own.redirect_https,
            base.hsts_max_age if own.hsts_max_age is None else own.hsts_max_age,
        )
        for name, own in served.sites.values()
    }
    domain_tls = {
        item.domain.hostname: _host_tls(
            item.strategy,
            serve(item.certificate),
            item.site.redirect_https,
            item.site.hsts_max_age or 0,
        )
        for item in served.domains
    }
    return TlsRouting(base_tls, site_tls, domain_tls, tuple(opened.values()), base_cert)


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
