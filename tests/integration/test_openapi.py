"""The OpenAPI document describes exactly the routes the app serves."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from controlplane.config import Settings
from controlplane.secrets import Secret
from controlplane.web.app import create_app
from controlplane.web.ui_pages import all_routes


async def test_openapi_lists_every_route(client: TestClient) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    app: web.Application = client.app
    # The admin UI's pages and its static files are HTML for people, not the API.
    pages = {(method, path) for method, path, _ in all_routes()} | {("GET", "/static")}
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    } - pages
    assert documented == served


async def test_openapi_marks_auth_and_errors(client: TestClient) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    login = document["paths"]["/api/v1/auth/login"]["post"]
    assert "security" not in login
    assert {"200", "401", "429"} <= set(login["responses"])
    delete_site = document["paths"]["/api/v1/sites/{site}"]["delete"]
    assert delete_site["security"] == [{"bearer": []}]
    assert delete_site["parameters"][0]["name"] == "site"
    assert {"204", "401", "404"} <= set(delete_site["responses"])


async def test_openapi_every_documented_operation_reaches_a_handler(
    aiohttp_client: Any, settings: Settings
) -> None:
    # Asked over HTTP, not read from the endpoint table: the router must route each operation
    # (with the Traefik HTTP provider's endpoint enabled: it answers 404 while disabled).
    app = create_app(settings.replace(traefik_secret=Secret("provider-secret")))
    client = await aiohttp_client(app)
    document = await (await client.get("/api/v1/openapi.json")).json()
    values = {"site": "blog", "deploy": "aaaaaaaaaaaa", "hostname": "www.example.test"}
    unrouted = []
    for path, item in document["paths"].items():
        url = re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], "1"), path)
        for method in item:
            response = await client.request(
                method.upper(), url, headers={"X-Wharf-Traefik-Secret": "provider-secret"}
            )
            code = None
            if response.content_type == "application/json":
                body = await response.json()
                code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            if code in ("not_found", "method_not_allowed") or response.status == 405:
                unrouted.append((method, path, response.status, code))
    assert unrouted == []
