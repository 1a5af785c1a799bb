"""The job queue on PostgreSQL: exclusive claims, leases, hand-back at shutdown, NOTIFY wake-ups."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controlplane.accounts.account_service import Accounts
from controlplane.config import Settings
from controlplane.deploys.build_worker import BuildWorker, WorkerOptions
from controlplane.deploys.deploy_service import new_deploy_id
from controlplane.models import User
from controlplane.services import Services, open_services
from tests.sites import site_files, zip_bytes


@pytest.fixture
async def services(settings: Settings) -> Services:  # type: ignore[misc]
    """The domain services on the test database."""
    async with open_services(settings) as opened:
        yield opened


async def _owner(accounts: Accounts) -> User:
    return await accounts.create_user(None, "owner@example.test", "owner-password", "admin")


async def _queue_deploys(services: Services, count: int, tmp_path: Path) -> list[str]:
    """Deploys accepted through the service, as an upload would create them."""
    owner = await _owner(services.accounts)
    await services.sites.create(owner, "blog")
    ids = []
    for index in range(count):
        upload = tmp_path / f"upload-{index}.zip"
        upload.write_bytes(zip_bytes(site_files(str(index))))
        deploy = await services.deploys.create(owner, "blog", upload, "production", None)
        ids.append(deploy.id)
    return ids


async def test_worker_claims_are_exclusive(services: Services, tmp_path: Path) -> None:
    ids = await _queue_deploys(services, 12, tmp_path)

    async def drain(worker: str) -> list[str]:
        claimed = []
        while job := await services.store.claim_job(worker, 30):
            claimed.append(job.deploy_id)
        return claimed

    first, second, third = await asyncio.gather(drain("w1"), drain("w2"), drain("w3"))
    assert sorted(first + second + third) == sorted(ids)
    assert not set(first) & set(second) and not set(second) & set(third)


async def test_worker_lease_expiry_lets_another_worker_take_the_job(
    services: Services, tmp_path: Path
) -> None:
    (deploy_id,) = await _queue_deploys(services, 1, tmp_path)
    taken = await services.store.claim_job("dead-worker", 0.5)
    assert taken is not None and taken.attempts == 1
    assert await services.store.claim_job("other", 30) is None
    await asyncio.sleep(0.7)
    retaken = await services.store.claim_job("other", 30)
    assert retaken is not None and (retaken.deploy_id, retaken.attempts) == (deploy_id, 2)
    # The dead worker's late report is ignored: the job is not its own any more.
    assert not await services.store.finish_build(deploy_id, "dead-worker", error=None, report={})


async def test_worker_gives_up_after_max_attempts(services: Services, tmp_path: Path) -> None:
    (deploy_id,) = await _queue_deploys(services, 1, tmp_path)
    for _ in range(2):
        assert await services.store.claim_job("crashing", 0.01)
        await asyncio.sleep(0.05)
    assert await services.store.fail_abandoned_jobs(max_attempts=2) == [deploy_id]
    deploy = await services.store.deploy_by_id(deploy_id)
    assert deploy is not None and deploy.status == "failed"
    assert "interrupted" in (deploy.error or "")


async def test_worker_hands_back_a_running_build_at_shutdown(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (deploy_id,) = await _queue_deploys(services, 1, tmp_path)
    options = WorkerOptions(lease_seconds=0.3, stop_grace_seconds=0.2)
    worker = BuildWorker(
        services.store, services.files, services.deploys, services.deploys.limits, options
    )
    started = asyncio.Event()

    async def slow_build(job: object) -> None:
        started.set()
        await asyncio.sleep(30)

    monkeypatch.setattr(worker, "build", slow_build)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), 10)
    stop.set()
    await asyncio.wait_for(running, 10)
    again = await services.store.claim_job("next", 30)
    assert again is not None and again.deploy_id == deploy_id
    assert again.attempts == 1  # a hand-back is not a failed attempt


async def test_worker_wakes_on_notify_not_poll(services: Services, tmp_path: Path) -> None:
    options = WorkerOptions(poll_seconds=60)
    worker = BuildWorker(
        services.store, services.files, services.deploys, services.deploys.limits, options
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.5)  # the worker is now waiting on LISTEN, with a minute until it polls
    (deploy_id,) = await _queue_deploys(services, 1, tmp_path)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while (deploy := await services.store.deploy_by_id(deploy_id)) and deploy.status != "live":
        assert loop.time() < deadline, deploy
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(running, 10)


async def test_worker_startup_reconciles_live_pointer(services: Services, tmp_path: Path) -> None:
    (first,) = await _queue_deploys(services, 1, tmp_path)
    worker = BuildWorker(
        services.store, services.files, services.deploys, services.deploys.limits, WorkerOptions()
    )
    job = await services.store.claim_job(worker.name, 30)
    assert job is not None
    await worker.build(job)
    assert services.files.live_deploy("blog", "production") == first
    # A crash between the commit and the swap leaves the link behind; a start puts it right.
    services.files.deactivate("blog", "production")
    assert await services.live_pointers.reconcile() == 1
    assert services.files.live_deploy("blog", "production") == first
    other = new_deploy_id()
    services.files.live.joinpath("ghost").mkdir()
    (services.files.releases / "ghost" / other).mkdir(parents=True)
    services.files.activate("ghost", "production", other)
    assert await services.live_pointers.reconcile() == 1
    assert services.files.live_deploy("ghost", "production") is None
