"""docker-compose.coolify.yml as Coolify parses it (tests/harness/coolify.py, coolify 379abb2)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from controlplane.config import SETTINGS
from tests.harness.compose import compose_config, rendered
from tests.harness.coolify import Parsed, parse_service

ROOT = Path(__file__).parents[2]
TEMPLATE = ROOT / "docker-compose.coolify.yml"
UUID = "x8k2m4q"
WILDCARD = "http://apps.example.com"
DYNAMIC = "/data/coolify/proxy/dynamic"
REQUIRED = {"WHARF_BASE_DOMAIN": "sites.example.com", "WHARF_ADMIN_EMAIL": "admin@example.com"}
# app/Console/Commands/Generate/Services.php l.50 (processFile); ungreedy: key ends at a colon.
HEADER = re.compile(r"^#(?P<key>.*?):(?P<value>.*?)$")


def _parsed(values: dict[str, str] | None = None) -> Parsed:
    """The template as Coolify parses it, the required variables set unless told otherwise."""
    return parse_service(
        TEMPLATE.read_text(), UUID, WILDCARD, REQUIRED if values is None else values
    )


def _compose_renders(parsed: Parsed, tmp_path: Path) -> dict[str, Any]:
    """What Compose makes of the files Coolify writes into the service folder (it must exit 0)."""
    (tmp_path / "docker-compose.yml").write_text(json.dumps(parsed.compose))
    (tmp_path / ".env").write_text(parsed.env)
    return rendered(
        compose_config(
            tmp_path / "docker-compose.yml",
            {"PATH": os.environ["PATH"]},
            project_directory=tmp_path,
        )
    )


def test_coolify_template_output_is_valid_compose(tmp_path: Path) -> None:
    services = _compose_renders(_parsed(), tmp_path)["services"]
    assert set(services) == {"proxy-folder", "wharf", "edge", "postgres"}


def test_coolify_template_binds_only_the_proxy_dynamic_folder(tmp_path: Path) -> None:
    parsed = _parsed()
    # What Coolify records (LocalFileVolume: its UI can rm -rf these) ...
    assert {volume.fs_path for volume in parsed.local_file_volumes} == {DYNAMIC}
    # ... and what Compose would bind from the host.
    services = _compose_renders(parsed, tmp_path)["services"]
    binds = {
        volume["source"]
        for service in services.values()
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    }
    assert binds == {DYNAMIC}


def test_coolify_template_has_images_healthchecks_and_one_one_shot() -> None:
    text = TEMPLATE.read_text()
    assert not re.search(r"^\s*build\s*:", text, re.MULTILINE)
    for name, service in _parsed().compose["services"].items():
        assert "build" not in service and service.get("image"), name
        if name == "proxy-folder":
            # restart "no" excludes it from Coolify's status (parsers.php ~l.2704).
            assert service["restart"] == "no" and "healthcheck" not in service
        else:
            assert service["restart"] == "unless-stopped" and "healthcheck" in service, name


def test_coolify_template_deploys_only_once_the_required_values_are_set() -> None:
    # `${V:?}` with no message: is_required, empty → Service::isDeployable is false.
    assert _parsed({}).missing == ["WHARF_BASE_DOMAIN", "WHARF_ADMIN_EMAIL"]
    assert not _parsed({"WHARF_BASE_DOMAIN": "sites.example.com"}).deployable
    assert _parsed().deployable


def test_coolify_template_gives_wharf_the_domain_and_port_8000() -> None:
    parsed = _parsed()
    assert set(parsed.domains) == {"wharf"}
    assert parsed.domains["wharf"].url == f"http://wharf-{UUID}.apps.example.com"
    assert parsed.domains["wharf"].port == 8000


def test_coolify_template_tells_wharf_the_address_browsers_use(tmp_path: Path) -> None:
    """Sign-in callbacks are <public URL>/auth/<provider>/callback: the URL Coolify gives the
    wharf service, without the container port its proxy forwards to."""
    services = _compose_renders(_parsed(), tmp_path)["services"]
    assert services["wharf"]["environment"]["WHARF_PUBLIC_URL"] == (
        f"http://wharf-{UUID}.apps.example.com"
    )


def test_coolify_template_edge_environment_holds_no_secret(tmp_path: Path) -> None:
    parsed = _parsed()
    secrets = {
        variable.value
        for key, variable in parsed.variables.items()
        if key.startswith(("SERVICE_PASSWORD_", "SERVICE_BASE64_")) and variable.value
    }
    assert len(secrets) == 3
    environment = parsed.compose["services"]["edge"]["environment"]  # as Coolify writes it
    forbidden = {"WHARF_SECRET_KEY", "WHARF_ADMIN_PASSWORD", "WHARF_DATABASE_URL"}
    assert not forbidden & set(environment)
    assert not any(key.startswith(("SERVICE_PASSWORD_", "SERVICE_BASE64_")) for key in environment)
    assert not any(secret in str(value) for value in environment.values() for secret in secrets)
    # Only `environment:` is clean: Coolify adds `env_file: [.env]` to every service (parsers.php
    # l.2743-2751) and writes every variable of the stack, secrets included, into that .env
    # (Service.php l.1620-1633). Compose merges it, so the edge container still receives them.
    assert parsed.compose["services"]["edge"]["env_file"] == [".env"]
    received = _compose_renders(parsed, tmp_path)["services"]["edge"]["environment"]
    assert secrets <= set(received.values())


def test_coolify_template_sets_only_real_settings() -> None:
    known = {setting.env for setting in SETTINGS}
    parsed = _parsed()
    for name, service in parsed.compose["services"].items():
        for key in service.get("environment", {}):
            if key.startswith("WHARF_"):
                assert key in known, (name, key)
    for key in parsed.variables:  # the Coolify variables, written to .env
        if key.startswith("WHARF_"):
            assert key in known, key


def test_coolify_template_header_parses_as_coolify_generate_services() -> None:
    lines = TEMPLATE.read_text().split("\n")
    fields = {}
    for line in lines:
        match = HEADER.match(line)
        if match:
            fields[match["key"].strip()] = match["value"].strip()
    assert set(fields) == {"documentation", "slogan", "category", "tags", "logo", "port"}
    assert fields["port"] == "8000" and fields["documentation"].startswith("https://")
    header = {f"# {key}: {value}" for key, value in fields.items()}
    others = [
        line
        for line in lines
        if line.lstrip().startswith("#") and line not in header and ":" in line
    ]
    assert others == []


@pytest.mark.parametrize("key", ["WHARF_BASE_DOMAIN", "WHARF_ADMIN_EMAIL"])
def test_coolify_template_required_values_reach_the_containers(key: str, tmp_path: Path) -> None:
    services = _compose_renders(_parsed(), tmp_path)["services"]
    assert services["wharf"]["environment"][key] == REQUIRED[key]
