"""`wharf deploy`, `deploys`, `logs`, `publish`, `rollback`, `pin` and `unpin` as the installed
executable against a running `wharf serve`: words and --json, prompts and progress on a
terminal, and each error's message and exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp
import pytest

from tests.harness.wharf_cli import WharfCli, log_in
from tests.sites import site_files, write_site, zip_bytes

pytestmark = [pytest.mark.slow, pytest.mark.one_database]


async def _deployed(cli: WharfCli, folder: Path, *options: str) -> dict[str, object]:
    ran = await cli.run("deploy", str(folder), "--site", "blog", "--json", *options)
    assert ran.code == 0, ran.err
    return dict(json.loads(ran.out))


async def test_cli_deploy_creates_the_site_when_asked_and_records_message_and_commit(
    cli: WharfCli, tmp_path: Path
) -> None:
    await log_in(cli)
    folder = write_site(tmp_path / "public", site_files("one"))
    missing = await cli.run("deploy", str(folder), "--site", "blog")
    assert missing.code == 3
    assert "create it with `wharf sites create blog`, or deploy with --create" in missing.err

    ran = await cli.run(
        "deploy",
        str(folder),
        "--site",
        "blog",
        "--create",
        "--message",
        "first",
        "--commit",
        "abc123",
    )
    assert ran.code == 0, ran.err
    assert "Created the site blog." in ran.err and "Zipped 6 files" in ran.err
    lines = ran.out.strip().splitlines()
    assert lines[0] == "Live: http://blog.localhost:8080/"
    assert lines[-1].startswith("Preview: http://") and lines[-1].endswith("--blog.localhost:8080/")

    listed = await cli.run("deploys", "list", "--site", "blog")
    assert listed.out.splitlines()[0].split() == [
        "DEPLOY", "ENV", "STATUS", "SIZE", "CREATED", "MESSAGE"
    ]  # fmt: skip
    assert "LIVE" in listed.out and "first" in listed.out
    deploy_id = listed.out.splitlines()[1].split()[0]
    shown = json.loads(
        (await cli.run("deploys", "show", deploy_id, "--site", "blog", "--json")).out
    )
    assert (shown["message"], shown["commit"], shown["status"]) == ("first", "abc123", "live")
    bad = await cli.run("deploy", str(folder), "--site", "blog", "--commit", "not a commit!")
    assert bad.code == 1 and "commit is a hash or a ref name" in bad.err


async def test_cli_deploy_on_a_terminal_asks_shows_progress_phases_and_the_log(
    cli: WharfCli, tmp_path: Path
) -> None:
    await log_in(cli)
    folder = write_site(tmp_path / "public", site_files("one", {"big.bin": os.urandom(3_000_000)}))
    ran = await cli.on_terminal(
        "deploy", str(folder), "--site", "blog", "--follow",
        answers=(("Create it? [y/N] ", "y"),),
    )  # fmt: skip
    assert ran.code == 0, ran.out
    assert "Uploading" in ran.out and "MB" in ran.out
    assert "  | " in ran.out and "published" in ran.out  # the log, as it ran
    assert "Live: http://blog.localhost:8080/" in ran.out
    refused = await cli.on_terminal(
        "deploy", str(folder), "--site", "other", answers=(("Create it? [y/N] ", "n"),)
    )
    assert refused.code == 3


async def test_cli_refused_and_failed_deploys_exit_1_with_the_report(
    cli: WharfCli, tmp_path: Path
) -> None:
    await log_in(cli)
    assert (await cli.run("sites", "create", "blog")).code == 0
    hostile = tmp_path / "hostile.zip"
    hostile.write_bytes(zip_bytes({"index.html": "x", "../../etc/passwd": "x"}))
    ran = await cli.run("deploy", str(hostile), "--site", "blog")
    assert ran.code == 1
    assert "../../etc/passwd: " in ran.err and "(path_traversal)" in ran.err
    broken = tmp_path / "broken.zip"
    broken.write_bytes(zip_bytes(site_files("x", {"_redirects": "/a /b 999\n"})))
    ran = await cli.run("deploy", str(broken), "--site", "blog")
    assert ran.code == 1 and "failed" in ran.err and "_redirects:1" in ran.err
    usage = await cli.run("deploy", str(broken))
    assert usage.code == 2 and "--site" in usage.err


async def test_cli_deploys_logs_publish_rollback_pin(
    cli: WharfCli, server: str, tmp_path: Path
) -> None:
    await log_in(cli)
    first = await _deployed(cli, write_site(tmp_path / "one", site_files("one")), "--create")
    token = json.loads((tmp_path / "home/config/wharf/logins.json").read_text())["logins"][server]
    headers = {"Authorization": f"Bearer {token['token']}"}
    async with (
        aiohttp.ClientSession(headers=headers) as api,
        api.patch(f"{server}/api/v1/sites/blog", json={"auto_publish": False}) as locked,
    ):
        assert locked.status == 200
    ran = await cli.run(
        "deploy", str(write_site(tmp_path / "two", site_files("two"))), "--site", "blog"
    )
    assert ran.code == 0 and "Ready, not published" in ran.out
    second = ran.out.split("`wharf publish ")[1].split()[0]

    log = await cli.run("logs", second, "--site", "blog")
    assert log.code == 0 and "site root" in log.out
    followed = await cli.run("logs", second, "--site", "blog", "--follow")
    assert followed.code == 0 and "The deploy is ready." in followed.err
    as_json = json.loads((await cli.run("logs", second, "--site", "blog", "--json")).out)
    assert as_json["lines"][0]["n"] == 1

    published = await cli.run("publish", second, "--site", "blog")
    assert published.out.strip() == f"blog (production): {second} is live (was {first['id']})."
    back = await cli.run("rollback", "--site", "blog")
    assert back.out.strip() == f"blog (production): {first['id']} is live (was {second})."
    event = json.loads((await cli.run("rollback", "--site", "blog", "--to", second, "--json")).out)
    assert (event["kind"], event["to_deploy"]) == ("rollback", second)

    pinned = await cli.run("pin", second, "--site", "blog")
    assert pinned.out.strip() == f"Deploy {second} is pinned: retention keeps it."
    assert "(pinned)" in (await cli.run("deploys", "list", "--site", "blog")).out
    assert (await cli.run("unpin", second, "--site", "blog", "--json")).code == 0
    staging = await cli.run("deploys", "list", "--site", "blog", "--env", "staging")
    assert staging.out.strip() == "No deploys of blog yet: `wharf deploy ./public --site blog`."

    for command in (("logs", "nosuch"), ("publish", "nosuch"), ("pin", "nosuch")):
        missing = await cli.run(*command, "--site", "blog")
        assert missing.code == 3, command
    coloured = await cli.on_terminal("deploys", "list", "--site", "blog")
    assert "\x1b[" in coloured.out
    plain = await cli.on_terminal("deploys", "list", "--site", "blog", NO_COLOR="1")
    assert "\x1b[" not in plain.out
