"""A canary split through real Traefik in front of `wharf edge` (two workers): 2,000 new visitors
share the releases by weight, and each one's later requests stay on theirs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import pytest

from controlplane.config import Settings
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.traefik.config_writer import TraefikConfigWriter
from controlplane.traefik.render import RoutingState
from tests.harness.releases import install_release
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.sites import site_files

pytestmark = pytest.mark.slow

STABLE, CANARY = "5ab1e0000001", "ca0a00000002"
VISITORS = 2_000
LATER = ("/", "/assets/app.js", "/about/")


@pytest.fixture
async def traefik(tmp_path: Path) -> AsyncIterator[tuple[Settings, str]]:
    """Traefik's URL over `blog`: STABLE live in production, CANARY at 10 %."""
    settings = stack_settings(tmp_path / "data", edge_workers="2")
    files = ReleaseFiles(settings.data_dir)
    for deploy in (STABLE, CANARY):
        install_release(settings.data_dir, "blog", deploy, site_files(deploy))
    files.activate("blog", "production", STABLE)
    files.set_canary("blog", "production", CANARY, 10)
    writer = TraefikConfigWriter(settings.traefik_watched_dir, settings.traefik_staging_dir)
    routers = await writer.sync(RoutingState(settings.base_domain, settings.edge_upstream))
    async with edge_and_traefik(settings, routers) as url:
        yield settings, url


async def test_canary_through_traefik_shares_2000_visitors_by_weight_and_keeps_them(
    traefik: tuple[Settings, str],
) -> None:
    _, url = traefik
    gate = asyncio.Semaphore(16)
    # No cookie jar: each visitor is exactly the cookie it was given, or none.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def get(path: str, release: str | None) -> tuple[str, str | None, bytes]:
            headers = {"Host": "blog.localhost", "Accept-Encoding": "identity"}
            if release is not None:
                headers["Cookie"] = f"wharf_release={release}"
            async with session.get(url.rstrip("/") + path, headers=headers) as response:
                assert response.status == 200, (path, response.status)
                assigned = response.headers.get("Set-Cookie")
                value = SimpleCookie(assigned)["wharf_release"].value if assigned else None
                return response.headers["X-Wharf-Deploy"], value, await response.read()

        async def visitor() -> tuple[str, list[str]]:
            async with gate:
                deploy, cookie, body = await get("/", None)
                assert cookie == deploy, "a new visitor is given the release that answered"
                assert f"Hello from release {deploy}".encode() in body
                later = []
                for path in LATER:
                    again, assigned, _ = await get(path, cookie)
                    assert assigned is None  # a visitor with a cookie in force keeps it
                    later.append(again)
                return deploy, later

        visits = await asyncio.gather(*(visitor() for _ in range(VISITORS)))
    served = Counter(deploy for deploy, _ in visits)
    print(f"served: {dict(served)}")
    assert 0.07 * VISITORS <= served[CANARY] <= 0.13 * VISITORS, served
    assert served[STABLE] + served[CANARY] == VISITORS
    moved = [(deploy, later) for deploy, later in visits if later != [deploy] * len(LATER)]
    assert moved == [], f"{len(moved)} visitors changed release: {moved[:5]}"
