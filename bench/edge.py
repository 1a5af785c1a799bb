"""Edge benchmark: `wharf edge` against nginx on one generated site, and an edge worker's memory.

Builds one release with files of 1 KB, 8 KB, 100 KB and 2 MB in a temporary data directory,
serves it from nginx and from `wharf edge` with the same number of workers (2), and loads each
file with `wrk -t2 -c64 --latency`, nginx then the edge, size by size, in the same run: only the
ratio edge/nginx is comparable across machines (wrk shares the cores with the servers). While wrk
loads the edge, the resident memory of every edge worker is sampled every 0.1 s.

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
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from controlplane.deploys.release_files import ReleaseFiles
from controlplane.deploys.release_tree import BuildOptions, build_release

SITE = "bench"
HOST = f"{SITE}.localhost"  # the edge's default base domain is `localhost`
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


def make_release(work: Path, specs: list[FileSpec]) -> tuple[Path, Path, dict[str, bytes]]:
    """Build the site into a data directory and make it live; the data dir and site folder."""
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
    return data, release / "site", bodies


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


def check_files(server: Server, bodies: dict[str, bytes]) -> None:
    """Raise unless every file comes back 200 with exactly its bytes (no benchmark of 404s)."""
    for path, body in bodies.items():
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request("GET", path, headers={"Host": HOST})
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
    )


def run_wrk(wrk: str, port: int, path: str, seconds: int, args: argparse.Namespace) -> WrkResult:
    """One wrk run against a path on the loopback port, with the site's Host header."""
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        f"Host: {HOST}",
        f"http://127.0.0.1:{port}{path}",
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
    wrk: str, server: Server, spec: FileSpec, args: argparse.Namespace, peaks: dict[int, int] | None
) -> WrkResult:
    """Warm up, then measure one file on one server (sampling worker memory when asked)."""
    sampler = WorkerRss(server.process.pid, peaks) if peaks is not None else None
    with sampler or contextlib.nullcontext():
        if args.warmup > 0:
            run_wrk(wrk, server.port, spec.path, args.warmup, args)
        result = run_wrk(wrk, server.port, spec.path, args.duration, args)
    print(
        f"{server.name} {spec.label}: {result.requests_per_second:,.0f} req/s,"
        f" p99 {result.p99_ms:.2f} ms",
        flush=True,
    )
    return result


def print_report(
    specs: list[FileSpec],
    results: dict[tuple[str, str], WrkResult],
    peaks: dict[int, int],
    workers: int,
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
    widths = [max(len(row[i]) for row in [*rows, (*header, "ok?")]) for i in range(len(header) + 1)]
    for row in [(*header, "ok?"), *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
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
    peaks: dict[int, int] = {}
    edge: Server | None = None
    try:
        data, site_root, bodies = make_release(work, specs)
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
        except RuntimeError as exc:
            print(f"edge not measured: {exc}", flush=True)
            edge = None

        # Size by size, nginx then the edge, so that both see the same machine; on a shared
        # machine more rounds and the best of each damp what neighbours take.
        contenders = (
            [("nginx", base, None), ("edge", edge, peaks)] if edge else [("nginx", base, None)]
        )
        for spec in specs:
            for _ in range(args.rounds):
                for name, server, sampled in contenders:
                    result = measure(wrk, server, spec, args, sampled)
                    results[name, spec.key] = better(results.get((name, spec.key)), result)
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
    met = print_report(specs, results, peaks, args.workers)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
