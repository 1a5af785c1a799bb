"""One reconciler writes Traefik's file: a refused config never fails the write that caused it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from controlplane.config import Settings
from controlplane.traefik import config_writer
from controlplane.traefik.dynamic_file import FILE_NAME
from controlplane.traefik.validate import InvalidConfig
from tests.conftest import routed

REFUSED_HOST = "refused.example"
DOMAINS = "/api/v1/sites/blog/domains"


@pytest.fixture
def refuse_one_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Traefik's validator refuses any config that routes REFUSED_HOST (an injected fault)."""
    real = config_writer.validate

    def validate(config: dict[str, Any]) -> str:
        if any(REFUSED_HOST in router["rule"] for router in config["http"]["routers"].values()):
            raise InvalidConfig([f"router for {REFUSED_HOST}: injected refusal"])
        return real(config)

    monkeypatch.setattr(config_writer, "validate", validate)


async def _add_verified(client: TestClient, headers: dict[str, str], hostname: str) -> Any:
    """Add a domain and vouch for it as the admin, waiting for routing; the verify answer."""
    added = await client.post(DOMAINS, json={"hostname": hostname}, headers=headers)
    assert added.status == 201, await added.text()
    verified = await client.post(
        f"{DOMAINS}/{hostname}/verify?wait=true", json={"method": "admin"}, headers=headers
    )
    assert verified.status == 200, await verified.text()
    return await verified.json()


async def test_routing_refused_config_answers_2xx_with_the_reason_and_keeps_the_last_good_file(
    client: TestClient,
    admin_headers: dict[str, str],
    settings: Settings,
    refuse_one_host: None,
) -> None:
    created = await client.post(
        "/api/v1/sites?wait=true", json={"name": "blog"}, headers=admin_headers
    )
    assert created.status == 201
    assert (await created.json())["routing"]["state"] == "confirmed"
    good = await _add_verified(client, admin_headers, "good.example")
    assert good["routing"]["state"] == "confirmed"
    config_file = settings.traefik_watched_dir / FILE_NAME
    last_good = config_file.read_text()
    assert "good.example" in last_good

    refused = await _add_verified(client, admin_headers, REFUSED_HOST)
    assert refused["status"] == "verified"  # the row committed; only routing failed
    assert refused["routing"]["state"] == "error"
    assert refused["routing"]["error"] == f"router for {REFUSED_HOST}: injected refusal"
    assert config_file.read_text() == last_good
    site = await (await client.get("/api/v1/sites/blog", headers=admin_headers)).json()
    assert site["routing"]["config_error"] == refused["routing"]["error"]

    # The next good change (the bad domain removed, another added) is written and clears it.
    gone = await client.delete(f"{DOMAINS}/{REFUSED_HOST}?wait=true", headers=admin_headers)
    assert gone.status == 204
    later = await _add_verified(client, admin_headers, "later.example")
    assert (later["routing"]["state"], later["routing"]["error"]) == ("confirmed", None)
    await routed(client)
    text = config_file.read_text()
    assert "later.example" in text and "good.example" in text and REFUSED_HOST not in text
    site = await (await client.get("/api/v1/sites/blog", headers=admin_headers)).json()
    assert site["routing"]["config_error"] is None


async def test_routing_wait_must_be_true_or_false(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/sites?wait=yes", json={"name": "blog"}, headers=admin_headers
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "invalid_wait"
    listed = await (await client.get("/api/v1/sites", headers=admin_headers)).json()
    assert listed["sites"] == []  # refused before anything was written
