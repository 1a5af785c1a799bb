"""Property: hostile names are refused, and whatever is accepted renders a config Traefik loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.config import load_settings
from controlplane.domains.domain_service import validate_hostname
from controlplane.errors import Invalid
from controlplane.gates.gate_service import validate_username
from controlplane.names import validate_site_name
from controlplane.runtime.stack import traefik_process
from controlplane.traefik.config_writer import TraefikConfigWriter
from controlplane.traefik.render import GateRoute, RoutingState, render
from controlplane.traefik.validate import validate
from tests.harness.ports import free_port

pytestmark = pytest.mark.slow
BASE = "example.com"
# Letters, digits and separators that make valid names, mixed with everything that must never
# reach a rule: backticks, parentheses, ||, quotes, newlines, braces, look-alikes, spaces.
HOSTILE = st.sampled_from(
    [*"abcxyz019-.", "`", "(", ")", "||", "'", '"', "\n", "{{", "}}", " ", "а", "ο", "*", "_"]
)
NAMES = st.lists(HOSTILE, min_size=1, max_size=30).map("".join)
ACCEPTED_SITES: set[str] = set()
ACCEPTED_HOSTS: set[str] = set()
ACCEPTED_USERS: set[str] = set()
BCRYPT = "$2b$05$" + "a" * 53  # the shape of a stored gate password


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(NAMES, st.text(max_size=70)))
def test_traefik_property_gate_users_are_plain_names_or_refused(raw: str) -> None:
    try:
        username = validate_username(raw)
    except Invalid as error:
        assert error.status == 422
        return
    assert not set(username) & set(":`()'\"\n{} |$")
    ACCEPTED_USERS.add(username)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(NAMES)
def test_traefik_property_site_names_are_valid_labels_or_refused(raw: str) -> None:
    try:
        name = validate_site_name(raw)
    except Invalid as error:
        assert error.status == 422
        return
    assert name == raw and all(c.isascii() and (c.isalnum() or c == "-") for c in name)
    ACCEPTED_SITES.add(name)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(NAMES, NAMES.map(lambda name: name + ".test"), NAMES.map(lambda n: "*." + n)))
def test_traefik_property_hostnames_are_ldh_or_refused(raw: str) -> None:
    try:
        hostname = validate_hostname(raw, BASE, allow_wildcard=True)
    except Invalid as error:
        assert error.status == 422
        return
    labels = hostname.removeprefix("*.").split(".")
    assert all(label and label.isascii() for label in labels)
    assert not set(hostname) & set("`()'\"\n{} _|")
    ACCEPTED_HOSTS.add(hostname)


async def test_traefik_property_everything_accepted_loads_in_real_traefik(tmp_path: Path) -> None:
    # Always include a few known-good values, whatever hypothesis happened to draw.
    hosts = ACCEPTED_HOSTS | {"www.shop.test", "*.wild.test", "xn--bcher-kva.test"}
    sites = sorted(ACCEPTED_SITES | {"blog"})
    domains = {host: sites[index % len(sites)] for index, host in enumerate(sorted(hosts))}
    pending = tuple(f"pending-{index}.test" for index in range(5))
    users = tuple(f"{user}:{BCRYPT}" for user in sorted(ACCEPTED_USERS | {"alice"}))
    gates = (
        GateRoute(sites[0], "production", "basic", users=users),
        GateRoute(sites[-1], "previews", "password"),
    )
    state = RoutingState(
        BASE,
        "http://127.0.0.1:9",
        control_url="http://127.0.0.1:9",
        custom_domains=domains,
        pending_domains=pending,
        gates=gates,
    )
    validate(render(state))  # raises if anything accepted would break Traefik

    wharf = load_settings(
        {
            "data_dir": str(tmp_path / "data"),
            "http_listen": f"127.0.0.1:{free_port()}",
            "https_listen": f"127.0.0.1:{free_port()}",
            "traefik_api_listen": f"127.0.0.1:{free_port()}",
        },
        environ={},
    )
    writer = TraefikConfigWriter(wharf.traefik_watched_dir, wharf.traefik_staging_dir)
    routers = await writer.sync(state)
    assert len(routers) >= 1 + len(domains) + len(pending) + len(gates)
    print(
        f"{len(ACCEPTED_SITES)} site names, {len(ACCEPTED_HOSTS)} hostnames and"
        f" {len(ACCEPTED_USERS)} gate users accepted"
    )
    # traefik_process returns only once Traefik's API lists every router enabled.
    async with traefik_process(wharf, routers):
        pass
