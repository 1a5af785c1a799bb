"""The installed `wharf` executable as a client of a running `wharf serve`: logging in, sites,
human and --json output, prompts on a terminal, and each error's message and exit code."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.harness.control_plane import ADMIN
from tests.harness.ports import free_port
from tests.harness.wharf_cli import WharfCli, log_in

pytestmark = [pytest.mark.slow, pytest.mark.one_database]


_logged_in = log_in


async def test_cli_login_keeps_a_token_0600_whoami_and_logout_revokes_it(
    cli: WharfCli, server: str, tmp_path: Path
) -> None:
    ran = await cli.run("whoami")
    assert ran.code == 4
    assert f"not logged in to {server}: run `wharf login --url {server}`" in ran.err

    wrong = await cli.run("login", "--email", ADMIN["email"], "--password-stdin", stdin="nope\n")
    assert (wrong.code, wrong.err) == (4, "wharf: wrong email or password\n")

    await _logged_in(cli)
    kept = tmp_path / "home" / "config" / "wharf" / "logins.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    document = json.loads(kept.read_text())
    assert ADMIN["password"] not in kept.read_text()
    token = document["logins"][server]["token"]

    me = await cli.run("whoami")
    assert (me.code, me.out.strip()) == (0, f"{ADMIN['email']} (admin) on {server}")
    as_json = json.loads((await cli.run("whoami", "--json")).out)
    assert as_json["email"] == ADMIN["email"]

    out = await cli.run("logout")
    assert out.code == 0 and "revoked" in out.out
    assert server not in json.loads(kept.read_text())["logins"]
    # The token itself no longer works: the server revoked it.
    ran = await cli.run("whoami", WHARF_TOKEN=token)
    assert ran.code == 4 and "token" in ran.err.lower()


async def test_cli_login_prompts_on_a_terminal(cli: WharfCli) -> None:
    ran = await cli.on_terminal(
        "login", answers=(("Email: ", ADMIN["email"]), ("Password: ", ADMIN["password"]))
    )
    assert ran.code == 0, ran.out
    assert f"as {ADMIN['email']}" in ran.out
    assert ADMIN["password"] not in ran.out  # not echoed


async def test_cli_sites_create_list_show_delete_in_words_and_json(cli: WharfCli) -> None:
    await _logged_in(cli)
    empty = await cli.run("sites", "list")
    assert (empty.code, empty.out.strip()) == (
        0,
        "No sites yet: create one with `wharf sites create NAME`.",
    )
    created = await cli.run("sites", "create", "blog")
    assert created.code == 0 and "http://blog.localhost:8080/" in created.out
    listed = await cli.run("sites", "list")
    assert listed.out.splitlines()[0].split() == ["SITE", "PRODUCTION", "STAGING", "CREATED"]
    assert "blog" in listed.out and "\x1b[" not in listed.out  # no colour off a terminal
    document = json.loads((await cli.run("sites", "list", "--json")).out)
    assert [site["name"] for site in document["sites"]] == ["blog"]
    shown = await cli.run("sites", "show", "blog")
    assert "Auto-publish: on" in " ".join(shown.out.split())

    taken = await cli.run("sites", "create", "blog")
    assert taken.code == 1 and "exists" in taken.err
    bad = await cli.run("sites", "create", "Not A Name")
    assert bad.code == 1 and "wharf:" in bad.err
    missing = await cli.run("sites", "show", "nosuch")
    assert missing.code == 3 and "no site named 'nosuch'" in missing.err

    refused = await cli.run("sites", "delete", "blog")
    assert refused.code == 2 and "--yes" in refused.err
    asked = await cli.on_terminal("sites", "delete", "blog", answers=(("to confirm: ", "bolg"),))
    assert asked.code == 1 and "nothing was deleted" in asked.out
    deleted = await cli.on_terminal("sites", "delete", "blog", answers=(("to confirm: ", "blog"),))
    assert deleted.code == 0 and "Deleted blog." in deleted.out
    assert (await cli.run("sites", "show", "blog")).code == 3


async def test_cli_usage_and_unreachable_server_exit_codes(tmp_path: Path) -> None:
    cli = WharfCli(tmp_path / "home", f"http://127.0.0.1:{free_port()}")
    usage = await cli.run("sites", "frobnicate")
    assert usage.code == 2
    gone = await cli.run("sites", "list", WHARF_TOKEN="wharf_x")
    assert gone.code == 1 and "is Wharf running there?" in gone.err
