"""REDbot judges the edge's HTTP, directly and through real Traefik, on a fixture site (HTML, a
fingerprinted asset, a binary, a 404, a redirect): nothing BAD, and every WARN is one
docs/edge.md lists with its reason."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controlplane.config import Settings
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.traefik.config_writer import TraefikConfigWriter
from controlplane.traefik.render import RoutingState
from tests.harness.releases import install_release
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.sites import site_files

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
DEPLOY = "aaaaaaaaaaa1"
PATHS = ["/", "/about/", "/assets/app.3f9a2b1c.js", "/assets/app.js", "/logo.bin", "/nope", "/old"]
FILES: dict[str, str | bytes] = {
    "assets/app.3f9a2b1c.js": "console.log('fingerprinted');\n" * 100,
    "logo.bin": bytes(range(256)) * 64,
    "404.html": "<!doctype html><title>Not here</title><h1>Not here</h1>",
    "_redirects": "/old /about/ 301\n",
}


def documented_warnings() -> set[str]:
    """The WARN summaries docs/edge.md accepts, each listed with its reason."""
    text = (ROOT / "docs" / "edge.md").read_text()
    section = text[text.index("## What REDbot says") :]
    section = section[: section.find("\n## ", 5) if "\n## " in section[5:] else len(section)]
    return set(re.findall(r'^- WARN "([^"]+)"', section, re.M))


async def redbot(url: str) -> list[dict[str, str]]:
    """REDbot's notes on one URL (in its own process: REDbot runs its own event loop)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.harness.redbot_notes",
        url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Settings]:
    """The edge and Traefik over one site, `blog`, live in production."""
    settings = stack_settings(tmp_path / "data")
    install_release(settings.data_dir, "blog", DEPLOY, site_files(DEPLOY, FILES))
    ReleaseFiles(settings.data_dir).activate("blog", "production", DEPLOY)
    writer = TraefikConfigWriter(settings.traefik_watched_dir, settings.traefik_staging_dir)
    routers = await writer.sync(RoutingState(settings.base_domain, settings.edge_upstream))
    async with edge_and_traefik(settings, routers):
        yield settings


async def test_redbot_finds_nothing_bad_and_only_documented_warnings(stack: Settings) -> None:
    accepted = documented_warnings()
    origins = {
        "edge": f"http://blog.localhost:{stack.edge_listen[1]}",
        "traefik": f"http://blog.localhost:{stack.http_listen[1]}",
    }
    findings = []
    for where, origin in origins.items():
        for path in PATHS:
            for note in await redbot(origin + path):
                if note["level"] in ("BAD", "WARN"):
                    findings.append((where, path, note["level"], note["summary"]))
    print("\n".join(map(str, findings)))
    assert [f for f in findings if f[2] == "BAD"] == []
    assert [f for f in findings if f[3] not in accepted] == []
