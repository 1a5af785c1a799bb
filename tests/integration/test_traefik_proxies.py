"""The Traefik config Wharf writes loads, every router enabled, in the two Traefiks it meets in
production: Coolify's proxy (run with its flags) and the standalone one (traefik/traefik.yml)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from controlplane.config import Settings, load_settings
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.runtime.stack import edge_process, traefik_binary
from controlplane.traefik.config_writer import TraefikConfigWriter
from controlplane.traefik.render import GateRoute, HostTls, RoutingState, render
from controlplane.traefik.traefik_api import missing_or_disabled, router_status
from tests.harness.ports import free_port
from tests.harness.releases import install_release
from tests.harness.waiting import tail, wait_for
from tests.sites import site_files

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
UUID = "k4cw0s8ggw4c"
# What Coolify's generated proxy has (bootstrap/helpers/proxy.php generateDefaultProxyConfiguration,
# docs/coolify-source-notes.md §3): these entrypoints and this one resolver, nothing else.
COOLIFY_ENTRY_POINTS = {"http", "https"}
COOLIFY_RESOLVERS = {"letsencrypt"}
USER_HASH = "ann:$2b$05$" + "a" * 53


def coolify_settings(data_dir: Path) -> Settings:
    """The wharf service's settings as the Coolify template gives them, inside Coolify."""
    service = yaml.safe_load((ROOT / "docker-compose.coolify.yml").read_text())["services"]["wharf"]
    given = {
        "WHARF_BASE_DOMAIN": "sites.example.com",
        "WHARF_ADMIN_EMAIL": "ops@example.com",
        "SERVICE_URL_WHARF": "https://wharf-x8k2m4q.example.com",  # a URL, as Coolify makes it
    }

    def value(match: re.Match[str]) -> str:
        name, operator, default = match.group(1), match.group(2) or "", match.group(3) or ""
        return given.get(name, default if operator == ":-" else "generated-by-coolify-" + "x" * 48)

    environ = {}
    for line in service["environment"]:
        name, _, raw = line.partition("=")
        environ[name] = re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", value, raw)
    environ["WHARF_DATA_DIR"] = str(data_dir)
    environ["COOLIFY_RESOURCE_UUID"] = UUID  # Coolify puts it in every container's environment
    environ.pop("WHARF_DATABASE_URL")
    return load_settings(environ=environ)


def every_feature(settings: Settings) -> RoutingState:
    """A state using every kind of router Wharf renders, with the settings' names."""
    return RoutingState(
        settings.base_domain,
        settings.edge_upstream,
        control_url=settings.control_upstream,
        custom_domains={"www.shop.example": "shop", "docs.example": "blog"},
        pending_domains=("pending.example",),
        gates=(
            GateRoute(
                "shop", "production", "basic", users=(USER_HASH,), domains=("www.shop.example",)
            ),
            GateRoute("blog", "staging", "password"),
        ),
        base_tls=HostTls("traefik", redirect=True),
        domain_tls={"www.shop.example": HostTls("traefik", redirect=True, hsts_max_age=300)},
        cert_resolver=settings.traefik_cert_resolver,
        wildcard_resolver=settings.traefik_wildcard_resolver,
    )


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a nested document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


@asynccontextmanager
async def traefik(flags: list[str], api: str, expected: set[str], log: Path) -> AsyncIterator[None]:
    """Traefik run with these flags, ready once its API shows every expected router enabled."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            traefik_binary(), *flags, stdout=out, stderr=out
        )
    try:

        async def enabled() -> bool:
            assert process.returncode is None, f"traefik exited:\n{tail(log)}"
            try:
                async with aiohttp.ClientSession() as session:
                    status = await router_status(session, api)
            except aiohttp.ClientError:
                return False
            return not missing_or_disabled(expected, status)

        await wait_for(enabled, 20, log)
        yield
    finally:
        process.kill()  # a graceful stop waits out Traefik's 10 s grace time: nothing to keep
        await process.wait()


def test_traefik_coolify_settings_name_only_what_coolifys_proxy_has(tmp_path: Path) -> None:
    settings = coolify_settings(tmp_path)
    assert settings.edge_upstream == f"http://edge-{UUID}:8090"
    assert settings.control_upstream == f"http://wharf-{UUID}:8000"
    document = render(every_feature(settings))
    entry_points = {name for key, value in walk(document) if key == "entryPoints" for name in value}
    resolvers = {value for key, value in walk(document) if key == "certResolver"}
    assert entry_points == COOLIFY_ENTRY_POINTS
    assert resolvers == COOLIFY_RESOLVERS
    servers = {value for key, value in walk(document) if key == "url"}
    assert servers == {f"http://edge-{UUID}:8090", f"http://wharf-{UUID}:8000"}
    addresses = {value for key, value in walk(document) if key == "address"}  # forwardAuth
    assert addresses and all(a.startswith(f"http://wharf-{UUID}:8000/") for a in addresses)


async def test_traefik_coolify_proxy_loads_wharfs_file_every_router_enabled(
    tmp_path: Path,
) -> None:
    dynamic = tmp_path / "proxy" / "dynamic"  # the template mounts it at /traefik/dynamic
    dynamic.mkdir(parents=True)
    settings = coolify_settings(tmp_path / "data").replace(traefik_dynamic_dir=str(dynamic))
    # Coolify's own file in that folder: its catch-all (Server.php setupDefaultRedirect).
    (dynamic / "default_redirect_503.yaml").write_text(
        yaml.safe_dump(
            {
                "http": {
                    "routers": {
                        "catchall": {
                            "entryPoints": ["http", "https"],
                            "service": "noop",
                            "rule": "PathPrefix(`/`)",
                            "priority": 1,
                        }
                    },
                    "services": {"noop": {"loadBalancer": {"servers": [{"url": ""}]}}},
                }
            }
        )
    )
    writer = TraefikConfigWriter(settings.traefik_watched_dir, settings.traefik_staging_dir)
    assert settings.traefik_staging_dir.parent == dynamic  # one mount holds both
    routers = await writer.sync(every_feature(settings))
    http, api = free_port(), free_port()
    # Coolify's proxy command (proxy.php l.304-352), on loopback ports, without the Docker
    # provider (no engine here) and with its throttle left at Traefik's default; only the
    # API's insecure entrypoint is added, to observe the routers.
    flags = [
        "--ping=true",
        "--ping.entrypoint=http",
        "--api.dashboard=true",
        "--api.insecure=true",
        f"--entrypoints.traefik.address=127.0.0.1:{api}",
        f"--entrypoints.http.address=127.0.0.1:{http}",
        f"--entrypoints.https.address=127.0.0.1:{free_port()}",
        f"--providers.file.directory={dynamic}/",
        "--providers.file.watch=true",
        "--certificatesresolvers.letsencrypt.acme.httpchallenge=true",
        "--certificatesresolvers.letsencrypt.acme.httpchallenge.entrypoint=http",
        f"--certificatesresolvers.letsencrypt.acme.storage={tmp_path / 'proxy' / 'acme.json'}",
        # Nowhere: the test must not reach Let's Encrypt; a failed order only logs.
        f"--certificatesresolvers.letsencrypt.acme.caserver=https://127.0.0.1:{free_port()}/dir",
    ]
    log = tmp_path / "traefik.log"
    async with traefik(flags, f"http://127.0.0.1:{api}", routers, log):
        async with aiohttp.ClientSession() as session:
            status = await router_status(session, f"http://127.0.0.1:{api}")
        assert set(status) == routers and set(status.values()) == {"enabled"}
        text = log.read_text()
        assert "nonexistent certificate resolver" not in text, text


async def test_traefik_standalone_static_file_serves_the_sites_wharf_routes(tmp_path: Path) -> None:
    static = yaml.safe_load((ROOT / "traefik" / "traefik.yml").read_text())
    http, https, api = free_port(), free_port(), free_port()
    dynamic = tmp_path / "dynamic"
    # The file as it is, but on loopback ports and temp folders, and no Let's Encrypt.
    static["entryPoints"]["http"]["address"] = f"127.0.0.1:{http}"
    static["entryPoints"]["https"]["address"] = f"127.0.0.1:{https}"
    static["entryPoints"]["traefik"]["address"] = f"127.0.0.1:{api}"
    static["providers"]["file"]["directory"] = str(dynamic)
    acme = static["certificatesResolvers"]["letsencrypt"]["acme"]
    acme["storage"] = str(tmp_path / "acme.json")
    acme["caServer"] = f"https://127.0.0.1:{free_port()}/dir"
    config = tmp_path / "traefik.yml"
    config.write_text(yaml.safe_dump(static))

    settings = load_settings(
        {
            "data_dir": str(tmp_path / "data"),
            "edge_listen": f"127.0.0.1:{free_port()}",
            "traefik_dynamic_dir": str(dynamic),
        },
        environ={},
    )
    install_release(settings.data_dir, "blog", "aaaaaaaaaaa1", site_files("aaaaaaaaaaa1"))
    ReleaseFiles(settings.data_dir).activate("blog", "production", "aaaaaaaaaaa1")
    writer = TraefikConfigWriter(settings.traefik_watched_dir, settings.traefik_staging_dir)
    # The traefik TLS strategy on a custom domain: the file's resolver letsencrypt issues it.
    # (The base domain's wildcard needs the DNS-01 resolver docs/install-compose.md adds.)
    state = RoutingState(
        settings.base_domain,
        settings.edge_upstream,
        custom_domains={"docs.example": "blog"},
        domain_tls={"docs.example": HostTls("traefik", redirect=False)},
        cert_resolver=settings.traefik_cert_resolver,
    )
    assert settings.traefik_cert_resolver in static["certificatesResolvers"]
    routers = await writer.sync(state)
    log = tmp_path / "traefik.log"
    async with (
        edge_process(settings),
        traefik([f"--configFile={config}"], f"http://127.0.0.1:{api}", routers, log),
        aiohttp.ClientSession() as session,
    ):
        async with session.get(f"http://127.0.0.1:{api}/ping") as response:
            assert response.status == 200  # what the compose healthcheck asks
        async with session.get(
            f"http://127.0.0.1:{http}/", headers={"Host": "blog.localhost"}
        ) as response:
            assert response.status == 200
            assert response.headers["X-Wharf-Deploy"] == "aaaaaaaaaaa1"
        assert "nonexistent certificate resolver" not in log.read_text()
