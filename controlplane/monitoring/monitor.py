"""The monitor: every live environment asked for `/` at its site's interval, by one process
at a time (an advisory lock) however many run; each check kept, the state moved (down after
two failures in a row, recovered at the first good answer), certificates' ends read from the
HTTPS entrypoint, and every change announced (an alert, and the site's webhooks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from cryptography import x509

from controlplane.alerts import raise_alert
from controlplane.deploys.release_probes import PROBE_TIMEOUT, ask
from controlplane.models import MonitorTarget, User
from controlplane.names import site_hosts
from controlplane.sites.site_service import Sites
from controlplane.store import Store

log = logging.getLogger(__name__)

DOWN_AFTER = 2  # failed checks in a row before an environment counts as down
BATCH = 50  # environments checked at once, at most
RETENTION_DAYS = 30
RECENT = 20  # checks a report lists
CERTIFICATE_WARNING = timedelta(days=14)
# notify(site_id, event, data) -> how many webhooks it queued for.
Notify = Callable[[int, str, dict[str, Any]], Awaitable[int]]


@dataclass(frozen=True)
class MonitorOptions:
    """Where the monitor asks: the edge always; Traefik's entrypoints when known."""

    base_domain: str
    edge_url: str
    traefik_url: str | None
    https_address: tuple[str, int] | None
    tick: float = 5.0


class Monitor:
    """Checks live environments and announces their changes."""

    def __init__(
        self, store: Store, sites: Sites, options: MonitorOptions, notify: Notify | None = None
    ) -> None:
        self.store = store
        self.sites = sites
        self.options = options
        self.notify = notify

    async def report(self, actor: User, site_name: str) -> dict[str, Any]:
        """A site's monitoring: each environment's state, uptime, latency and recent checks."""
        site = await self.sites.get(actor, site_name)
        environments = {}
        for state in await self.store.monitoring_of(site.id, RECENT):
            latency = state.pop("latency") or [None, None]
            not_after = state.pop("certificate_not_after")
            environment = state.pop("environment")
            environments[environment] = {
                **state,
                "latency_ms": {"p50": latency[0], "p95": latency[1]},
                "certificate": None if not_after is None else {"not_after": not_after},
            }
        return {"interval": site.monitor_interval, "environments": environments}

    async def states(self) -> list[dict[str, Any]]:
        """Every monitored environment's state and latest latency (for /metrics)."""
        return await self.store.monitor_states_all()

    async def run(self, stop: asyncio.Event) -> None:
        """Until stop is set: a round every tick, when this process holds the monitor lock."""
        while not stop.is_set():
            try:
                async with self.store.monitor_lock() as held:
                    if held:
                        await self.round()
            except Exception:  # a bad round is logged; the next one tries again
                log.exception("monitor round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.tick)

    async def round(self, *, everything: bool = False) -> int:
        """Check every environment that is due (all live ones, with everything); how many."""
        due = await self.store.monitor_due(BATCH, everything=everything)
        if due:
            async with httpx2.AsyncClient(timeout=PROBE_TIMEOUT, follow_redirects=False) as http:
                await asyncio.gather(*(self._check(http, target) for target in due))
        await self.store.prune_monitor_checks(RETENTION_DAYS)
        return len(due)

    async def _check(self, http: httpx2.AsyncClient, target: MonitorTarget) -> None:
        host = site_hosts(target.site, self.options.base_domain)[target.environment]
        if host is None:
            return
        # Through Traefik when it is known and no gate stands in the way; else the edge.
        via_traefik = self.options.traefik_url and not target.gated
        base = self.options.traefik_url if via_traefik else self.options.edge_url
        answer = await ask(http, base or self.options.edge_url, host, "/")
        to_https = answer.location.startswith(f"https://{host}")
        if answer.status is None:
            problem: str | None = answer.error
        elif answer.status >= 500:
            problem = f"answered {answer.status}"
        elif via_traefik and answer.status in (301, 302, 307, 308) and to_https:
            problem = None  # Traefik sends it on to HTTPS: routed
        elif answer.deploy != target.deploy:
            problem = f"served by {answer.deploy or 'no release'}, not the live {target.deploy}"
        else:
            problem = None
        check = {
            "up": problem is None,
            "status": answer.status,
            "ms": answer.ms,
            "problem": problem,
        }
        change = await self.store.record_monitor_check(
            target.site_id, target.environment, check, DOWN_AFTER
        )
        if change is not None:
            await self._announce(target, f"site.{change}", {"host": host, "problem": problem})
        if self.options.https_address:
            await self._certificate(target, host)

    async def _certificate(self, target: MonitorTarget, host: str) -> None:
        assert self.options.https_address is not None
        not_after = await certificate_not_after(self.options.https_address, host)
        alerted = await self.store.set_monitor_certificate(
            target.site_id, target.environment, not_after
        )
        if not_after is None or alerted == not_after:
            return
        left = not_after - datetime.now(UTC)
        if left < CERTIFICATE_WARNING:
            data = {"host": host, "not_after": not_after.isoformat(), "days_left": left.days}
            await self._announce(target, "certificate.expiring", data)
            await self.store.mark_certificate_alerted(target.site_id, target.environment, not_after)

    async def _announce(self, target: MonitorTarget, event: str, data: dict[str, Any]) -> None:
        """An alert line and counter, and the site's webhooks."""
        details = {"site": target.site, "environment": target.environment, **data}
        raise_alert(event, f"{target.site} {target.environment}: {event}", **details)
        if self.notify is not None:
            await self.notify(target.site_id, event, details)


async def certificate_not_after(address: tuple[str, int], server_name: str) -> datetime | None:
    """The end of the certificate presented for server_name at address (a TLS handshake,
    not verified: an expiring or self-signed one is what we want to see); None if none."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # reading the date, not trusting the certificate
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(*address, ssl=context, server_hostname=server_name),
            PROBE_TIMEOUT,
        )
    except (OSError, TimeoutError, ssl.SSLError):
        return None
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    if not der:
        return None
    certificate = x509.load_der_x509_certificate(der)
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if names and names[0].value == "TRAEFIK DEFAULT CERT":
        return None  # no certificate of the host's own yet
    return certificate.not_valid_after_utc
