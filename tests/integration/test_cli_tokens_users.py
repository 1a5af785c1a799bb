"""The installed `wharf` executable's `tokens`, `users` and `completion` commands against a
running `wharf serve`, in words and --json, with each error's exit code; and the log format of
the local commands (`wharf token create`) off and on a terminal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.harness.control_plane import ADMIN
from tests.harness.wharf_cli import WharfCli
from tests.harness.wharf_cli import log_in as _logged_in

pytestmark = [pytest.mark.slow, pytest.mark.one_database]

MEMBER = {"email": "dev@example.test", "password": "dev-password-1"}


async def _member(cli: WharfCli, home: Path) -> WharfCli:
    """A second CLI, logged in as a member the admin created."""
    made = await cli.run(
        "users", "create", MEMBER["email"], "--password-stdin", stdin=MEMBER["password"] + "\n"
    )
    assert made.code == 0, made.err
    member = WharfCli(home, cli.env["WHARF_URL"])
    ran = await member.run(
        "login", "--email", MEMBER["email"], "--password-stdin", stdin=MEMBER["password"] + "\n"
    )
    assert ran.code == 0, ran.err
    return member


async def test_cli_tokens_create_prints_the_token_alone_list_and_revoke(cli: WharfCli) -> None:
    await _logged_in(cli)
    created = await cli.run("tokens", "create", "--name", "ci")
    assert created.code == 0, created.err
    token = created.out.strip()
    assert created.out == token + "\n" and token.startswith("wharf_")
    assert "shown this once" in created.err and "wharf tokens revoke" in created.err
    # The new token works on its own.
    me = await cli.run("whoami", "--json", WHARF_TOKEN=token)
    assert json.loads(me.out)["email"] == ADMIN["email"]

    as_json = json.loads((await cli.run("tokens", "create", "--name", "deploy", "--json")).out)
    assert set(as_json) == {"id", "name", "created_at", "last_used_at", "token"}
    assert as_json["name"] == "deploy"

    listed = await cli.run("tokens", "list")
    lines = listed.out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "CREATED", "LAST", "USED"]
    assert "(this login)" in listed.out and " ci " in listed.out and "deploy" in listed.out
    assert token not in listed.out and "\x1b[" not in listed.out
    document = json.loads((await cli.run("tokens", "list", "--json")).out)
    assert [t["name"] for t in document["tokens"]][:2] == ["deploy", "ci"]
    assert all("token" not in t for t in document["tokens"])

    revoked = await cli.run("tokens", "revoke", str(as_json["id"]))
    assert (revoked.code, revoked.out) == (
        0,
        f"Revoked token {as_json['id']}: it no longer works.\n",
    )
    assert (await cli.run("whoami", WHARF_TOKEN=as_json["token"])).code == 4
    again = await cli.run("tokens", "revoke", str(as_json["id"]), "--json")
    assert again.code == 3 and again.out == "" and "wharf:" in again.err
    assert (await cli.run("tokens", "revoke", "seven")).code == 2
    named = await cli.run("tokens", "create", "--name", " ")
    assert named.code == 1 and "name" in named.err
    ci_id = next(t["id"] for t in document["tokens"] if t["name"] == "ci")
    gone = await cli.run("tokens", "revoke", str(ci_id), "--json")
    assert json.loads(gone.out) == {"id": ci_id, "revoked": True}
    assert (await cli.run("whoami", WHARF_TOKEN=token)).code == 4


async def test_cli_tokens_revoking_the_login_token_forgets_the_login(
    cli: WharfCli, server: str
) -> None:
    await _logged_in(cli)
    document = json.loads((await cli.run("tokens", "list", "--json")).out)
    (mine,) = document["tokens"]
    ran = await cli.run("tokens", "revoke", str(mine["id"]))
    assert ran.code == 0 and f"run `wharf login --url {server}` again" in ran.err
    after = await cli.run("tokens", "list")
    assert after.code == 4 and "not logged in" in after.err


async def test_cli_tokens_without_a_login_or_with_a_bad_token_exit_4(cli: WharfCli) -> None:
    ran = await cli.run("tokens", "list")
    assert ran.code == 4 and "wharf login" in ran.err
    bad = await cli.run("tokens", "list", "--token", "wharf_" + "x" * 43)
    assert bad.code == 4 and bad.out == ""


async def test_cli_users_list_create_disable_enable_in_words_and_json(
    cli: WharfCli, tmp_path: Path
) -> None:
    await _logged_in(cli)
    listed = await cli.run("users", "list")
    assert listed.code == 0
    assert listed.out.splitlines()[0].split() == ["ID", "EMAIL", "ROLE", "STATUS", "CREATED"]
    assert ADMIN["email"] in listed.out and "enabled" in listed.out

    member = await _member(cli, tmp_path / "member")
    document = json.loads((await cli.run("users", "list", "--json")).out)
    emails = {user["email"]: user for user in document["users"]}
    assert emails[MEMBER["email"]]["role"] == "member"

    admin2 = await cli.run(
        "users", "create", "ops@example.test", "--role", "admin", "--json",
        "--password-stdin", stdin="ops-password-1\n",
    )  # fmt: skip
    assert admin2.code == 0 and json.loads(admin2.out)["role"] == "admin"
    taken = await cli.run(
        "users", "create", "OPS@example.test", "--password-stdin", stdin="ops-password-1\n"
    )
    assert taken.code == 1 and "wharf:" in taken.err
    short = await cli.run("users", "create", "x@example.test", "--password-stdin", stdin="abc\n")
    assert short.code == 1 and "password" in short.err
    no_password = await cli.run("users", "create", "y@example.test")
    assert no_password.code == 2 and "--password-stdin" in no_password.err
    assert (await cli.run("users", "create", "z@example.test", "--role", "owner")).code == 2

    disabled = await cli.run("users", "disable", MEMBER["email"].upper())
    assert disabled.code == 0 and f"Disabled {MEMBER['email']}" in disabled.out
    refused = await member.run("whoami")
    assert refused.code == 4 and "disabled" in refused.err
    by_id = emails[MEMBER["email"]]["id"]
    enabled = json.loads((await cli.run("users", "enable", str(by_id), "--json")).out)
    assert enabled == {**emails[MEMBER["email"]], "disabled": False}
    assert (await member.run("whoami")).code == 0

    missing = await cli.run("users", "disable", "nobody@example.test")
    assert missing.code == 3 and "wharf users list" in missing.err
    # The last enabled admin cannot be disabled: disable ops, then try the admin.
    assert (await cli.run("users", "disable", "ops@example.test")).code == 0
    last = await cli.run("users", "disable", ADMIN["email"])
    assert last.code == 1 and "wharf:" in last.err


async def test_cli_users_commands_refuse_a_member_with_exit_4(
    cli: WharfCli, tmp_path: Path
) -> None:
    await _logged_in(cli)
    member = await _member(cli, tmp_path / "member")
    for args in (
        ("users", "list"),
        ("users", "disable", ADMIN["email"]),
        ("users", "create", "a@example.test", "--password-stdin"),
    ):
        ran = await member.run(*args, stdin="a-password-1\n")
        assert ran.code == 4, args
        assert "only admins manage users: ask an admin" in ran.err, args
        assert ran.out == ""
    # On a terminal, a member is refused before being asked for a password.
    asked = await member.on_terminal("users", "create", "b@example.test")
    assert asked.code == 4 and "only admins" in asked.out and "Password" not in asked.out


async def test_cli_users_create_asks_the_password_twice_on_a_terminal(cli: WharfCli) -> None:
    await _logged_in(cli)
    secret = "typed-password-1"
    ran = await cli.on_terminal(
        "users",
        "create",
        "typed@example.test",
        answers=(("Password for the new user: ", secret), ("again: ", secret)),
    )
    assert ran.code == 0, ran.out
    assert "Created member typed@example.test" in ran.out and secret not in ran.out
    differ = await cli.on_terminal(
        "users",
        "create",
        "other@example.test",
        answers=(("Password for the new user: ", secret), ("again: ", "something-else")),
    )
    assert differ.code == 2 and "nothing was created" in differ.out
    login = await WharfCli(Path(cli.env["HOME"]) / "typed", cli.env["WHARF_URL"]).run(
        "login", "--email", "typed@example.test", "--password-stdin", stdin=secret + "\n"
    )
    assert login.code == 0, login.err


async def test_cli_completion_scripts_name_the_commands(tmp_path: Path) -> None:
    cli = WharfCli(tmp_path / "home")
    bash = await cli.run("completion", "bash")
    assert bash.code == 0
    for name in ("tokens", "users", "sites", "login", "completion", "revoke", "disable"):
        assert name in bash.out, name
    script = tmp_path / "wharf.bash"
    script.write_text(bash.out)
    # bash itself completes `wharf users <TAB>` with the script.
    complete = (
        f'source {script}; COMP_WORDS=(wharf users ""); COMP_CWORD=2; _shtab_wharf;'
        ' echo "${COMPREPLY[@]}"'
    )
    shell = await asyncio.create_subprocess_exec(
        "bash", "-c", complete, stdout=asyncio.subprocess.PIPE
    )
    words = (await shell.communicate())[0].decode().split()
    assert words == ["list", "create", "disable", "enable"]
    zsh = await cli.run("completion", "zsh")
    assert zsh.code == 0 and zsh.out.startswith("#compdef wharf") and "tokens" in zsh.out
    fish = await cli.run("completion", "fish")
    assert fish.code == 0
    assert "complete -c wharf -n '__wharf_at ' -a tokens" in fish.out
    assert "complete -c wharf -n '__wharf_in users create' -l role -x -a 'admin member'" in (
        fish.out
    )
    other = await cli.run("completion", "tcsh")
    assert other.code == 2 and "invalid choice" in other.err


async def test_cli_local_token_create_logs_json_off_a_terminal_text_on_one(
    database_url: str, tmp_path: Path
) -> None:
    cli = WharfCli(tmp_path / "home", WHARF_DATABASE_URL=database_url)
    cli.env["WHARF_DATA_DIR"] = str(tmp_path / "data")
    made = await cli.run("user", "create", "ops@example.test", "--password", "ops-password-1")
    assert made.code == 0 and made.out.startswith("created member ops@example.test (id "), made.err

    ran = await cli.run("token", "create", "ops@example.test", "--name", "ci")
    assert ran.code == 0, ran.err
    assert ran.out.startswith("wharf_") and ran.out.count("\n") == 1  # the token, alone
    entries = [json.loads(line) for line in ran.err.splitlines()]
    created = next(entry for entry in entries if entry["event"] == "API token created")
    assert created["user"] == "ops@example.test" and created["label"] == "ci"
    assert ran.out.strip() not in ran.err

    text = await cli.run("token", "create", "ops@example.test", WHARF_LOG_FORMAT="text")
    assert text.out.startswith("wharf_") and text.out.count("\n") == 1
    assert "API token created  user=ops@example.test" in text.err
    assert not text.err.lstrip().startswith("{")

    on_terminal = await cli.on_terminal("token", "create", "ops@example.test")
    assert on_terminal.code == 0, on_terminal.out
    lines = on_terminal.out.splitlines()
    assert any(line.startswith("wharf_") for line in lines)
    log_line = next(line for line in lines if "API token created" in line)
    assert not log_line.startswith("{") and "info" in log_line
    forced = await cli.on_terminal("token", "create", "ops@example.test", WHARF_LOG_FORMAT="json")
    assert any(line.startswith("{") for line in forced.out.splitlines())

    migrated = await cli.run("migrate")
    assert migrated.code == 0
    assert json.loads(migrated.err.splitlines()[-1])["event"] == "database schema is current"
    bad = await cli.run("migrate", "--log-format", "yaml")
    assert bad.code == 2 and "WHARF_LOG_FORMAT" in bad.err
