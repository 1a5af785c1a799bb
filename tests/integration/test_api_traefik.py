"""GET /traefik/config: the same config for Traefik's HTTP provider, behind a shared secret."""

from __future__ import annotations

from typing import Any

from controlplane.config import Settings
from controlplane.secrets import Secret
from controlplane.web.app import create_app


async def test_traefik_http_provider_needs_the_secret(
    settings: Settings, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(settings.replace(traefik_secret=Secret("s" * 40))))
    assert (await client.get("/traefik/config")).status == 404
    wrong = await client.get("/traefik/config", headers={"X-Wharf-Traefik-Secret": "nope"})
    assert wrong.status == 404
    right = await client.get("/traefik/config", headers={"X-Wharf-Traefik-Secret": "s" * 40})
    assert right.status == 200
    config = await right.json()
    assert config["http"]["routers"]["wharf-sites"]["service"] == "wharf-edge"
    # The file written for the file provider holds the same routers.
    written = (settings.traefik_watched_dir / "wharf.yml").read_text()
    assert "wharf-sites:" in written


async def test_traefik_http_provider_is_off_without_a_secret(
    settings: Settings, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/traefik/config", headers={"X-Wharf-Traefik-Secret": ""})
    assert response.status == 404
