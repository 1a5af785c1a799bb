"""The README's quick start, verbatim: after `wharf up` (what `make run` runs), the commands its
second block shows succeed in order, and the URL it says to open answers with the site."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import aiohttp
import pytest

from tests.harness.control_plane import ADMIN, control_plane, up_options
from tests.harness.ports import free_port
from tests.harness.waiting import wait_for
from tests.harness.wharf_cli import WharfCli
from tests.sites import site_files, write_site

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
README = Path(__file__).parents[2] / "README.md"


def quick_start() -> tuple[list[list[str]], str]:
    """The commands of the quick start's block after `make run`, and the URL to open."""
    section = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = [shlex.split(line) for line in blocks[1].splitlines() if line.strip()]
    url = re.findall(r"Open `(http://[^`]+)`", section)[0]
    return commands, url


def test_readme_quick_start_is_two_commands_then_the_client_block() -> None:
    section = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert [blocks[0].strip(), blocks[2].strip()] == ["make run", "make test"]
    commands, url = quick_start()
    assert [command[0] for command in commands] == [".venv/bin/wharf"] * len(commands)
    assert url == "http://blog.localhost:8080/"


async def test_readme_quick_start_works_verbatim(database_url: str, tmp_path: Path) -> None:
    http_port = free_port()
    options = up_options(http_port)
    listen = ("127.0.0.1", free_port())
    commands, url = quick_start()
    work = tmp_path / "work"
    write_site(work / "public", site_files("from the readme"))
    async with control_plane(
        tmp_path / "data", database_url, listen, tmp_path / "up.log", "up", **options
    ) as control:
        # The person types the login `make run` printed; the URL is this test's own port.
        cli = WharfCli(
            tmp_path / "home", control, WHARF_EMAIL=ADMIN["email"], WHARF_PASSWORD=ADMIN["password"]
        )
        for command in commands:
            ran = await cli.run(*command[1:], cwd=work)
            assert ran.code == 0, (command, ran.err)
        host = url.split("//", 1)[1].split(":", 1)[0]
        async with aiohttp.ClientSession() as session:

            async def answers() -> bool:
                async with session.get(
                    f"http://127.0.0.1:{http_port}/", headers={"Host": host}
                ) as response:
                    return response.status == 200 and "from the readme" in await response.text()

            await wait_for(answers, 20)
