"""Per-release counts: what the edge's workers count, its /metrics text, and the reader's view."""

from __future__ import annotations

import json
import math
from pathlib import Path

from controlplane.deploys.canary_counts import ReleaseCounts, ReleaseKey, parse_release_counts
from edge import metrics
from edge.metrics import WorkerStats, render

STABLE = ReleaseKey("blog", "production", "5ab1e0000001", "stable")
CANARY = ReleaseKey("blog", "production", "ca0a00000002", "canary")


def test_canary_counts_round_trip_from_workers_to_the_reader(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    first, second = WorkerStats(folder), WorkerStats(folder)
    second.path = folder / "1.json"  # another live worker's snapshot (pid 1 always exists)
    for status, seconds in ((200, 0.0004), (200, 0.002), (404, 0.0004), (503, 0.3)):
        first.record("blog", status, 10, seconds, tuple(CANARY))
    for status in (200, 200, 301, 304):
        second.record("blog", status, 10, 0.0004, tuple(STABLE))
    first.record("blog", 200, 10, 0.0004)  # a target with no split: not counted per release
    first.flush()
    second.flush()
    counts = parse_release_counts(render(folder).decode())
    assert set(counts) == {STABLE, CANARY}
    canary = counts[CANARY]
    assert canary.responses == (2, 0, 1, 1)
    assert (canary.total, canary.count("5xx"), canary.error_rate()) == (4, 1, 0.25)
    assert canary.buckets[-1] == (math.inf, 4)
    assert math.isclose(canary.latency_sum, 0.3028)
    assert canary.latency_quantile(0.5) == 0.0005
    assert canary.latency_quantile(0.75) == 0.0025
    assert canary.latency_quantile(1.0) == 1.0  # 0.3 s lies between the 0.25 and 1 s bounds
    assert counts[STABLE].responses == (2, 2, 0, 0)
    assert counts[STABLE].error_rate() == 0.0


def test_canary_counts_since_an_earlier_read_and_after_a_restart() -> None:
    bounds = (0.001, math.inf)
    earlier = ReleaseCounts(CANARY, (10, 0, 1, 1), ((bounds[0], 10), (bounds[1], 12)), 0.5)
    later = ReleaseCounts(CANARY, (15, 1, 1, 3), ((bounds[0], 14), (bounds[1], 20)), 0.9)
    window = later.since(earlier)
    assert window.responses == (5, 1, 0, 2)
    assert window.buckets == ((0.001, 4), (math.inf, 8))
    assert math.isclose(window.latency_sum, 0.4)
    assert window.error_rate() == 0.25
    # A count that went down: the edge restarted, and everything now counted is new.
    restarted = ReleaseCounts(CANARY, (3, 0, 0, 0), ((bounds[0], 3), (bounds[1], 3)), 0.01)
    assert restarted.since(later) == restarted
    assert later.since(None) == later
    assert ReleaseCounts(CANARY).latency_quantile(0.5) is None
    assert ReleaseCounts(CANARY).error_rate() == 0.0


def test_canary_counts_keep_a_bounded_number_of_releases(tmp_path: Path) -> None:
    stats = WorkerStats(tmp_path)

    def answer(deploy: str) -> None:
        stats.record("blog", 200, 1, 0.001, ("blog", "production", deploy, "canary"))

    for n in range(metrics.MAX_RELEASES):
        answer(f"{n:012d}")
    stats.flush()  # a second later: a new round
    answer(f"{0:012d}")
    for n in range(5):
        answer(f"new{n:09d}")
    assert len(stats.releases) == metrics.MAX_RELEASES
    kept = {release[2] for release in stats.releases}
    # The ones not answered this round went first; the one answered again stayed.
    assert {f"{n:012d}" for n in range(1, 6)}.isdisjoint(kept)
    assert f"{0:012d}" in kept and f"{6:012d}" in kept and "new000000004" in kept
    written = json.loads(stats.path.read_text())["releases"]
    assert len(written[0]) == 4 + len(metrics.CLASSES) + len(metrics.BUCKETS) + 2
