"""The canary's counts as the worker that compares releases reads them: scraped from a real
`wharf edge` with two workers, every worker's answers in the sum."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from controlplane.deploys.canary_counts import (
    EdgeUnavailable,
    ReleaseCounts,
    ReleaseKey,
    read_release_counts,
)
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.runtime.stack import edge_process
from tests.harness.ports import free_port
from tests.harness.releases import install_release
from tests.harness.stack import stack_settings
from tests.harness.waiting import wait_for
from tests.sites import site_files

pytestmark = pytest.mark.slow

STABLE, CANARY = "5ab1e0000001", "ca0a00000002"
KEYS = {
    STABLE: ReleaseKey("blog", "production", STABLE, "stable"),
    CANARY: ReleaseKey("blog", "production", CANARY, "canary"),
}


async def test_canary_counts_of_every_edge_worker_reach_the_reader(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "data", edge_workers="2")
    files = ReleaseFiles(settings.data_dir)
    for deploy in (STABLE, CANARY):
        install_release(settings.data_dir, "blog", deploy, site_files(deploy))
    files.activate("blog", "production", STABLE)
    files.set_canary("blog", "production", CANARY, 10)
    sent = {STABLE: [0, 0], CANARY: [0, 0]}  # (2xx, 4xx) per release
    async with edge_process(settings) as url:
        connector = aiohttp.TCPConnector(force_close=True)  # a new connection, any worker
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        ) as session:

            async def visit(number: int) -> None:
                release = (STABLE, CANARY)[number % 2]
                path = "/missing" if number % 5 == 0 else "/"
                async with session.get(
                    f"{url}{path.lstrip('/')}",
                    headers={"Host": "blog.localhost", "Cookie": f"wharf_release={release}"},
                ) as response:
                    assert response.headers["X-Wharf-Deploy"] == release
                    sent[release][response.status // 100 == 4] += 1

            for start in range(0, 400, 20):
                await asyncio.gather(*(visit(n) for n in range(start, start + 20)))

        read: dict[ReleaseKey, ReleaseCounts] = {}

        async def counted() -> bool:
            read.update(await read_release_counts(url, settings.base_domain))
            return all(
                key in read and read[key].responses == (sent[d][0], 0, sent[d][1], 0)
                for d, key in KEYS.items()
            )

        # Each worker writes its counts every second; the one answering sums them all.
        await wait_for(counted, 5)
        snapshots = [
            json.loads(path.read_text())
            for path in (settings.data_dir / "edge" / "metrics").glob("*.json")
        ]
        assert len(snapshots) == 2
        assert all(snapshot["releases"] for snapshot in snapshots), "one worker answered all"
    assert read[KEYS[CANARY]].buckets[-1][1] == sum(sent[CANARY])
    assert read[KEYS[STABLE]].error_rate() == 0.0

    with pytest.raises(EdgeUnavailable):
        await read_release_counts(f"http://127.0.0.1:{free_port()}/", "localhost", 1)
    with pytest.raises(EdgeUnavailable):
        await read_release_counts("file:///etc/passwd", "localhost")
    with pytest.raises(EdgeUnavailable):
        await read_release_counts(url, "localhost\r\nX-Injected: 1")
