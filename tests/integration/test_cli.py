"""The `wharf` command's one-shot subcommands against a real database."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.accounts.credentials import hash_api_token
from controlplane.cli.commands import main
from controlplane.store import Store


def _run(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path, *args: str
) -> tuple[int, str, str]:
    code = main([*args, "--database-url", database_url, "--data-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    return code, out, err


async def test_cli_user_and_token_create(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path, store: Store
) -> None:
    code, out, _ = await asyncio.to_thread(
        _run,
        capsys,
        database_url,
        tmp_path,
        "user",
        "create",
        "ops@example.test",
        "--role",
        "admin",
        "--password",
        "ops-password-1",
    )
    assert code == 0
    assert "created admin ops@example.test" in out
    code, out, _ = await asyncio.to_thread(
        _run, capsys, database_url, tmp_path, "token", "create", "ops@example.test", "--name", "ci"
    )
    assert code == 0
    token = out.strip()
    assert token.startswith("wharf_")
    user = await store.user_for_token_hash(hash_api_token(token))
    assert user is not None and user.email == "ops@example.test"


def test_cli_user_create_errors_exit_nonzero(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path
) -> None:
    code, _, err = _run(
        capsys, database_url, tmp_path, "user", "create", "bad-email", "--password", "long-enough"
    )
    assert code == 1
    assert "email" in err
    code, _, err = _run(capsys, database_url, tmp_path, "token", "create", "nobody@example.test")
    assert code == 1
    assert "no user" in err


def test_cli_user_create_without_password_off_a_terminal(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = _run(capsys, database_url, tmp_path, "user", "create", "a@b.test")
    assert code == 1
    assert "WHARF_USER_PASSWORD" in err


def test_cli_migrate_prints_schema(
    capsys: pytest.CaptureFixture[str], database_url: str, tmp_path
) -> None:
    code, out, _ = _run(capsys, database_url, tmp_path, "migrate", "--print-schema")
    assert code == 0
    assert "CREATE TABLE sites" in out


def test_cli_bad_setting_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["migrate", "--listen", "nowhere", "--data-dir", str(tmp_path)]) == 2
    assert "WHARF_LISTEN" in capsys.readouterr().err
