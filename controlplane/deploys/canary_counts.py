"""A canary's evidence: each release's answers and latency while split, from the edge's /metrics.

The edge counts, per worker, every answer of a live target with a split in force, by
(site, environment, deploy, role); its `/metrics` sums its live workers (their snapshots are at
most a second old). The counts only grow while the edge runs: compare two reads with
`ReleaseCounts.since`, which takes a count that went down (an edge restart) as a fresh start.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

import httptools
from prometheus_client.parser import text_string_to_metric_families

from controlplane.names import is_hostname

CLASSES = ("2xx", "3xx", "4xx", "5xx")
RESPONSES = "wharf_edge_release_responses"
DURATION = "wharf_edge_release_duration_seconds"
_MAX_METRICS_BYTES = 16 << 20


class ReleaseKey(NamedTuple):
    """One release of a live target while split; role is "stable" or "canary"."""

    site: str
    environment: str
    deploy: str
    role: str


@dataclass(frozen=True)
class ReleaseCounts:
    """One release's answers by status class (2xx, 3xx, 4xx, 5xx) and its latency histogram."""

    key: ReleaseKey
    responses: tuple[int, int, int, int] = (0, 0, 0, 0)
    # (upper bound in seconds, answers at most that slow), ascending; the last bound is inf.
    buckets: tuple[tuple[float, int], ...] = ()
    latency_sum: float = 0.0

    @property
    def total(self) -> int:
        """Every answer counted."""
        return sum(self.responses)

    def count(self, status_class: str) -> int:
        """Answers of one class, e.g. "5xx"."""
        return self.responses[CLASSES.index(status_class)]

    def error_rate(self) -> float:
        """The share of answers that were 5xx (0 when there were none)."""
        return self.responses[3] / self.total if self.total else 0.0

    def latency_quantile(self, quantile: float) -> float | None:
        """The bucket bound that quantile of answers fell under (inf beyond the last bound)."""
        answered = self.buckets[-1][1] if self.buckets else 0
        if not answered:
            return None
        wanted = quantile * answered
        counts = [count for _, count in self.buckets]
        return self.buckets[min(bisect.bisect_left(counts, wanted), len(counts) - 1)][0]

    def since(self, earlier: ReleaseCounts | None) -> ReleaseCounts:
        """What was counted after an earlier read; all of it when a count went down."""
        if earlier is None or _went_down(earlier, self):
            return self
        return ReleaseCounts(
            self.key,
            _minus(self.responses, earlier.responses),
            tuple(
                (bound, count - before)
                for (bound, count), (_, before) in zip(self.buckets, earlier.buckets, strict=True)
            ),
            self.latency_sum - earlier.latency_sum,
        )


def _went_down(earlier: ReleaseCounts, later: ReleaseCounts) -> bool:
    if len(earlier.buckets) != len(later.buckets):
        return bool(earlier.buckets)
    pairs = [*zip(earlier.responses, later.responses, strict=True)]
    pairs += [(a, b) for (_, a), (_, b) in zip(earlier.buckets, later.buckets, strict=True)]
    return any(after < before for before, after in pairs)


def _minus(
    later: tuple[int, int, int, int], earlier: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    return (
        later[0] - earlier[0],
        later[1] - earlier[1],
        later[2] - earlier[2],
        later[3] - earlier[3],
    )


def parse_release_counts(text: str) -> dict[ReleaseKey, ReleaseCounts]:
    """Every release's counts in the edge's Prometheus text (other metrics are skipped)."""
    responses: dict[ReleaseKey, list[int]] = {}
    buckets: dict[ReleaseKey, list[tuple[float, int]]] = {}
    sums: dict[ReleaseKey, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in (RESPONSES, DURATION):
            continue
        for sample in family.samples:
            labels = sample.labels
            key = ReleaseKey(
                labels.get("site", ""),
                labels.get("environment", ""),
                labels.get("deploy", ""),
                labels.get("role", ""),
            )
            if sample.name == RESPONSES + "_total" and labels.get("class") in CLASSES:
                counts = responses.setdefault(key, [0, 0, 0, 0])
                counts[CLASSES.index(labels["class"])] = int(sample.value)
            elif sample.name == DURATION + "_bucket":
                bound = labels.get("le", "+Inf")
                upper = math.inf if bound == "+Inf" else float(bound)
                buckets.setdefault(key, []).append((upper, int(sample.value)))
            elif sample.name == DURATION + "_sum":
                sums[key] = float(sample.value)
    return {
        key: ReleaseCounts(
            key,
            _four(responses.get(key, [0, 0, 0, 0])),
            tuple(sorted(buckets.get(key, []))),
            sums.get(key, 0.0),
        )
        for key in responses.keys() | buckets.keys()
    }


def _four(counts: list[int]) -> tuple[int, int, int, int]:
    return (counts[0], counts[1], counts[2], counts[3])


class EdgeUnavailable(Exception):
    """The edge's /metrics could not be read."""


async def read_release_counts(
    edge_url: str, base_domain: str, seconds: float = 2.0
) -> dict[ReleaseKey, ReleaseCounts]:
    """Scrape the edge's /metrics (e.g. `settings.edge_upstream`, `settings.base_domain`).

    The edge answers /metrics only on its own host, so the Host header is the base domain
    whatever name the URL reaches the edge by (`edge:8090` in the compose stack).
    """
    url = urlsplit(edge_url)
    where = edge_url.rstrip("/") + "/metrics"
    if url.scheme != "http" or not url.hostname:
        raise EdgeUnavailable(f"{edge_url!r} is not an http:// URL of the edge")
    if not is_hostname(base_domain):  # it goes into the Host line as it is
        raise EdgeUnavailable(f"{base_domain!r} is not a hostname")
    try:
        async with asyncio.timeout(seconds):
            status, body = await _get(url.hostname, url.port or 80, base_domain)
    except (OSError, TimeoutError, httptools.HttpParserError) as exc:
        raise EdgeUnavailable(f"{where} did not answer: {exc!r}") from exc
    if status != 200:
        raise EdgeUnavailable(f"{where} answered {status}")
    return parse_release_counts(body.decode())


class _Response:
    """httptools callbacks collecting a body and noticing its end."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


async def _get(host: str, port: int, base_domain: str) -> tuple[int, bytes]:
    """GET /metrics with Connection: close; (status, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            f"GET /metrics HTTP/1.1\r\nHost: {base_domain}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        response = _Response()
        parser = httptools.HttpResponseParser(response)
        while not response.complete and len(response.body) <= _MAX_METRICS_BYTES:
            data = await reader.read(65536)
            if not data:
                break
            parser.feed_data(data)
        if not response.complete:
            raise httptools.HttpParserError("the edge closed before a whole answer")
        return parser.get_status_code(), bytes(response.body)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
