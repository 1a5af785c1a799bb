"""TLS through the API on a real database: strategies, uploads, what Traefik gets, no key leaks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from controlplane.config import Settings, load_settings
from controlplane.services import open_services
from controlplane.traefik.dynamic_file import FILE_NAME
from controlplane.web.keys import SERVICES
from tests.certs import Authority, ec_key, issue, key_pem, pem, self_signed
from tests.conftest import make_member, routed

BASE = "sites.test"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A base domain a public CA could certify (a wildcard directly under `localhost` cannot be)."""
    return load_settings(
        {
            "data_dir": str(tmp_path / "data"),
            "database_url": database_url,
            "base_domain": BASE,
            "allow_wildcard_domains": "true",
        },
        environ={},
    )


async def _traefik(client: TestClient, settings: Settings) -> dict[str, Any]:
    """Traefik's config once the app's reconciler wrote every change so far."""
    await routed(client)
    loaded: dict[str, Any] = yaml.safe_load((settings.traefik_watched_dir / FILE_NAME).read_text())
    return loaded


async def _site_with_domain(
    client: TestClient, headers: dict[str, str], site: str, hostname: str
) -> None:
    """A site with one custom domain an admin vouched for."""
    assert (await client.post("/api/v1/sites", json={"name": site}, headers=headers)).status == 201
    await _site_domain(client, headers, site, hostname)


async def _site_domain(
    client: TestClient, headers: dict[str, str], site: str, hostname: str
) -> None:
    """A custom domain an admin vouched for, on an existing site."""
    url = f"/api/v1/sites/{site}/domains"
    assert (await client.post(url, json={"hostname": hostname}, headers=headers)).status == 201
    verify = await client.post(
        f"{url}/{hostname}/verify", json={"method": "admin"}, headers=headers
    )
    assert verify.status == 200, await verify.text()


async def test_tls_base_custom_certificate_is_served_and_its_key_never_shown(
    client: TestClient,
    admin_headers: dict[str, str],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    cert, key, _ = self_signed(BASE, f"*.{BASE}")
    body = {"strategy": "custom", "certificate": cert, "key": key, "hsts_max_age": 300}
    response = await client.put("/api/v1/tls", json=body, headers=admin_headers)
    text = await response.text()
    assert response.status == 200, text
    shown = await response.json()
    assert shown["strategy"] == "custom"
    assert shown["certificate"]["names"] == [BASE, f"*.{BASE}"]
    assert shown["certificate"]["expires_in_seconds"] > 80 * 86400
    assert "PRIVATE KEY" not in text and key not in text
    again = await client.get("/api/v1/tls", headers=admin_headers)
    assert "PRIVATE KEY" not in await again.text()

    config = await _traefik(client, settings)
    routers = config["http"]["routers"]
    # HTTPS with the uploaded certificate, HTTP redirected, HSTS on HTTPS only.
    assert routers["wharf-sites-tls"]["entryPoints"] == ["https"]
    assert routers["wharf-sites-tls"]["middlewares"] == ["wharf-hsts-300"]
    assert routers["wharf-sites"]["middlewares"] == ["wharf-redirect-https"]
    assert config["http"]["middlewares"]["wharf-hsts-300"] == {"headers": {"stsSeconds": 300}}
    served = config["tls"]["certificates"][0]
    assert served["certFile"].strip() == cert.strip() and served["keyFile"].strip() == key.strip()
    assert config["tls"]["stores"]["default"]["defaultCertificate"] == served
    # The only file holding the key is Traefik's, readable by its owner alone.
    assert (settings.traefik_watched_dir / FILE_NAME).stat().st_mode & 0o077 == 0
    # The database holds the key encrypted.
    stored = await client.app[SERVICES].store.certificates()
    assert "PRIVATE KEY" not in stored[0].key_encrypted
    assert "PRIVATE KEY" not in caplog.text


async def test_tls_uploads_that_fail_a_check_are_refused_and_nothing_changes(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    root_key, other_key = ec_key(), ec_key()
    root = Authority(issue("Test Root", root_key, None, ca=True), root_key)
    leaf_key = ec_key()
    now = datetime.now(UTC)
    names = (BASE, f"*.{BASE}")
    good = issue(BASE, leaf_key, root, sans=names)
    expired = issue(
        BASE, leaf_key, root, sans=names, not_before=now - timedelta(days=90), not_after=now
    )
    other_root = issue("Test Root", other_key, None, ca=True)  # same name, other key
    cases = {
        "key_mismatch": {"certificate": pem(good), "key": key_pem(other_key)},
        "certificate_expired": {"certificate": pem(expired), "key": key_pem(leaf_key)},
        "names_do_not_cover": {
            "certificate": pem(issue(BASE, leaf_key, root, sans=(f"www.{BASE}",))),
            "key": key_pem(leaf_key),
        },
        "chain_out_of_order": {
            "certificate": pem(good),
            "chain": pem(other_root),
            "key": key_pem(leaf_key),
        },
        "invalid_key": {"certificate": pem(good), "key": "-----BEGIN PRIVATE KEY-----\nAAAA\n"},
    }
    for code, upload in cases.items():
        response = await client.put(
            "/api/v1/tls", json={"strategy": "custom", **upload}, headers=admin_headers
        )
        error = (await response.json())["error"]
        assert (response.status, error["code"]) == (422, code)
        assert upload["key"].splitlines()[1] not in error["message"]  # no key material
    shown = await (await client.get("/api/v1/tls", headers=admin_headers)).json()
    assert (shown["strategy"], shown["certificate"]) == ("none", None)
    assert "tls" not in await _traefik(client, settings)
    # A valid chain in the right order is accepted.
    ok = await client.put(
        "/api/v1/tls",
        json={
            "strategy": "custom",
            "certificate": pem(good),
            "chain": pem(root.cert),
            "key": key_pem(leaf_key),
        },
        headers=admin_headers,
    )
    assert ok.status == 200, await ok.text()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"strategy": "letsencrypt"}, "invalid_strategy"),
        ({}, "invalid_strategy"),
        ({"strategy": "custom"}, "certificate_required"),
        ({"strategy": "none", "hsts_max_age": -1}, "invalid_tls"),
        ({"strategy": "none", "redirect_https": "yes"}, "invalid_tls"),
        ({"strategy": "none", "colour": "blue"}, "invalid_tls"),
        ({"strategy": "wharf", "certificate": "x", "key": "y"}, "invalid_tls"),
    ],
)
async def test_tls_bad_bodies_get_422_with_a_code(
    client: TestClient, admin_headers: dict[str, str], body: dict[str, Any], code: str
) -> None:
    response = await client.put("/api/v1/tls", json=body, headers=admin_headers)
    assert response.status == 422
    assert (await response.json())["error"]["code"] == code


async def test_tls_members_cannot_touch_the_base_domain(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    member = await make_member(client, admin_headers, "m@example.test")
    response = await client.put("/api/v1/tls", json={"strategy": "none"}, headers=member)
    assert response.status == 403


async def test_tls_site_and_domain_strategies_render_for_traefik(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    await _site_with_domain(client, admin_headers, "shop", "www.shop.example")
    await _site_with_domain(client, admin_headers, "blog", "blog.example")
    # The base domain under Traefik's ACME: custom domains follow it unless they choose.
    base = await client.put("/api/v1/tls", json={"strategy": "traefik"}, headers=admin_headers)
    assert base.status == 200
    cert, key, _ = self_signed("www.shop.example")
    shop = await client.put(
        "/api/v1/sites/shop/tls",
        json={"strategy": "custom", "certificate": cert, "key": key, "redirect_https": False},
        headers=admin_headers,
    )
    assert shop.status == 200, await shop.text()
    view = await shop.json()
    assert view["effective_strategy"] == "custom"
    assert view["domains"][0]["certificate"]["names"] == ["www.shop.example"]
    assert view["base_domain"]["effective_strategy"] == "traefik"

    config = await _traefik(client, settings)
    routers = config["http"]["routers"]
    wildcard = routers["wharf-sites-tls"]["tls"]
    assert wildcard == {
        "certResolver": "letsencrypt-dns",
        "domains": [{"main": BASE, "sans": [f"*.{BASE}"]}],
    }
    assert config["tls"]["stores"]["default"]["defaultGeneratedCert"]["resolver"] == (
        "letsencrypt-dns"
    )
    by_rule = {router["rule"]: name for name, router in routers.items() if "tls" in router}
    blog_tls = routers[by_rule["Host(`blog.example`)"]]["tls"]
    assert blog_tls == {"certResolver": "letsencrypt"}
    shop_tls = routers[by_rule["Host(`www.shop.example`)"]]
    assert shop_tls["tls"] == {"options": "default"}
    assert [c["certFile"].strip() for c in config["tls"]["certificates"]] == [cert.strip()]
    # redirect_https false: the shop's plain-HTTP routers serve instead of redirecting.
    plain = {r["rule"]: r for r in routers.values() if "tls" not in r}
    assert "middlewares" not in plain["Host(`www.shop.example`)"]
    assert plain["Host(`blog.example`)"]["middlewares"] == ["wharf-redirect-https"]

    # One domain opts out: HTTP only, and its certificate is no longer served.
    none = await client.put(
        "/api/v1/sites/shop/domains/www.shop.example/tls",
        json={"strategy": "none"},
        headers=admin_headers,
    )
    assert none.status == 200
    assert (await none.json())["domains"][0]["effective_strategy"] == "none"
    config = await _traefik(client, settings)
    assert "Host(`www.shop.example`)" not in {
        r["rule"] for r in config["http"]["routers"].values() if "tls" in r
    }
    assert "certificates" not in config["tls"]


async def test_tls_domain_endpoint_needs_a_verified_domain(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    assert (
        await client.post("/api/v1/sites", json={"name": "shop"}, headers=admin_headers)
    ).status == 201
    response = await client.put(
        "/api/v1/sites/shop/domains/nope.example/tls",
        json={"strategy": "none"},
        headers=admin_headers,
    )
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "domain_not_found"


async def test_tls_cloudflare_strategy_serves_the_uploaded_origin_certificate(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    await _site_with_domain(client, admin_headers, "shop", "shop.example")
    cert, key, _ = self_signed("shop.example", "*.shop.example")
    response = await client.put(
        "/api/v1/sites/shop/tls",
        json={"strategy": "cloudflare", "certificate": cert, "key": key},
        headers=admin_headers,
    )
    assert response.status == 200, await response.text()
    view = await response.json()
    assert view["domains"][0]["effective_strategy"] == "cloudflare"
    assert view["domains"][0]["certificate"]["names"] == ["shop.example", "*.shop.example"]
    assert view["domains"][0]["last_error"] is None
    config = await _traefik(client, settings)
    assert [c["certFile"].strip() for c in config["tls"]["certificates"]] == [cert.strip()]
    # Switching to the traefik strategy stops serving the upload, and back needs no new upload.
    await client.put("/api/v1/sites/shop/tls", json={"strategy": "traefik"}, headers=admin_headers)
    assert "tls" not in await _traefik(client, settings)
    again = await client.put(
        "/api/v1/sites/shop/tls", json={"strategy": "custom"}, headers=admin_headers
    )
    assert again.status == 200, await again.text()
    assert "certificates" in (await _traefik(client, settings))["tls"]
    # A domain verified later that the site's certificate does not cover: HTTP only, and said;
    # a new PUT without a certificate that covers it is refused.
    await _site_domain(client, admin_headers, "shop", "other.example")
    view = await (await client.get("/api/v1/sites/shop/tls", headers=admin_headers)).json()
    other = next(d for d in view["domains"] if d["hostnames"] == ["other.example"])
    assert other["certificate"] is None
    assert other["last_error"] == "no uploaded certificate covers other.example: upload one for it"
    routers = (await _traefik(client, settings))["http"]["routers"]
    assert "Host(`other.example`)" not in {r["rule"] for r in routers.values() if "tls" in r}
    refused = await client.put(
        "/api/v1/sites/shop/tls", json={"strategy": "custom"}, headers=admin_headers
    )
    assert (await refused.json())["error"]["code"] == "names_do_not_cover"


async def test_tls_only_one_process_issues_at_a_time(settings: Settings) -> None:
    unreachable = settings.replace(acme_directory="https://127.0.0.1:9/directory")
    async with open_services(unreachable) as services:
        await services.store.set_base_tls("wharf", None, 0)
        # Another process is issuing: this one orders nothing, so records no failure either.
        async with services.store.issuer_lock() as mine:
            assert mine
            assert await services.issuer.run_once() == []
            assert (await services.store.base_tls()).attempts == 0
        # Free again: it tries, and the failure to reach the CA is recorded.
        assert await services.issuer.run_once() == []
        base = await services.store.base_tls()
        assert base.attempts == 1 and base.last_error and "cannot reach the CA" in base.last_error
