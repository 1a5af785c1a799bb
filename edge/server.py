"""The edge's HTTP/1.1 server: httptools parsing, small files from memory, N workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httptools

from edge.metrics import WorkerStats, render
from edge.responder import EdgeConfig, Request, Responder, Response, Routed, http_date, plain

log = logging.getLogger("edge")

_REASONS = {
    200: b"OK", 206: b"Partial Content", 301: b"Moved Permanently", 302: b"Found",
    303: b"See Other", 304: b"Not Modified", 307: b"Temporary Redirect",
    308: b"Permanent Redirect", 400: b"Bad Request", 404: b"Not Found",
    405: b"Method Not Allowed", 410: b"Gone", 414: b"URI Too Long",
    416: b"Range Not Satisfiable", 431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
}  # fmt: skip
# Only these request headers matter to the rules; the rest are not even stored.
_WANTED = {
    b"host",
    b"accept",  # HTML or text for the edge's own 404s
    b"accept-encoding",
    b"if-none-match",
    b"if-modified-since",
    b"range",
    b"if-range",
    b"cookie",  # the release a visitor keeps while a canary split is in force
}
_CHUNK = 256 * 1024
_MAX_HEADER_BYTES = 16 * 1024
_CACHED_RESPONSES_MAX = 20_000


@dataclass(frozen=True)
class _Prepared:
    """A rendered response kept for reuse: everything but the Date and Connection lines."""

    status_line: bytes
    headers: bytes
    body: bytes
    status: int
    site: str
    release: tuple[str, str, str, str] | None


# (release dir, method, target, Accept-Encoding) -> prepared response. Keyed by the resolved
# release, so a swap of the live link is seen by the very next request.
_prepared: dict[tuple[object, ...], _Prepared] = {}


def _prepare(response: Response, head_only: bool) -> _Prepared:
    """Render a response's status line and headers once."""
    lines = [b"X-Wharf-Deploy: " + response.deploy.encode() + b"\r\n"]
    lines.extend(
        name.encode("latin-1") + b": " + value.encode("latin-1") + b"\r\n"
        for name, value in response.headers
    )
    # File answers carry their length (also for HEAD, whose body is empty); others their body's.
    length = response.length if response.length or response.file else len(response.body)
    if response.status != 304:
        lines.append(b"Content-Length: %d\r\n" % length)
    return _Prepared(
        status_line=b"HTTP/1.1 %d %s\r\n" % (response.status, _REASONS.get(response.status, b"OK")),
        headers=b"".join(lines),
        body=b"" if head_only or response.status == 304 else response.body,
        status=response.status,
        site=response.site,
        release=response.release,
    )


@dataclass(frozen=True)
class EdgeOptions:
    """How to listen and how many workers share the port."""

    host: str
    port: int
    workers: int
    # A connection that read nothing for this long while idle, or has not finished sending a
    # request begun this long ago, is closed (slowloris, forgotten keep-alives).
    idle_timeout: float = 60.0


class _Clock:
    """The Date header, formatted once a second rather than per response."""

    value = http_date().encode()
    now = time.monotonic()  # for idle timeouts: one-second resolution is plenty

    @classmethod
    def tick(cls, loop: asyncio.AbstractEventLoop) -> None:
        cls.value = http_date().encode()
        cls.now = time.monotonic()
        loop.call_later(1.0, cls.tick, loop)


# This worker's open connections, for the idle sweep.
_connections: set[HttpProtocol] = set()


class HttpProtocol(asyncio.Protocol):
    """One connection: parse requests in order, answer each, stream big files with back-pressure."""

    def __init__(self, responder: Responder, stats: WorkerStats, data_dir: Path) -> None:
        self.responder = responder
        self.stats = stats
        self.metrics_dir = data_dir / "edge" / "metrics"
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending: deque[tuple[Request, bool, float]] = deque()
        self.streaming = False
        self.stream_task: asyncio.Future[None] | None = None
        self.close_after_stream = False
        # A duplicate of the connection's socket for sendfile: the loop refuses watchers on
        # a transport's own descriptor, and a socket object can send with MSG_MORE.
        self.raw_socket: socket.socket | None = None
        self._reset()

    def _reset(self) -> None:
        self.reading = False  # between a request's first byte and its end
        self.request_began = self.last_read = _Clock.now
        self.url = b""
        self.headers: dict[str, str] = {}
        self.header_bytes = 0
        self.started = 0.0
        self.duplicate_host = False

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but behave as one.
        self.transport = transport  # type: ignore[assignment]
        self.last_read = _Clock.now
        _connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        _connections.discard(self)
        self.transport = None
        if self.raw_socket is not None:
            self.raw_socket.close()
            self.raw_socket = None

    def data_received(self, data: bytes) -> None:
        self.last_read = _Clock.now
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # the request was answered as plain HTTP/1.1; the upgrade is declined
        except httptools.HttpParserError:
            self._fail(431 if self.header_bytes > _MAX_HEADER_BYTES else 400)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset()
        self.reading = True
        self.request_began = _Clock.now
        self.started = time.perf_counter()

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > 8192:
            raise httptools.HttpParserError("request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > _MAX_HEADER_BYTES:
            raise httptools.HttpParserError("headers too large")
        lowered = name.lower()
        if lowered in _WANTED:
            key = lowered.decode("latin-1")
            if key in self.headers:
                if key == "host":
                    self.duplicate_host = True  # RFC 9112 3.2: more than one Host is a 400
                elif key == "cookie":  # several Cookie lines are one list (RFC 9113 8.2.3)
                    self.headers[key] += "; " + value.decode("latin-1")
                    return
            self.headers[key] = value.decode("latin-1")

    def on_message_complete(self) -> None:
        self.reading = False
        target = self.url.decode("latin-1")
        host = self.headers.get("host", "")
        if target.startswith(("http://", "https://")):
            # Absolute form (RFC 9112 3.2.2): its authority is the host.
            authority, _, rest = target.split("://", 1)[1].partition("/")
            target, host = "/" + rest, authority
        request = Request(
            method=self.parser.get_method().decode("latin-1"),
            target=target,
            host="" if self.duplicate_host else host,
            headers=self.headers,
        )
        self.pending.append((request, self.parser.should_keep_alive(), self.started))
        if not self.streaming:
            self._drain()

    # answering

    def _drain(self) -> None:
        """Answer queued requests in order; a streamed body holds back the ones behind it."""
        while self.pending and not self.streaming and self.transport is not None:
            request, keep_alive, started = self.pending.popleft()
            # Routed once: the key and the answer come from the same readlink of the live link.
            routed = self.responder.route(request)
            key = self.responder.cache_key(request, routed)
            prepared = _prepared.get(key) if key is not None else None
            if prepared is not None:
                self._write(prepared, keep_alive, started)
                continue
            response = self._respond(request, routed)
            if key is not None and response.file is None and response.status in (200, 301, 404):
                if len(_prepared) >= _CACHED_RESPONSES_MAX:
                    _prepared.clear()
                _prepared[key] = _prepare(response, request.method == "HEAD")
            self._send(request, response, keep_alive, started)

    def _write(self, prepared: _Prepared, keep_alive: bool, started: float) -> None:
        """Send a prepared response with today's Date."""
        transport = self.transport
        assert transport is not None
        ending = b"\r\n" if keep_alive else b"Connection: close\r\n\r\n"
        head = prepared.status_line + b"Date: " + _Clock.value + b"\r\n" + prepared.headers + ending
        if prepared.body:
            transport.writelines((head, prepared.body))
        else:
            transport.write(head)
        self.stats.record(
            prepared.site,
            prepared.status,
            len(prepared.body),
            time.perf_counter() - started,
            prepared.release,
        )
        if not keep_alive:
            transport.close()
            self.transport = None

    def _respond(self, request: Request, routed: Routed) -> Response:
        path = request.target.partition("?")[0]
        if path in ("/healthz", "/metrics") and self._service_host(request.host):
            if path == "/healthz":
                return plain(200, "ok")
            self.stats.flush()
            return Response(
                200,
                [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                render(self.metrics_dir),
            )
        try:
            return self.responder.handle(request, routed)
        except Exception:
            log.exception("request failed")
            failed = plain(500, "internal error")
            failed.release = routed.release  # a canary that fails must show in its counts
            return failed

    def _service_host(self, raw_host: str) -> bool:
        host = raw_host.lower().rpartition(":")[0] or raw_host.lower()
        return self.responder.hosts.is_service_host(host) or host == "localhost"

    def _send(self, request: Request, response: Response, keep_alive: bool, started: float) -> None:
        head_only = request.method == "HEAD" or response.status == 304
        prepared = _prepare(response, head_only)
        if response.file is None or head_only:
            self._write(prepared, keep_alive, started)
            return
        ending = b"\r\n" if keep_alive else b"Connection: close\r\n\r\n"
        head = prepared.status_line + b"Date: " + _Clock.value + b"\r\n" + prepared.headers + ending
        self.streaming = True
        self.stream_task = asyncio.ensure_future(self._stream(head, response, keep_alive, started))

    async def _stream(
        self, head: bytes, response: Response, keep_alive: bool, started: float
    ) -> None:
        """Send the head, then the file range with sendfile(2), straight to the socket."""
        assert response.file is not None
        transport = self.transport
        if transport is None:  # the client left before the body could start
            self.streaming = False
            return
        transport.pause_reading()
        sent = 0
        try:
            file_fd = os.open(response.file, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            log.warning("file vanished under a release", extra={"file": str(response.file)})
            self.close()
            return
        # The transport must have flushed earlier answers before we write around it.
        while transport.get_write_buffer_size() and self.transport is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.001)  # the transport tells of no flush; rare (pipelining)
        if self.raw_socket is None:
            self.raw_socket = socket.socket(
                fileno=os.dup(transport.get_extra_info("socket").fileno())
            )
        raw = self.raw_socket
        try:
            view = memoryview(head)
            while view and self.transport is not None:
                try:
                    # MSG_MORE: the head leaves in one segment with the file's first bytes.
                    view = view[raw.send(view, socket.MSG_MORE) :]
                except BlockingIOError:
                    await _writable(raw.fileno())
            offset, left = response.offset, response.length
            while left > 0 and self.transport is not None:
                try:
                    count = os.sendfile(raw.fileno(), file_fd, offset, left)
                except BlockingIOError:
                    await _writable(raw.fileno())
                    continue
                if count == 0:
                    break
                offset += count
                left -= count
                sent += count
        except OSError:
            sent = -1  # the client went away
        finally:
            os.close(file_fd)
        self.stats.record(
            response.site,
            response.status,
            max(sent, 0),
            time.perf_counter() - started,
            response.release,
        )
        self.streaming = False
        if self.transport is None:
            return
        if not keep_alive or sent != response.length or self.close_after_stream:
            self.close()
            return
        transport.resume_reading()
        self._drain()

    def expired(self, now: float, idle_timeout: float) -> bool:
        """Whether the connection waits on its client too long: idle, or mid-request."""
        if self.streaming or self.pending or self.transport is None:
            return False  # answering: back-pressure, not the client's silence, is the limit
        since = self.request_began if self.reading else self.last_read
        return now - since > idle_timeout

    def close(self) -> None:
        """Close the connection now."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def _fail(self, status: int) -> None:
        """Answer a request that could not be parsed, then close (after answers owed before it)."""
        if self.transport is None:
            return
        if self.streaming:
            self.pending.clear()
            self.close_after_stream = True
            return
        response = plain(status, "bad request")
        self._send(Request("GET", "/", ""), response, False, time.perf_counter())


async def _writable(fd: int) -> None:
    """Wait until a socket can take more bytes."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


def _listening_socket(options: EdgeOptions) -> socket.socket:
    """A socket on the edge address that every worker can bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((options.host, options.port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _serve_worker(config: EdgeConfig, options: EdgeOptions, ready: Any) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    responder = Responder(config)
    stats = WorkerStats(config.data_dir / "edge" / "metrics")
    _Clock.tick(loop)
    listener = await loop.create_server(
        lambda: HttpProtocol(responder, stats, config.data_dir),
        sock=_listening_socket(options),
    )
    if ready is not None:
        ready.set()

    async def flush_stats() -> None:
        while True:
            await asyncio.sleep(1.0)
            stats.flush()
            idle = [c for c in _connections if c.expired(_Clock.now, options.idle_timeout)]
            for connection in idle:
                connection.close()

    flusher = asyncio.ensure_future(flush_stats())
    await stop.wait()
    flusher.cancel()
    listener.close()
    await listener.wait_closed()
    stats.remove()


def run_worker(config: EdgeConfig, options: EdgeOptions, ready: Any = None) -> None:
    """One worker process: an event loop (uvloop when installed) serving until SIGTERM."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_serve_worker(config, options, ready))


def run_edge(config: EdgeConfig, options: EdgeOptions) -> int:
    """Start the workers, say where the edge listens, and stop them all on SIGINT/SIGTERM."""
    context = multiprocessing.get_context("fork")
    events = [context.Event() for _ in range(options.workers)]
    workers = [
        context.Process(target=run_worker, args=(config, options, event), daemon=True)
        for event in events
    ]
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for worker in workers:
        worker.start()
    for event in events:
        event.wait(timeout=30)
    print(
        f"edge listening on http://{options.host}:{options.port}/ with {options.workers} workers",
        flush=True,
    )
    while not stopping:
        time.sleep(0.2)
        for index, worker in enumerate(workers):
            if not worker.is_alive() and not stopping:
                log.error("an edge worker died; starting another", extra={"code": worker.exitcode})
                workers[index] = context.Process(
                    target=run_worker, args=(config, options, None), daemon=True
                )
                workers[index].start()
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            os.kill(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.join(timeout=10)
        if worker.is_alive():
            worker.kill()
    return 0
