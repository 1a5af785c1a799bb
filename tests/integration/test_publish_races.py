"""Publish, rollback and retention racing on a real stack; the live-pointer reconcile heals."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from controlplane.config import Settings, load_settings
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.runtime.stack import edge_process
from tests.harness.control_plane import ADMIN, control_plane
from tests.harness.ports import free_port
from tests.harness.waiting import tail, wait_for
from tests.sites import site_files, zip_bytes

pytestmark = pytest.mark.slow
MARKER = re.compile(rb"Hello from release (\w+)")


@dataclass
class Stack:
    """A control plane process (API, worker, retention, reconcile) and an edge process."""

    settings: Settings
    database_url: str
    api: str
    edge: str
    session: aiohttp.ClientSession
    headers: dict[str, str]
    log: Path

    async def deploy(self, marker: str) -> str:
        """Upload a site whose pages say the marker; returns the deploy id."""
        async with self.session.post(
            f"{self.api}/api/v1/sites/blog/deploys",
            data=zip_bytes(site_files(marker)),
            headers={**self.headers, "Content-Type": "application/zip"},
        ) as response:
            assert response.status == 202, await response.text()
            deploy_id: str = (await response.json())["id"]
            return deploy_id

    async def deploys(self) -> dict[str, dict[str, object]]:
        """Every deploy of the site by id."""
        async with self.session.get(
            f"{self.api}/api/v1/sites/blog/deploys", headers=self.headers
        ) as response:
            assert response.status == 200
            return {d["id"]: d for d in (await response.json())["deploys"]}

    async def wait_ready(self, ids: list[str], within: float = 60) -> None:
        """Until every named deploy finished building."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = await self.deploys()
            if all(found[i]["status"] not in ("pending", "building") for i in ids):
                return
            assert loop.time() < deadline, self.dump()
            await asyncio.sleep(0.1)

    async def edge_get(self, path: str = "/") -> tuple[int, str | None, bytes]:
        """GET a path of blog's production host from the edge."""
        async with self.session.get(
            self.edge + path.lstrip("/"), headers={"Host": "blog.localhost"}
        ) as response:
            return response.status, response.headers.get("X-Wharf-Deploy"), await response.read()

    def dump(self) -> str:
        """The control plane's log, for a failing assertion."""
        return tail(self.log)


@contextlib.asynccontextmanager
async def _stack(database_url: str, tmp_path: Path, **extra: str) -> AsyncIterator[Stack]:
    settings = load_settings(
        {
            "data_dir": str(tmp_path / "data"),
            "database_url": database_url,
            "listen": f"127.0.0.1:{free_port()}",
            "edge_listen": f"127.0.0.1:{free_port()}",
            "edge_workers": "1",
        },
        environ={},
    )
    log = tmp_path / "control-plane.log"
    async with (
        control_plane(
            settings.data_dir,
            database_url,
            settings.listen,
            log,
            edge_listen=f"{settings.edge_listen[0]}:{settings.edge_listen[1]}",
            **extra,
        ) as api,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
    ):
        async with session.post(f"{api}/api/v1/auth/login", json=ADMIN) as response:
            headers = {"Authorization": "Bearer " + (await response.json())["access_token"]}
        async with session.post(
            f"{api}/api/v1/sites", json={"name": "blog"}, headers=headers
        ) as response:
            assert response.status == 201
        async with edge_process(settings) as edge:
            yield Stack(settings, database_url, api, edge, session, headers, log)


async def test_publish_rollback_and_retention_racing_never_5xx_or_take_the_site_down(
    database_url: str, tmp_path: Path
) -> None:
    # The recipe of the outage: tiny retention, a retention run every second, auto-publish
    # locked, uploads every 0.2 s and rollbacks back to back to one of the last 8 deploys.
    async with _stack(
        database_url, tmp_path, retention_free="2", retention_interval="1", reconcile_interval="1"
    ) as stack:
        async with stack.session.patch(
            f"{stack.api}/api/v1/sites/blog", json={"auto_publish": False}, headers=stack.headers
        ) as response:
            assert response.status == 200, await response.text()
        markers: dict[str, str] = {}
        for n in range(4):
            markers[await stack.deploy(f"m{n}")] = f"m{n}"
        ids = list(markers)
        await stack.wait_ready(ids)
        async with stack.session.post(
            f"{stack.api}/api/v1/sites/blog/deploys/{ids[-1]}/publish", headers=stack.headers
        ) as response:
            assert response.status == 200, await response.text()

        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        rollbacks: Counter[str] = Counter()
        reads: Counter[str] = Counter()
        bad_reads: list[str] = []
        random.seed(11)

        async def upload() -> None:
            n = 4
            while loop.time() < end:
                deploy_id = await stack.deploy(f"m{n}")
                markers[deploy_id] = f"m{n}"
                ids.append(deploy_id)
                n += 1
                await asyncio.sleep(0.2)

        async def roll_back() -> None:
            while loop.time() < end:
                target = random.choice(ids[-8:])
                async with stack.session.post(
                    f"{stack.api}/api/v1/sites/blog/rollback",
                    json={"deploy_id": target},
                    headers=stack.headers,
                ) as response:
                    body = await response.json()
                    code = "ok" if response.status == 200 else body["error"]["code"]
                    rollbacks[f"{response.status} {code}"] += 1

        async def read() -> None:
            while loop.time() < end:
                status, deploy, body = await stack.edge_get()
                found = MARKER.search(body)
                marker = found[1].decode() if found else None
                if status != 200 or deploy not in markers or markers[deploy] != marker:
                    bad_reads.append(f"{status} {deploy} {marker}")
                reads[str(status)] += 1
                await asyncio.sleep(0.05)

        await asyncio.gather(upload(), roll_back(), read())
        print("rollbacks:", dict(rollbacks), "reads:", dict(reads))

        assert not [key for key in rollbacks if key.startswith("5")], (rollbacks, stack.dump())
        assert set(rollbacks) <= {"200 ok", "409 deploy_pruned", "409 deploy_not_ready"}
        assert bad_reads == [], (bad_reads[:10], stack.dump())
        # The race was really run: many rollbacks went through and retention pruned plenty.
        deploys = await stack.deploys()
        assert rollbacks["200 ok"] > 100
        assert rollbacks["409 deploy_pruned"] > 0
        assert sum(1 for d in deploys.values() if d["pruned"]) > 10
        # Afterwards the database and the disk name the same live release, with its files.
        (live,) = [i for i, d in deploys.items() if d["status"] == "live"]
        files = ReleaseFiles(stack.settings.data_dir)
        assert files.live_deploy("blog", "production") == live
        assert files.release_intact("blog", live)


async def test_reconcile_falls_back_when_the_live_release_files_are_lost(
    database_url: str, tmp_path: Path
) -> None:
    async with _stack(database_url, tmp_path, reconcile_interval="1") as stack:
        first = await stack.deploy("first")
        await stack.wait_ready([first])
        second = await stack.deploy("second")
        await stack.wait_ready([second])
        assert (await stack.edge_get())[1] == second
        # The disk loses the live release (a manual rm -rf, a restored backup without it).
        files = ReleaseFiles(stack.settings.data_dir)
        shutil.rmtree(files.release_path("blog", second))

        async def served_from_first() -> bool:
            status, deploy, body = await stack.edge_get()
            return status == 200 and deploy == first and b"Hello from release first" in body

        # Within the reconcile interval (1 s here), plus the time to notice.
        await wait_for(served_from_first, 5, stack.log)
        deploys = await stack.deploys()
        assert deploys[first]["status"] == "live"
        assert deploys[second]["status"] == "superseded"
        async with stack.session.get(
            f"{stack.api}/api/v1/sites/blog/publishes", headers=stack.headers
        ) as response:
            latest = (await response.json())["events"][0]
        assert latest["kind"] == "repair"
        assert latest["from_deploy"] == second and latest["to_deploy"] == first
        assert f"the files of live deploy {second} are missing" in latest["reason"]
        assert '"alert": "live_release_missing"' in stack.log.read_text()
        # The lost deploy cannot be published again: a clear 409, no 500.
        async with stack.session.post(
            f"{stack.api}/api/v1/sites/blog/deploys/{second}/publish", headers=stack.headers
        ) as response:
            assert response.status == 409
            assert (await response.json())["error"]["code"] == "deploy_files_missing"


async def test_reconcile_heals_a_publish_killed_between_commit_and_swap(
    database_url: str, tmp_path: Path
) -> None:
    # The control plane runs no worker; a separate `wharf worker` builds and auto-publishes,
    # and dies (SIGKILL, injected) right after the publish committed, before the swap.
    async with _stack(database_url, tmp_path, worker="false", reconcile_interval="2") as stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
        argv = [
            sys.executable, "-m", "controlplane.cli", "worker",
            "--data-dir", str(stack.settings.data_dir),
            "--database-url", stack.database_url,
            "--job-poll", "1",
        ]  # fmt: skip
        worker_log = tmp_path / "worker.log"
        deploy_id = await stack.deploy("committed")
        with worker_log.open("ab") as stderr:
            worker = await asyncio.create_subprocess_exec(
                *argv, stderr=stderr, env={**env, "WHARF_FAULT": "publish_after_commit"}
            )
        try:
            assert await asyncio.wait_for(worker.wait(), 60) == -9, worker_log.read_text()
        finally:
            if worker.returncode is None:
                worker.kill()
        # It died holding nothing: the database says live, the disk had not been swapped.
        deploys = await stack.deploys()
        assert deploys[deploy_id]["status"] == "live"
        assert "published" not in worker_log.read_text()

        async def served() -> bool:
            status, deploy, body = await stack.edge_get()
            return status == 200 and deploy == deploy_id and b"release committed" in body

        # No process restarted; the control plane's reconcile swaps within its interval.
        await wait_for(served, 2 + 3, stack.log)
        assert "live pointer repaired" in stack.log.read_text()
