"""Retention keeps the newest N ready deploys by tier, never live or pinned ones; sweeps orphans."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg2
import pytest

from controlplane.config import Settings
from controlplane.deploys.build_worker import BuildWorker, WorkerOptions
from controlplane.deploys.retention import RetentionPolicy, apply_retention
from controlplane.services import Services, open_services
from tests.harness.releases import install_release
from tests.sites import site_files, zip_bytes


@pytest.fixture
async def services(settings: Settings) -> Services:  # type: ignore[misc]
    """The domain services on the test database."""
    async with open_services(settings) as opened:
        yield opened


async def _deploy_and_build(services: Services, tmp_path: Path, markers: list[str]) -> list[str]:
    owner = (await services.store.list_users() or [None])[0]
    if owner is None:
        owner = await services.accounts.create_user(
            None, "o@example.test", "owner-password", "admin"
        )
        await services.sites.create(owner, "blog")
    worker = BuildWorker(
        services.store, services.files, services.deploys, services.deploys.limits, WorkerOptions()
    )
    ids = []
    for marker in markers:
        upload = tmp_path / f"{marker}.zip"
        upload.write_bytes(zip_bytes(site_files(marker)))
        deploy = await services.deploys.create(owner, "blog", upload, "production", None)
        job = await services.store.claim_job(worker.name, 30)
        assert job is not None
        await worker.build(job)
        ids.append(deploy.id)
    return ids


async def test_retention_keeps_newest_and_live_and_pinned(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    ids = await _deploy_and_build(services, tmp_path, ["a", "b", "c", "d", "e"])
    site = await services.store.get_site("blog", None)
    assert site is not None
    # Roll back to the oldest: it is live, so retention must keep it whatever its age.
    await services.deploys.publish_deploy(site, ids[0], None, "rollback")
    await services.store.set_pinned(site.id, ids[1], True)

    result = await apply_retention(services.store, services.files, RetentionPolicy(keep_free=2))
    # ids[4] and ids[3] are the newest two non-live ones; ids[2] goes; ids[1] is pinned.
    assert result.pruned == 1
    pruned = await services.store.deploy_by_id(ids[2])
    assert pruned is not None and pruned.pruned_at is not None
    assert not services.files.release_path("blog", ids[2]).exists()
    assert not services.files.artifact_path("blog", ids[2]).exists()
    assert await services.store.log_lines(ids[2]) == []
    for kept in (ids[0], ids[1], ids[3], ids[4]):
        assert services.files.release_path("blog", kept).is_dir(), kept
    assert services.files.live_deploy("blog", "production") == ids[0]

    # A pruned deploy cannot come back.
    from controlplane.errors import Conflict

    with pytest.raises(Conflict):
        await services.deploys.publish_deploy(site, ids[2], None, "rollback")

    # Pro tier keeps more.
    await services.store.update_site(site.id, {"tier": "pro"})
    assert (
        await apply_retention(services.store, services.files, RetentionPolicy(keep_free=1))
    ).pruned == 0


async def test_retention_expires_failed_deploys_and_sweeps_orphans(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    (good,) = await _deploy_and_build(services, tmp_path, ["ok"])
    owner = (await services.store.list_users())[0]
    upload = tmp_path / "bad.zip"
    upload.write_bytes(zip_bytes(site_files("bad", {"_redirects": "/a /b 999\n"})))
    failed = await services.deploys.create(owner, "blog", upload, "production", None)
    worker = BuildWorker(
        services.store, services.files, services.deploys, services.deploys.limits, WorkerOptions()
    )
    job = await services.store.claim_job(worker.name, 30)
    assert job is not None
    await worker.build(job)
    conn = psycopg2.connect(database_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE deploys SET finished_at = now() - interval '8 days' WHERE id = %s", (failed.id,)
        )
    conn.close()

    orphan_site = services.files.releases / "deleted-site" / "abcdefabcdef"
    orphan_site.mkdir(parents=True)
    orphan_release = services.files.releases / "blog" / "0123456789ab"
    orphan_release.mkdir(parents=True)
    old = time.time() - 7200
    os.utime(orphan_release, (old, old))
    fresh_upload = services.files.artifact_path("blog", "fedcba987654")
    fresh_upload.write_bytes(b"being inserted right now")

    result = await apply_retention(services.store, services.files, RetentionPolicy())
    assert result.expired == 1
    assert await services.store.deploy_by_id(failed.id) is None
    assert not services.files.artifact_path("blog", failed.id).exists()
    assert not orphan_site.exists() and not orphan_release.exists()
    assert fresh_upload.exists()  # too recent to be called an orphan
    assert services.files.release_path("blog", good).is_dir()


async def test_retention_never_prunes_a_release_a_canary_split_names(
    services: Services, tmp_path: Path
) -> None:
    ids = await _deploy_and_build(services, tmp_path, ["a", "b", "c", "d"])
    files = services.files
    assert files.live_deploy("blog", "production") == ids[3]
    files.set_canary("blog", "production", ids[0], 10)  # the oldest, past any tier's count
    result = await apply_retention(services.store, services.files, RetentionPolicy(keep_free=1))
    assert result.pruned == 1  # ids[1]; ids[2] is the newest non-live one, ids[0] the canary
    assert files.release_path("blog", ids[0]).is_dir()
    assert not files.release_path("blog", ids[1]).exists()
    canary = await services.store.deploy_by_id(ids[0])
    assert canary is not None and canary.pruned_at is None  # still publishable (a promotion)
    # An orphaned release (no deploy row) a split names stays too.
    orphan = "0123456789ab"
    install_release(files.root, "blog", orphan, site_files(orphan))
    old = time.time() - 7200
    os.utime(files.release_path("blog", orphan), (old, old))
    files.set_canary("blog", "production", orphan, 10)  # the split no longer names ids[0]
    result = await apply_retention(services.store, services.files, RetentionPolicy(keep_free=1))
    assert (result.pruned, result.orphans) == (1, 0)
    assert files.release_complete("blog", orphan)
    assert not files.release_path("blog", ids[0]).exists()
    # Once the split is cleared, the orphan goes too.
    files.clear_canary("blog", "production")
    result = await apply_retention(services.store, services.files, RetentionPolicy(keep_free=1))
    assert (result.pruned, result.orphans) == (0, 1)
    assert not files.release_path("blog", orphan).exists()
