"""Traefik config: rule builders, the pure render, validation, the atomic writer, static config."""

from __future__ import annotations

import ipaddress
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from controlplane.traefik.config_writer import TraefikConfigWriter
from controlplane.traefik.dynamic_file import FILE_NAME, write_dynamic_config
from controlplane.traefik.render import GateRoute, HostTls, RoutingState, render, site_routers
from controlplane.traefik.rule_strings import host_rule, subdomain_rule
from controlplane.traefik.static import Resolvers, cloudflare_ranges, render_static
from controlplane.traefik.validate import InvalidConfig, validate

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    ("hosts", "rule"),
    [
        (("a.example.com",), "Host(`a.example.com`)"),
        (("a.test", "b.test"), "Host(`a.test`) || Host(`b.test`)"),
    ],
)
def test_traefik_host_rule_one_host_per_call(hosts: tuple[str, ...], rule: str) -> None:
    assert host_rule(*hosts) == rule


@pytest.mark.parametrize(
    "host", ["", "A.test", "a b.test", "a`) || Host(`evil", "a.test)", "é.test", "a..b", "-a.test"]
)
def test_traefik_rules_refuse_anything_but_hostnames(host: str) -> None:
    with pytest.raises(ValueError):
        host_rule(host)


def test_traefik_subdomain_rule_is_anchored_and_escaped() -> None:
    assert subdomain_rule("example.com") == "HostRegexp(`^[a-z0-9-]+\\.example\\.com$`)"


def test_traefik_render_is_deterministic_and_matches_golden() -> None:
    state = RoutingState(
        "example.com",
        "http://127.0.0.1:8090",
        custom_domains={"www.shop.test": "shop", "blog.test": "blog"},
    )
    first = validate(render(state))
    assert first == validate(render(state))
    assert first == (GOLDEN / "traefik_dynamic.yml").read_text()


def test_traefik_render_of_the_empty_state_is_valid_and_has_no_empty_maps() -> None:
    text = validate(render(RoutingState("localhost", "http://127.0.0.1:8090")))
    assert text == (GOLDEN / "traefik_dynamic_empty.yml").read_text()
    assert "{}" not in text


def test_traefik_custom_domains_outrank_the_wildcard() -> None:
    routers = render(RoutingState("t.test", "http://e", custom_domains={"x.t.test": "x"}))["http"][
        "routers"
    ]
    wildcard = routers.pop("wharf-sites")
    assert all(router["priority"] > wildcard["priority"] for router in routers.values())


def _one_router(**router: object) -> dict[str, object]:
    """A config with one router (overridable) and one service."""
    base: dict[str, object] = {"rule": "Host(`a`)", "service": "s", "priority": 1}
    return {
        "http": {
            "routers": {"r": {**base, **router}},
            "services": {"s": {"loadBalancer": {"servers": [{"url": "http://x"}]}}},
        }
    }


def _gated() -> dict[str, object]:
    config = _one_router(middlewares=["gate"])
    config["http"]["middlewares"] = {"gate": {"basicAuth": {"users": ["bob:plain"]}}}  # type: ignore[index]
    return config


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"http": {}}, "empty map"),
        ({"http": {"routers": {}}}, "empty map"),
        (_one_router(rule="Host(`a`, `b`)"), "exactly one"),
        (_one_router(rule="HostRegexp(`a.test`)"), "anchored"),
        (_one_router(service="missing"), "not defined"),
        (_one_router(priority=0), "priority"),
        (_gated(), "user:hash"),
        (_one_router(entrypoints=["http"]), "schema"),
    ],
)
def test_traefik_validate_refuses_configs_that_would_break_traefik(
    config: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidConfig) as error:
        validate(config)
    assert problem in str(error.value)


def test_traefik_writer_stages_outside_the_watched_folder(tmp_path: Path) -> None:
    dynamic, staging = tmp_path / "dynamic", tmp_path / "staging"
    text = validate(render(RoutingState("localhost", "http://127.0.0.1:8090")))
    target = write_dynamic_config(text, dynamic, staging)
    assert target == dynamic / FILE_NAME
    assert [p.name for p in dynamic.iterdir()] == [FILE_NAME]
    assert list(staging.iterdir()) == []
    before = target.stat().st_mtime_ns
    write_dynamic_config(text, dynamic, staging)  # unchanged: not rewritten, no reload
    assert target.stat().st_mtime_ns == before
    assert yaml.safe_load(target.read_text())["http"]["routers"]["wharf-sites"]["priority"] == 10


def test_traefik_static_config_matches_traefiks_schema(tmp_path: Path) -> None:
    schema = json.loads(
        resources.files("controlplane.traefik")
        .joinpath("schemas/traefik-v3-static.json")
        .read_text()
    )
    static = render_static(
        ("127.0.0.1", 8080), ("127.0.0.1", 8443), ("127.0.0.1", 8081), tmp_path / "dynamic"
    )
    jsonschema.Draft7Validator(schema).validate(static)
    assert set(static["entryPoints"]) == {"http", "https", "traefik"}
    assert "certificatesResolvers" not in static
    acme = Resolvers(
        "https://ca.test/dir",
        "ops@example.test",
        tmp_path / "acme.json",
        "letsencrypt",
        "letsencrypt-dns",
        "exec",
        ("127.0.0.1:5353",),
    )
    ranges = cloudflare_ranges()
    full = render_static(
        ("127.0.0.1", 8080),
        ("127.0.0.1", 8443),
        ("127.0.0.1", 8081),
        tmp_path / "dynamic",
        acme=acme,
        trusted_ips=ranges,
    )
    jsonschema.Draft7Validator(schema).validate(full)
    resolvers = full["certificatesResolvers"]
    # TLS-ALPN-01: an httpChallenge would take /.well-known/acme-challenge/ from the edge.
    assert resolvers["letsencrypt"]["acme"]["tlsChallenge"] == {}
    assert "httpChallenge" not in resolvers["letsencrypt"]["acme"]
    assert resolvers["letsencrypt-dns"]["acme"]["dnsChallenge"]["provider"] == "exec"
    assert full["entryPoints"]["https"]["forwardedHeaders"]["trustedIPs"] == list(ranges)


def test_traefik_cloudflare_ranges_are_networks_of_both_families() -> None:
    networks = [ipaddress.ip_network(text) for text in cloudflare_ranges()]
    assert {network.version for network in networks} == {4, 6}
    assert any(ipaddress.ip_address("104.16.0.1") in network for network in networks)


def test_traefik_site_routers_are_the_wildcard_and_the_sites_own() -> None:
    state = RoutingState(
        "example.com",
        "http://127.0.0.1:8090",
        custom_domains={"www.shop.test": "shop", "blog.test": "blog"},
        pending_domains=("pending.test",),
    )
    shop = site_routers(state, "shop")
    blog = site_routers(state, "blog")
    assert "wharf-sites" in shop and "wharf-sites" in blog
    assert (shop - {"wharf-sites"}).isdisjoint(blog - {"wharf-sites"})
    assert shop | blog == set(render(state)["http"]["routers"]) - {
        name
        for name in render(state)["http"]["routers"]
        if name.startswith(("wharf-challenge", "wharf-acme"))
    }


async def test_traefik_writer_keeps_the_last_good_config_and_says_why(tmp_path: Path) -> None:
    writer = TraefikConfigWriter(tmp_path / "dynamic", tmp_path / "staging")
    good = RoutingState("example.com", "http://127.0.0.1:8090")
    await writer.sync(good)
    before = (tmp_path / "dynamic" / FILE_NAME).read_text()
    bad = RoutingState(
        "example.com",
        "http://127.0.0.1:8090",
        gates=(GateRoute("blog", "production", "basic", users=("bob:plaintext",)),),
    )
    with pytest.raises(InvalidConfig):
        await writer.sync(bad)
    assert (tmp_path / "dynamic" / FILE_NAME).read_text() == before
    assert writer.last_error is not None and "user:hash" in writer.last_error
    await writer.sync(good)
    assert writer.last_error is None


def test_traefik_control_host_gets_https_only_under_the_base_wildcard() -> None:
    secure = HostTls("wharf", redirect=True)
    for host, covered in (("wharf.example.com", True), ("wharf.other.test", False)):
        state = RoutingState(
            "example.com",
            "http://127.0.0.1:8090",
            control_url="http://127.0.0.1:8000",
            control_host=host,
            base_tls=secure,
        )
        routers = render(state)["http"]["routers"]
        assert ("wharf-controlplane-tls" in routers) is covered, host
        redirected = routers["wharf-controlplane"].get("middlewares") == ["wharf-redirect-https"]
        assert redirected is covered, host
