"""Admin UI benchmark: each page's server time with 1,000 sites and 20,000 deploys.

Starts an embedded PostgreSQL (or uses WHARF_DATABASE_URL when set: it must be an empty
database), starts `wharf serve` on it, fills it with 1,000 sites of 20 deploys each (the newest
live, the rest superseded, 40 build-log lines on each of one site's deploys), signs in to the UI
and times each page over loopback (the target holds for the median; the 95th percentile is
shown, as a busy machine stretches it). The reference, timed in the same run, is the JSON API's
answer of the same site's deploys: the ratio says what the HTML costs on top. Run it with
`.venv/bin/python bench/ui.py`; it prints a table and exits non-zero when a page misses 50 ms.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import requests

from controlplane.runtime.embedded_database import EmbeddedPostgres

SITES = 1000
DEPLOYS_PER_SITE = 20
TARGET_MS = 50.0
ROUNDS = 60
ADMIN = {"email": "bench@example.test", "password": "bench-password-1"}

# The fill: rows as the product writes them, made in bulk (20,000 uploads would take hours).
FILL = """
INSERT INTO sites (name, owner_id)
  SELECT format('site-%%s', lpad(n::text, 4, '0')), %(owner)s FROM generate_series(1, %(sites)s) n;
INSERT INTO deploys (id, site_id, environment, status, created_by, created_at, started_at,
                     finished_at, published_at, artifact_bytes, file_count, total_bytes)
  SELECT left(md5(s.id::text || '-' || d::text), 12), s.id, 'production',
         CASE WHEN d = %(deploys)s THEN 'live' ELSE 'superseded' END, %(owner)s,
         now() - make_interval(hours => %(deploys)s - d), now(), now(), now(),
         120000, 40, 480000
  FROM sites s CROSS JOIN generate_series(1, %(deploys)s) d;
INSERT INTO deploy_log_lines (deploy_id, line_no, text)
  SELECT d.id, n, format('line %%s of the build', n)
  FROM deploys d JOIN sites s ON s.id = d.site_id CROSS JOIN generate_series(1, 40) n
  WHERE s.name = 'site-0500';
"""


def free_port() -> int:
    """A port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(database_url: str) -> tuple[str, str]:
    """Insert the sites and deploys; (the middle site's live deploy, an older one of it)."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM users WHERE email = %(e)s", {"e": ADMIN["email"]})
        owner = cur.fetchone()[0]
        cur.execute(FILL, {"owner": owner, "sites": SITES, "deploys": DEPLOYS_PER_SITE})
        cur.execute(
            "SELECT d.id FROM deploys d JOIN sites s ON s.id = d.site_id"
            " WHERE s.name = 'site-0500' ORDER BY d.created_at DESC"
        )
        ids = [row[0] for row in cur.fetchall()]
        cur.execute("ANALYZE")
    return ids[0], ids[DEPLOYS_PER_SITE // 2]


def timed(session: requests.Session, url: str) -> tuple[float, float]:
    """Median and 95th percentile milliseconds of GET url (after a warm-up)."""
    for _ in range(5):
        session.get(url).raise_for_status()
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = session.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def start_server(work: Path, database_url: str, port: int) -> subprocess.Popen[bytes]:
    """`wharf serve` on the database; returns once it says it is running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    argv = [
        sys.executable, "-m", "controlplane.cli", "serve",
        "--data-dir", str(work / "data"),
        "--database-url", database_url,
        "--listen", f"127.0.0.1:{port}",
        "--admin-email", ADMIN["email"],
        "--admin-password", ADMIN["password"],
        "--traefik", "false",
        "--worker", "false",
        "--log-level", "warning",
    ]  # fmt: skip
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env)
    assert server.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if b"Wharf is running" in line:
            return server
        if not line and server.poll() is not None:
            break
    server.kill()
    raise SystemExit(f"wharf serve did not start; see {work / 'serve.log'}")


def main() -> int:
    """Fill the database, time the pages, print the table."""
    with tempfile.TemporaryDirectory(prefix="wb", dir="/tmp") as scratch:
        work = Path(scratch)
        embedded = None
        database_url = os.environ.get("WHARF_DATABASE_URL")
        if not database_url:
            embedded = EmbeddedPostgres(work / "pg")
            database_url = embedded.start()
        port = free_port()
        server = start_server(work, database_url, port)
        try:
            live, older = fill(database_url)
            base = f"http://127.0.0.1:{port}"
            session = requests.Session()
            signed = session.post(
                f"{base}/sign-in",
                data={**ADMIN, "next": "/sites"},
                headers={"Sec-Fetch-Site": "same-origin"},
                allow_redirects=False,
            )
            assert signed.status_code == 303, signed.text
            token = requests.post(f"{base}/api/v1/auth/login", json=ADMIN, timeout=10).json()
            api = requests.Session()
            api.headers["Authorization"] = "Bearer " + token["access_token"]
            reference = timed(api, f"{base}/api/v1/sites/site-0500/deploys")
            pages = {
                "sites, page 1": "/sites",
                "sites, page 20 (the last)": "/sites?page=20",
                "sites, searched": "/sites?q=site-09",
                "a site (20 deploys, 1st page)": "/sites/site-0500",
                "a site, older deploys": f"/sites/site-0500?before={older}",
                "a deploy with its log": f"/sites/site-0500/deploys/{live}",
                "a site's settings": "/sites/site-0500/settings",
                "a site's domains": "/sites/site-0500/domains",
            }
            rows = [(name, *timed(session, base + path)) for name, path in pages.items()]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            if embedded:
                embedded.stop()
    print(f"Admin UI pages with {SITES:,} sites and {SITES * DEPLOYS_PER_SITE:,} deploys")
    print(f"(median of {ROUNDS} loopback requests; the reference is the JSON API's deploy list)")
    header = ("page", "median ms", "p95 ms", "vs reference", f"< {TARGET_MS:.0f} ms")
    table = [("reference: GET /api/v1/…/deploys", reference[0], reference[1], 1.0, "")]
    table += [
        (name, median, p95, median / reference[0], "yes" if median < TARGET_MS else "NO")
        for name, median, p95 in rows
    ]
    print(f"{header[0]:<34} {header[1]:>10} {header[2]:>8} {header[3]:>13} {header[4]:>8}")
    for name, median, p95, ratio, met in table:
        print(f"{name:<34} {median:>10.1f} {p95:>8.1f} {ratio:>12.2f}x {met:>8}")
    return 0 if all(median < TARGET_MS for _, median, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
