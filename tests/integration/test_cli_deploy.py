"""`wharf deploy` and `wharf rollback` against a control plane on a real port."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from controlplane.cli.client import CliFailure
from controlplane.cli.commands import main
from controlplane.cli.uploading import parse_flag_options
from controlplane.config import Settings
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.sites import site_files, write_site, zip_bytes


@pytest.fixture
async def server_url(aiohttp_server: Any, settings: Settings) -> tuple[str, str]:
    """A running control plane with a site `blog`, and an API token for it."""
    app = create_app(settings.replace(job_poll=1))
    server = await aiohttp_server(app)
    owner = await app[SERVICES].accounts.create_user(
        None, "dev@example.test", "dev-password-1", "member"
    )
    await app[SERVICES].sites.create(owner, "blog")
    _, token = await app[SERVICES].accounts.create_token(owner, "ci")
    return str(server.make_url("/")), token


@pytest.fixture(autouse=True)
def _no_logins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config folder of the test's own: no login kept by anyone else is used."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("WHARF_URL", "WHARF_TOKEN", "WHARF_SITE", "WHARF_ENV"):
        monkeypatch.delenv(name, raising=False)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_cli_deploy_folder_then_zip_then_rollback(
    server_url: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, token = server_url
    folder = write_site(tmp_path / "public", site_files("first"))
    code, out, err = await asyncio.to_thread(
        _run, capsys, "deploy", str(folder), "--site", "blog", "--url", url, "--token", token
    )
    assert code == 0, err
    assert "Live: http://blog.localhost:8080/" in out
    assert "Preview: http://" in out and "--blog.localhost:8080/" in out
    assert "Uploading" not in err  # no progress bar when stderr is not a terminal

    archive = tmp_path / "site.zip"
    archive.write_bytes(zip_bytes(site_files("second")))
    code, out, err = await asyncio.to_thread(
        _run, capsys, "deploy", str(archive), "--site", "blog", "--url", url, "--token", token
    )
    assert code == 0, err

    code, out, err = await asyncio.to_thread(
        _run, capsys, "rollback", "--site", "blog", "--url", url, "--token", token
    )
    assert code == 0, err
    assert out.startswith("blog (production): ") and "is live (was " in out


async def test_cli_deploy_failures_exit_nonzero_with_the_report(
    server_url: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, token = server_url
    hostile = tmp_path / "hostile.zip"
    hostile.write_bytes(zip_bytes({"index.html": "x", "../../etc/passwd": "x"}))
    code, _, err = await asyncio.to_thread(
        _run, capsys, "deploy", str(hostile), "--site", "blog", "--url", url, "--token", token
    )
    assert code == 1
    assert "../../etc/passwd" in err and "path_traversal" in err

    broken = tmp_path / "broken.zip"
    broken.write_bytes(zip_bytes(site_files("x", {"_redirects": "/a /b 999\n"})))
    code, _, err = await asyncio.to_thread(
        _run, capsys, "deploy", str(broken), "--site", "blog", "--url", url, "--token", token
    )
    assert code == 1
    assert "failed" in err and "_redirects:1" in err

    code, _, err = await asyncio.to_thread(
        _run,
        capsys,
        "deploy",
        str(tmp_path / "nope"),
        "--site",
        "blog",
        "--url",
        url,
        "--token",
        token,
    )
    assert code == 1 and "neither a folder nor a file" in err
    code, _, err = await asyncio.to_thread(
        _run, capsys, "deploy", str(broken), "--site", "other", "--url", url, "--token", token
    )
    assert code == 3 and "no site named 'other'" in err and "--create" in err
    code, _, err = await asyncio.to_thread(
        _run, capsys, "deploy", str(broken), "--site", "blog", "--url", url
    )
    assert code == 4 and "not logged in" in err and "WHARF_TOKEN" in err
    code, _, err = await asyncio.to_thread(
        _run, capsys, "rollback", "--site", "blog", "--url", "http://127.0.0.1:9", "--token", token
    )
    assert code == 1 and "cannot reach" in err


def test_cli_flag_options_become_api_flags() -> None:
    flags = parse_flag_options(["minify=false", "root=docs"], ["env.KEY=abc"])
    assert flags == {"minify": False, "root": "docs", "env.KEY": {"value": "abc", "secret": True}}
    with pytest.raises(CliFailure):
        parse_flag_options(["novalue"], [])
