"""Gates in the rendered Traefik config: middlewares, gated routers, priorities and names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from controlplane.traefik.render import GateRoute, RoutingState, render
from controlplane.traefik.validate import InvalidConfig, validate

GOLDEN = Path(__file__).parent / "golden"
# A fixed bcrypt hash (cost 5) of "password-1", so the golden file stays byte-for-byte the same.
HASH = "$2b$05$Nmp3Ygw.LD04cDujIeCmMeETLESkBt/qSQbuGoooCmFoVewyguFZO"
CONTROL = "http://127.0.0.1:8000"


def _state(*gates: GateRoute, **changes: Any) -> RoutingState:
    values: dict[str, Any] = {
        "control_url": CONTROL,
        "custom_domains": {"www.shop.test": "shop", "*.blog.test": "blog"},
        "gates": gates,
        **changes,
    }
    return RoutingState("example.com", "http://127.0.0.1:8090", **values)


GATES = (
    GateRoute("blog", "production", "basic", users=(f"alice:{HASH}", f"bob:{HASH}")),
    GateRoute("blog", "previews", "password"),
    GateRoute("shop", "production", "password", domains=("www.shop.test",)),
    GateRoute("shop", "staging", "basic", users=(f"carol:{HASH}",), domains=("*.shop.test",)),
)


def _routers(state: RoutingState) -> dict[str, Any]:
    routers: dict[str, Any] = render(state)["http"]["routers"]
    return routers


def _matching(routers: dict[str, Any], host: str, path: str = "/") -> list[tuple[int, str]]:
    """(priority, name) of the routers whose rule matches host and path, highest first."""
    found = []
    for name, router in routers.items():
        rule = router["rule"]
        hosts = re.findall(r"Host\(`([^`]*)`\)", rule)
        patterns = re.findall(r"HostRegexp\(`([^`]*)`\)", rule)
        prefixes = re.findall(r"PathPrefix\(`([^`]*)`\)", rule)
        host_ok = host in hosts or any(re.fullmatch(p, host) for p in patterns)
        if host_ok and all(path.startswith(prefix) for prefix in prefixes):
            found.append((router["priority"], name))
    return sorted(found, reverse=True)


def test_traefik_gates_render_matches_golden_and_validates() -> None:
    text = validate(render(_state(*GATES)))
    assert text == validate(render(_state(*reversed(GATES))))  # order-independent
    assert text == (GOLDEN / "traefik_dynamic_gates.yml").read_text()
    assert "$$" not in text  # the file provider takes `$` as it is (only Coolify labels double it)


def test_traefik_gates_off_leaves_no_trace() -> None:
    config = render(_state())
    assert "middlewares" not in config["http"]
    assert "wharf-controlplane" not in config["http"]["services"]
    assert not [name for name in config["http"]["routers"] if "gate" in name]
    validate(config)


@pytest.mark.parametrize(
    ("host", "path", "middleware", "service"),
    [
        ("blog.example.com", "/", "wharf-gate-blog-production-", "wharf-edge"),
        ("blog.example.com", "/.wharf/gate/login", "wharf-gate-blog-production-", "wharf-edge"),
        ("0123456789ab--blog.example.com", "/", "wharf-gate-blog-previews-", "wharf-edge"),
        ("0123456789ab--blog.example.com", "/.wharf/gate/login", None, "wharf-controlplane"),
        ("shop.example.com", "/", "wharf-gate-shop-production-", "wharf-edge"),
        ("shop.example.com", "/.wharf/gate/login", None, "wharf-controlplane"),
        ("www.shop.test", "/", "wharf-gate-shop-production-", "wharf-edge"),
        ("www.shop.test", "/.wharf/x", None, "wharf-controlplane"),
        ("shop--staging.example.com", "/", "wharf-gate-shop-staging-", "wharf-edge"),
        ("a.shop.test", "/", "wharf-gate-shop-staging-", "wharf-edge"),
        # Not gated: other environments, other sites, the ungated wildcard domain.
        ("blog--staging.example.com", "/", None, "wharf-edge"),
        ("0123456789ab--shop.example.com", "/", None, "wharf-edge"),
        ("news.example.com", "/.wharf/gate/login", None, "wharf-edge"),
        ("x.blog.test", "/", None, "wharf-edge"),
    ],
)
def test_traefik_gates_the_winning_router_per_host(
    host: str, path: str, middleware: str | None, service: str
) -> None:
    state = _state(*GATES, custom_domains={"www.shop.test": "shop", "*.blog.test": "blog"})
    routers = _routers(state)
    winner = routers[_matching(routers, host, path)[0][1]]
    assert winner["service"] == service
    names = winner.get("middlewares", [])
    if middleware is None:
        assert names == []
    else:
        assert len(names) == 1 and names[0].startswith(middleware)


def test_traefik_gates_exact_custom_host_beats_a_gated_wildcard_domain() -> None:
    # `www.shop.test` is its own (ungated) domain; `*.shop.test` is gated: the exact one wins.
    gate = GateRoute("shop", "staging", "basic", users=(f"c:{HASH}",), domains=("*.shop.test",))
    routers = _routers(_state(gate, custom_domains={"www.shop.test": "news", "*.shop.test": "x"}))
    assert _matching(routers, "www.shop.test")[0][1].startswith("wharf-domain-www-shop-test")
    assert _matching(routers, "a.shop.test")[0][1].startswith("wharf-gated-any-shop-test")


def test_traefik_gates_forward_auth_names_its_gate_and_trusts_traefik_headers() -> None:
    middlewares = render(_state(*GATES))["http"]["middlewares"]
    forward = [m["forwardAuth"] for m in middlewares.values() if "forwardAuth" in m]
    assert sorted(f["address"] for f in forward) == [
        f"{CONTROL}/.wharf/gate/check/blog/previews",
        f"{CONTROL}/.wharf/gate/check/shop/production",
    ]
    assert all(f["trustForwardHeader"] is True for f in forward)
    assert all("authResponseHeaders" not in f for f in forward)


def test_traefik_gates_previews_regexp_is_anchored_to_the_site() -> None:
    routers = _routers(_state(GateRoute("blog", "previews", "basic", users=(f"a:{HASH}",))))
    (rule,) = [r["rule"] for n, r in routers.items() if n.startswith("wharf-gated-")]
    pattern = re.fullmatch(r"HostRegexp\(`(.*)`\)", rule)
    assert pattern is not None
    regexp = re.compile(pattern[1])
    assert regexp.search("0123456789ab--blog.example.com")
    for other in (
        "0123456789ab--blog.example.com.evil.test",
        "x.0123456789ab--blog.example.com",
        "0123456789ab--blogs.example.com",
        "0123456789ab--blog-example.com",
        "blog.example.com",
        "blog--staging.example.com",
    ):
        assert not regexp.search(other), other


def test_traefik_gates_previews_of_a_site_named_staging_are_not_rendered() -> None:
    # `<id>--staging.<base>` is the staging host of site <id> (the edge reads it so).
    routers = _routers(_state(GateRoute("staging", "previews", "basic", users=(f"a:{HASH}",))))
    assert not [name for name in routers if "gate" in name]


@pytest.mark.parametrize(
    ("gate", "changes"),
    [
        (GateRoute("blog", "production", "password"), {"control_url": None}),
        (GateRoute("blog", "production", "basic"), {}),  # no users
        (GateRoute("Blog`)", "production", "password"), {}),
        (GateRoute("a--b", "production", "password"), {}),
        (GateRoute("blog", "everything", "password"), {}),
        (GateRoute("blog", "production", "open"), {}),
        (GateRoute("blog", "production", "basic", domains=("evil`)",)), {}),
    ],
)
def test_traefik_gates_refuse_unsafe_input(gate: GateRoute, changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        render(_state(gate, **changes))


def test_traefik_gates_names_are_short_and_distinct() -> None:
    long_site = "s" * 63
    gates = [
        GateRoute(long_site, environment, "password", domains=("a" * 60 + ".test",))
        for environment in ("production", "staging")
    ] + [GateRoute(long_site, "previews", "password")]
    config = render(_state(*gates))
    names = [*config["http"]["routers"], *config["http"]["middlewares"]]
    assert all(len(name) <= 63 and "@" not in name for name in names)
    assert len(set(names)) == len(names)
    validate(config)


def test_traefik_validate_refuses_bad_gate_middlewares() -> None:
    config = render(_state(*GATES))
    middlewares = config["http"]["middlewares"]
    basic = next(name for name, m in middlewares.items() if "basicAuth" in m)
    forward = next(name for name, m in middlewares.items() if "forwardAuth" in m)
    middlewares[basic]["basicAuth"]["users"] = []
    middlewares[forward]["forwardAuth"]["address"] = "ftp://x"
    with pytest.raises(InvalidConfig) as error:
        validate(config)
    assert "basicAuth has no users" in str(error.value)
    assert "forwardAuth address" in str(error.value)
