"""CHANGELOG.md and the compose files' pinned image agree with setup.cfg's version."""

from __future__ import annotations

import configparser
import datetime
import importlib.util
import itertools
import re
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[2]
HEADING = re.compile(r"^## (.*)$", re.M)
RELEASED = re.compile(r"(?P<version>\d+\.\d+\.\d+) — (?P<date>\d{4}-\d{2}-\d{2})")


def _release_script() -> ModuleType:
    """scripts/release as a module, for its image name and image-line parser."""
    loader = SourceFileLoader("release_script", str(ROOT / "scripts" / "release"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up while it loads
    loader.exec_module(module)
    return module


RELEASE = _release_script()


def _setup_version() -> str:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["metadata"]["version"]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def changelog_problems(text: str, version: str) -> list[str]:
    """What is wrong with a changelog's `##` headings, given the package's version."""
    headings = HEADING.findall(text)
    if not headings or headings[0] != "Unreleased":
        return ["the first ## heading is not 'Unreleased'"]
    released = []
    for heading in headings[1:]:
        match = RELEASED.fullmatch(heading)
        if match is None:
            return [f"heading {heading!r} is not 'x.y.z — YYYY-MM-DD'"]
        try:
            datetime.date.fromisoformat(match["date"])
        except ValueError:
            return [f"heading {heading!r} has no real date"]
        released.append((_version(match["version"]), match["date"], heading))
    if not released:
        return ["no released version"]
    problems = []
    if released[0][2].split(" ")[0] != version:
        problems.append(f"newest heading {released[0][2]!r} is not version {version}")
    for newer, older in itertools.pairwise(released):
        if newer[0] <= older[0]:
            problems.append(f"{newer[2]!r} is above {older[2]!r}: versions not descending")
        if newer[1] < older[1]:
            problems.append(f"{newer[2]!r} is dated before {older[2]!r}")
    return problems


def compose_problems(text: str, version: str) -> list[str]:
    """Wharf image lines of a compose file pinned to another version than the package's."""
    return [f"{RELEASE.IMAGE}:{tag}" for tag in RELEASE.image_tags(text) if tag != version]


def test_changelog_newest_heading_is_the_setup_cfg_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert changelog_problems(text, _setup_version()) == []


def test_changelog_compose_images_are_pinned_to_the_setup_cfg_version() -> None:
    composes = sorted(ROOT.glob("docker-compose*.yml"))
    assert composes
    # A file without a Wharf image line (say one that only builds) is simply skipped.
    problems = {
        path.name: compose_problems(path.read_text(), _setup_version()) for path in composes
    }
    assert all(found == [] for found in problems.values()), problems


GOOD = "# Changelog\n\n## Unreleased\n\n## 0.2.0 — 2026-12-04\n\n- b\n\n## 0.1.0 — 2026-11-22\n"


@pytest.mark.parametrize(
    ("text", "version", "problem"),
    [
        (GOOD, "0.2.0", None),
        (GOOD, "0.3.0", "is not version 0.3.0"),
        (GOOD.replace("0.2.0", "0.0.9"), "0.0.9", "versions not descending"),
        (GOOD.replace("2026-12-04", "2026-11-02"), "0.2.0", "dated before"),
        (GOOD.replace("2026-12-04", "04.12.2026"), "0.2.0", "is not 'x.y.z — YYYY-MM-DD'"),
        (GOOD.replace("2026-12-04", "2026-13-04"), "0.2.0", "has no real date"),
        (GOOD.replace(" — ", " - ", 1), "0.2.0", "is not 'x.y.z — YYYY-MM-DD'"),
        (GOOD.replace("## Unreleased\n\n", ""), "0.2.0", "not 'Unreleased'"),
        ("## Unreleased\n\n- a\n", "0.1.0", "no released version"),
    ],
)
def test_changelog_problems_are_found(text: str, version: str, problem: str | None) -> None:
    found = changelog_problems(text, version)
    if problem is None:
        assert found == []
    else:
        assert any(problem in line for line in found), found


@pytest.mark.parametrize(
    ("text", "stale"),
    [
        ("services:\n  wharf:\n    build: .\n", []),
        ("services:\n  a:\n    image: ghcr.io/wharf-dev/wharf:0.2.0\n", []),
        ("services:\n  a:\n    image: ghcr.io/wharf-dev/wharf:0.1.0\n", ["0.1.0"]),
        ("services:\n  a:\n    image: 'ghcr.io/wharf-dev/wharf:0.1.9'\n", ["0.1.9"]),
        ("services:\n  a:\n    image: ${IMG:-ghcr.io/wharf-dev/wharf:latest}\n", ["latest"]),
        ("services:\n  db:\n    image: postgres:18\n", []),
    ],
)
def test_changelog_stale_compose_images_are_found(text: str, stale: list[str]) -> None:
    assert compose_problems(text, "0.2.0") == [f"ghcr.io/wharf-dev/wharf:{tag}" for tag in stale]
