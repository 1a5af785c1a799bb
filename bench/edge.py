"""Edge benchmark: `wharf edge` against nginx on one generated site, a canary split's cost, and
an edge worker's memory.

Builds one release with files of 1 KB, 8 KB, 100 KB and 2 MB in a temporary data directory,
serves it from nginx and from `wharf edge` with the same number of workers (2), and loads each
file with `wrk -t2 -c64 --latency`, nginx then the edge, size by size, in the same run: only the
ratio edge/nginx is comparable across machines (wrk shares the cores with the servers). The same
edge also serves a second site, `canary`, with a canary split in force (10 %) between two copies
of that release; it is loaded right after the plain site, as new visitors (no cookie: every
request is drawn and assigned) against the plain site loaded the same way, and as returning
visitors (the release cookie sent: the steady state) against the plain site loaded with the same
Cookie header (a header costs the edge about 1.5 µs whatever it says); requests/s and the CPU
time the edge's workers spend per request are shown. Those move by ±10 % between rounds on a
shared machine, more than a split costs, so the split is judged on a steadier measure taken after
the servers stop: the CPU time one edge worker's protocol spends per request in this process,
on a transport that discards what it is given (no sockets, no wrk), over the smallest file.
While wrk loads the edge, the resident memory of every edge worker is sampled every 0.1 s.

Installs nothing: it needs `wrk` and `nginx` on the PATH (`make bench` installs both from Debian).
Run it with `.venv/bin/python bench/edge.py [--duration 8] [--connections 64] [--sizes 1k,8k]
[--rounds 3]` (`--help` lists the rest). It prints a table and exits 0 when every target is met,
1 when one is missed or a server fails, 2 when a tool is missing.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import functools
import http.client
import importlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from pathlib import Path
from typing import Any

import psutil

from controlplane.deploys.release_files import ReleaseFiles
from controlplane.deploys.release_tree import BuildOptions, build_release

SITE = "bench"
HOST = f"{SITE}.localhost"  # the edge's default base domain is `localhost`
CANARY_SITE = "canary"
CANARY_HOST = f"{CANARY_SITE}.localhost"
CANARY_PERCENT = 10
# In process, a returning visitor's request to a split site may cost the edge no more than this
# times the same request to a plain site; a new visitor's (drawn, and given the cookie: the first
# request of a visit only) no more than CANARY_NEW_TARGET times a plain one.
CANARY_TARGET = 1.05
CANARY_NEW_TARGET = 1.15
ROOT = Path(__file__).resolve().parents[1]
RSS_LIMIT_MB = 80.0
WORDS = ["wharf", "release", "deploy", "static", "site", "edge", "traefik", "symlink", "atomic"]


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One benchmarked file: its size key, URL path, exact length and the ratio target."""

    key: str
    label: str
    path: str
    size: int
    target: float


FILES = {
    spec.key: spec
    for spec in (
        FileSpec("1k", "1 KB", "/f1k.html", 1024, 0.8),
        FileSpec("8k", "8 KB", "/f8k.css", 8 * 1024, 0.8),
        FileSpec("100k", "100 KB", "/f100k.js", 100 * 1024, 0.9),
        FileSpec("2m", "2 MB", "/f2m.jpg", 2 * 1024 * 1024, 0.9),
    )
}


@dataclasses.dataclass(frozen=True)
class WrkResult:
    """What one wrk run reported."""

    requests_per_second: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    requests: int = 0
    # CPU time (user + system) the server's workers spent per request, in µs, when measured:
    # unlike requests/s it hardly moves with what neighbours take on a shared machine.
    cpu_us: float | None = None


@dataclasses.dataclass
class Server:
    """A server process under test and where it listens."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: collections.deque[str]


def parse_args() -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run (8)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server (2)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per URL (1)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate nginx and edge this many times per size and keep each one's best (1)",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(FILES),
        help=f"comma-separated subset of {','.join(FILES)} (all)",
    )
    args = parser.parse_args()
    if min(args.duration, args.workers, args.rounds) < 1 or args.warmup < 0:
        parser.error("--duration, --workers and --rounds take at least 1, --warmup at least 0")
    if not 1 <= args.threads <= args.connections:
        parser.error("wrk needs 1 <= --threads <= --connections")
    args.sizes = [size.strip().lower() for size in args.sizes.split(",") if size.strip()]
    unknown = [size for size in args.sizes if size not in FILES]
    if unknown or not args.sizes:
        parser.error(f"--sizes takes a subset of {','.join(FILES)}; got {unknown or 'nothing'}")
    return args


def find_tool(name: str) -> str | None:
    """A tool on the PATH, or in the sbin folders a non-root PATH often lacks (nginx)."""
    path = os.environ.get("PATH", os.defpath) + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def free_port() -> int:
    """A port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def file_body(spec: FileSpec, rng: random.Random) -> bytes:
    """Exactly spec.size bytes of realistic content: text for pages and assets, noise for images."""
    if spec.path.endswith(".jpg"):
        return rng.randbytes(spec.size)
    head, tail = {
        ".html": ("<!doctype html><title>bench</title><p>", "</p>\n"),
        ".css": (".bench { content: '", "'; }\n"),
        ".js": ("var bench = '", "';\n"),
    }[Path(spec.path).suffix]
    room = spec.size - len(head) - len(tail)
    words: list[str] = []
    length = 0
    while length < room:
        words.append(rng.choice(WORDS) + str(rng.randrange(1000)))
        length += len(words[-1]) + 1
    filler = " ".join(words)[:room]
    data = (head + filler + tail).encode()
    assert len(data) == spec.size
    return data


@dataclasses.dataclass(frozen=True)
class Contender:
    """One thing wrk loads: a server, the Host it asks for, and headers sent with every request."""

    name: str
    server: Server
    host: str = HOST
    headers: tuple[str, ...] = ()
    workers_measured: bool = False


def make_release(work: Path, specs: list[FileSpec]) -> tuple[Path, Path, dict[str, bytes], str]:
    """Build the site into a data directory and make it live; also the canary site, two copies
    of the release with a split between them. The data dir, site folder, bodies, and the
    canary site's stable deploy id."""
    rng = random.Random(42)
    source = work / "src"
    source.mkdir()
    bodies: dict[str, bytes] = {}
    for spec in specs:
        bodies[spec.path] = file_body(spec, rng)
        (source / spec.path.lstrip("/")).write_bytes(bodies[spec.path])
    (source / "index.html").write_text("<!doctype html><title>bench</title><h1>Bench</h1>\n")
    data = work / "data"
    files = ReleaseFiles(data)
    files.ensure_dirs()
    deploy_id = secrets.token_hex(6)
    release = files.release_path(SITE, deploy_id)
    # No precompressed variants: wrk sends no Accept-Encoding, and nginx serves the same tree.
    options = BuildOptions(minify=False, precompress=False)
    build_release(source, release / "site", options, manifest=release / "manifest.json")
    rules = {"version": 1, "redirects": [], "headers": []}
    (release / "rules.json").write_text(json.dumps(rules))
    files.activate(SITE, "production", deploy_id)
    stable, canary = secrets.token_hex(6), secrets.token_hex(6)
    for copy in (stable, canary):
        shutil.copytree(release, files.release_path(CANARY_SITE, copy))
    files.activate(CANARY_SITE, "production", stable)
    files.set_canary(CANARY_SITE, "production", canary, CANARY_PERCENT)
    return data, release / "site", bodies, stable


def nginx_config(nginx: str, prefix: Path, root: Path, port: int, workers: int) -> str:
    """An nginx.conf that keeps every path inside prefix and serves root on the port."""
    built = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=True).stderr
    # Debian compiles absolute temp paths under /var/lib/nginx; a module compiled out has no
    # directive to move its path, and naming it would be a config error.
    temp_paths = [f"client_body_temp_path {prefix}/body;"]
    for module in ("proxy", "fastcgi", "uwsgi", "scgi"):
        if f"--without-http_{module}_module" not in built:
            temp_paths.append(f"{module}_temp_path {prefix}/{module};")
    mime = Path("/etc/nginx/mime.types")
    lines = [
        # As root, workers would drop to `nobody`, which cannot enter the 0700 temp directory.
        "user root;" if os.geteuid() == 0 else "",
        f"worker_processes {workers};",
        "daemon off;",
        f"pid {prefix}/nginx.pid;",
        f"error_log {prefix}/error.log warn;",
        "events { worker_connections 1024; }",
        "http {",
        f"    include {mime};" if mime.is_file() else "",
        "    default_type application/octet-stream;",
        "    access_log off;",
        "    sendfile on;",
        "    tcp_nopush on;",
        "    keepalive_requests 100000;",
        *(f"    {line}" for line in temp_paths),
        "    server {",
        f"        listen 127.0.0.1:{port} reuseport;",
        f"        root {root};",
        "    }",
        "}",
    ]
    return "\n".join(line for line in lines if line) + "\n"


def start(
    name: str,
    command: list[str],
    port: int,
    ready: str = "",
    env: dict[str, str] | None = None,
    log_file: Path | None = None,
) -> Server:
    """Start a server in its own process group; return once it answers, or raise with its log."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # a Ctrl-C reaches only us, and the group can be stopped whole
    )
    server = Server(name, process, port, collections.deque(maxlen=40))
    announced = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:  # keep reading, so a chatty server never blocks on the pipe
            line = raw.decode(errors="replace").rstrip()
            server.log.append(line)
            if ready and ready in line:
                announced.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    why = f"did not {'print ' + repr(ready) if ready else 'listen'} within 30 s"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            why = f"exited with status {process.returncode}"
            break
        if (not ready or announced.is_set()) and port_answers(port):
            return server
        time.sleep(0.05)
    stop(server)
    reader.join(timeout=2)
    lines = list(server.log)
    if log_file is not None and log_file.is_file():
        lines += log_file.read_text(errors="replace").splitlines()[-20:]
    raise RuntimeError("\n".join([f"{name} {why}; its output:", *lines]))


def port_answers(port: int) -> bool:
    """Whether something accepts connections on the loopback port."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def stop(server: Server, stop_signal: int = signal.SIGTERM) -> None:
    """Stop a server and every process of its group (its workers), whatever happens."""
    process = server.process
    if process.poll() is None:
        process.send_signal(stop_signal)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print(f"{server.name} ignored {signal.Signals(stop_signal).name}; killing it")
    # Workers that outlive their parent are still in the group the parent led.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def edge_command(data: Path, port: int, workers: int) -> tuple[list[str], dict[str, str]]:
    """The `wharf edge` command line and environment serving the data directory on the port."""
    command = [
        *(sys.executable, "-m", "controlplane.cli", "edge"),
        *("--data-dir", str(data)),
        *("--edge-listen", f"127.0.0.1:{port}"),
        *("--edge-workers", str(workers)),
    ]
    env = {
        **os.environ,
        "WHARF_DATA_DIR": str(data),
        "WHARF_EDGE_LISTEN": f"127.0.0.1:{port}",
        "WHARF_EDGE_WORKERS": str(workers),
        "WHARF_BASE_DOMAIN": "localhost",
        "WHARF_LOG_LEVEL": "warning",
    }
    return command, env


def check_files(server: Server, bodies: dict[str, bytes], host: str = HOST) -> None:
    """Raise unless every file comes back 200 with exactly its bytes (no benchmark of 404s)."""
    for path, body in bodies.items():
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request("GET", path, headers={"Host": host})
            response = connection.getresponse()
            got = response.read()
        except (OSError, http.client.HTTPException) as exc:
            log = "\n".join(server.log)
            raise RuntimeError(
                f"{server.name} failed GET {path}: {exc!r}; its output:\n{log}"
            ) from exc
        finally:
            connection.close()
        if response.status != 200 or got != body:
            raise RuntimeError(
                f"{server.name} answered GET {path} with {response.status} and {len(got)} bytes"
                f" (expected 200 and {len(body)} bytes): {got[:200]!r}"
            )


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str) -> WrkResult:
    """Requests/s, the 99th percentile latency and the error counts from wrk's report."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    done = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    if rate is None or p99 is None:
        raise RuntimeError(f"cannot read wrk's report:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests_per_second=float(rate[1]),
        p99_ms=float(p99[1]) * _UNITS_MS[p99[2]],
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(count) for count in errors.groups()) if errors else 0,
        requests=int(done[1]) if done else 0,
    )


def check_canary(server: Server, stable: str) -> None:
    """Raise unless the canary site is really split: a cookie and both releases answer."""
    seen: dict[str, int] = {}
    for _ in range(200):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request("GET", "/", headers={"Host": CANARY_HOST})
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        if not (response.getheader("Set-Cookie") or "").startswith("wharf_release="):
            raise RuntimeError(
                f"the canary site answered without a release cookie: {response.status}"
            )
        deploy = response.getheader("X-Wharf-Deploy") or "none"
        seen[deploy] = seen.get(deploy, 0) + 1
    if len(seen) != 2 or stable not in seen:
        raise RuntimeError(f"the canary site is not split between two releases: {seen}")


def run_wrk(
    wrk: str, contender: Contender, path: str, seconds: int, args: argparse.Namespace
) -> WrkResult:
    """One wrk run against a path on the loopback port, with the contender's Host and headers."""
    headers = [
        part
        for header in (f"Host: {contender.host}", *contender.headers)
        for part in ("-H", header)
    ]
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--latency",
        *headers,
        f"http://127.0.0.1:{contender.server.port}{path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def better(best: WrkResult | None, new: WrkResult) -> WrkResult:
    """The faster of two runs, carrying the errors of both (no round may hide failures)."""
    if best is None:
        return new
    keep = new if new.requests_per_second > best.requests_per_second else best
    return dataclasses.replace(
        keep,
        non_2xx=best.non_2xx + new.non_2xx,
        socket_errors=best.socket_errors + new.socket_errors,
    )


def workers_cpu_seconds(pid: int) -> float:
    """User and system CPU time of every child of a process so far."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                total += times.user + times.system
    return total


class WorkerRss(threading.Thread):
    """Samples the resident memory of every child of a process every 0.1 s; keeps each peak."""

    def __init__(self, pid: int, peaks: dict[int, int]) -> None:
        super().__init__(daemon=True)
        self.parent = psutil.Process(pid)
        self.peaks = peaks
        self.running = threading.Event()
        self.running.set()

    def run(self) -> None:
        while self.running.is_set():
            with contextlib.suppress(psutil.Error):
                for child in self.parent.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        rss = child.memory_info().rss
                        self.peaks[child.pid] = max(self.peaks.get(child.pid, 0), rss)
            time.sleep(0.1)

    def __enter__(self) -> WorkerRss:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running.clear()
        self.join()


def measure(
    wrk: str, contender: Contender, spec: FileSpec, args: argparse.Namespace, peaks: dict[int, int]
) -> WrkResult:
    """Warm up, then measure one file on one contender (sampling worker memory when asked)."""
    server = contender.server
    sampler = WorkerRss(server.process.pid, peaks) if contender.workers_measured else None
    with sampler or contextlib.nullcontext():
        if args.warmup > 0:
            run_wrk(wrk, contender, spec.path, args.warmup, args)
        before = workers_cpu_seconds(server.process.pid)
        result = run_wrk(wrk, contender, spec.path, args.duration, args)
        spent = workers_cpu_seconds(server.process.pid) - before
    if contender.workers_measured and result.requests:
        result = dataclasses.replace(result, cpu_us=spent / result.requests * 1e6)
    cpu = f", {result.cpu_us:.1f} µs CPU/request" if result.cpu_us is not None else ""
    print(
        f"{contender.name} {spec.label}: {result.requests_per_second:,.0f} req/s,"
        f" p99 {result.p99_ms:.2f} ms{cpu}",
        flush=True,
    )
    return result


def print_report(
    specs: list[FileSpec],
    results: dict[tuple[str, str], WrkResult],
    peaks: dict[int, int],
    workers: int,
    rounds: dict[tuple[str, str], list[WrkResult]],
    costs: dict[str, float],
) -> bool:
    """Print the table and the memory line; whether every target was met."""
    header = ("size", "nginx req/s", "nginx p99", "edge req/s", "edge p99", "edge/nginx", "target")
    rows: list[tuple[str, ...]] = []
    met = True
    notes: list[str] = []
    for spec in specs:
        base, edge = results.get(("nginx", spec.key)), results.get(("edge", spec.key))
        ratio = edge.requests_per_second / base.requests_per_second if base and edge else None
        ok = ratio is not None and ratio >= spec.target and edge is not None and edge.non_2xx == 0
        met = met and ok
        for name, result in (("nginx", base), ("edge", edge)):
            if result and (result.non_2xx or result.socket_errors):
                notes.append(
                    f"{name} {spec.label}: {result.non_2xx} non-2xx responses,"
                    f" {result.socket_errors} socket errors"
                )
        rows.append(
            (
                spec.label,
                f"{base.requests_per_second:,.0f}" if base else "-",
                f"{base.p99_ms:.2f} ms" if base else "-",
                f"{edge.requests_per_second:,.0f}" if edge else "-",
                f"{edge.p99_ms:.2f} ms" if edge else "-",
                f"{ratio:.2f}" if ratio is not None else "-",
                f">= {spec.target}",
                "yes" if ok else "NO",
            )
        )
    print_table((*header, "ok?"), rows)
    met = print_canary_report(specs, rounds, costs) and met
    if peaks:
        worst = max(peaks.values()) / 1e6
        rss_ok = worst < RSS_LIMIT_MB
        seen = f"{len(peaks)} worker(s) seen" + (
            "" if len(peaks) == workers else f", {workers} asked"
        )
        print(
            f"edge worker RSS under load: max {worst:.1f} MB ({seen})"
            f"  target < {RSS_LIMIT_MB:.0f} MB  {'yes' if rss_ok else 'NO'}"
        )
        met = met and rss_ok
    else:
        print("edge worker RSS under load: not measured (no edge worker processes seen)  NO")
        met = False
    for note in notes:
        print(note)
    return met


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns right-aligned to their widest cell."""
    widths = [max(len(row[i]) for row in [*rows, header]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def print_canary_report(
    specs: list[FileSpec],
    rounds: dict[tuple[str, str], list[WrkResult]],
    costs: dict[str, float],
) -> bool:
    """The canary tables: under wrk, the split site against the plain one asked alike (shown,
    not judged); in process, the same four requests' CPU (judged). Whether the split kept up."""
    if not any(name.startswith("canary") for name, _ in rounds):
        return True
    print(
        f"canary split in force ({CANARY_PERCENT} %), same edge, same files, under wrk (median of"
        " the rounds; not judged: it moves by ±10 % between rounds here). New visitors send no"
        " cookie (each request is drawn and assigned), returning ones the release cookie, and"
        " each is compared with the plain site asked the same way:"
    )
    header = (
        "size", "visitors", "plain req/s", "split req/s", "ratio",
        "plain µs CPU/req", "split µs CPU/req", "ratio",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = []
    errors = 0
    for spec in specs:
        for visitors, plain_name, split_name in COMPARED:
            pairs = list(
                zip(
                    rounds.get((plain_name, spec.key), []),
                    rounds.get((split_name, spec.key), []),
                    strict=False,
                )
            )
            errors += sum(plain.non_2xx + split.non_2xx for plain, split in pairs)
            rate = _median([s.requests_per_second / p.requests_per_second for p, s in pairs])
            cpu = _median([s.cpu_us / p.cpu_us for p, s in pairs if s.cpu_us and p.cpu_us])
            rows.append(
                (
                    spec.label,
                    visitors,
                    _form(_median([p.requests_per_second for p, _ in pairs]), "{:,.0f}"),
                    _form(_median([s.requests_per_second for _, s in pairs]), "{:,.0f}"),
                    _form(rate, "{:.2f}"),
                    _form(_median([p.cpu_us for p, _ in pairs if p.cpu_us]), "{:.1f}"),
                    _form(_median([s.cpu_us for _, s in pairs if s.cpu_us]), "{:.1f}"),
                    _form(cpu, "{:.2f}"),
                )
            )
    print_table(header, rows)
    if errors:
        print(f"canary: {errors} non-2xx responses under wrk  NO")
    print("one edge worker in process, µs of CPU per request (best of the repeats):")
    rows = []
    met = not errors and bool(costs)
    for visitors, plain_name, split_name in COMPARED:
        target = CANARY_TARGET if visitors == "returning" else CANARY_NEW_TARGET
        plain, split = costs.get(plain_name), costs.get(split_name)
        ratio = split / plain if plain and split else None
        ok = ratio is not None and ratio <= target
        met = met and ok
        rows.append(
            (
                visitors,
                _form(plain, "{:.2f}"),
                _form(split, "{:.2f}"),
                _form(ratio, "{:.3f}"),
                f"<= {target}",
                "yes" if ok else "NO",
            )
        )
    print_table(("visitors", "plain µs", "split µs", "ratio", "target", "ok?"), rows)
    return met


# (visitors, the plain contender, the split contender they are compared with)
COMPARED = (("new", "edge", "canary-new"), ("returning", "edge-cookie", "canary-returning"))


class _Discard:
    """A transport that takes every write and sends nothing."""

    def write(self, data: bytes) -> None:
        pass

    def writelines(self, data: object) -> None:
        pass

    def close(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def request_costs(
    data: Path, stable: str, spec: FileSpec, work: Path, repeats: int = 15, number: int = 20_000
) -> dict[str, float]:
    """µs of CPU one edge worker's protocol spends per request for each contender's request to
    a file answered from memory, in this process; the four interleaved, best of the repeats."""
    # `edge` the package, from this checkout: bench/ (where this file, also `edge`, lives) is
    # first on the path otherwise.
    sys.path.insert(0, str(ROOT))
    server: Any = importlib.import_module("edge.server")
    responder: Any = importlib.import_module("edge.responder")
    metrics: Any = importlib.import_module("edge.metrics")
    protocol = server.HttpProtocol(
        responder.Responder(responder.EdgeConfig(data, "localhost")),
        metrics.WorkerStats(work / "in-process-metrics"),
        data,
    )
    protocol.connection_made(_Discard())
    cookie = f"Cookie: wharf_release={stable}\r\n"
    requests = {
        "edge": (HOST, ""),
        "canary-new": (CANARY_HOST, ""),
        "edge-cookie": (HOST, cookie),
        "canary-returning": (CANARY_HOST, cookie),
    }
    raw = {
        name: f"GET {spec.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: wrk\r\n{extra}\r\n".encode()
        for name, (host, extra) in requests.items()
    }
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, request in raw.items():
            seconds = timeit.timeit(
                functools.partial(protocol.data_received, request),
                number=number,
                timer=time.process_time,
            )
            best[name] = min(best.get(name, float("inf")), seconds / number * 1e6)
    return best


def _form(value: float | None, form: str) -> str:
    return form.format(value) if value is not None else "-"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main() -> int:
    """Run the benchmark and print the table."""
    args = parse_args()
    wrk, nginx = find_tool("wrk"), find_tool("nginx")
    missing = [name for name, path in (("wrk", wrk), ("nginx", nginx)) if path is None]
    if wrk is None or nginx is None:
        print(
            f"bench/edge.py needs {' and '.join(missing)}; `make bench` installs them from Debian"
        )
        return 2
    specs = [FILES[key] for key in args.sizes]
    # The servers run in their own sessions; a SIGTERM or SIGHUP must still reach `finally`.
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda signum, frame: sys.exit(128 + signum))
    # A short path under /tmp: the edge and nginx may put sockets or pid files under it.
    work = Path(tempfile.mkdtemp(prefix="wbe", dir="/tmp"))
    servers: list[Server] = []
    results: dict[tuple[str, str], WrkResult] = {}
    rounds: dict[tuple[str, str], list[WrkResult]] = collections.defaultdict(list)
    peaks: dict[int, int] = {}
    costs: dict[str, float] = {}
    edge: Server | None = None
    try:
        data, site_root, bodies, stable = make_release(work, specs)
        prefix = work / "nginx"
        prefix.mkdir()
        nginx_port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_config(nginx, prefix, site_root, nginx_port, args.workers))
        error_log = prefix / "error.log"
        # `-e`: Debian's nginx logs to stderr until it has read the config; keep that here too.
        command = [nginx, "-c", str(conf), "-p", str(prefix), "-e", str(error_log)]
        base = start("nginx", command, nginx_port, log_file=error_log)
        servers.append(base)
        check_files(base, bodies)

        edge_port = free_port()
        command, env = edge_command(data, edge_port, args.workers)
        try:
            edge = start("wharf edge", command, edge_port, ready="edge listening", env=env)
            servers.append(edge)
            check_files(edge, bodies)
            check_files(edge, bodies, CANARY_HOST)
            check_canary(edge, stable)
        except RuntimeError as exc:
            print(f"edge not measured: {exc}", flush=True)
            edge = None

        # Size by size, nginx then the edge (plain, then split), so that all see the same
        # machine; on a shared machine more rounds and the best of each damp what neighbours take.
        contenders = [Contender("nginx", base)]
        if edge is not None:
            cookie = (f"Cookie: wharf_release={stable}",)
            contenders += [
                Contender("edge", edge, workers_measured=True),
                Contender("canary-new", edge, CANARY_HOST, workers_measured=True),
                Contender("edge-cookie", edge, HOST, cookie, workers_measured=True),
                Contender("canary-returning", edge, CANARY_HOST, cookie, workers_measured=True),
            ]
        for spec in specs:
            for _ in range(args.rounds):
                for contender in contenders:
                    result = measure(wrk, contender, spec, args, peaks)
                    key = (contender.name, spec.key)
                    results[key] = better(results.get(key), result)
                    rounds[key].append(result)
        for server in reversed(servers):  # the in-process measure wants the cores to itself
            stop(server, signal.SIGQUIT if server.name == "nginx" else signal.SIGTERM)
        servers.clear()
        cached = [spec for spec in specs if spec.size <= 256 * 1024]  # answered from memory
        if edge is not None and cached:
            costs = request_costs(data, stable, min(cached, key=lambda spec: spec.size), work)
            print(f"in process: {', '.join(f'{k} {v:.2f} µs' for k, v in costs.items())}")
    except RuntimeError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for server in reversed(servers):
            stop(server, signal.SIGQUIT if server.name == "nginx" else signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.workers} workers"
        f" each, best of {args.rounds} round(s), {os.cpu_count()} CPUs;"
        " compare the ratio, not absolute numbers"
    )
    met = print_report(specs, results, peaks, args.workers, rounds, costs)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
