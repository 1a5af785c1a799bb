"""Canaries: serve a deploy to a share of an environment's new visitors beside the live one
(the split file the edge reads, written under the site's publish lock), change the share,
promote it (a publish; the split ends with it) or abort it."""

from __future__ import annotations

import asyncio

from controlplane.deploys.deploy_service import Deploys
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.errors import Conflict, Invalid, NotFound, WharfError
from controlplane.models import CanaryRecord, PublishEvent, Site, User
from controlplane.sites.site_service import Sites
from controlplane.store import Store
from controlplane.store.deploy_sql import PUBLISHABLE

HISTORY = 20


def validate_percent(value: object) -> int:
    """1 to 99: the share of new visitors the canary gets."""
    if type(value) is not int or not 1 <= value <= 99:
        raise Invalid("canary is a percent of visitors, 1 to 99", code="invalid_canary_percent")
    return value


def validate_canary_environment(value: object) -> str:
    """production or staging (previews are never split)."""
    if value not in ("production", "staging"):
        raise Invalid("environment is 'production' or 'staging'", code="invalid_environment")
    return str(value)


class Canaries:
    """Canary operations for a site's owners."""

    def __init__(self, store: Store, files: ReleaseFiles, sites: Sites, deploys: Deploys) -> None:
        self.store = store
        self.files = files
        self.sites = sites
        self.deploys = deploys

    async def start(
        self, actor: User, site_name: str, deploy_id: str, percent: object
    ) -> CanaryRecord:
        """Serve a built deploy to percent of its environment's new visitors."""
        share = validate_percent(percent)
        site = await self.sites.get(actor, site_name)
        deploy = await self.store.get_deploy(site.id, deploy_id)
        if deploy is None:
            raise NotFound(f"no deploy {deploy_id!r} on this site", code="deploy_not_found")
        if deploy.status not in PUBLISHABLE or deploy.pruned_at is not None:
            raise Conflict(f"a {deploy.status} deploy cannot be a canary", code="deploy_not_ready")
        async with self.store.site_lock(site.id):
            stable = await asyncio.to_thread(self.files.live_deploy, site.name, deploy.environment)
            if stable is None:
                raise Conflict(
                    f"nothing is live in {deploy.environment}: publish it instead",
                    code="no_live_deploy",
                )
            record = await self.store.start_canary(
                site.id, deploy.environment, deploy.id, stable, share, actor.id
            )
            try:
                await asyncio.to_thread(
                    self.files.set_canary, site.name, deploy.environment, deploy.id, share
                )
            except WharfError as exc:
                await self.store.end_canary(record.id, "aborted", exc.message)
                raise
        return record

    async def current(self, actor: User, site_name: str) -> list[CanaryRecord]:
        """A site's canaries, newest first (a running one first in its environment)."""
        site = await self.sites.get(actor, site_name)
        return await self.store.canaries_of(site.id, HISTORY)

    async def set_percent(
        self, actor: User, site_name: str, environment: object, percent: object
    ) -> CanaryRecord:
        """Change the share of new visitors a running canary gets (visitors keep theirs)."""
        share = validate_percent(percent)
        site, running = await self._running(actor, site_name, environment)
        async with self.store.site_lock(site.id):
            await asyncio.to_thread(
                self.files.set_canary, site.name, running.environment, running.deploy_id, share
            )
            await self.store.set_canary_percent(running.id, share)
        found = await self.store.running_canary(site.id, running.environment)
        assert found is not None
        return found

    async def promote(self, actor: User, site_name: str, environment: object) -> PublishEvent:
        """Make the canary live for everyone (a publish, which ends the split)."""
        _, running = await self._running(actor, site_name, environment)
        return await self.deploys.publish(actor, site_name, running.deploy_id, force=True)

    async def abort(
        self, actor: User | None, site_name: str, environment: object, reason: str
    ) -> CanaryRecord:
        """Send every visitor back to the live release at once, and end the canary."""
        site, running = await self._running(actor, site_name, environment)
        async with self.store.site_lock(site.id):
            await asyncio.to_thread(self.files.clear_canary, site.name, running.environment)
            state = "aborted" if actor is not None else "rolled_back"
            await self.store.end_canary(running.id, state, reason)
        ended = [c for c in await self.store.canaries_of(site.id, HISTORY) if c.id == running.id]
        return ended[0]

    async def _running(
        self, actor: User | None, site_name: str, environment: object
    ) -> tuple[Site, CanaryRecord]:
        env = validate_canary_environment(environment)
        site = await (
            self.sites.named(site_name) if actor is None else self.sites.get(actor, site_name)
        )
        running = await self.store.running_canary(site.id, env)
        if running is None:
            raise NotFound(f"{env} runs no canary", code="no_canary")
        return site, running
