"""Settings: defaults, WHARF_* variables, explicit options, and clear errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from controlplane.config import SETTINGS, ConfigError, load_settings, parse_listen


def test_config_defaults_match_the_brief() -> None:
    settings = load_settings(environ={})
    assert settings.data_dir == Path("./.wharf")
    assert settings.database_url is None
    assert settings.base_domain == "localhost"
    assert settings.listen == ("127.0.0.1", 8000)
    assert settings.admin_email == "admin@localhost"
    assert settings.admin_password is None
    assert settings.login_max_failures == 5
    assert settings.login_window == 300


def test_config_environment_then_override_wins() -> None:
    environ = {"WHARF_LISTEN": "127.0.0.1:9000", "WHARF_BASE_DOMAIN": "Example.COM"}
    assert load_settings(environ=environ).listen == ("127.0.0.1", 9000)
    assert load_settings(environ=environ).base_domain == "example.com"
    assert load_settings({"listen": "[::1]:9100"}, environ=environ).listen == ("::1", 9100)


def test_config_secrets_are_hidden_in_repr() -> None:
    settings = load_settings(
        environ={"WHARF_ADMIN_PASSWORD": "hunter22", "WHARF_DATABASE_URL": "postgresql://u:pw@h/d"}
    )
    assert settings.admin_password is not None and settings.admin_password.reveal() == "hunter22"
    assert "hunter22" not in repr(settings)
    assert "pw@" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("WHARF_LISTEN", "8000"),
        ("WHARF_LISTEN", "127.0.0.1:99999"),
        ("WHARF_ACCESS_TOKEN_TTL", "0"),
        ("WHARF_LOGIN_MAX_FAILURES", "many"),
        ("WHARF_TRUSTED_PROXIES", "not-a-network"),
        ("WHARF_LOG_LEVEL", "loud"),
        ("WHARF_LOG_FORMAT", "yaml"),
        ("WHARF_SECRET_KEY", "too-short"),
    ],
)
def test_config_bad_values_name_the_variable(env: str, value: str) -> None:
    with pytest.raises(ConfigError, match=env):
        load_settings(environ={env: value})


def test_config_trusted_proxies_parse() -> None:
    settings = load_settings(environ={"WHARF_TRUSTED_PROXIES": "10.0.0.0/8, ::1/128"})
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert load_settings(environ={"WHARF_TRUSTED_PROXIES": ""}).trusted_proxies == ()


def test_config_every_setting_has_env_flag_and_help() -> None:
    for setting in SETTINGS:
        assert setting.env.startswith("WHARF_")
        assert setting.flag.startswith("--")
        assert setting.help.endswith(".")


def test_parse_listen_keeps_host() -> None:
    assert parse_listen("192.0.2.1:80") == ("192.0.2.1", 80)
    assert parse_listen(":8000") == ("127.0.0.1", 8000)


def test_config_in_coolify_traefik_reaches_the_stacks_own_containers() -> None:
    # Coolify names containers <service>-<uuid>: `edge` alone could be another stack's edge.
    environ = {"COOLIFY_RESOURCE_UUID": "k4cw0s8", "WHARF_LISTEN": "0.0.0.0:8000"}
    settings = load_settings(environ=environ)
    assert settings.edge_upstream == "http://edge-k4cw0s8:8090"
    assert settings.control_upstream == "http://wharf-k4cw0s8:8000"
    explicit = load_settings(environ={**environ, "WHARF_EDGE_URL": "http://edge:8090"})
    assert explicit.edge_upstream == "http://edge:8090"
    outside = load_settings(environ={"WHARF_LISTEN": "0.0.0.0:8000"})
    assert outside.edge_upstream == "http://127.0.0.1:8090"
    assert outside.control_upstream == "http://0.0.0.0:8000"
    with pytest.raises(ConfigError, match="COOLIFY_RESOURCE_UUID"):
        load_settings(environ={"COOLIFY_RESOURCE_UUID": "a b/c"})
