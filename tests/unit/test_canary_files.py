"""Canary split files on the control plane's side: written whole after their checks, read back,
cleared, and gone with their link and their site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.deploys import release_files
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.errors import Conflict, Invalid
from tests.harness.releases import install_release
from tests.sites import site_files

STABLE, CANARY, OLD = "5ab1e0000001", "ca0a00000002", "01d000000003"


@pytest.fixture
def files(tmp_path: Path) -> ReleaseFiles:
    """A data dir with STABLE live in production, CANARY installed, OLD only half there."""
    data = tmp_path / "data"
    for deploy in (STABLE, CANARY):
        install_release(data, "blog", deploy, site_files(deploy))
    files = ReleaseFiles(data)
    files.activate("blog", "production", STABLE)
    (files.release_path("blog", OLD) / "site").mkdir(parents=True)  # no manifest: incomplete
    return files


def test_canary_set_clear_and_read_back(files: ReleaseFiles) -> None:
    assert files.canary_of("blog", "production") is None
    files.set_canary("blog", "production", CANARY, 10)
    path = files.live / "blog" / "production.canary.json"
    assert json.loads(path.read_text()) == {"version": 1, "deploy": CANARY, "percent": 10}
    assert path.stat().st_mode & 0o777 == 0o644
    assert files.canary_of("blog", "production") == release_files.Canary(CANARY, 10)
    assert files.canary_environments_of("blog", CANARY) == ["production"]
    assert files.serving_environments_of("blog", CANARY) == ["production"]
    assert files.serving_environments_of("blog", STABLE) == ["production"]
    files.set_canary("blog", "production", CANARY, 50)  # replaced whole, no temp file left
    assert files.canary_of("blog", "production") == release_files.Canary(CANARY, 50)
    assert sorted(p.name for p in (files.live / "blog").iterdir()) == [
        "production",
        "production.canary.json",
    ]
    files.clear_canary("blog", "production")
    files.clear_canary("blog", "production")  # clearing twice is fine
    assert files.canary_of("blog", "production") is None
    assert files.canary_environments_of("blog", CANARY) == []
    assert files.live_deploy("blog", "production") == STABLE  # the link is untouched


@pytest.mark.parametrize(
    ("environment", "deploy", "percent", "error", "code"),
    [
        ("preview", CANARY, 10, Invalid, "invalid_environment"),
        ("production", "not-an-id", 10, Invalid, "invalid_deploy_id"),
        ("production", "../" + CANARY[:9], 10, Invalid, "invalid_deploy_id"),
        ("production", CANARY, 0, Invalid, "invalid_canary_percent"),
        ("production", CANARY, 100, Invalid, "invalid_canary_percent"),
        ("production", CANARY, True, Invalid, "invalid_canary_percent"),
        ("production", CANARY, 10.5, Invalid, "invalid_canary_percent"),
        ("production", OLD, 10, Conflict, "release_not_installed"),
        ("production", "0000000000aa", 10, Conflict, "release_not_installed"),
        ("production", STABLE, 10, Conflict, "canary_is_live"),
        ("staging", CANARY, 10, Conflict, "no_live_deploy"),
    ],
)
def test_canary_set_refuses_what_the_edge_could_not_serve(
    files: ReleaseFiles,
    environment: str,
    deploy: str,
    percent: int,
    error: type[Exception],
    code: str,
) -> None:
    with pytest.raises(error) as raised:
        files.set_canary("blog", environment, deploy, percent)
    assert getattr(raised.value, "code", None) == code
    assert not (files.live / "blog" / f"{environment}.canary.json").exists()


def test_canary_split_goes_with_its_link_and_its_site(files: ReleaseFiles) -> None:
    files.set_canary("blog", "production", CANARY, 10)
    files.deactivate("blog", "production")
    assert files.canary_of("blog", "production") is None  # no stale split for a later publish
    files.activate("blog", "production", STABLE)
    files.set_canary("blog", "production", CANARY, 10)
    files.remove_site("blog")
    assert not (files.live / "blog").exists()
