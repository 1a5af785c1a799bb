"""Live pointers: keep every live symlink naming the deploy the database says is live."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import Counter

from controlplane.alerts import raise_alert
from controlplane.deploys.deploy_service import Deploys
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.models import ENVIRONMENTS, Environment, Site
from controlplane.store import Store

log = logging.getLogger(__name__)

REPAIRS = Counter(
    "wharf_live_pointer_repairs_total",
    "Live symlinks the reconcile corrected, by reason",
    ["reason"],
)
# A burst of publishes is checked once: wait this long for more before reconciling.
DEBOUNCE_SECONDS = 0.05


class LivePointers:
    """The reconcile of live symlinks against the database, one process at a time."""

    def __init__(self, store: Store, files: ReleaseFiles, deploys: Deploys) -> None:
        self.store = store
        self.files = files
        self.deploys = deploys
        self._alerted: set[tuple[str, str, str]] = set()

    async def reconcile(self, site_names: set[str] | None = None) -> int:
        """Check the pointers of the named sites (all when None); returns the repairs made.

        Does nothing while another process reconciles: that one holds the lock, and it hears
        the same publish notifications.
        """
        async with self.store.reconcile_lock() as held:
            if not held:
                return 0
            if site_names is None:
                live = await self.store.live_deploys()
                site_names = await asyncio.to_thread(self._suspects, live)
            repairs = 0
            for name in sorted(site_names):
                repairs += await self._reconcile_site(name)
            return repairs

    def _suspects(self, live: list[tuple[str, str, str]]) -> set[str]:
        """Sites whose pointers disagree with the database or name an incomplete release."""
        wanted = {(site, env): deploy for site, env, deploy in live}
        suspects = set()
        for site in self.files.site_names_on_disk() | {site for site, _ in wanted}:
            for env in ENVIRONMENTS:
                deploy = wanted.get((site, env))
                pointer = self.files.live_deploy(site, env)
                if pointer != deploy or (
                    deploy is not None and not self.files.release_complete(site, deploy)
                ):
                    suspects.add(site)
        return suspects

    async def _reconcile_site(self, name: str) -> int:
        site = await self.store.get_site(name, None)
        if site is None:
            # A deleted site: nothing may be served under its name any more.
            repairs = 0
            for env in ENVIRONMENTS:
                if self.files.live_deploy(name, env) is not None:
                    await asyncio.to_thread(self.files.deactivate, name, env)
                    repairs += self._repaired(name, env, None, "no_live_deploy")
            return repairs
        repairs = 0
        # Under the site's lock no publish is between its commit and its swap, so what is
        # read here is the truth and stays so until the lock is released.
        async with self.store.site_lock(site.id):
            for env in ENVIRONMENTS:
                repairs += await self._reconcile_environment(site, env)
        return repairs

    async def _reconcile_environment(self, site: Site, env: Environment) -> int:
        live = await self.store.live_deploy_id(site.id, env)
        pointer = self.files.live_deploy(site.name, env)
        if live is None:
            if pointer is None:
                return 0
            await asyncio.to_thread(self.files.deactivate, site.name, env)
            return self._repaired(site.name, env, None, "no_live_deploy")
        if not await asyncio.to_thread(self.files.release_complete, site.name, live):
            return await self._fall_back(site, env, live)
        if pointer == live:
            return 0
        await asyncio.to_thread(self.files.activate, site.name, env, live)
        return self._repaired(site.name, env, live, "pointer_behind")

    async def _fall_back(self, site: Site, env: Environment, broken: str) -> int:
        """The live release's files are gone: publish the newest intact deploy instead."""
        for deploy in await self.store.list_deploys(site.id):
            candidate = (
                deploy.environment == env
                and deploy.id != broken
                and deploy.pruned_at is None
                and deploy.status in ("ready", "superseded")
                # With auto-publish locked, only a deploy someone published before may return.
                and (site.auto_publish or env == "staging" or deploy.published_at is not None)
                # One the release checks held back goes live only when someone publishes it.
                and (not (deploy.checks or {}).get("blocked") or deploy.published_at is not None)
            )
            if not candidate or not await asyncio.to_thread(
                self.files.release_intact, site.name, deploy.id
            ):
                continue
            reason = (
                f"the files of live deploy {broken} are missing on disk; {deploy.id} is the"
                " newest deploy whose files are complete"
            )
            await self.deploys.publish_locked(site, deploy.id, None, "repair", reason)
            raise_alert(
                "live_release_missing",
                "a live release's files are missing; fell back to an earlier deploy",
                site=site.name,
                environment=env,
                deploy=broken,
                fallback=deploy.id,
            )
            return self._repaired(site.name, env, deploy.id, "files_missing")
        if (site.name, env, broken) not in self._alerted:
            self._alerted.add((site.name, env, broken))
            raise_alert(
                "live_release_missing",
                "a live release's files are missing and no complete deploy can replace it",
                site=site.name,
                environment=env,
                deploy=broken,
            )
        return 0

    def _repaired(self, site: str, env: str, deploy: str | None, reason: str) -> int:
        REPAIRS.labels(reason).inc()
        log.warning(
            "live pointer repaired",
            extra={"site": site, "environment": env, "deploy": deploy, "reason": reason},
        )
        return 1

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Reconcile every interval and after every publish, until stop is set."""
        async with self.store.publish_notifications() as wait_for_publishes:
            sites: set[str] | None = None  # None: every site
            while not stop.is_set():
                try:
                    await self.reconcile(sites)
                except Exception:
                    log.exception("live pointer reconcile failed")
                waiter = asyncio.ensure_future(wait_for_publishes(interval))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter
                    continue
                published = waiter.result()
                if published:
                    await asyncio.sleep(DEBOUNCE_SECONDS)
                    published += await wait_for_publishes(0)
                sites = set(published) or None
