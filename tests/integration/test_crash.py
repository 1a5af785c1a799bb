"""SIGKILL the build worker mid-build and mid-publish, many times: the live pointer stays sound."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.config import Settings
from controlplane.services import Services, open_services
from tests.sites import site_files, zip_bytes

pytestmark = pytest.mark.slow
KILLS = 15


def _worker(
    settings: Settings, database_url: str, *, quiet: bool = True
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controlplane.cli",
            "worker",
            "--database-url",
            database_url,
            "--data-dir",
            str(settings.data_dir),
            "--job-poll",
            "1",
            "--job-lease",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if quiet else subprocess.PIPE,
    )


def _wait_until_started(worker: subprocess.Popen[bytes]) -> None:
    """Read the worker's log until it says it started (its signal handlers are in place)."""
    assert worker.stderr is not None
    for line in worker.stderr:
        if b"build worker started" in line:
            return
    raise AssertionError("the worker exited before it started")


def _assert_live_pointers_name_complete_releases(services: Services) -> None:
    live_root = services.files.live / "blog"
    for link in live_root.glob("*") if live_root.exists() else []:
        if link.name.startswith("."):
            continue  # a temp link the killed worker had not renamed yet: never served
        target = (live_root / os.readlink(link)).resolve()
        assert (target / "manifest.json").is_file(), link
        assert (target / "rules.json").is_file(), link
        assert (target / "site" / "index.html").is_file(), link


async def _database_agrees(services: Services) -> None:
    live = {
        env: deploy for site, env, deploy in await services.store.live_deploys() if site == "blog"
    }
    for env in ("production", "staging"):
        assert services.files.live_deploy("blog", env) == live.get(env), env


async def test_crash_sigkill_worker_many_times(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    random.seed(7)
    async with open_services(settings) as services:
        owner = await services.accounts.create_user(
            None, "o@example.test", "owner-password", "admin"
        )
        await services.sites.create(owner, "blog")
        for kill in range(KILLS):
            for index in range(3):
                upload = tmp_path / f"{kill}-{index}.zip"
                upload.write_bytes(zip_bytes(site_files(f"{kill}-{index}")))
                env = "staging" if index == 2 else "production"
                await services.deploys.create(owner, "blog", upload, env, None)
            worker = _worker(settings, database_url)
            await asyncio.sleep(random.uniform(0.6, 2.0))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            # Whatever the moment of death, the link names a complete release...
            _assert_live_pointers_name_complete_releases(services)
            # ...and a start (which reconciles) makes the database and the link agree.
            await services.live_pointers.reconcile()
            await _database_agrees(services)

        # Let a worker finish everything left, then check every deploy ended somewhere sane.
        worker = _worker(settings, database_url, quiet=False)
        try:
            await asyncio.to_thread(_wait_until_started, worker)
            deadline = asyncio.get_running_loop().time() + 120
            while await services.store.pending_job_count():
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.3)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
        site = await services.store.get_site("blog", None)
        assert site is not None
        statuses = {d.status for d in await services.store.list_deploys(site.id)}
        # Nothing is stuck half-way, and no finished deploy waits for a publish that was lost.
        assert statuses <= {"live", "superseded", "ready", "failed"}
        assert await services.store.auto_publish_due() == []
        assert "live" in statuses
        _assert_live_pointers_name_complete_releases(services)
        await _database_agrees(services)
