"""Routing follows the database: verified domains appear, and deleting a site removes its routes."""

from __future__ import annotations

import json

import yaml

from controlplane.config import Settings
from controlplane.services import open_services


async def test_routing_site_deletion_removes_its_domain_routes(settings: Settings) -> None:
    async with open_services(settings) as services:
        admin = await services.accounts.create_user(None, "a@example.test", "admin-pass-1", "admin")
        await services.sites.create(admin, "shop")
        await services.domains.add(admin, "shop", "www.shop.test", "production")
        await services.domains.mark_verified(admin, "shop", "www.shop.test")

        def routers() -> dict[str, dict[str, object]]:
            config = yaml.safe_load((settings.traefik_watched_dir / "wharf.yml").read_text())
            return dict(config["http"]["routers"])

        def edge_domains() -> dict[str, object]:
            document = json.loads((settings.data_dir / "edge" / "config.json").read_text())
            return dict(document["domains"])

        await services.routing.reconcile()
        assert any(r["rule"] == "Host(`www.shop.test`)" for r in routers().values())
        assert edge_domains() == {"www.shop.test": {"site": "shop", "environment": "production"}}

        await services.sites.delete(admin, "shop")
        await services.routing.reconcile()
        assert sorted(routers()) == ["wharf-acme-http01", "wharf-sites"]
        assert edge_domains() == {}
