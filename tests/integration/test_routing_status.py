"""GET /api/v1/sites/{site} reports whether Traefik serves the site's routers."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from controlplane.config import Settings
from controlplane.runtime.stack import traefik_process
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login
from tests.harness.ports import free_port

pytestmark = pytest.mark.slow


async def test_routing_status_follows_traefiks_api(
    settings: Settings, aiohttp_server: Any, aiohttp_client: Any
) -> None:
    api_port = free_port()
    http_port = free_port()
    wharf = settings.replace(
        http_listen=("127.0.0.1", http_port),
        https_listen=("127.0.0.1", free_port()),
        traefik_api_listen=("127.0.0.1", api_port),
        traefik_api_url=f"http://127.0.0.1:{api_port}",
    )
    control_port = free_port()
    wharf = wharf.replace(
        control_host="wharf.example.test", control_url=f"http://127.0.0.1:{control_port}"
    )
    app = create_app(wharf)
    client = await aiohttp_client(await aiohttp_server(app, port=control_port))
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    headers = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    await client.post("/api/v1/sites", json={"name": "blog"}, headers=headers)

    down = await (await client.get("/api/v1/sites/blog", headers=headers)).json()
    assert down["routing"] == {
        "traefik": "unreachable",
        "routers": {"wharf-sites": "unknown"},
        "config_error": None,
    }

    async with traefik_process(wharf, app[SERVICES].routing.routers):
        up = await (await client.get("/api/v1/sites/blog", headers=headers)).json()
        # The admin host reaches the control plane through Traefik.
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{http_port}/healthz", headers={"Host": "wharf.example.test"}
            ) as through_traefik,
        ):
            assert through_traefik.status == 200
            assert (await through_traefik.json())["database"] == "up"
    assert up["routing"]["traefik"] == "confirmed"
    assert up["routing"]["routers"] == {"wharf-sites": "enabled"}


async def test_routing_status_unchecked_without_an_api_url(
    settings: Settings, aiohttp_client: Any
) -> None:
    app = create_app(settings)
    client = await aiohttp_client(app)
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    headers = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    await client.post("/api/v1/sites", json={"name": "blog"}, headers=headers)
    site = await (await client.get("/api/v1/sites/blog", headers=headers)).json()
    assert site["routing"]["traefik"] == "unchecked"
