"""Monitoring handlers: a site's checks in the API, and every environment's state in /metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_async.aio.web import server_stats
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from controlplane.web import schemas
from controlplane.web.callers import current_user
from controlplane.web.keys import services
from controlplane.web.openapi import Endpoint


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


async def site_monitoring(request: web.Request) -> web.Response:
    """A site's live environments as the monitor sees them."""
    report = await services(request).monitor.report(
        await current_user(request), request.match_info["site"]
    )
    return web.json_response(_jsonable(report))


class _States(Collector):
    """The monitor's state of every environment, read from the database for this scrape (so
    every control plane answers the same, whichever one holds the monitor's lock)."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states

    def collect(self):  # type: ignore[no-untyped-def]
        up = GaugeMetricFamily(
            "wharf_site_up",
            "1 while a live environment answers its checks",
            labels=["site", "environment"],
        )
        latency = GaugeMetricFamily(
            "wharf_site_latency_seconds",
            "The last check's answer time",
            labels=["site", "environment"],
        )
        expiry = GaugeMetricFamily(
            "wharf_site_certificate_expiry_timestamp_seconds",
            "When the certificate the host presents ends (Unix time)",
            labels=["site", "environment"],
        )
        for state in self.states:
            labels = [state["site"], state["environment"]]
            up.add_metric(labels, 1.0 if state["up"] else 0.0)
            if state["latency_ms"] is not None:
                latency.add_metric(labels, state["latency_ms"] / 1000)
            if state["certificate_not_after"] is not None:
                expiry.add_metric(labels, state["certificate_not_after"].timestamp())
        yield from (up, latency, expiry)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics: this process's, then every monitored environment's state."""
    response = await server_stats(request)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_States(await services(request).monitor.states()))
    assert isinstance(response, web.Response) and isinstance(response.body, bytes)
    body = response.body + generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": response.headers["Content-Type"]})


_CHECK = schemas.record(
    checked_at=schemas.TIME,
    up=schemas.BOOLEAN,
    status=schemas.INTEGER_OR_NULL,
    latency_ms={"type": "number"},
    problem=schemas.TEXT_OR_NULL,
)
_ENVIRONMENT = schemas.record(
    up=schemas.BOOLEAN,
    since=schemas.TIME,
    last_checked_at=schemas.TIME,
    uptime_24h={"type": ["number", "null"]},
    uptime_7d={"type": ["number", "null"]},
    latency_ms=schemas.record(p50={"type": ["number", "null"]}, p95={"type": ["number", "null"]}),
    certificate={"type": ["object", "null"]},
    recent={"type": "array", "items": _CHECK},
)
MONITORING_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/monitoring",
        site_monitoring,
        "Each live environment's state, uptime, latency and recent checks",
        response=schemas.record(
            interval=schemas.INTEGER,
            environments={"type": "object", "additionalProperties": _ENVIRONMENT},
        ),
    ),
)
