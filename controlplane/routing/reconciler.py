"""Routing: after any change, the edge's host map and Traefik's config are rendered, validated,
written and confirmed, by one writer however many processes run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controlplane.config import Settings
from controlplane.models import (
    RoutingProgress,
    RoutingReport,
    SiteRouting,
    StoredCertificate,
    Strategy,
)
from controlplane.routing.edge_config import EdgeConfigWriter
from controlplane.secrets import SecretBox
from controlplane.store import Store
from controlplane.store.sql_base import Waiter
from controlplane.tls.tls_service import served_tls
from controlplane.traefik.config_writer import TraefikConfigWriter
from controlplane.traefik.render import (
    GateRoute,
    HostTls,
    RoutingState,
    TlsCertificate,
    site_routers,
)
from controlplane.traefik.traefik_api import TraefikApi
from controlplane.traefik.validate import InvalidConfig

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
    """How hosts are served: by their strategy when Traefik issues (traefik) or Wharf holds
    their certificate, else HTTP only; redirect when asked or, unset, whenever they have TLS."""
    if strategy == "none" or (strategy != "traefik" and not certificate):
        return HostTls()
    return HostTls(strategy, redirect=True if redirect is None else redirect, hsts_max_age=hsts)


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


async def routing_state(
    settings: Settings, store: Store, box: SecretBox, version: int = 0
) -> RoutingState:
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
        settings.edge_upstream,
        control_url=settings.control_upstream,
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
        version=version,
    )


# How long one round waits for Traefik's API to show what was written, and how often it asks.
CONFIRM_SECONDS = 10.0
POLL_SECONDS = 0.05
# A burst of changes (a script adding many domains) is rendered once.
DEBOUNCE_SECONDS = 0.05


def report_for(progress: RoutingProgress, version: int) -> RoutingReport:
    """The standing of the change numbered version, from the writer's progress."""
    if progress.confirmed_version >= version:
        return RoutingReport("confirmed", version)
    if progress.written_version >= version or progress.refused_version < version:
        return RoutingReport("pending", version)
    return RoutingReport("error", version, progress.refused_reason)


class Routing:
    """Keeps `<data>/edge/config.json` and Traefik's dynamic file in step with the database.

    Writes anywhere commit, count a change and NOTIFY (the store does it); every process runs
    `run`, and whichever holds the writer lock renders, validates, writes and confirms through
    Traefik's API. A refused config is recorded, never raised into the write that caused it.
    """

    def __init__(self, settings: Settings, store: Store, box: SecretBox) -> None:
        self.settings = settings
        self.store = store
        self.box = box
        self.edge = EdgeConfigWriter(store, settings.data_dir)
        self.traefik = TraefikConfigWriter(
            settings.traefik_watched_dir, settings.traefik_staging_dir
        )
        self.routers: set[str] = set()
        # Woken on every routing change seen, in this process (the certificate issuer).
        self.listeners: list[Callable[[], None]] = []
        api = settings.traefik_api_url
        self.traefik_api = TraefikApi(api) if api else None

    async def state(self, version: int = 0) -> RoutingState:
        """The routing state as of now."""
        return await routing_state(self.settings, self.store, self.box, version)

    async def reconcile(self, *, force: bool = False, confirm: bool = True) -> bool:
        """One round, when this process is the writer and something is new (or force);
        whether it wrote. Without confirm it does not wait for Traefik (at start-up)."""
        async with self.store.routing_writer_lock() as writer:
            if not writer:
                return False
            progress = await self.store.routing_progress()
            version = progress.version
            handled = max(progress.written_version, progress.refused_version)
            if version <= handled and not force:
                if confirm and progress.confirmed_version < progress.written_version == version:
                    await self._confirm(version)  # an earlier round did not see it loaded
                return False
            # The version is read before the state, so the state holds every change up to it.
            state = await self.state(version)
            try:
                await self.edge.sync()
                routers = await self.traefik.sync(state)
            except InvalidConfig as exc:
                await self.store.record_routing_refused(version, str(exc))
                return False
            await self.store.record_routing_written(version)
            self.routers = routers
            log.info("routing written", extra={"version": version, "routers": len(routers)})
            if confirm:
                await self._confirm(version)
            return True

    async def _confirm(self, version: int) -> None:
        """Record the version confirmed once Traefik's API shows it loaded (at once without
        an API to ask: the file is in place)."""
        if self.traefik_api is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + CONFIRM_SECONDS
            while not await self.traefik_api.shows(version, self.routers):
                if loop.time() >= deadline:
                    log.warning("routing not confirmed by Traefik", extra={"version": version})
                    return
                await asyncio.sleep(POLL_SECONDS)
        await self.store.record_routing_confirmed(version)

    async def written_config(self) -> dict[str, Any] | None:
        """The dynamic config as last written (by whichever process is the writer)."""
        return await asyncio.to_thread(self.traefik.read)

    async def report(self, version: int | None = None) -> RoutingReport:
        """Where the change numbered version (default: the newest) stands."""
        progress = await self.store.routing_progress()
        return report_for(progress, progress.version if version is None else version)

    async def site(self, site: str) -> SiteRouting:
        """A site's routers as Traefik's API shows them, with the newest refusal's reason."""
        expected = sorted(site_routers(await self.state(), site))
        # A refused config is never written; the last good one stays and this says why.
        refused = (await self.report()).error
        unknown = {name: "unknown" for name in expected}
        if self.traefik_api is None:
            return SiteRouting("unchecked", unknown, refused)
        shown = await self.traefik_api.routers()
        if shown is None:
            return SiteRouting("unreachable", unknown, refused)
        routers = {name: shown.get(name, "missing") for name in expected}
        enabled = all(status == "enabled" for status in routers.values())
        return SiteRouting("confirmed" if enabled else "pending", routers, refused)

    async def wait(self, version: int, seconds: float) -> RoutingReport:
        """The report once the change is confirmed or refused, or pending after seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (report := await self.report(version)).state == "pending":
            if loop.time() >= deadline:
                break
            await asyncio.sleep(POLL_SECONDS)
        return report

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Reconcile on every change notified, and every interval whatever happened, until stop.

        The periodic round also covers a process that died between a write and its count.
        """
        async with self.store.routing_notifications() as wait_for_changes:
            changes: list[str] = ["start"]  # a first round at once: confirm what start-up wrote
            while not stop.is_set():
                try:
                    await self.reconcile(force=not changes)
                except Exception:
                    log.exception("routing round failed; the next change or round retries")
                changes = await _until_notified_or_stopped(wait_for_changes, stop, interval)
                for listener in self.listeners:
                    listener()
                if changes:
                    await asyncio.sleep(DEBOUNCE_SECONDS)
                    await wait_for_changes(0)  # drain the burst

    async def close(self) -> None:
        """Release the Traefik API client."""
        if self.traefik_api is not None:
            await self.traefik_api.close()


async def _until_notified_or_stopped(
    wait_for_changes: Waiter, stop: asyncio.Event, interval: float
) -> list[str]:
    """The notifications that came within interval; [] on a timeout or once stop is set."""
    waiter = asyncio.ensure_future(wait_for_changes(interval))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if waiter.done():
        return waiter.result()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    return []
