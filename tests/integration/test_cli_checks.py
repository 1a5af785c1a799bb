"""`wharf deploy` and `wharf publish --force` against a site whose release checks block: the
deploy stops at ready with its problems and exit 1, publish is refused, --force publishes."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.harness.control_plane import ADMIN
from tests.harness.wharf_cli import WharfCli, log_in
from tests.integration.test_deploy_checks import BROKEN
from tests.sites import write_site

pytestmark = [pytest.mark.slow, pytest.mark.one_database]


async def test_cli_deploy_held_back_by_checks_then_publish_force(
    cli: WharfCli, server: str, tmp_path: Path
) -> None:
    await log_in(cli)
    assert (await cli.run("sites", "create", "docs")).code == 0
    async with aiohttp.ClientSession() as api:
        async with api.post(f"{server}/api/v1/auth/login", json=ADMIN) as response:
            token = (await response.json())["access_token"]
        async with api.patch(
            f"{server}/api/v1/sites/docs",
            json={"checks": "block", "minify": False},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 200

    folder = write_site(tmp_path / "public", BROKEN)
    ran = await cli.run("deploy", str(folder), "--site", "docs")
    assert ran.code == 1, ran.err
    assert "Checks failed: 3 errors, 1 warning" in ran.err
    assert "error: index.html:6 /nowhere (404 Not Found)" in ran.err
    assert "--force` publishes it anyway" in ran.err
    deploy_id = ran.err.split("Deploy ", 1)[1].split()[0]

    shown = await cli.run("deploys", "show", deploy_id, "--site", "docs")
    assert "failed: 3 errors, 1 warning (held back)" in shown.out
    refused = await cli.run("publish", deploy_id, "--site", "docs")
    assert refused.code == 1 and "--force" in refused.err
    forced = await cli.run("publish", deploy_id, "--site", "docs", "--force", "--json")
    assert forced.code == 0, forced.err
    assert json.loads(forced.out)["to_deploy"] == deploy_id
