"""Canaries through the API, with the real worker, edge and Traefik: publish with a share,
visitors split and kept on their release, the share changed, aborted, promoted, and ended by
another publish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL
from tests.harness.ports import free_port
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.harness.waiting import wait_for
from tests.integration.test_probes import Api, signed_in_api
from tests.sites import site_files, zip_bytes

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
SPLIT_SEEN = 0.2  # the edge looks at a split file at most every 50 ms (docs/edge.md)


class Visitors:
    """Requests through Traefik as blog.localhost, each visitor with their own cookies."""

    def __init__(self, traefik: str) -> None:
        self.traefik = traefik

    async def visit(self, cookie: str = "") -> tuple[str, str]:
        """The release that answered, and the cookie to send next time."""
        headers = {"Host": "blog.localhost", **({"Cookie": cookie} if cookie else {})}
        jar = aiohttp.DummyCookieJar()
        async with (
            aiohttp.ClientSession(cookie_jar=jar) as session,
            session.get(self.traefik + "/", headers=headers) as response,
        ):
            assert response.status == 200
            given = "; ".join(f"{k}={m.value}" for k, m in response.cookies.items())
            return response.headers["X-Wharf-Deploy"], given or cookie


@pytest.fixture
async def stack(
    aiohttp_server: Any, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Api, Visitors]]:
    """Control plane with its worker, the edge and Traefik; site blog, auto-publish off."""
    port = free_port()
    settings = stack_settings(
        tmp_path / "data", database_url=database_url, listen=f"127.0.0.1:{port}", job_poll="1"
    )
    async with signed_in_api(aiohttp_server, settings) as api:
        assert api.app is not None
        app = api.app
        async with edge_and_traefik(settings, app[SERVICES].routing.routers) as traefik:
            yield api, Visitors(traefik.rstrip("/"))


async def _ready(api: Api, marker: str) -> str:
    await api.call("PATCH", "/api/v1/sites/blog", json={"auto_publish": False})
    return await _built(api, marker)


async def _built(api: Api, marker: str) -> str:
    deploy = await api.call(
        "POST",
        "/api/v1/sites/blog/deploys",
        data=zip_bytes(site_files(marker)),
        headers={"Content-Type": "application/zip"},
    )

    async def built() -> bool:
        found = await api.call("GET", f"/api/v1/sites/blog/deploys/{deploy['id']}")
        return found["status"] in ("ready", "live")

    await wait_for(built, 30)
    return str(deploy["id"])


async def test_canary_split_abort_promote_and_a_publish_that_ends_it(
    stack: tuple[Api, Visitors],
) -> None:
    api, visitors = stack
    stable = await api.deploy("stable")
    canary = await _ready(api, "canary")
    started = await api.call(
        "POST", f"/api/v1/sites/blog/deploys/{canary}/publish", json={"canary": 50}
    )
    assert (started["state"], started["percent"], started["stable_deploy_id"]) == (
        "running",
        50,
        stable,
    )
    seen = [await visitors.visit() for _ in range(40)]
    assert {release for release, _ in seen} == {stable, canary}
    # Each visitor stays on the release they were given.
    for release, cookie in seen[:10]:
        assert (await visitors.visit(cookie))[0] == release

    changed = await api.call(
        "PATCH", "/api/v1/sites/blog/canary", json={"environment": "production", "percent": 5}
    )
    assert changed["percent"] == 5
    aborted = await api.call("POST", "/api/v1/sites/blog/canary/abort", json={})
    assert aborted["state"] == "aborted" and aborted["reason"] == f"aborted by {ADMIN_EMAIL}"
    await asyncio.sleep(SPLIT_SEEN)
    assert {(await visitors.visit(cookie))[0] for _, cookie in seen} == {stable}

    await api.call("POST", f"/api/v1/sites/blog/deploys/{canary}/publish", json={"canary": 20})
    event = await api.call("POST", "/api/v1/sites/blog/canary/promote", json={})
    assert event["to_deploy"] == canary and event["from_deploy"] == stable
    await asyncio.sleep(SPLIT_SEEN)
    assert {(await visitors.visit(cookie))[0] for _, cookie in seen} == {canary}
    listed = (await api.call("GET", "/api/v1/sites/blog/canaries"))["canaries"]
    assert [c["state"] for c in listed] == ["promoted", "aborted"]

    # A publish of anything else ends a running canary: the split never outlives its stable.
    third = await _built(api, "third")
    await api.call("POST", f"/api/v1/sites/blog/deploys/{third}/publish", json={"canary": 30})
    await api.call("POST", f"/api/v1/sites/blog/deploys/{stable}/publish", json={})
    await asyncio.sleep(SPLIT_SEEN)
    listed = (await api.call("GET", "/api/v1/sites/blog/canaries"))["canaries"]
    assert (listed[0]["state"], listed[0]["reason"]) == (
        "aborted",
        f"another deploy ({stable}) was published",
    )
    assert {(await visitors.visit())[0] for _ in range(10)} == {stable}
