"""Hostile requests as raw bytes: every one gets a 4xx and never a byte from outside the release."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.edge_harness import (
    Edge,
    RawResponse,
    exchange,
    publish,
    read_response,
    running_edge,
)
from tests.harness.releases import install_release
from tests.sites import site_files

DEPLOY = "d0d0d0d0d0d0"
OTHER = "e1e1e1e1e1e1"  # a release of another site
SECRET = b"WHARF-TEST-SECRET-7f3a\n"
BIG_SECRET = b"WHARF-BIG-SECRET-0042\n" * 20_000  # over 256 KiB: the sendfile path
BIG = random.Random(3).randbytes(400_000)


@dataclass
class Hostile:
    """An edge serving a release that has symlinks planted in it pointing at secrets."""

    edge: Edge
    data: Path
    release: Path

    async def send(self, raw: bytes) -> RawResponse:
        """Send raw bytes on a fresh connection and read one response."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.edge.port)
        try:
            writer.write(raw)
            return await asyncio.wait_for(read_response(reader), 5)
        finally:
            writer.close()


def _plant(release: Path, name: str, target: Path) -> None:
    """A symlink in the release's site folder, listed in its manifest like a real file."""
    link = release / "site" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)
    manifest = json.loads((release / "manifest.json").read_text())
    if target.is_file():
        entries = [(name, target.read_bytes())]
    else:
        entries = [(f"{name}/{child.name}", child.read_bytes()) for child in target.iterdir()]
    for path, content in entries:
        manifest["files"].append(
            {
                "path": path,
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "content_type": "text/plain",
            }
        )
    (release / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
async def hostile(tmp_path: Path) -> AsyncIterator[Hostile]:
    data = tmp_path / "data"
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "secret.txt").write_bytes(SECRET)
    (secrets_dir / "big-secret.txt").write_bytes(BIG_SECRET)
    release = install_release(data, "blog", DEPLOY, site_files(DEPLOY, {"big.bin": BIG}))
    # Planted after the build, and listed in the manifest: the edge believes they are files.
    _plant(release, "leak.txt", secrets_dir / "secret.txt")
    _plant(release, "big-leak.txt", secrets_dir / "big-secret.txt")
    _plant(release, "linked", secrets_dir)
    install_release(data, "other", OTHER, site_files(OTHER))
    publish(data, "blog", "production", DEPLOY)
    publish(data, "other", "production", OTHER)
    async with running_edge(data) as edge:
        yield Hostile(edge, data, release)


def _assert_refused(answer: RawResponse | bytes) -> None:
    """A 4xx that carries nothing from outside the release."""
    raw = answer if isinstance(answer, bytes) else answer.head + answer.body
    assert b"WHARF-TEST-SECRET" not in raw
    assert b"WHARF-BIG-SECRET" not in raw
    assert b"root:" not in raw
    if isinstance(answer, RawResponse):
        assert 400 <= answer.status < 500, answer
    else:
        assert raw.startswith(b"HTTP/1.1 4"), raw[:200]


def _get(target: bytes, host: bytes = b"blog.localhost") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"


TARGETS = [
    b"/../../etc/passwd",
    b"/../../../../../../../../etc/passwd",
    b"/%2e%2e/%2e%2e/etc/passwd",
    b"/%2E%2E%2Fetc%2Fpasswd",
    b"/.%2e/.%2e/.%2e/etc/passwd",
    b"/a%2fb",
    b"/..%5c..%5cetc",
    b"/..\\..\\etc\\passwd",
    b"/\\etc\\passwd",
    b"/%00",
    b"/index.html%00.txt",
    b"/a\x00b",
    b"/" + b"a" * 3000,
    b"/" + b"a" * 10_000,
    b"/%ff%fe",
    b"/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",  # overlong UTF-8 dots
    b"/%252e%252e/%252e%252e/etc/passwd",  # double encoding: a literal '%2e%2e' folder
    b"//etc/passwd",
    b"/./index.html",
    b"/assets/../../../etc/passwd",
    b"/manifest.json",  # release metadata lives beside site/, never in it
    b"/rules.json",
    b"/../manifest.json",
    b"/.well-known/acme-challenge/../../../etc/passwd",
    b"/.well-known/acme-challenge/%2e%2e%2f%2e%2e%2fsecrets%2fsecret.txt",
    b"/.well-known/acme-challenge/..",
    b"*",
    b"etc/passwd",
    b"/%0d%0aSet-Cookie:%20x=1",
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: repr(target[:40])[2:-1])
async def test_edge_refuses_hostile_paths(hostile: Hostile, target: bytes) -> None:
    answer = await hostile.send(_get(target))
    _assert_refused(answer)
    assert answer.header("Set-Cookie") is None


HOSTS = [
    b"..",
    b"../..",
    b"blog..localhost",
    b"../../etc/passwd",
    b"blog.localhost/../../etc",
    b"bl og.localhost",
    b"blog .localhost",
    b"under_score.localhost",
    b"a" * 300,
    b"a" * 64 + b".localhost",
    b".".join([b"a" * 60] * 5),
    "blög.localhost".encode(),
    "ブログ.localhost".encode(),
    b"blog.localhost:80:80",
    b"blog.localhost:-1",
    b"[::1",
    b"%2e%2e.localhost",
    b"..--blog.localhost",
]


@pytest.mark.parametrize("host", HOSTS, ids=lambda host: repr(host[:30])[2:-1])
async def test_edge_refuses_hostile_hosts(hostile: Hostile, host: bytes) -> None:
    answer = await hostile.send(_get(b"/", host))
    _assert_refused(answer)
    assert answer.header("X-Wharf-Deploy") == "none"


@pytest.mark.parametrize(
    ("name", "path"),
    [
        pytest.param("small file", b"/leak.txt"),
        pytest.param("large file", b"/big-leak.txt"),
        pytest.param("small file in a linked folder", b"/linked/secret.txt"),
        pytest.param("large file in a linked folder", b"/linked/big-secret.txt"),
    ],
)
async def test_edge_never_follows_a_symlink_out_of_the_release(
    hostile: Hostile, name: str, path: bytes
) -> None:
    raw = await exchange(hostile.edge.port, _get(path), patience=3)
    assert raw, f"{name}: the edge closed the connection without an answer"
    _assert_refused(raw)


async def test_edge_serves_nothing_when_the_live_link_points_outside_releases(
    hostile: Hostile,
) -> None:
    assert (await hostile.send(_get(b"/"))).status == 200
    live = hostile.data / "live" / "blog" / "production"
    for target in ("../../../etc", "../../releases/other/" + OTHER, str(hostile.release)):
        temp = live.with_name(".edit")
        os.symlink(target, temp)
        os.replace(temp, live)
        for path in (b"/", b"/passwd", b"/index.html"):
            answer = await hostile.send(_get(path))
            _assert_refused(answer)
            assert answer.status == 404
            assert f"Hello from release {OTHER}".encode() not in answer.body, target


async def test_edge_answers_huge_headers_with_431(hostile: Hostile) -> None:
    one_big = _get(b"/")[:-2] + b"X-Big: " + b"x" * 17_000 + b"\r\n\r\n"
    many = _get(b"/")[:-2] + b"".join(b"X-H%d: %s\r\n" % (i, b"y" * 100) for i in range(200))
    for raw in (one_big, many + b"\r\n"):
        answer = await hostile.send(raw)
        _assert_refused(answer)
        assert answer.status in (400, 431)
        assert answer.header("Connection") == "close"


@pytest.mark.parametrize(
    "raw",
    [
        b"hello there\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost blog.localhost\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: blog.localhost\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: blog.localhost\r\nContent-Length: -1\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\n\r\n",
        b"\r\n\r\n\x00\x00\x00\x00\r\n\r\n",
    ],
    ids=["text", "tls", "no-colon", "smuggling", "negative-length", "del", "nuls"],
)
async def test_edge_answers_garbage_with_400_and_closes(hostile: Hostile, raw: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", hostile.edge.port)
    try:
        writer.write(raw)
        received = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    finally:
        writer.close()
    _assert_refused(received)
    assert received.startswith(b"HTTP/1.1 400 ")


async def test_edge_refuses_two_host_headers(hostile: Hostile) -> None:
    answer = await hostile.send(
        b"GET / HTTP/1.1\r\nHost: nosuch.localhost\r\nHost: blog.localhost\r\n"
        b"Connection: close\r\n\r\n"
    )
    assert answer.status == 400


async def test_edge_garbage_after_a_streamed_file_comes_after_its_answer(
    hostile: Hostile,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", hostile.edge.port)
    try:
        writer.write(
            b"GET /big.bin HTTP/1.1\r\nHost: blog.localhost\r\n\r\nNOT HTTP AT ALL\r\n\r\n"
        )
        first = await asyncio.wait_for(read_response(reader), 5)
    finally:
        writer.close()
    assert first.status == 200
    assert first.body == BIG


async def test_edge_answers_an_upgrade_request_once(hostile: Hostile) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", hostile.edge.port)
    try:
        writer.write(
            b"GET / HTTP/1.1\r\nHost: blog.localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
        )
        answer = await asyncio.wait_for(read_response(reader), 5)
        # Nothing more may follow: a second answer would be read as the next request's.
        extra = b""
        with contextlib.suppress(TimeoutError):
            extra = await asyncio.wait_for(reader.read(), 1)
    finally:
        writer.close()
    assert answer.status in (200, 400)
    assert extra == b""


async def _closed_after(
    reader: asyncio.StreamReader, trickle: Callable[[], Awaitable[None]]
) -> float:
    """Seconds until the server closes the connection while trickle() keeps it busy."""
    started = time.monotonic()
    closed = asyncio.ensure_future(reader.read())
    while not closed.done():
        await trickle()
        await asyncio.wait({closed}, timeout=0.3)
    assert closed.result() == b""  # closed without an answer
    return time.monotonic() - started


async def test_edge_closes_silent_and_slowloris_connections(tmp_path: Path) -> None:
    async with running_edge(tmp_path, idle_timeout=2) as edge:
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)

        async def nothing() -> None:
            return None

        assert await asyncio.wait_for(_closed_after(reader, nothing), 6) < 4.5
        writer.close()
        # A request whose headers trickle in, a line every 0.3 s, never ends: closed as well.
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: blog.localhost\r\n")

        async def header_line() -> None:
            with contextlib.suppress(ConnectionError):
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()

        assert await asyncio.wait_for(_closed_after(reader, header_line), 7) < 5.5
        writer.close()
        # A connection in use keeps working past the timeout, request after request.
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        for _ in range(8):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            response = await read_response(reader)
            assert response.status == 200
            await asyncio.sleep(0.5)
        writer.close()
