"""Probes right after a publish: ask the edge for `/`, a few of the release's pages and a path
that does not exist, and check each answer is the new release's (status, `X-Wharf-Deploy`, and
the body's SHA-256 against the release's manifest). When Traefik runs and the environment is
not gated, `/` is also asked through Traefik, to see the route reaches the release."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2

PROBE_PAGES = 5  # HTML pages sampled from the release, besides `/`
PROBE_TIMEOUT = 5.0
# A publish is visible at once (one symlink rename the edge reads per request), but Traefik
# may still be loading a new route: a failing probe is asked again before it counts.
ATTEMPTS = 3
RETRY_PAUSE = 0.5
MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class Probe:
    """One request and what it found."""

    path: str
    via: str  # "edge" or "traefik"
    expected: int
    status: int | None  # None: no answer
    ms: float
    ok: bool
    problem: str | None = None


@dataclass(frozen=True)
class ProbeReport:
    """Every probe of one publish; passed when all of them did."""

    deploy: str
    host: str
    probes: list[Probe] = field(default_factory=list)
    rolled_back_to: str | None = None  # the deploy Wharf went back to because of this report

    @property
    def passed(self) -> bool:
        """Whether every probe found the release's own answer."""
        return all(probe.ok for probe in self.probes)

    @property
    def failures(self) -> list[Probe]:
        """The probes that did not."""
        return [probe for probe in self.probes if not probe.ok]

    @property
    def conclusive(self) -> bool:
        """Whether every failure is an answer that was wrong, not one that never came: the
        edge or Traefik not answering says nothing about the release (and going back to
        the previous one would not help)."""
        return all(probe.status is not None for probe in self.failures)

    def summary(self) -> str:
        """One line for the build log and the publish history."""
        if self.passed:
            return f"probes passed: {len(self.probes)} requests to {self.host}"
        if not self.conclusive:
            first = next(probe for probe in self.failures if probe.status is None)
            return f"probes inconclusive: {first.path} via {first.via}: {first.problem}"
        first = self.failures[0]
        return (
            f"probes failed: {len(self.failures)} of {len(self.probes)};"
            f" {first.path} via {first.via}: {first.problem}"
        )

    def as_json(self) -> dict[str, Any]:
        """The report as stored on the deploy and shown by the API."""
        status = "passed" if self.passed else "failed" if self.conclusive else "unreachable"
        return {
            "status": status,
            "host": self.host,
            "rolled_back_to": self.rolled_back_to,
            "probes": [asdict(probe) for probe in self.probes],
        }


@dataclass(frozen=True)
class Expectation:
    """What one path must answer: a status, and the manifest's SHA-256 of the body (or None)."""

    path: str
    status: int
    sha256: str | None


def expectations(release_root: Path, spa: bool, seed: str) -> list[Expectation]:
    """`/`, up to PROBE_PAGES other HTML pages (chosen by the deploy id, so reruns agree), and
    a path no release has (the site's 404 page, or `index.html` for a single-page app)."""
    manifest = json.loads((release_root / "manifest.json").read_text())
    hashes = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    wanted = [Expectation("/", 200, hashes.get("index.html"))]
    pages = sorted(
        path for path in hashes if path.endswith(".html") and path not in ("index.html", "404.html")
    )
    for path in random.Random(seed).sample(pages, min(PROBE_PAGES, len(pages))):
        # The file's own path: the edge serves it as it is, whatever its clean-URL rules.
        wanted.append(Expectation("/" + path, 200, hashes[path]))
    missing = f"/wharf-probe-{secrets.token_hex(6)}-missing"
    if spa:
        wanted.append(Expectation(missing, 200, hashes.get("index.html")))
    else:
        wanted.append(Expectation(missing, 404, hashes.get("404.html")))
    return wanted


async def probe(
    deploy_id: str,
    host: str,
    wanted: list[Expectation],
    edge_url: str,
    traefik_url: str | None,
) -> ProbeReport:
    """Ask for every expected path on the edge (Host: the site's host), and `/` through
    Traefik when its URL is given; each failing one is asked again ATTEMPTS times."""
    targets = [(item, "edge", edge_url) for item in wanted]
    if traefik_url:
        targets.append((wanted[0], "traefik", traefik_url))
    async with httpx2.AsyncClient(timeout=PROBE_TIMEOUT, follow_redirects=False) as http:
        probes = await asyncio.gather(
            *(_until_ok(http, deploy_id, host, item, via, url) for item, via, url in targets)
        )
    return ProbeReport(deploy_id, host, list(probes))


async def _until_ok(
    http: httpx2.AsyncClient,
    deploy_id: str,
    host: str,
    item: Expectation,
    via: str,
    base: str,
) -> Probe:
    found = await _once(http, deploy_id, host, item, via, base)
    for _ in range(ATTEMPTS - 1):
        if found.ok:
            break
        await asyncio.sleep(RETRY_PAUSE)
        found = await _once(http, deploy_id, host, item, via, base)
    return found


@dataclass(frozen=True)
class Answer:
    """What one request got: status (None: no answer), the release that answered, the body."""

    status: int | None
    deploy: str | None
    body: bytes
    ms: float
    location: str = ""
    error: str | None = None


async def ask(http: httpx2.AsyncClient, base: str, host: str, path: str) -> Answer:
    """GET base + path with the site's Host header, no compression, no redirect followed."""
    started = time.perf_counter()
    headers = {"Host": host, "Accept-Encoding": "identity", "User-Agent": "wharf-probe"}
    try:
        response = await http.get(base.rstrip("/") + path, headers=headers)
    except httpx2.HTTPError as exc:
        ms = round((time.perf_counter() - started) * 1000, 1)
        return Answer(None, None, b"", ms, error=f"no answer ({type(exc).__name__})")
    ms = round((time.perf_counter() - started) * 1000, 1)
    return Answer(
        response.status_code,
        response.headers.get("x-wharf-deploy"),
        response.content[:MAX_BODY],
        ms,
        response.headers.get("location", ""),
    )


async def _once(
    http: httpx2.AsyncClient,
    deploy_id: str,
    host: str,
    item: Expectation,
    via: str,
    base: str,
) -> Probe:
    answer = await ask(http, base, host, item.path)

    def result(problem: str | None) -> Probe:
        return Probe(
            item.path, via, item.status, answer.status, answer.ms, problem is None, problem
        )

    if answer.status is None:
        return result(answer.error)
    to_https = answer.location.startswith(f"https://{host}")
    if via == "traefik" and answer.status in (301, 302, 307, 308) and to_https:
        return result(None)  # routed, and sent on to HTTPS: the edge probes check the body
    if answer.status != item.status:
        return result(f"answered {answer.status}, expected {item.status}")
    if answer.deploy != deploy_id:
        return result(f"served by {answer.deploy or 'no release'}, not {deploy_id}")
    if item.sha256 and hashlib.sha256(answer.body).hexdigest() != item.sha256:
        return result("the body is not the release's file")
    return result(None)
