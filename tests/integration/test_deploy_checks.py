"""Release checks through the build worker and the API: block keeps a broken deploy ready, force
publishes it, warn publishes with the problems reported, off stores no report."""

from __future__ import annotations

import os
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from controlplane.config import Settings
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login
from tests.integration.test_deploys import upload, wait_for
from tests.sites import zip_bytes

GOOD = {
    "index.html": "<!doctype html><html><head><title>Home</title></head><body>"
    '<a href="/about">about</a></body></html>',
    "about.html": "<!doctype html><html><head><title>About</title></head><body>hi</body></html>",
}
BROKEN = {
    "index.html": (
        "<!doctype html>\n<html><head><title>Home</title>\n"
        '<link rel="stylesheet" href="/site.css"></head>\n<body>\n'
        '<a href="/about">about</a>\n<a href="/nowhere">broken</a>\n'
        '<img srcset="/a.png 1x, /a@2x.png 2x">\n</body></html>\n'
    ),
    "about.html": "<html><body>no title</body></html>",
    "site.css": "body {\n  background: url(/bg.png);\n}\n",
    "a.png": b"\x89PNG",
}


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings) -> TestClient:
    """A control plane with its build worker running, and an admin."""
    app: web.Application = create_app(settings.replace(job_poll=1, job_lease=5))
    client: TestClient = await aiohttp_client(app)
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    return client


@pytest.fixture
async def headers(api: TestClient) -> dict[str, str]:
    """The admin's authorization, with a site `blog` created."""
    auth = await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert (await api.post("/api/v1/sites", json={"name": "blog"}, headers=auth)).status == 201
    return auth


async def set_checks(api: TestClient, headers: dict[str, str], **settings: Any) -> dict[str, Any]:
    """PATCH the site's settings; the answer's JSON."""
    response = await api.patch("/api/v1/sites/blog", json=settings, headers=headers)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def build_log(api: TestClient, headers: dict[str, str], deploy_id: str) -> list[str]:
    """The deploy's build log lines."""
    response = await api.get(f"/api/v1/sites/blog/deploys/{deploy_id}/log", headers=headers)
    return [line["text"] for line in (await response.json())["lines"]]


def live_deploy(settings: Settings) -> str | None:
    """The deploy production's live link names, if any."""
    try:
        return os.readlink(settings.data_dir / "live" / "blog" / "production").rsplit("/", 1)[-1]
    except FileNotFoundError:
        return None


async def test_deploy_checks_block_keeps_a_broken_deploy_ready_and_force_publishes_it(
    api: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    # Not minified, so the lines are the uploaded files' own (minified CSS is one line).
    assert (await set_checks(api, headers, checks="block", minify=False))["checks"] == "block"
    good = await wait_for(
        api, headers, (await upload(api, headers, zip_bytes(GOOD)))["id"], {"live"}
    )
    assert good["checks"]["status"] == "passed" and not good["checks"]["blocked"]

    accepted = await upload(api, headers, zip_bytes(BROKEN))
    deploy = await wait_for(api, headers, accepted["id"], {"ready", "live", "failed"})
    assert deploy["status"] == "ready"
    checks = deploy["checks"]
    assert checks["status"] == "failed" and checks["blocked"] is True
    assert (checks["errors"], checks["warnings"]) == (3, 1)
    assert {(p["page"], p["line"], p["link"]) for p in checks["problems"]} == {
        ("index.html", 6, "/nowhere"),
        ("index.html", 7, "/a@2x.png"),
        ("site.css", 2, "/bg.png"),
        ("about.html", None, None),
    }
    log = await build_log(api, headers, deploy["id"])
    assert "checks: 4 problems (3 errors, 1 warning)" in " ".join(log)
    assert any("stays ready and is not published" in line for line in log)
    assert "published" not in log
    # Nothing publishes it by itself: not this worker, not one starting later.
    assert await api.app[SERVICES].store.auto_publish_due() == []
    assert live_deploy(settings) == good["id"]

    path = f"/api/v1/sites/blog/deploys/{deploy['id']}/publish"
    refused = await api.post(path, headers=headers)
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert error["code"] == "checks_failed"
    assert "3 errors and 1 warning" in error["message"] and '"force": true' in error["message"]
    assert error["details"] == {"errors": 3, "warnings": 1}
    assert (await api.post(path, json={"force": "yes"}, headers=headers)).status == 422
    assert live_deploy(settings) == good["id"]

    forced = await api.post(path, json={"force": True}, headers=headers)
    assert forced.status == 200, await forced.text()
    assert (await forced.json())["to_deploy"] == deploy["id"]
    assert live_deploy(settings) == deploy["id"]


async def test_deploy_checks_warn_publishes_and_reports(
    api: TestClient, headers: dict[str, str], settings: Settings
) -> None:
    site = await (await api.get("/api/v1/sites/blog", headers=headers)).json()
    assert (site["checks"], site["checks_max_file_bytes"]) == ("warn", 5 * 1024 * 1024)
    accepted = await upload(api, headers, zip_bytes(BROKEN))
    deploy = await wait_for(api, headers, accepted["id"], {"live", "failed"})
    assert deploy["status"] == "live" and live_deploy(settings) == deploy["id"]
    assert deploy["checks"]["status"] == "failed" and deploy["checks"]["blocked"] is False
    assert deploy["checks"]["pages"] == 2
    # A publish by hand is not refused either: the site only warns.
    again = await api.post(f"/api/v1/sites/blog/deploys/{deploy['id']}/publish", headers=headers)
    assert again.status == 200


async def test_deploy_checks_off_stores_no_report(api: TestClient, headers: dict[str, str]) -> None:
    await set_checks(api, headers, checks="off")
    accepted = await upload(api, headers, zip_bytes(BROKEN))
    deploy = await wait_for(api, headers, accepted["id"], {"live", "failed"})
    assert deploy["status"] == "live" and deploy["checks"] is None
    assert "checks: off for this site" in await build_log(api, headers, deploy["id"])


async def test_deploy_checks_file_size_setting_and_refused_values(
    api: TestClient, headers: dict[str, str]
) -> None:
    answer = await set_checks(api, headers, checks_max_file_bytes=1024)
    assert answer["checks_max_file_bytes"] == 1024
    big = {**GOOD, "big.bin": b"x" * 2048}
    deploy = await wait_for(
        api, headers, (await upload(api, headers, zip_bytes(big)))["id"], {"live"}
    )
    assert deploy["checks"]["status"] == "warned"
    (problem,) = deploy["checks"]["problems"]
    assert (problem["kind"], problem["page"]) == ("file_too_large", "big.bin")
    for bad in ({"checks": "strict"}, {"checks": None}, {"checks_max_file_bytes": 10},
                {"checks_max_file_bytes": True}, {"checks_max_file_bytes": "1024"}):  # fmt: skip
        response = await api.patch("/api/v1/sites/blog", json=bad, headers=headers)
        assert response.status == 422, bad
        assert (await response.json())["error"]["code"] == "invalid_checks"
