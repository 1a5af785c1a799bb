"""After a publish: probe the environment's host, keep the report on the deploy, and when the
probes of an automatic publish fail (and the site allows it), go back to the deploy it
replaced at once, saying why in the publish history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from controlplane.alerts import raise_alert
from controlplane.deploys.deploy_service import Deploys
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.deploys.release_probes import ProbeReport, expectations, probe
from controlplane.models import PublishEvent, Site
from controlplane.names import site_hosts
from controlplane.store import Store

log = logging.getLogger(__name__)
# say(line): add a line to the deploy's build log (written before the probes' report is).
Say = Callable[[str], Awaitable[None]]

# notify(site_id, event, data) -> deliveries queued: how a site's webhooks hear of a rollback.
Notify = Callable[[int, str, Mapping[str, Any]], Awaitable[int]]


@dataclass(frozen=True)
class ProbeOptions:
    """Where probes go: the edge always; Traefik's HTTP entrypoint when Wharf runs it."""

    base_domain: str
    edge_url: str
    traefik_url: str | None


class PublishProbes:
    """Probes a publish and rolls an automatic one back when they fail."""

    def __init__(
        self,
        store: Store,
        files: ReleaseFiles,
        deploys: Deploys,
        options: ProbeOptions,
        notify: Notify | None = None,
    ) -> None:
        self.store = store
        self.files = files
        self.deploys = deploys
        self.options = options
        self.notify = notify
        self._running: set[asyncio.Task[None]] = set()

    async def check(
        self, site: Site, event: PublishEvent, say: Say | None = None
    ) -> ProbeReport | None:
        """Probe what the event made live, store the report, and roll an automatic publish
        back when it failed and the site allows it; None when the host cannot exist."""
        host = site_hosts(site.name, self.options.base_domain)[event.environment]
        if host is None:
            return None
        root = self.files.release_path(site.name, event.to_deploy)
        wanted = await asyncio.to_thread(expectations, root, site.spa, event.to_deploy)
        # A gate answers Traefik's requests before the site does: the edge's probes still
        # check the release, and the route itself is proven by the gate's own tests.
        gated = await self.store.gate_secret(site.name, event.environment) is not None
        traefik = None if gated else self.options.traefik_url
        report = await probe(event.to_deploy, host, wanted, self.options.edge_url, traefik)
        log.info(
            "publish probed",
            extra={"site": site.name, "deploy": event.to_deploy, "passed": report.passed},
        )
        failed = not report.passed and report.conclusive
        if failed and event.kind == "auto_publish" and site.probe_rollback:
            report = replace(report, rolled_back_to=await self._roll_back(site, event, report))
        elif not report.passed:
            raise_alert(
                "probes_failed",
                "a publish did not pass its probes",
                site=site.name,
                deploy=event.to_deploy,
                reason=report.summary(),
            )
        if say is not None:  # before the report is stored: a reader who sees it sees these
            await say(report.summary())
            if report.rolled_back_to:
                await say(f"rolled back to {report.rolled_back_to}")
        await self.store.set_deploy_probes(event.to_deploy, report.as_json())
        return report

    def check_later(self, event: PublishEvent) -> None:
        """Probe a publish someone made by hand, without holding up their answer (never
        rolled back: a person chose it; the report lands on the deploy)."""
        task = asyncio.create_task(self._check_named(event))
        self._running.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._running.discard)

    async def close(self) -> None:
        """Stop probes still running (the process is stopping; their publishes stand)."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _check_named(self, event: PublishEvent) -> None:
        try:
            site = await self.store.get_site(event.site_name, None)
            if site is not None:
                await self.check(site, event)
        except Exception:  # a probe that cannot run is logged; the publish stands
            log.exception("probing a publish failed", extra={"deploy": event.to_deploy})

    async def _roll_back(self, site: Site, event: PublishEvent, report: ProbeReport) -> str | None:
        """Publish the deploy the event replaced; its id (None: there was none)."""
        if event.from_deploy is None:
            raise_alert(
                "probes_failed",
                "the first publish of an environment failed its probes; nothing to roll back to",
                site=site.name,
                deploy=event.to_deploy,
                reason=report.summary(),
            )
            return None
        await self.deploys.publish_deploy(
            site, event.from_deploy, None, "auto_rollback", reason=report.summary()
        )
        raise_alert(
            "probe_rollback",
            "a publish failed its probes and was rolled back",
            site=site.name,
            deploy=event.to_deploy,
            to=event.from_deploy,
            reason=report.summary(),
        )
        if self.notify is not None:
            data = {
                "environment": event.environment,
                "from_deploy": event.to_deploy,
                "to_deploy": event.from_deploy,
                "reason": report.summary(),
            }
            try:
                await self.notify(site.id, "deploy.rolled_back", data)
            except Exception:  # the rollback stands; its alert line above is logged anyway
                log.exception("the rollback's webhooks could not be queued")
        return event.from_deploy
