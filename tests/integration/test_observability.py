"""Health, metrics and structured logs with secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient

from controlplane.logs import JsonFormatter
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, DatabaseServer


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record of the test, formatted exactly as production writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous_level)


async def test_logs_are_json_lines_without_secrets(
    client: TestClient, captured_logs: io.StringIO
) -> None:
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        headers={"Cookie": "session=cookie-secret-value"},
    )
    access_token = (await login.json())["access_token"]
    headers = {"Authorization": f"Bearer {access_token}"}
    created = await client.post("/api/v1/tokens", json={"name": "ci"}, headers=headers)
    api_token = (await created.json())["token"]
    await client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": "guess-pw-1"})
    failing = await client.get(
        "/api/v1/sites/missing?password=query-secret",
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert failing.status == 404
    logging.getLogger("test").warning(
        "connecting", extra={"dsn": "postgresql://u:db-pass@h/d", "note": f"Bearer {api_token}"}
    )

    text = captured_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    requests = [line for line in lines if line["event"] == "request"]
    assert {
        "time",
        "level",
        "event",
        "request_id",
        "method",
        "path",
        "status",
        "duration_ms",
    } <= set(requests[0])
    assert [r["status"] for r in requests] == [200, 201, 401, 404]
    for secret in (
        ADMIN_PASSWORD,
        access_token,
        api_token,
        "cookie-secret-value",
        "guess-pw-1",
        "query-secret",
        "db-pass",
    ):
        assert secret not in text


async def test_metrics_count_requests_by_route_and_status(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    await client.get("/api/v1/sites/a-site", headers=admin_headers)
    text = await (await client.get("/metrics")).text()
    counted = [
        line
        for line in text.splitlines()
        if line.startswith("wharf_http_requests_total{")
        and 'route="/api/v1/sites/{site}"' in line
        and 'status="404"' in line
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1
    assert "wharf_http_request_duration_seconds_bucket{" in text


async def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert len(made.headers["X-Request-Id"]) == 32


async def test_healthz_follows_the_database(
    client: TestClient, database_server: DatabaseServer, database_url: str
) -> None:
    healthy = await client.get("/healthz")
    assert healthy.status == 200
    assert (await healthy.json())["database"] == "up"
    database_server.drop(database_url)
    down = await client.get("/healthz")
    assert down.status == 503
    assert (await down.json())["error"]["code"] == "database_unavailable"
    assert (await client.head("/healthz")).status == 503
