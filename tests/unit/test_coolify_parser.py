"""The port of Coolify's compose parser (tests/harness/coolify.py) against its traced source.

Line numbers are for coollabsio/coolify 379abb252621f34b318190bd49b614aed9818716; "parsers.php" is
bootstrap/helpers/parsers.php, "shared.php" bootstrap/helpers/shared.php.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.compose import compose_config, rendered
from tests.harness.coolify import COMMIT as COOLIFY_COMMIT
from tests.harness.coolify import LocalFileVolume, Rejected, parse_service, parse_volume_string

UUID = "k4s8w0c"
WILDCARD = "http://apps.example.com"


def _one(service: str, uuid: str = UUID) -> dict[str, object]:
    """The parsed `app` service of a one-service compose file."""
    parsed = parse_service(f"services:\n  app:\n{service}", uuid, WILDCARD)
    app = parsed.compose["services"]["app"]
    assert isinstance(app, dict)
    return app


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        # parsers.php l.149-159 (one colon after the variable), l.290-307 (default replaces it).
        (
            "${PROXY_DIR:-/data/coolify/proxy}:/traefik",
            ("/data/coolify/proxy", "/traefik", None),
        ),
        # parsers.php l.165-173: the rest does not start with ':', so target and mode stay null.
        (
            "${PROXY_DIR:-/data/coolify/proxy}/dynamic:/traefik/dynamic:ro",
            ("/data/coolify/proxy", None, None),
        ),
        # parsers.php l.199-214: a known mode at the end, then split on the first colon.
        ("/abs:/t:ro", ("/abs", "/t", "ro")),
        ("./cfg:/c", ("./cfg", "/c", None)),  # parsers.php l.160-163
        ("data:/d:rw", ("data", "/d", "rw")),
        ("${V:-}:/t", ("${V}", "/t", None)),  # parsers.php l.302-305: an empty default keeps ${V}
        ("${V}/sub:/t", ("${V}/sub", "/t", None)),  # parsers.php l.323: accepted as is
    ],
)
def test_coolify_volume_string_parses_as_coolify(
    volume: str, expected: tuple[str | None, str | None, str | None]
) -> None:
    assert parse_volume_string(volume) == expected


def test_coolify_volume_string_with_shell_characters_is_rejected() -> None:
    # parsers.php l.325-335 → validateShellSafePath, shared.php l.136-162.
    with pytest.raises(Rejected, match="Invalid Docker volume definition"):
        parse_volume_string("/a;rm:/t")


def test_coolify_variable_then_subpath_binds_the_default_with_no_target(tmp_path: Path) -> None:
    # parsers.php l.2236-2241 emits "$source:$target" with a null target: Compose refuses it.
    app = _one("    image: x\n    volumes:\n      - ${H:-/data/coolify/proxy}/dynamic:/d:ro\n")
    assert app["volumes"] == ["/data/coolify/proxy:"]
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(json.dumps({"services": {"app": {"image": "x", "volumes": app["volumes"]}}}))
    assert compose_config(compose, {"PATH": os.environ["PATH"]}).returncode != 0


def test_coolify_binds_are_rewritten_and_recorded() -> None:
    # parsers.php l.2213-2241 (replaceLocalSource, shared.php l.1651; LocalFileVolume l.2220).
    parsed = parse_service(
        "services:\n  app:\n    image: x\n    volumes:\n"
        "      - /abs:/t:ro\n      - ./cfg:/c\n"
        "      - /var/run/docker.sock:/var/run/docker.sock:ro\n",
        UUID,
        WILDCARD,
    )
    assert parsed.compose["services"]["app"]["volumes"] == [
        "/abs:/t:ro",
        f"/data/coolify/services/{UUID}/cfg:/c",
        "/var/run/docker.sock:/var/run/docker.sock:ro",
    ]
    # The socket is passed through unrecorded (l.2199-2204); string binds count as directories.
    assert parsed.local_file_volumes == [
        LocalFileVolume("/abs", "/t", True),
        LocalFileVolume(f"/data/coolify/services/{UUID}/cfg", "/c", True),
    ]


def test_coolify_long_syntax_bind_loses_read_only() -> None:
    # parsers.php l.2150-2196 reads type/source/target only; l.2238 writes a short string.
    app = _one(
        "    image: x\n    volumes:\n"
        "      - {type: bind, source: /a, target: /b, read_only: true}\n"
    )
    assert app["volumes"] == ["/a:/b"]


def test_coolify_long_syntax_variable_then_subpath_is_rejected() -> None:
    # parsers.php l.2161-2176: none of the three patterns match, validateShellSafePath sees '${'.
    with pytest.raises(Rejected, match=r"Invalid Docker volume definition \(array syntax\)"):
        _one(
            "    image: x\n    volumes:\n      - {type: bind, source: '${V:-/a}/sub', target: /b}\n"
        )


def test_coolify_named_volume_is_prefixed_with_the_uuid() -> None:
    # parsers.php l.2257-2275: "{$uuid}_" . Str::slug($source), mount and top level.
    parsed = parse_service(
        "services:\n  app:\n    image: x\n    volumes: ['wharf_data:/d:ro']\n"
        "volumes:\n  wharf_data:\n",
        UUID,
        WILDCARD,
    )
    assert parsed.compose["services"]["app"]["volumes"] == [f"{UUID}_wharf-data:/d:ro"]
    # l.1586-1596: the null top-level entry is dropped, the renamed one added.
    assert parsed.compose["volumes"] == {f"{UUID}_wharf-data": {"name": f"{UUID}_wharf-data"}}
    assert parsed.local_file_volumes == []


def test_coolify_container_name_restart_env_file_and_injected_environment() -> None:
    parsed = parse_service(
        "services:\n  my-app:\n    image: x\n    profiles: [extra]\n    build: .\n"
        "    user: '1:1'\n  init:\n    image: x\n    restart: no\n    env_file: own.env\n",
        UUID,
        WILDCARD,
    )
    app, init = parsed.compose["services"]["my-app"], parsed.compose["services"]["init"]
    assert app["container_name"] == f"my-app-{UUID}"  # parsers.php l.2080
    assert app["restart"] == "unless-stopped"  # l.2021, constants.php l.37
    assert init["restart"] == "no"  # Symfony's YAML keeps `no` a string
    assert app["env_file"] == [".env"]  # l.2743-2751
    assert init["env_file"] == ["own.env", ".env"]
    # l.2720-2724: keys Coolify does not handle pass through, profiles too (no profile logic).
    assert (app["profiles"], app["build"], app["user"]) == (["extra"], ".", "1:1")
    # l.2555-2562 and generateDockerComposeServiceName (shared.php l.4388): environment only.
    assert app["environment"] == {
        "COOLIFY_RESOURCE_UUID": UUID,
        "COOLIFY_CONTAINER_NAME": f"my-app-{UUID}",
        "SERVICE_NAME_MY_APP": "my-app",
        "SERVICE_NAME_INIT": "init",
    }
    assert parsed.env.splitlines() == ["SERVICE_NAME_MY_APP=my-app", "SERVICE_NAME_INIT=init"]


def test_coolify_networks_are_the_uuid_network_only() -> None:
    # parsers.php l.2290-2318 puts top-level networks on each service with a null body, and the
    # loop at l.2333-2346 keeps only string items and array bodies; <uuid> is added (l.2343-2345).
    parsed = parse_service(
        "services:\n  a:\n    image: x\n    networks: [listed]\n  b:\n    image: x\n"
        "networks:\n  listed: {}\n  other: {}\n",
        UUID,
        WILDCARD,
    )
    assert parsed.compose["services"]["a"]["networks"] == {"listed": None, UUID: None}
    assert parsed.compose["services"]["b"]["networks"] == {UUID: None}
    assert parsed.compose["networks"][UUID] == {"name": UUID, "external": True}  # l.2307-2316
    assert set(parsed.compose["networks"]) == {"listed", "other", UUID}


def test_coolify_variables_defaults_and_required() -> None:
    # parsers.php l.2382 literal, l.2385-2397 `K: ${K}`, l.2405-2431 `${V:-def}` / `${V:?}`.
    compose = (
        "services:\n  app:\n    image: x\n    environment:\n      - LITERAL=a${X}b\n"
        "      - PLAIN=${PLAIN}\n      - MODE=${MODE:-fast}\n      - HOST=${HOST:?}\n"
    )
    parsed = parse_service(compose, UUID, WILDCARD)
    assert {key: (v.value, v.required) for key, v in parsed.variables.items()} == {
        "PLAIN": (None, False),
        "MODE": ("fast", False),
        "HOST": ("", True),
    }
    environment = parsed.compose["services"]["app"]["environment"]
    assert environment["LITERAL"] == "a${X}b" and environment["PLAIN"] == "${PLAIN}"
    assert environment["MODE"] == "fast"  # l.2431: the variable's value replaces ${...}
    # Service::isDeployable (app/Models/Service.php l.1662): an empty required variable blocks it.
    assert not parsed.deployable and parsed.missing == ["HOST"]
    ready = parse_service(compose, UUID, WILDCARD, {"HOST": "h.example.com", "MODE": "slow"})
    assert ready.deployable
    assert ready.compose["services"]["app"]["environment"]["HOST"] == "h.example.com"
    assert "MODE=slow" in ready.env.splitlines()  # firstOrCreate keeps what the user set


def test_coolify_service_url_key_gives_this_service_a_domain_and_port() -> None:
    # parsers.php l.1774-1880: the domain goes to the service holding the key, named after <NAME>.
    parsed = parse_service(
        "services:\n  web:\n    image: x\n"
        "    environment: [SERVICE_URL_APP_8000, SERVICE_FQDN_OLD]\n",
        UUID,
        WILDCARD,
    )
    assert parsed.domains["web"].url == f"http://app-{UUID}.apps.example.com"
    assert parsed.domains["web"].port == 8000
    environment = parsed.compose["services"]["web"]["environment"]
    # l.2600-2606: the empty key takes the variable's value; l.2593: SERVICE_FQDN_* keys removed.
    assert environment["SERVICE_URL_APP_8000"] == f"http://app-{UUID}.apps.example.com:8000"
    assert "SERVICE_FQDN_OLD" not in environment
    assert environment["COOLIFY_URL"] == f"http://app-{UUID}.apps.example.com"
    lines = parsed.env.splitlines()
    assert f"SERVICE_FQDN_APP=app-{UUID}.apps.example.com" in lines
    assert f"SERVICE_FQDN_APP_8000=app-{UUID}.apps.example.com:8000" in lines


def test_coolify_generated_secrets_have_their_length_and_are_kept() -> None:
    # shared.php l.1757 Str::password(symbols: false) = 32; l.1770 Str::random(64); l.1791 (16).
    compose = (
        "services:\n  app:\n    image: x\n    environment:\n      - P=${SERVICE_PASSWORD_X}\n"
        "      - S=${SERVICE_BASE64_64_X}\n      - U=${SERVICE_USER_X}\n"
    )
    parsed = parse_service(compose, UUID, WILDCARD)
    password = parsed.variables["SERVICE_PASSWORD_X"].value
    assert password is not None and len(password) == 32 and password.isalnum()
    assert len(parsed.variables["SERVICE_BASE64_64_X"].value or "") == 64
    assert len(parsed.variables["SERVICE_USER_X"].value or "") == 16
    # firstOrCreate (l.2005-2013): a later parse keeps the stored value.
    again = parse_service(compose, UUID, WILDCARD, {"SERVICE_PASSWORD_X": password})
    assert again.variables["SERVICE_PASSWORD_X"].value == password
    assert f"SERVICE_PASSWORD_X={password}" in again.env.splitlines()
    # A reference to a magic name stays for Compose to interpolate from .env (l.2363-2374).
    assert again.compose["services"]["app"]["environment"]["P"] == "${SERVICE_PASSWORD_X}"


def _coolify_template(name: str) -> str:
    """One of Coolify's own templates, from a Coolify git directory ($COOLIFY_GIT_DIR), or skip."""
    git_dir = os.environ.get("COOLIFY_GIT_DIR", "/work/.mirror/coollabsio+coolify/repo")
    result = subprocess.run(
        ["git", "-C", git_dir, "show", f"{COOLIFY_COMMIT}:templates/compose/{name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"no Coolify checkout at {git_dir}: {result.stderr.strip()}")
    return result.stdout


def test_coolify_output_of_a_coolify_template_validates(tmp_path: Path) -> None:
    # Coolify's own templates/compose/codimd.yaml: key-form URL, value-form FQDN, passwords.
    parsed = parse_service(_coolify_template("codimd.yaml"), UUID, WILDCARD)
    assert parsed.domains["codimd"].port == 3000
    assert parsed.deployable
    (tmp_path / "docker-compose.yml").write_text(json.dumps(parsed.compose))
    (tmp_path / ".env").write_text(parsed.env)
    result = compose_config(
        tmp_path / "docker-compose.yml", {"PATH": os.environ["PATH"]}, project_directory=tmp_path
    )
    environment = rendered(result)["services"]["codimd"]["environment"]
    assert environment["CMD_DOMAIN"] == f"codimd-{UUID}.apps.example.com"
