"""Real Traefik in front of the real edge: hosts route to the right release, swaps show at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controlplane.atomic import write_json_atomically
from controlplane.config import Settings
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.routing.edge_config import render_edge_config
from controlplane.traefik.config_writer import TraefikConfigWriter
from controlplane.traefik.render import RoutingState
from controlplane.traefik.traefik_api import router_status
from tests.harness.releases import install_release
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.harness.waiting import wait_for
from tests.sites import site_files

pytestmark = pytest.mark.slow
RELEASES = {"production": "aaaaaaaaaaa1", "staging": "bbbbbbbbbbb2"}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Settings, str]]:
    """Edge and Traefik running on free ports over a data dir with two releases of `blog`."""
    settings = stack_settings(tmp_path / "data")
    files = ReleaseFiles(settings.data_dir)
    for environment, deploy_id in RELEASES.items():
        install_release(settings.data_dir, "blog", deploy_id, site_files(deploy_id))
        files.activate("blog", environment, deploy_id)
    writer = TraefikConfigWriter(settings.traefik_watched_dir, settings.traefik_staging_dir)
    routers = await writer.sync(RoutingState(settings.base_domain, settings.edge_upstream))
    async with edge_and_traefik(settings, routers) as url:
        yield settings, url


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
        settings.layout.edge_config,
        render_edge_config([], [("www.shop.test", "blog", "production")]),
    )
    writer = TraefikConfigWriter(settings.traefik_watched_dir, settings.traefik_staging_dir)
    state = RoutingState(
        settings.base_domain,
        settings.edge_upstream,
        custom_domains={"www.shop.test": "blog"},
        pending_domains=("pending.test",),
    )
    expected = await writer.sync(state)
    host, port = settings.traefik_api_listen
    log = settings.layout.traefik_log

    async def routed() -> bool:
        async with aiohttp.ClientSession() as session:
            status = await router_status(session, f"http://{host}:{port}")
        return set(status) == expected and set(status.values()) == {"enabled"}

    async def served() -> bool:
        return (await _get(url, "www.shop.test"))[0] == 200

    await wait_for(routed, 5, log)  # Traefik reloads the file within milliseconds
    await wait_for(served, 5, log)  # the edge re-reads its config at most every 50 ms
    code, body, headers = await _get(url, "www.shop.test")
    assert code == 200 and RELEASES["production"] in body
    # The unverified domain reaches the edge only for its ownership token.
    code, _, headers = await _get(url, "pending.test")
    assert code == 404 and "X-Wharf-Deploy" not in headers  # Traefik's own 404
    code, _, headers = await _get(url + ".well-known/wharf-challenge/abc", "pending.test")
    assert code == 404 and headers["X-Wharf-Deploy"] == "none"  # the edge answered


async def test_traefik_etag_revalidates_for_a_client_that_accepts_no_encoding(
    stack: tuple[Settings, str],
) -> None:
    """Traefik asks the edge for gzip and decodes it for such a client (traefik#13075): the
    tag it hands over must not claim the decoded bytes are the gzip variant's, and every tag of
    the same content (the plain file's too) must revalidate through it."""
    settings, url = stack
    host, port = settings.edge_listen
    headers = {"Host": "blog.localhost"}
    async with aiohttp.ClientSession(
        skip_auto_headers=["Accept-Encoding"], auto_decompress=False
    ) as session:
        async with session.get(url + "assets/app.js", headers=headers) as first:
            assert first.status == 200
            assert "Content-Encoding" not in first.headers
            assert (await first.read()).startswith(b"function greet")
            through_traefik = first.headers["ETag"]
        assert through_traefik.startswith('W/"')  # weak: not the decoded bytes' own tag
        direct = {**headers, "Accept-Encoding": "identity"}
        async with session.get(f"http://{host}:{port}/assets/app.js", headers=direct) as plain:
            identity = plain.headers["ETag"]
        for etag in (through_traefik, identity):
            revalidate = {**headers, "If-None-Match": etag}
            async with session.get(url + "assets/app.js", headers=revalidate) as again:
                assert again.status == 304, (etag, again.headers)
