"""Real Traefik in front of the real edge: hosts route to the right release, swaps show at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controlplane.atomic import write_json_atomically
from controlplane.build import BuildOptions, build_release
from controlplane.config import Settings, load_settings
from controlplane.edge_config import render_edge_config
from controlplane.releases import ReleaseFiles
from controlplane.stack import edge_process, traefik_process
from controlplane.traefik.api import router_status
from controlplane.traefik.render import RoutingState
from controlplane.traefik.sync import TraefikConfigWriter
from tests.harness.ports import free_port
from tests.sites import site_files, write_site

pytestmark = pytest.mark.slow
RELEASES = {"production": "aaaaaaaaaaa1", "staging": "bbbbbbbbbbb2"}


def _install(data: Path, site: str, deploy_id: str, marker: str, tmp: Path) -> None:
    source = write_site(tmp / f"src-{deploy_id}", site_files(marker))
    release = data / "releases" / site / deploy_id
    release.mkdir(parents=True)
    build_release(
        source,
        release / "site",
        BuildOptions(precompress=False),
        manifest=release / "manifest.json",
    )
    (release / "rules.json").write_text(json.dumps({"version": 1, "redirects": [], "headers": []}))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Settings, str]]:
    """Edge and Traefik running on free ports over a data dir with two releases of `blog`."""
    settings = load_settings(
        {
            "data_dir": str(tmp_path / "data"),
            "edge_listen": f"127.0.0.1:{free_port()}",
            "edge_workers": "1",
            "http_listen": f"127.0.0.1:{free_port()}",
            "https_listen": f"127.0.0.1:{free_port()}",
            "traefik_api_listen": f"127.0.0.1:{free_port()}",
        },
        environ={},
    )
    files = ReleaseFiles(settings.data_dir)
    for environment, deploy_id in RELEASES.items():
        _install(settings.data_dir, "blog", deploy_id, deploy_id, tmp_path)
        files.activate("blog", environment, deploy_id)
    writer = TraefikConfigWriter(settings.dynamic_dir, settings.staging_dir)
    routers = await writer.sync(RoutingState(settings.base_domain, settings.edge_address))
    try:
        # The same child processes `wharf up` runs.
        async with edge_process(settings), traefik_process(settings, routers) as url:
            yield settings, url
    finally:
        log = settings.data_dir / "traefik" / "traefik.log"
        if log.exists() and log.read_text().strip():
            print("traefik log:\n" + log.read_text()[-3000:])


async def _get(url: str, host: str) -> tuple[int, str, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Host": host}) as response,
    ):
        return response.status, await response.text(), dict(response.headers)


async def test_traefik_routes_production_staging_and_preview_hosts(
    stack: tuple[Settings, str],
) -> None:
    _, url = stack
    cases = {
        "blog.localhost": RELEASES["production"],
        "blog--staging.localhost": RELEASES["staging"],
        f"{RELEASES['staging']}--blog.localhost": RELEASES["staging"],
        f"{RELEASES['production']}--blog.localhost": RELEASES["production"],
    }
    for host, release in cases.items():
        status, body, headers = await _get(url, host)
        assert status == 200, host
        assert f"Hello from release {release}" in body, host
        assert headers["X-Wharf-Deploy"] == release
    status, _, headers = await _get(url, "nope.localhost")
    assert status == 404 and headers["X-Wharf-Deploy"] == "none"
    # Hosts that are not one label under the base domain never reach the edge.
    assert (await _get(url, "a.b.localhost"))[0] == 404


async def test_traefik_rollback_and_site_deletion_show_through_traefik(
    stack: tuple[Settings, str],
) -> None:
    settings, url = stack
    files = ReleaseFiles(settings.data_dir)
    files.activate("blog", "production", RELEASES["staging"])
    status, body, _ = await _get(url, "blog.localhost")
    assert status == 200 and RELEASES["staging"] in body
    files.remove_site("blog")
    assert (await _get(url, "blog.localhost"))[0] == 404


async def test_traefik_api_lists_every_expected_router_enabled(stack: tuple[Settings, str]) -> None:
    settings, _ = stack
    host, port = settings.traefik_api_listen
    async with aiohttp.ClientSession() as session:
        status = await router_status(session, f"http://{host}:{port}")
    assert status == {"wharf-sites": "enabled", "wharf-acme-http01": "enabled"}


async def test_traefik_verified_custom_domain_answers_and_pending_one_only_for_its_token(
    stack: tuple[Settings, str],
) -> None:
    settings, url = stack
    write_json_atomically(
        settings.data_dir / "edge" / "config.json",
        render_edge_config([], [("www.shop.test", "blog", "production")]),
    )
    writer = TraefikConfigWriter(settings.dynamic_dir, settings.staging_dir)
    state = RoutingState(
        settings.base_domain,
        settings.edge_address,
        custom_domains={"www.shop.test": "blog"},
        pending_domains=("pending.test",),
    )
    expected = await writer.sync(state)
    host, port = settings.traefik_api_listen
    async with aiohttp.ClientSession() as session:
        for _ in range(100):  # Traefik reloads the file within milliseconds; wait for it
            status = await router_status(session, f"http://{host}:{port}")
            if set(status) == expected and set(status.values()) == {"enabled"}:
                break
            await asyncio.sleep(0.05)
    assert set(status) == expected
    await asyncio.sleep(0.1)  # the edge re-reads its config at most every 50 ms
    code, body, headers = await _get(url, "www.shop.test")
    assert code == 200 and RELEASES["production"] in body
    # The unverified domain reaches the edge only for its ownership token.
    code, _, headers = await _get(url, "pending.test")
    assert code == 404 and "X-Wharf-Deploy" not in headers  # Traefik's own 404
    code, _, headers = await _get(url + ".well-known/wharf-challenge/abc", "pending.test")
    assert code == 404 and headers["X-Wharf-Deploy"] == "none"  # the edge answered
