"""Canary splits as the edge reads them: the file's shape (the same on both sides), the cookie,
the draw, the privacy of answers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from controlplane.deploys import release_files
from controlplane.deploys.release_files import ReleaseFiles
from edge import canary
from edge.canary import Splits, cookie_release, parse_split, private_cache_control, set_cookie
from tests.harness.releases import install_release
from tests.sites import site_files

STABLE, CANARY, OLD = "5ab1e0000001", "ca0a00000002", "01d000000003"


def test_canary_split_file_has_one_name_on_both_sides() -> None:
    assert release_files.CANARY_SUFFIX == canary.SPLIT_SUFFIX
    assert release_files._DEPLOY_ID.pattern == canary._DEPLOY_ID.pattern


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"version": 1, "deploy": CANARY, "percent": 10}, (CANARY, 10)),
        ({"version": 1, "deploy": CANARY, "percent": 1}, (CANARY, 1)),
        ({"version": 1, "deploy": CANARY, "percent": 99}, (CANARY, 99)),
        ({"version": 1, "deploy": CANARY, "percent": 0}, None),
        ({"version": 1, "deploy": CANARY, "percent": 100}, None),
        ({"version": 1, "deploy": CANARY, "percent": "10"}, None),
        ({"version": 1, "deploy": CANARY, "percent": 10.0}, None),
        ({"version": 1, "deploy": CANARY, "percent": True}, None),
        ({"version": 1, "deploy": "../../etc/x", "percent": 10}, None),
        ({"version": 1, "deploy": CANARY.upper(), "percent": 10}, None),
        ({"version": 2, "deploy": CANARY, "percent": 10}, None),
        ({"deploy": CANARY, "percent": 10}, None),
        ([CANARY, 10], None),
    ],
)
def test_canary_split_document_is_checked(document: object, expected: object) -> None:
    assert parse_split(document) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"wharf_release={CANARY}", CANARY),
        (f"theme=dark; wharf_release={STABLE}; other=1", STABLE),
        (f"wharf_release={OLD}; wharf_release={CANARY}", CANARY),  # the one in force wins
        (f"a=1;wharf_release={CANARY};b=2", CANARY),
        (f"wharf_release={CANARY} ; b=2", CANARY),
        (f"x=wharf_release={CANARY}", None),  # inside another cookie's value
        (f"wharf_release={OLD}", None),
        (f"xwharf_release={CANARY}", None),
        (f"wharf_release={CANARY}x", None),
        ("wharf_release=", None),
        ("", None),
    ],
)
def test_canary_cookie_counts_only_for_a_release_in_force(header: str, expected: str) -> None:
    assert cookie_release(header, STABLE, CANARY) == expected


def test_canary_set_cookie_is_host_only_http_only_lax_for_a_day() -> None:
    value = set_cookie(CANARY)
    assert value == f"wharf_release={CANARY}; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax"
    assert "domain" not in value.lower()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=0, must-revalidate", "private, max-age=0, must-revalidate"),
        ("max-age=31536000, immutable", "private, max-age=31536000, immutable"),
        ("public, max-age=600", "private, max-age=600"),
        ("max-age=600, s-maxage=3600, Public", "private, max-age=600"),
        ("no-store", "no-store"),
        ("private, max-age=60", "private, max-age=60"),
        ("", "private"),
    ],
)
def test_canary_answers_are_private(value: str, expected: str) -> None:
    assert private_cache_control(value) == expected


def test_canary_draw_follows_the_weight() -> None:
    splits = Splits("/nonexistent")
    drawn = Counter(splits.draw(10) for _ in range(20_000))
    assert 1_700 < drawn[True] < 2_300  # 10 % of 20,000, ± 5 standard deviations
    # Two workers, each seeded from the OS after the fork, draw apart.
    other = Splits("/nonexistent")
    assert [splits.draw(50) for _ in range(64)] != [other.draw(50) for _ in range(64)]


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


def test_canary_edge_reads_a_split_and_ignores_a_bad_one(files: ReleaseFiles) -> None:
    splits = Splits(str(files.root))
    assert splits.of("blog", "production") is None
    files.set_canary("blog", "production", CANARY, 10)
    splits._known.clear()  # as if the recheck interval had passed
    split = splits.of("blog", "production")
    assert split is not None and (split.deploy, split.percent) == (CANARY, 10)
    assert split.root == f"{files.root}/releases/blog/{CANARY}"
    splits.broken("blog", "production")
    assert splits.of("blog", "production") is None
    # A split naming a release with no manifest, or none at all, is ignored.
    path = files.live / "blog" / "production.canary.json"
    for deploy in (OLD, "0000000000aa"):
        path.write_text(json.dumps({"version": 1, "deploy": deploy, "percent": 10}))
        splits._known.clear()
        assert splits.of("blog", "production") is None, deploy
    path.write_text("{" * 5000)
    splits._known.clear()
    assert splits.of("blog", "production") is None
