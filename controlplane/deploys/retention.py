"""Retention: prune old releases by tier, expire failed deploys, sweep files nothing refers to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from controlplane.deploys.release_files import ReleaseFiles, remove_tree
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
    """One retention pass; live, pinned, pointed-at and canary deploys are never touched."""
    pruned = 0
    for site_id, site, deploy_id in await store.prunable_deploys(policy.keep_free, policy.keep_pro):
        if await _prune(store, files, site_id, site, deploy_id):
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


async def _prune(
    store: Store, files: ReleaseFiles, site_id: int, site: str, deploy_id: str
) -> bool:
    """Prune one deploy under its site's publish lock; False when it must stay."""
    async with store.site_lock(site_id):
        # Under the lock no publish is between its commit and its swap, so a live pointer
        # naming this deploy means the database and the disk disagree: leave it for the
        # reconcile, and the next run, to settle.
        if await asyncio.to_thread(files.live_environments_of, site, deploy_id):
            log.warning(
                "not pruning a deploy a live pointer names",
                extra={"site": site, "deploy": deploy_id},
            )
            return False
        # A canary split serves it to some visitors; set_canary runs under this lock too.
        if await asyncio.to_thread(files.canary_environments_of, site, deploy_id):
            log.info("not pruning a canary", extra={"site": site, "deploy": deploy_id})
            return False
        # The row first, committed: from then on a publish refuses it.
        if not await store.mark_pruned(deploy_id):
            return False  # it became live or pinned meanwhile
        retired = await asyncio.to_thread(files.retire_release, site, deploy_id)
    # Deleting can take long for a big release; it is out of releases/ already, so outside
    # the lock. A crash here leaves it in trash/, which the next run empties.
    if retired is not None:
        await asyncio.to_thread(remove_tree, retired)
    return True


async def _sweep_orphans(store: Store, files: ReleaseFiles) -> int:
    """Remove files of deleted sites and deploys, and stale temporary files."""
    known = await store.deploy_ids_by_site()
    removed = await asyncio.to_thread(files.sweep_temporary, STALE_TEMPORARY_SECONDS)
    for site in await asyncio.to_thread(files.site_names_on_disk):
        if site not in known:
            await asyncio.to_thread(files.remove_site, site)
            removed += 1
            continue
        site_id, deploy_ids = known[site]
        # Recent files may belong to an upload whose row is being inserted right now.
        on_disk = await asyncio.to_thread(files.deploy_ids_on_disk, site, STALE_TEMPORARY_SECONDS)
        orphans = on_disk - deploy_ids
        if not orphans:
            continue
        retired = []
        async with store.site_lock(site_id):
            for deploy_id in sorted(orphans):
                if await asyncio.to_thread(files.serving_environments_of, site, deploy_id):
                    continue  # still served by a live link (the reconcile moves it) or a split
                retired.append(await asyncio.to_thread(files.retire_release, site, deploy_id))
                removed += 1
        for tree in retired:
            if tree is not None:
                await asyncio.to_thread(remove_tree, tree)
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
