"""Retention: prune old releases by tier, expire failed deploys, sweep files nothing refers to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from controlplane.releases import ReleaseFiles
from controlplane.store import Store

log = logging.getLogger(__name__)

# A build never takes this long; older staging or upload leftovers belong to dead processes.
STALE_TEMPORARY_SECONDS = 3600


@dataclass(frozen=True)
class RetentionPolicy:
    """How many ready deploys each tier keeps per environment, and how long failures stay."""

    keep_free: int = 5
    keep_pro: int = 50
    failed_days: int = 7


@dataclass(frozen=True)
class RetentionResult:
    """What one run removed."""

    pruned: int
    expired: int
    orphans: int


async def apply_retention(
    store: Store, files: ReleaseFiles, policy: RetentionPolicy
) -> RetentionResult:
    """One retention pass; live and pinned deploys are never touched."""
    pruned = 0
    for site, deploy_id in await store.prunable_deploys(policy.keep_free, policy.keep_pro):
        # The row first: from then on a publish refuses it. Files a crash leaves behind are
        # swept as orphans by a later run.
        if await store.mark_pruned(deploy_id):
            await asyncio.to_thread(files.remove_release, site, deploy_id)
            pruned += 1
    expired = 0
    for site, deploy_id in await store.expired_failed_deploys(policy.failed_days):
        await asyncio.to_thread(files.remove_release, site, deploy_id)
        await store.delete_deploy(deploy_id)
        expired += 1
    orphans = await _sweep_orphans(store, files)
    if pruned or expired or orphans:
        log.info("retention", extra={"pruned": pruned, "expired": expired, "orphans": orphans})
    return RetentionResult(pruned, expired, orphans)


async def _sweep_orphans(store: Store, files: ReleaseFiles) -> int:
    """Remove files of deleted sites and deploys, and stale temporary files."""
    known = await store.deploy_ids_by_site()
    removed = await asyncio.to_thread(files.sweep_temporary, STALE_TEMPORARY_SECONDS)
    for site in await asyncio.to_thread(files.site_names_on_disk):
        if site not in known:
            await asyncio.to_thread(files.remove_site, site)
            removed += 1
            continue
        # Recent files may belong to an upload whose row is being inserted right now.
        on_disk = await asyncio.to_thread(files.deploy_ids_on_disk, site, STALE_TEMPORARY_SECONDS)
        for deploy_id in on_disk:
            if deploy_id not in known[site]:
                await asyncio.to_thread(files.remove_release, site, deploy_id)
                removed += 1
    return removed


async def retention_loop(
    store: Store, files: ReleaseFiles, policy: RetentionPolicy, interval: float, stop: asyncio.Event
) -> None:
    """Run retention every interval until stop is set; errors are logged, not fatal."""
    while not stop.is_set():
        try:
            await apply_retention(store, files, policy)
        except Exception:
            log.exception("retention run failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
