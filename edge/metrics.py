"""Edge metrics: cheap counting in each worker, snapshots on disk, one Prometheus view of all."""

from __future__ import annotations

import bisect
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class WorkerStats:
    """Counters kept in plain dicts: a Prometheus client call per request costs too much here."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / f"{os.getpid()}.json"
        # (site, status) -> [requests, bytes]; site -> bucket counts + [sum, count]
        self.requests: dict[tuple[str, int], list[int]] = {}
        self.latency: dict[str, list[float]] = {}

    def record(self, site: str, status: int, sent: int, seconds: float) -> None:
        """Count one answered request."""
        counts = self.requests.get((site, status))
        if counts is None:
            counts = self.requests[(site, status)] = [0, 0]
        counts[0] += 1
        counts[1] += sent
        buckets = self.latency.get(site)
        if buckets is None:
            buckets = self.latency[site] = [0.0] * (len(BUCKETS) + 2)
        buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        buckets[-1] += seconds

    def flush(self) -> None:
        """Write this worker's totals for the /metrics view (atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        snapshot = {
            "requests": [
                [site, status, *counts] for (site, status), counts in self.requests.items()
            ],
            "latency": self.latency,
        }
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
        for snapshot in _snapshots(self.folder):
            for site, status, count, sent in snapshot.get("requests", []):
                totals = requests.setdefault((site, str(status)), [0, 0])
                totals[0] += count
                totals[1] += sent
            for site, buckets in snapshot.get("latency", {}).items():
                totals = latency.setdefault(site, [0.0] * (len(BUCKETS) + 2))
                for index, value in enumerate(buckets):
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
            cumulative, running = [], 0.0
            for bound, value in zip((*BUCKETS, float("inf")), buckets[:-1], strict=True):
                running += value
                cumulative.append((str(bound) if bound != float("inf") else "+Inf", running))
            histogram.add_metric([site], cumulative, sum_value=buckets[-1])
        yield count_family
        yield bytes_family
        yield histogram


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
