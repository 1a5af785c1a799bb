"""DNS providers: Cloudflare against a local server speaking its API, and lego-style scripts."""

from __future__ import annotations

import asyncio
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from aiohttp import web

from controlplane.secrets import Secret
from controlplane.tls.dns_providers import (
    CloudflareDns,
    DnsProviderError,
    ExecDns,
    provider_from_config,
)

TOKEN = "cf-test-token-" + secrets.token_hex(8)
ZONES = {"zone-example": "example.com", "zone-other": "other.test"}


def _answer(result: Any, status: int = 200, errors: list[dict[str, Any]] | None = None) -> Any:
    """A response in Cloudflare's envelope."""
    body = {"success": not errors, "errors": errors or [], "messages": [], "result": result}
    return web.json_response(body, status=status)


def _error(status: int, code: int, message: str) -> Any:
    return _answer(None, status, [{"code": code, "message": message}])


@dataclass
class FakeCloudflare:
    """Zones and TXT records behind Cloudflare's documented v4 endpoints."""

    base_url: str = ""
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    zone_queries: list[str] = field(default_factory=list)
    fail_status: int | None = None
    delay: float = 0.0
    echo_authorization: bool = False

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.gate])
        app.router.add_get("/client/v4/zones", self.list_zones)
        app.router.add_get("/client/v4/zones/{zone}/dns_records", self.list_records)
        app.router.add_post("/client/v4/zones/{zone}/dns_records", self.create_record)
        app.router.add_delete("/client/v4/zones/{zone}/dns_records/{id}", self.delete_record)
        return app

    @web.middleware
    async def gate(self, request: web.Request, handler: Any) -> Any:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_status is not None:
            return _error(self.fail_status, 10000 + self.fail_status, "Internal server error")
        authorization = request.headers.get("Authorization", "")
        if authorization != f"Bearer {TOKEN}":
            # A careless proxy repeating what it was sent: the client must still hide it.
            detail = f" ({authorization})" if self.echo_authorization else ""
            return _error(403, 10000, "Authentication error" + detail)
        return await handler(request)

    def _zone(self, request: web.Request) -> str | None:
        zone_id = request.match_info["zone"]
        return ZONES.get(zone_id)

    async def list_zones(self, request: web.Request) -> Any:
        name = request.query.get("name")
        if name is not None:
            self.zone_queries.append(name)
        zones = [
            {"id": zone_id, "name": zone, "status": "active"}
            for zone_id, zone in ZONES.items()
            if name is None or zone == name
        ]
        return _answer(zones)

    async def list_records(self, request: web.Request) -> Any:
        if self._zone(request) is None:
            return _error(404, 7003, "Could not route to the zone")
        wanted = {key: request.query[key] for key in ("type", "name") if key in request.query}
        found = [
            record
            for record in self.records.values()
            if record["zone_id"] == request.match_info["zone"]
            and all(record[key] == value for key, value in wanted.items())
        ]
        return _answer(found)

    async def create_record(self, request: web.Request) -> Any:
        zone = self._zone(request)
        if zone is None:
            return _error(404, 7003, "Could not route to the zone")
        body = await request.json()
        name, content = body.get("name", ""), body.get("content", "")
        if body.get("type") != "TXT" or not (name == zone or name.endswith("." + zone)):
            return _error(400, 9000, "DNS name is invalid.")
        if not (body.get("ttl") == 1 or 60 <= body.get("ttl", 0) <= 86400):
            return _error(400, 9021, "Invalid TTL.")
        if any(r["name"] == name and r["content"] == content for r in self.records.values()):
            return _error(400, 81058, "An identical record already exists.")
        record = {
            "id": secrets.token_hex(16),
            "zone_id": request.match_info["zone"],
            "zone_name": zone,
            "type": "TXT",
            "name": name,
            "content": content,
            "ttl": body["ttl"],
        }
        self.records[record["id"]] = record
        return _answer(record)

    async def delete_record(self, request: web.Request) -> Any:
        record = self.records.get(request.match_info["id"])
        if record is None or record["zone_id"] != request.match_info["zone"]:
            return _error(404, 81044, "Record does not exist.")
        del self.records[record["id"]]
        return _answer({"id": record["id"]})

    def txt(self) -> set[tuple[str, str, str, int]]:
        """The records as (zone, name, content, ttl)."""
        return {(r["zone_name"], r["name"], r["content"], r["ttl"]) for r in self.records.values()}


@pytest.fixture
async def cloudflare(aiohttp_server: Any) -> FakeCloudflare:
    fake = FakeCloudflare()
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("/client/v4"))
    return fake


def _client(fake: FakeCloudflare, token: str = TOKEN, timeout: float = 2.0) -> CloudflareDns:
    return CloudflareDns(Secret(token), base_url=fake.base_url, timeout=timeout)


async def test_dns_providers_cloudflare_adds_and_removes_txt_in_parent_zone(
    cloudflare: FakeCloudflare,
) -> None:
    dns = _client(cloudflare)
    name = "_acme-challenge.a.example.com"
    # A wildcard and its apex share one challenge name: both values must stand together.
    await dns.add_txt(name, "value-one")
    await dns.add_txt(name + ".", "value-two")
    assert cloudflare.zone_queries[:2] == ["a.example.com", "example.com"]
    assert cloudflare.txt() == {
        ("example.com", name, "value-one", 120),
        ("example.com", name, "value-two", 120),
    }
    await dns.remove_txt(name + ".", "value-one")
    assert cloudflare.txt() == {("example.com", name, "value-two", 120)}
    await dns.remove_txt(name, "value-two")
    assert cloudflare.txt() == set()


async def test_dns_providers_cloudflare_add_of_identical_record_is_fine(
    cloudflare: FakeCloudflare,
) -> None:
    dns = _client(cloudflare)
    await dns.add_txt("_acme-challenge.other.test", "same")
    await dns.add_txt("_acme-challenge.other.test", "same")
    assert cloudflare.txt() == {("other.test", "_acme-challenge.other.test", "same", 120)}


async def test_dns_providers_cloudflare_remove_of_missing_record_is_fine(
    cloudflare: FakeCloudflare,
) -> None:
    await _client(cloudflare).remove_txt("_acme-challenge.example.com", "never-added")
    assert cloudflare.txt() == set()


async def test_dns_providers_cloudflare_unknown_zone_is_an_error(
    cloudflare: FakeCloudflare,
) -> None:
    with pytest.raises(DnsProviderError, match="no Cloudflare zone"):
        await _client(cloudflare).add_txt("_acme-challenge.www.unknown.test", "v")


async def test_dns_providers_cloudflare_wrong_token_is_an_error_without_the_token(
    cloudflare: FakeCloudflare,
) -> None:
    wrong = "wrong-token-" + secrets.token_hex(8)
    with pytest.raises(DnsProviderError, match="Authentication error") as caught:
        await _client(cloudflare, token=wrong).add_txt("_acme-challenge.example.com", "v")
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)
    assert "HTTP 403" in str(caught.value)


async def test_dns_providers_cloudflare_redacts_a_token_the_server_echoes(
    cloudflare: FakeCloudflare,
) -> None:
    cloudflare.echo_authorization = True
    wrong = "wrong-token-" + secrets.token_hex(8)
    with pytest.raises(DnsProviderError, match="Authentication error") as caught:
        await _client(cloudflare, token=wrong).remove_txt("_acme-challenge.example.com", "v")
    assert wrong not in str(caught.value)


async def test_dns_providers_cloudflare_server_error_is_an_error(
    cloudflare: FakeCloudflare,
) -> None:
    cloudflare.fail_status = 500
    with pytest.raises(DnsProviderError, match="HTTP 500: Internal server error"):
        await _client(cloudflare).add_txt("_acme-challenge.example.com", "v")


async def test_dns_providers_cloudflare_timeout_is_an_error(cloudflare: FakeCloudflare) -> None:
    cloudflare.delay = 1.0
    with pytest.raises(DnsProviderError, match=r"no answer within 0\.2 s"):
        await _client(cloudflare, timeout=0.2).add_txt("_acme-challenge.example.com", "v")


async def test_dns_providers_cloudflare_unreachable_is_an_error() -> None:
    # Port 9 (discard) on loopback: nothing listens there in a test environment.
    dns = CloudflareDns(Secret(TOKEN), base_url="http://127.0.0.1:9/client/v4", timeout=1.0)
    with pytest.raises(DnsProviderError, match="cannot reach the API"):
        await dns.add_txt("_acme-challenge.example.com", "v")


def _script(tmp_path: Path, body: str) -> Path:
    """An executable shell script in tmp_path."""
    path = tmp_path / "dns-hook.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


async def test_dns_providers_exec_calls_script_like_lego(tmp_path: Path) -> None:
    log = tmp_path / "calls.txt"
    dns = ExecDns(_script(tmp_path, f'printf "%s\\n" "$*" >> "{log}"\n'))
    await dns.add_txt("_acme-challenge.example.com", "abc-123")
    await dns.remove_txt("_acme-challenge.example.com.", "abc-123")
    assert log.read_text().splitlines() == [
        "present _acme-challenge.example.com. abc-123",
        "cleanup _acme-challenge.example.com. abc-123",
    ]


async def test_dns_providers_exec_failing_script_reports_stderr(tmp_path: Path) -> None:
    body = "echo noise >&2\necho 'zone example.com is locked' >&2\nexit 3\n"
    dns = ExecDns(_script(tmp_path, body))
    with pytest.raises(DnsProviderError, match="status 3") as caught:
        await dns.add_txt("_acme-challenge.example.com", "v")
    assert "zone example.com is locked" in str(caught.value)


async def test_dns_providers_exec_missing_script_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DnsProviderError, match="cannot run it"):
        await ExecDns(tmp_path / "absent.sh").add_txt("_acme-challenge.example.com", "v")


def _gone(pid: int) -> bool:
    """The process has exited (a zombie awaiting its new parent counts as exited)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


async def test_dns_providers_exec_kills_script_past_timeout(tmp_path: Path) -> None:
    # The script starts a child of its own: killing only the script would leave it running.
    body = (
        f'echo $$ > "{tmp_path}/script.pid"\nsleep 30 &\necho $! > "{tmp_path}/child.pid"\nwait\n'
    )
    dns = ExecDns(_script(tmp_path, body), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(DnsProviderError, match=r"still running after 0\.5 s"):
        await dns.add_txt("_acme-challenge.example.com", "v")
    assert time.monotonic() - started < 3
    pids = [int((tmp_path / name).read_text()) for name in ("script.pid", "child.pid")]
    for _ in range(40):
        if all(_gone(pid) for pid in pids):
            break
        await asyncio.sleep(0.05)
    assert all(_gone(pid) for pid in pids)


def test_dns_providers_config_builds_cloudflare() -> None:
    assert isinstance(provider_from_config("cloudflare", {"api_token": TOKEN}), CloudflareDns)


def test_dns_providers_config_builds_exec(tmp_path: Path) -> None:
    assert isinstance(provider_from_config("exec", {"script": str(_script(tmp_path, ""))}), ExecDns)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("route53", {}, "unknown DNS provider 'route53'"),
        ("cloudflare", {}, "needs the option api_token"),
        ("cloudflare", {"api_token": TOKEN, "apitoken": "x"}, "has no option apitoken"),
        ("exec", {}, "needs the option script"),
        ("exec", {"script": "/nonexistent/hook.sh"}, "not an executable file"),
    ],
)
def test_dns_providers_config_rejects_bad_settings(
    name: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(DnsProviderError, match=message) as caught:
        provider_from_config(name, options)
    assert TOKEN not in str(caught.value)
