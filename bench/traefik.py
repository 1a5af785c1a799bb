"""Traefik benchmark: render + validate + write at scale, and API-to-route latency through Traefik.

1. Renders, validates and writes the dynamic config for 10,000 sites with 2,000 verified custom
   domains and 500 gates (sites share the one wildcard router; every domain and gate gets its
   own), best of 3.
2. Starts the whole stack with `wharf up` (embedded PostgreSQL, edge, real Traefik) on free ports,
   deploys a small site, then 20 times: adds a custom domain through the API, marks it verified,
   and times until a request through Traefik with that Host answers from the site. Prints the
   median and the worst. Then the per-request latency through Traefik of an ungated request,
   a basic-gated one (bcrypt cost 5) and a password-gated one carrying its cookie (forwardAuth).

Run with `.venv/bin/python bench/traefik.py`; exits non-zero when a target is missed
(render+validate+write under 1 s; median domain-to-route under 300 ms).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from controlplane.traefik.dynamic_file import write_dynamic_config
from controlplane.traefik.render import GateRoute, RoutingState, render
from controlplane.traefik.validate import validate

SITES = 10_000
DOMAINS = 2_000
GATES = 500
TRIES = 20
LATENCY_REQUESTS = 300
# A real bcrypt hash (cost 5) so validation sees what the API would store.
USER_HASH = "bench:$2b$05$" + "a" * 53


def free_port() -> int:
    """A port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_render(work: Path) -> tuple[float, int]:
    """Best of three: render + validate + write for the big state; also the router count."""
    domains = {f"www.shop{index}.example": f"site{index % SITES}" for index in range(DOMAINS)}
    gates = tuple(
        GateRoute(f"site{index}", "production", "basic", users=(USER_HASH,))
        if index % 2
        else GateRoute(f"site{index}", "staging", "password")
        for index in range(GATES)
    )
    state = RoutingState(
        "example.com",
        "http://127.0.0.1:8090",
        control_url="http://127.0.0.1:8000",
        custom_domains=domains,
        gates=gates,
    )
    timings = []
    routers = 0
    for attempt in range(3):
        started = time.perf_counter()
        config = render(state)
        text = validate(config)
        write_dynamic_config(text + f"# {attempt}\n", work / "dynamic", work / "staging")
        timings.append(time.perf_counter() - started)
        routers = len(config["http"]["routers"])
    return min(timings), routers


def site_zip() -> bytes:
    """A one-page site."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<h1>bench</h1>")
    return buffer.getvalue()


def median_request_ms(url: str, host: str, **kwargs: object) -> float:
    """Median time of sequential keep-alive requests through Traefik."""
    timings = []
    with requests.Session() as session:
        for _ in range(LATENCY_REQUESTS):
            started = time.perf_counter()
            answer = session.get(url, headers={"Host": host}, timeout=5, **kwargs)  # type: ignore[arg-type]
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 200, (host, answer.status_code)
    return statistics.median(timings) * 1000


def gate_latency(api: str, headers: dict[str, str], http_port: int) -> dict[str, float]:
    """Per-request latency through Traefik: ungated, basic gate, password gate with its cookie."""
    url = f"http://127.0.0.1:{http_port}/"
    results = {"ungated": median_request_ms(url, "bench.localhost")}
    gate = {"environment": "production", "mode": "basic",
            "users": [{"username": "bench", "password": "bench-gate-1"}]}  # fmt: skip
    requests.put(
        f"{api}/sites/bench/gate", json=gate, headers=headers, timeout=10
    ).raise_for_status()
    time.sleep(0.3)
    results["basic gate"] = median_request_ms(
        url, "bench.localhost", auth=("bench", "bench-gate-1")
    )
    gate = {"environment": "production", "mode": "password", "password": "bench-gate-1"}
    requests.put(
        f"{api}/sites/bench/gate", json=gate, headers=headers, timeout=10
    ).raise_for_status()
    time.sleep(0.3)
    share = requests.post(
        f"{api}/sites/bench/gate/share",
        json={"environment": "production", "expires_in": 600},
        headers=headers,
        timeout=10,
    ).json()
    with requests.Session() as session:  # the share link sets the gate cookie
        link = urlsplit(share["url"])._replace(netloc=f"127.0.0.1:{http_port}")
        session.get(
            urlunsplit(link), headers={"Host": "bench.localhost"}, timeout=5, allow_redirects=False
        )
        cookies = session.cookies.get_dict()
    results["password gate (cookie)"] = median_request_ms(url, "bench.localhost", cookies=cookies)
    return results


def time_domain_to_route(work: Path) -> tuple[list[float], dict[str, float]]:
    """Seconds from adding a domain (and marking it verified) to Traefik routing it."""
    ports = {name: free_port() for name in ("api", "edge", "http", "https", "traefik")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    env.update(
        WHARF_DATA_DIR=str(work / "data"),
        WHARF_LISTEN=f"127.0.0.1:{ports['api']}",
        WHARF_EDGE_LISTEN=f"127.0.0.1:{ports['edge']}",
        WHARF_EDGE_WORKERS="1",
        WHARF_HTTP_LISTEN=f"127.0.0.1:{ports['http']}",
        WHARF_HTTPS_LISTEN=f"127.0.0.1:{ports['https']}",
        WHARF_TRAEFIK_API_LISTEN=f"127.0.0.1:{ports['traefik']}",
        WHARF_ADMIN_EMAIL="bench@example.test",
        WHARF_ADMIN_PASSWORD="bench-password-1",  # noqa: S106 (a throwaway stack)
        WHARF_LOG_LEVEL="warning",
    )
    stack = subprocess.Popen(
        [sys.executable, "-m", "controlplane.cli", "up"], env=env, stdout=subprocess.PIPE
    )
    try:
        assert stack.stdout is not None
        for line in stack.stdout:
            if b"Press Ctrl-C" in line:
                break
        api = f"http://127.0.0.1:{ports['api']}/api/v1"
        login = requests.post(
            f"{api}/auth/login",
            json={"email": "bench@example.test", "password": "bench-password-1"},
            timeout=30,
        )
        headers = {"Authorization": "Bearer " + login.json()["access_token"]}
        requests.post(f"{api}/sites", json={"name": "bench"}, headers=headers, timeout=10)
        deploy = requests.post(
            f"{api}/sites/bench/deploys",
            data=site_zip(),
            headers={**headers, "Content-Type": "application/zip"},
            timeout=30,
        ).json()
        while requests.get(
            f"{api}/sites/bench/deploys/{deploy['id']}", headers=headers, timeout=10
        ).json()["status"] not in ("live", "failed"):
            time.sleep(0.05)
        timings = []
        for index in range(TRIES):
            hostname = f"www.bench{index}.test"
            started = time.perf_counter()
            requests.post(
                f"{api}/sites/bench/domains",
                json={"hostname": hostname},
                headers=headers,
                timeout=10,
            ).raise_for_status()
            requests.post(
                f"{api}/sites/bench/domains/{hostname}/verify",
                json={"method": "admin"},
                headers=headers,
                timeout=10,
            ).raise_for_status()
            while True:
                answer = requests.get(
                    f"http://127.0.0.1:{ports['http']}/", headers={"Host": hostname}, timeout=5
                )
                if answer.status_code == 200 and "bench" in answer.text:
                    break
                if time.perf_counter() - started > 30:
                    raise RuntimeError(f"{hostname} never answered through Traefik")
                time.sleep(0.002)
            timings.append(time.perf_counter() - started)
        latency = gate_latency(api, headers, ports["http"])
        return timings, latency
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=60)


def main() -> int:
    """Run both measurements and print the table."""
    work = Path(tempfile.mkdtemp(prefix="wbt", dir="/tmp"))
    try:
        render_seconds, routers = time_render(work)
        timings, latency = time_domain_to_route(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = statistics.median(timings)
    rows = [
        (
            f"render+validate+write ({SITES} sites, {DOMAINS} domains, {GATES} gates,"
            f" {routers} routers)",
            f"{render_seconds * 1000:.0f} ms",
            "target < 1000 ms",
        ),
        (
            f"API add+verify domain -> route answers (median of {TRIES})",
            f"{median * 1000:.0f} ms",
            "target < 300 ms",
        ),
        ("  worst of the tries", f"{max(timings) * 1000:.0f} ms", ""),
    ]
    for name, value in latency.items():
        extra = value - latency["ungated"]
        note = "" if name == "ungated" else f"+{extra:.2f} ms over ungated"
        rows.append((f"request through Traefik, {name} (median)", f"{value:.2f} ms", note))
    width = max(len(row[0]) for row in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    return 0 if render_seconds < 1.0 and median < 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
