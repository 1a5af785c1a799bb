"""Two control planes on one database and data directory: one writer routes each change once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controlplane.traefik.dynamic_file import FILE_NAME
from tests.harness.control_plane import ADMIN, control_plane
from tests.harness.ports import free_port
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.slow


def _written_versions(*logs: Path) -> list[int]:
    """The routing versions written, by whichever process, from their JSON logs."""
    versions = []
    for log in logs:
        for line in log.read_text().splitlines():
            if line.startswith("{") and json.loads(line).get("event") == "routing written":
                versions.append(json.loads(line)["version"])
    return versions


async def test_routing_two_control_planes_route_a_domain_once_and_both_confirm(
    database_url: str, tmp_path: Path
) -> None:
    settings = stack_settings(tmp_path / "data", database_url=database_url)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    options = {"traefik_api_url": settings.traefik_api_url, "log_level": "info"}
    async with (
        control_plane(
            settings.data_dir, database_url, ("127.0.0.1", free_port()), logs[0], **options
        ) as first,
        control_plane(
            settings.data_dir, database_url, ("127.0.0.1", free_port()), logs[1], **options
        ) as second,
        aiohttp.ClientSession() as session,
    ):
        config_file = settings.traefik_watched_dir / FILE_NAME
        await wait_for(config_file.exists, 10, *logs)
        async with edge_and_traefik(settings, {"wharf-sites"}, edge=False):
            async with session.post(f"{first}/api/v1/auth/login", json=ADMIN) as response:
                token = (await response.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}"}

            async def write(base: str, path: str, body: dict[str, str]) -> dict[str, Any]:
                """POST with ?wait=true; the JSON answer."""
                url = f"{base}/api/v1{path}?wait=true"
                async with session.post(url, json=body, headers=headers) as response:
                    assert response.status in (200, 201), await response.text()
                    answer: dict[str, Any] = await response.json()
                    return answer

            await write(first, "/sites", {"name": "blog"})
            # A domain added through each process: each answer is confirmed by Traefik.
            for base, hostname in ((second, "www.blog.example"), (first, "blog.example")):
                await write(base, "/sites/blog/domains", {"hostname": hostname})
                verified = await write(
                    base, f"/sites/blog/domains/{hostname}/verify", {"method": "admin"}
                )
                assert verified["routing"]["state"] == "confirmed", verified
                version = verified["routing"]["version"]
                # Written once, by one of the two, whichever process took the write.
                assert _written_versions(*logs).count(version) == 1
                assert f"Host(`{hostname}`)" in config_file.read_text()
            # Each process writes once as it starts (version 0 here: a new build may render
            # differently); every change after that is written once.
            written = [v for v in _written_versions(*logs) if v > 0]
            assert len(written) == len(set(written)), written
            for base in (first, second):
                async with session.get(f"{base}/api/v1/sites/blog", headers=headers) as response:
                    routing = (await response.json())["routing"]
                assert routing["traefik"] == "confirmed", routing
                assert len(routing["routers"]) >= 3 and set(routing["routers"].values()) == {
                    "enabled"
                }
