"""Edge metrics: cheap counting in each worker, snapshots on disk, one Prometheus view of all."""

from __future__ import annotations

import bisect
import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
CLASSES = ("2xx", "3xx", "4xx", "5xx")
# Per-release series a worker keeps (the least recently answered go first). Only answers of a
# target with a canary split in force are counted per release, two series per split, so this
# holds 128 splits at once; an evicted series starts again from zero, as after a restart.
MAX_RELEASES = 256
# A release series: answers by class (CLASSES), then latency buckets, the +Inf one, the sum...
_RELEASE_WIDTH = len(CLASSES) + len(BUCKETS) + 2
# ...and, not written out, the flush round it was last answered in (an index store per request
# where an LRU's move_to_end would cost more; only an eviction looks at it).
_TOUCHED = _RELEASE_WIDTH
_FIRST_BUCKET, _SUM = len(CLASSES), _RELEASE_WIDTH - 1  # offsets, named once: a hot path
_CLASS_INDEX = (0, 0, 0, 1, 2, 3)  # by status // 100: the edge answers only 2xx to 5xx


class WorkerStats:
    """Counters kept in plain dicts: a Prometheus client call per request costs too much here."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / f"{os.getpid()}.json"
        # (site, status) -> [requests, bytes]; site -> bucket counts + [sum, count]
        self.requests: dict[tuple[str, int], list[int]] = {}
        self.latency: dict[str, list[float]] = {}
        # (site, environment, deploy, role) -> a release series, while a split is in force
        self.releases: dict[tuple[str, str, str, str], list[float]] = {}
        self.rounds = 0  # flushes so far

    def record(
        self,
        site: str,
        status: int,
        sent: int,
        seconds: float,
        release: tuple[str, str, str, str] | None = None,
    ) -> None:
        """Count one answered request (per release too, for a split's answers)."""
        counts = self.requests.get((site, status))
        if counts is None:
            counts = self.requests[(site, status)] = [0, 0]
        counts[0] += 1
        counts[1] += sent
        buckets = self.latency.get(site)
        if buckets is None:
            buckets = self.latency[site] = [0.0] * (len(BUCKETS) + 2)
        bucket = bisect.bisect_left(BUCKETS, seconds)
        buckets[bucket] += 1
        buckets[-1] += seconds
        if release is None:
            return
        series = self.releases.get(release)
        if series is None:
            series = self._new_series(release)
        series[_CLASS_INDEX[status // 100]] += 1
        series[_FIRST_BUCKET + bucket] += 1
        series[_SUM] += seconds
        series[_TOUCHED] = self.rounds

    def _new_series(self, release: tuple[str, str, str, str]) -> list[float]:
        """A release's first answer: a new series, in place of the least recently answered."""
        if len(self.releases) >= MAX_RELEASES:
            oldest = min(self.releases, key=lambda key: self.releases[key][_TOUCHED])
            del self.releases[oldest]
        series = self.releases[release] = [0.0] * (_RELEASE_WIDTH + 1)
        return series

    def flush(self) -> None:
        """Write this worker's totals for the /metrics view (atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        snapshot = {
            "requests": [
                [site, status, *counts] for (site, status), counts in self.requests.items()
            ],
            "latency": self.latency,
            "releases": [
                [*release, *series[:_RELEASE_WIDTH]] for release, series in self.releases.items()
            ],
        }
        self.rounds += 1
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps(snapshot))
        os.replace(temp, self.path)

    def remove(self) -> None:
        """Forget this worker's file (at exit: its counts leave with it, like a restart)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class _SnapshotCollector:
    """Sums every live worker's snapshot into metric families."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def collect(self) -> Iterator[Metric]:
        requests: dict[tuple[str, str], list[float]] = {}
        latency: dict[str, list[float]] = {}
        releases: dict[tuple[str, ...], list[float]] = {}
        for snapshot in _snapshots(self.folder):
            for site, status, count, sent in snapshot.get("requests", []):
                totals = requests.setdefault((site, str(status)), [0, 0])
                totals[0] += count
                totals[1] += sent
            for site, buckets in snapshot.get("latency", {}).items():
                totals = latency.setdefault(site, [0.0] * (len(BUCKETS) + 2))
                for index, value in enumerate(buckets):
                    totals[index] += value
            for entry in snapshot.get("releases", []):
                labels, values = tuple(entry[:4]), entry[4:]
                totals = releases.setdefault(labels, [0.0] * _RELEASE_WIDTH)
                for index, value in enumerate(values[:_RELEASE_WIDTH]):
                    totals[index] += value
        count_family = CounterMetricFamily(
            "wharf_edge_requests", "Requests answered by the edge", labels=["site", "status"]
        )
        bytes_family = CounterMetricFamily(
            "wharf_edge_response_bytes", "Body bytes sent", labels=["site", "status"]
        )
        for (site, status), (count, sent) in sorted(requests.items()):
            count_family.add_metric([site, status], count)
            bytes_family.add_metric([site, status], sent)
        histogram = HistogramMetricFamily(
            "wharf_edge_request_duration_seconds", "Time to answer", labels=["site"]
        )
        for site, buckets in sorted(latency.items()):
            histogram.add_metric([site], _cumulative(buckets[:-1]), sum_value=buckets[-1])
        yield count_family
        yield bytes_family
        yield histogram
        yield from _release_families(sorted(releases.items()))


def _cumulative(buckets: Iterable[float]) -> list[tuple[str, float]]:
    """Per-bucket counts (the +Inf one last) as Prometheus's cumulative (bound, count) pairs."""
    cumulative, running = [], 0.0
    for bound, value in zip((*BUCKETS, float("inf")), buckets, strict=True):
        running += value
        cumulative.append((str(bound) if bound != float("inf") else "+Inf", running))
    return cumulative


def _release_families(releases: list[tuple[tuple[str, ...], list[float]]]) -> Iterator[Metric]:
    """The per-release families of canary splits: answers by status class, and latency."""
    labels = ["site", "environment", "deploy", "role"]
    answers = CounterMetricFamily(
        "wharf_edge_release_responses",
        "Answers of each release of a live target while a canary split is in force",
        labels=[*labels, "class"],
    )
    durations = HistogramMetricFamily(
        "wharf_edge_release_duration_seconds",
        "Time to answer, of each release of a live target while a canary split is in force",
        labels=labels,
    )
    for release, series in releases:
        for index, status_class in enumerate(CLASSES):
            answers.add_metric([*release, status_class], series[index])
        buckets = series[len(CLASSES) : -1]
        durations.add_metric(list(release), _cumulative(buckets), sum_value=series[-1])
    yield answers
    yield durations


def _snapshots(folder: Path) -> Iterator[dict[str, Any]]:
    """Snapshots of workers that are still alive (files of dead ones are removed)."""
    if not folder.is_dir():
        return
    for path in folder.glob("*.json"):
        try:
            os.kill(int(path.stem), 0)
        except (ValueError, ProcessLookupError):
            path.unlink(missing_ok=True)
            continue
        except PermissionError:
            pass
        with contextlib.suppress(OSError, ValueError):
            yield json.loads(path.read_text())


def render(folder: Path) -> bytes:
    """The Prometheus text of every worker's counts together."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(folder))
    return generate_latest(registry)
