"""scripts/release in a scratch repository: the release it makes, and the inputs it refuses."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
IMAGE = "ghcr.io/wharf-dev/wharf"
# What the release and its build read: the package, its metadata, the changelog, the compose files.
NEEDED = [
    "setup.cfg",
    "pyproject.toml",
    "README.md",
    "CHANGELOG.md",
    ".gitignore",
    "scripts/release",
    "controlplane",
    "edge",
    "templates",
    "docker-compose*.yml",
]


@dataclass(frozen=True)
class Run:
    """One run of scripts/release."""

    returncode: int
    stdout: str
    stderr: str


def _environment(tmp: Path) -> dict[str, str]:
    """git without the user's config (no hooks or signing), and a PATH with git but no docker."""
    tools = tmp / "tools"
    tools.mkdir(exist_ok=True)
    git = shutil.which("git")
    assert git is not None
    if not (tools / "git").exists():
        (tools / "git").symlink_to(git)
    return {
        **os.environ,
        "PATH": str(tools),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Release Test",
        "GIT_AUTHOR_EMAIL": "release@example.com",
        "GIT_COMMITTER_NAME": "Release Test",
        "GIT_COMMITTER_EMAIL": "release@example.com",
    }


def _git(repo: Path, *arguments: str) -> str:
    result = subprocess.run(
        ["git", *arguments],
        cwd=repo,
        env=_environment(repo.parent),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _release(repo: Path, *arguments: str) -> Run:
    result = subprocess.run(
        [sys.executable, str(repo / "scripts" / "release"), *arguments],
        cwd=repo,
        env=_environment(repo.parent),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(result.returncode, result.stdout, result.stderr)


def _section(text: str, heading: str) -> str:
    """A changelog section's content, between its heading and the next `##` one, stripped."""
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else len(text)].strip()


def _headings(text: str) -> list[str]:
    return re.findall(r"^## (.*)$", text, re.M)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh repository with this checkout's files as they are now (edits included), committed."""
    repo = tmp_path_factory.mktemp("release") / "source"
    repo.mkdir()
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *NEEDED], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # listed but deleted in the working tree: leave it out
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--message", "Start")
    return repo


def _clone(source: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    _git(source, "clone", "--quiet", str(source), str(repo))
    return repo


@pytest.fixture(scope="module")
def released(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    """A clone of the source released as 0.2.0 once, with the build (the slow part)."""
    repo = _clone(source, tmp_path_factory.mktemp("released"))
    return repo, _release(repo, "0.2.0")


def _state(repo: Path) -> tuple[str, str, str, dict[str, str]]:
    """Everything a refused release must leave as it was: HEAD, status, tags, files' text."""
    files = {
        name: (repo / name).read_text()
        for name in ["setup.cfg", "CHANGELOG.md", *(p.name for p in repo.glob("docker-compose*"))]
    }
    status = _git(repo, "status", "--porcelain", "--untracked-files=all")
    return _git(repo, "rev-parse", "HEAD"), status, _git(repo, "tag", "--list"), files


def test_release_bumps_dates_pins_commits_tags_and_builds(
    source: Path, released: tuple[Path, Run]
) -> None:
    repo, run = released
    assert run.returncode == 0, run.stderr + run.stdout
    assert re.search(r"^version = 0\.2\.0$", (repo / "setup.cfg").read_text(), re.M)

    before, after = (source / "CHANGELOG.md").read_text(), (repo / "CHANGELOG.md").read_text()
    today = datetime.date.today().isoformat()
    assert _headings(after) == ["Unreleased", f"0.2.0 — {today}", *_headings(before)[1:]]
    assert _section(after, "## Unreleased") == ""
    assert _section(before, "## Unreleased") != ""
    assert _section(after, f"## 0.2.0 — {today}") == _section(before, "## Unreleased")

    pinned = 0
    for compose in sorted(source.glob("docker-compose*.yml")):
        old, new = compose.read_text(), (repo / compose.name).read_text()
        assert new == old.replace(f"{IMAGE}:0.1.0", f"{IMAGE}:0.2.0"), compose.name
        pinned += old.count(f"{IMAGE}:0.1.0")
    assert pinned > 0  # else the compose part of the release went untested

    head = _git(repo, "rev-parse", "HEAD")
    assert _git(repo, "log", "--format=%s", "origin/main..HEAD") == "Release 0.2.0"
    assert _git(repo, "cat-file", "-t", "v0.2.0") == "tag"  # annotated
    assert _git(repo, "rev-parse", "v0.2.0^{commit}") == head
    assert _git(repo, "status", "--porcelain", "--untracked-files=all") == ""  # dist/ ignored

    built = sorted(path.name for path in (repo / "dist").iterdir())
    assert built == ["wharf-0.2.0-py3-none-any.whl", "wharf-0.2.0.tar.gz"]

    assert "image was not built (there is no docker command)" in run.stdout
    command = re.escape(
        f"docker build --build-arg VERSION=0.2.0 --build-arg REVISION={head} --build-arg CREATED="
    )
    assert re.search(
        rf"^{command}\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ -t {IMAGE}:0\.2\.0 \.$", run.stdout, re.M
    ), run.stdout


def _dirty_file(repo: Path) -> None:
    with (repo / "README.md").open("a") as readme:
        readme.write("\nnot committed\n")


def _untracked_file(repo: Path) -> None:
    (repo / "notes.txt").write_text("left over\n")


def _empty_unreleased(repo: Path) -> None:
    text = (repo / "CHANGELOG.md").read_text()
    body = _section(text, "## Unreleased")
    (repo / "CHANGELOG.md").write_text(text.replace(body, "### Added\n", 1))
    _git(repo, "commit", "--quiet", "--all", "--message", "Nothing unreleased")


def _existing_tag(repo: Path) -> None:
    _git(repo, "tag", "v0.2.0")


def _failing_commit_hook(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)


@pytest.mark.parametrize(
    ("prepare", "version", "message"),
    [
        (None, "0.0.9", "0.0.9 is not higher than the current version 0.1.0"),
        (None, "0.1.0", "0.1.0 is not higher than the current version 0.1.0"),
        (None, "0.2", "'0.2' is not a version"),
        (None, "v0.2.0", "'v0.2.0' is not a version"),
        (None, "0.2.0-rc.1", "'0.2.0-rc.1' is not a version"),
        (None, "01.2.0", "'01.2.0' is not a version"),
        (_dirty_file, "0.2.0", "the worktree is not clean (README.md)"),
        (_untracked_file, "0.2.0", "the worktree is not clean (notes.txt)"),
        (_empty_unreleased, "0.2.0", "CHANGELOG.md's Unreleased section is empty"),
        (_existing_tag, "0.2.0", "the tag v0.2.0 exists already"),
        (_failing_commit_hook, "0.2.0", "git commit failed: hook says no"),
    ],
)
def test_release_refuses_and_changes_nothing(
    source: Path, tmp_path: Path, prepare: object, version: str, message: str
) -> None:
    repo = _clone(source, tmp_path)
    if callable(prepare):
        prepare(repo)
    before = _state(repo)
    run = _release(repo, "--no-build", version)
    assert run.returncode != 0
    assert run.stderr.startswith(f"release: {message}"), run.stderr
    assert len(run.stderr.splitlines()) == 1, run.stderr
    assert _state(repo) == before
    assert not (repo / "dist").exists()


def test_release_dry_run_shows_the_changes_and_writes_nothing(source: Path, tmp_path: Path) -> None:
    repo = _clone(source, tmp_path)
    before = _state(repo)
    run = _release(repo, "--dry-run", "0.2.0")
    assert run.returncode == 0, run.stderr
    assert "+version = 0.2.0" in run.stdout
    assert f"+## 0.2.0 — {datetime.date.today().isoformat()}" in run.stdout
    assert f"+    image: {IMAGE}:0.2.0" in run.stdout
    assert "Would commit 'Release 0.2.0' and make the annotated tag v0.2.0." in run.stdout
    assert _state(repo) == before


def test_release_undoes_the_commit_and_tag_when_the_build_fails(
    source: Path, tmp_path: Path
) -> None:
    repo = _clone(source, tmp_path)
    pyproject = (repo / "pyproject.toml").read_text()
    (repo / "pyproject.toml").write_text(
        pyproject.replace("setuptools.build_meta", "no_such_backend")
    )
    _git(repo, "commit", "--quiet", "--all", "--message", "A backend that is not there")
    before = _state(repo)
    run = _release(repo, "0.2.0")
    assert run.returncode != 0
    assert run.stderr.splitlines()[-2:] == [
        "Undid the release commit and the tag v0.2.0.",
        "release: python -m build failed (its output is above)",
    ]
    assert _state(repo) == before
    assert not (repo / "dist").exists()
