"""The API holds to its OpenAPI document, judged by schemathesis (PyPI) against `wharf serve`
running as an operator runs it, with seeded rows: no 5xx, every status, media type, body and
header as documented. Destructive operations run against rows of their own."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import DatabaseServer
from tests.harness.control_plane import ADMIN, control_plane
from tests.harness.ports import free_port
from tests.harness.waiting import wait_for
from tests.sites import site_files, zip_bytes

pytestmark = pytest.mark.slow
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)
MAX_EXAMPLES = 25
SEED = 20261203


async def _seed(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    """A token, sites `blog` (with a built deploy, a pending domain and a webhook) and `doomed`
    (to delete, with a domain and a webhook of its own), and a second token to revoke."""
    async with session.post(f"{base}/api/v1/auth/login", json=ADMIN) as response:
        login = {"Authorization": "Bearer " + (await response.json())["access_token"]}

    async def call(method: str, path: str, **kwargs: Any) -> Any:
        kwargs["headers"] = {**login, **kwargs.get("headers", {})}
        async with session.request(method, base + path, **kwargs) as response:
            assert response.status < 300, (path, await response.text())
            return await response.json()

    token = (await call("POST", "/api/v1/tokens", json={"name": "contract"}))["token"]
    revocable = (await call("POST", "/api/v1/tokens", json={"name": "revoke me"}))["id"]
    for site in ("blog", "doomed"):
        await call("POST", "/api/v1/sites", json={"name": site})
    await call("POST", "/api/v1/sites/blog/domains", json={"hostname": "www.blog.test"})
    await call("POST", "/api/v1/sites/doomed/domains", json={"hostname": "gone.doomed.test"})
    deploy = await call(
        "POST",
        "/api/v1/sites/blog/deploys",
        data=zip_bytes(site_files("contract")),
        headers={"Content-Type": "application/zip"},
    )

    async def built() -> bool:
        found = await call("GET", f"/api/v1/sites/blog/deploys/{deploy['id']}")
        return bool(found["status"] in ("ready", "live", "failed"))

    await wait_for(built, 60)
    # Webhooks at a closed loopback port: tests the contract sends fail there at once.
    hook_url = f"http://127.0.0.1:{free_port()}/hook"
    webhook = await call("POST", "/api/v1/sites/blog/webhooks", json={"url": hook_url})
    doomed_hook = await call("POST", "/api/v1/sites/doomed/webhooks", json={"url": hook_url})
    return {
        "token": token,
        "revocable": revocable,
        "deploy": deploy["id"],
        "webhook": webhook["id"],
        "doomed_webhook": doomed_hook["id"],
    }


def _config(seeded: dict[str, Any]) -> str:
    """schemathesis.toml: the seeded rows as path parameters; deletes aim at their own."""
    return f"""
[parameters]
site = "blog"
deploy = "{seeded["deploy"]}"
hostname = "www.blog.test"
webhook = "{seeded["webhook"]}"

[[operations]]
include-method = "DELETE"
parameters.site = "doomed"
parameters.hostname = "gone.doomed.test"
parameters.token_id = "{seeded["revocable"]}"
parameters.webhook = "{seeded["doomed_webhook"]}"
"""


@pytest.fixture
def database_url(embedded_server: DatabaseServer) -> Iterator[str]:
    """One fresh database on the embedded server: the contract is the API's, so it is judged
    once, not once per database server."""
    url = embedded_server.create()
    yield url
    embedded_server.drop(url)


async def test_contract_every_answer_is_as_documented(database_url: str, tmp_path: Path) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # checks and ACME stay on loopback, and fail
    options = {
        "dns_resolver": nowhere,
        "http_check_address": nowhere,
        "acme_directory": f"https://{nowhere}/directory",
        "domain_check_timeout": "1",
        "job_poll": "1",
        "webhook_allow_private": "true",  # the seeded webhooks' closed loopback port
    }
    log = tmp_path / "serve.log"
    listen = ("127.0.0.1", free_port())
    async with (
        control_plane(tmp_path / "data", database_url, listen, log, **options) as base,
        aiohttp.ClientSession() as session,
    ):
        seeded = await _seed(session, base)
        (tmp_path / "schemathesis.toml").write_text(_config(seeded))
        st = Path(sys.executable).with_name("st")
        process = await asyncio.create_subprocess_exec(
            str(st),
            "run",
            f"{base}/api/v1/openapi.json",
            "--url",
            base,
            "--header",
            f"Authorization: Bearer {seeded['token']}",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--no-color",
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 600)
    report = output.decode(errors="replace")
    print(report)
    assert process.returncode == 0, report[-6000:]
    assert "Internal Server Error" not in log.read_text()
