"""The OpenAPI document describes exactly the routes the app serves."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient


async def test_openapi_lists_every_route(client: TestClient) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    app: web.Application = client.app
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
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
