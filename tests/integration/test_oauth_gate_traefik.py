"""The oauth visitor gate through a real Traefik, the real edge and the real control plane,
with the real OpenID provider (npm oidc-provider): a listed visitor reaches the site, another
gets the refusal page, and the cookie opens no other site's host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from controlplane.deploys.release_files import ReleaseFiles
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.harness.oidc_provider import oidc_provider, require_node, sign_in
from tests.harness.ports import free_port
from tests.harness.releases import install_release
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.harness.wharf_sign_in import callback_uri
from tests.sites import site_files

pytestmark = [pytest.mark.slow, pytest.mark.one_database]
RELEASES = {"blog": "aaaaaaaaaaa1", "shop": "ccccccccccc3"}
ACCOUNTS = {
    "alice": {"email": "alice@example.test", "email_verified": True},
    "bob": {"email": "bob@other.test", "email_verified": True},
}


@dataclass
class Visitor:
    """A browser, by hand: Traefik for site hosts (by Host header), the control plane for
    /auth/, and the cookies each host set (host-only, as a browser keeps them)."""

    traefik: str
    control: str
    session: aiohttp.ClientSession
    cookies: dict[str, dict[str, str]]

    async def get(self, url: str) -> aiohttp.ClientResponse:
        """GET a URL as the browser would (site hosts through Traefik); no redirects followed."""
        target = URL(url)
        host = target.host or ""
        base = self.control if url.startswith(self.control) else self.traefik
        jar = self.cookies.setdefault(host, {})
        headers = {"Host": target.raw_authority} if base == self.traefik else {}
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        async with self.session.get(
            base + target.path_qs, headers=headers, allow_redirects=False
        ) as response:
            await response.read()
            for name, morsel in response.cookies.items():
                if morsel["max-age"] == "0":
                    jar.pop(name, None)
                else:
                    jar[name] = morsel.value
            return response

    async def through_gate(self, site_url: str, login: str) -> aiohttp.ClientResponse:
        """From a gated page to the control plane's answer after signing in as login."""
        gated = await self.get(site_url)
        assert gated.status == 302, gated.status
        login_page = await self.get(gated.headers["Location"])
        assert login_page.status == 200
        text = await login_page.text()
        assert "Sign in with Test IdP" in text and "Sign in to continue" in text
        start = await self.get(str(URL(site_url).join(URL("/.wharf/gate/oauth/oidc?next=/"))))
        assert start.status == 303 and start.headers["Location"].startswith(self.control)
        off = await self.get(start.headers["Location"])
        assert off.status == 303, await off.text()
        return await self.get(await sign_in(off.headers["Location"], login))


@pytest.fixture
async def visitor(database_url: str, tmp_path: Path, aiohttp_server: Any) -> AsyncIterator[Visitor]:
    """Sites blog and shop behind one oauth gate each (alice@example.test listed), Traefik,
    the edge, the control plane and oidc-provider."""
    require_node()
    control_port = free_port()
    async with oidc_provider([callback_uri(control_port, "oidc")], ACCOUNTS) as provider:
        settings = stack_settings(
            tmp_path / "data",
            database_url=database_url,
            listen=f"127.0.0.1:{control_port}",
            public_url=f"http://127.0.0.1:{control_port}",
            worker="false",
            reconcile_interval="3600",  # releases below are installed without deploy rows
            oidc_issuer=provider.issuer,
            oidc_client_id=provider.client_id,
            oidc_client_secret=provider.client_secret,
            oidc_name="Test IdP",
        )
        app = create_app(settings)
        await aiohttp_server(app, port=control_port)
        services = app[SERVICES]
        admin = await services.accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
        files = ReleaseFiles(settings.data_dir)
        for site, deploy_id in RELEASES.items():
            await services.sites.create(admin, site)
            install_release(settings.data_dir, site, deploy_id, site_files(deploy_id))
            files.activate(site, "production", deploy_id)
            await services.gates.set(
                admin, site, "production", "oauth", allowed=["alice@example.test"]
            )
        await services.routing.reconcile(force=True)
        async with (
            edge_and_traefik(settings, services.routing.routers) as traefik,
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
        ):
            yield Visitor(traefik.rstrip("/"), f"http://127.0.0.1:{control_port}", session, {})


async def test_oauth_gate_lets_the_listed_visitor_in_only_on_that_host_and_refuses_others(
    visitor: Visitor,
) -> None:
    back = await visitor.through_gate("http://blog.localhost/", "alice")
    assert back.status == 303, await back.text()
    handoff = URL(back.headers["Location"])
    assert (handoff.host, handoff.path) == ("blog.localhost", "/.wharf/gate/oauth-done")
    done = await visitor.get(str(handoff))
    assert done.status == 303 and done.headers["Location"] == "/"
    cookie = done.cookies["wharf_gate"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["domain"]
    page = await visitor.get("http://blog.localhost/")
    assert page.status == 200 and RELEASES["blog"] in await page.text()

    # The cookie is blog's: shop, gated the same way and listing alice too, still asks.
    visitor.cookies["shop.localhost"] = {
        "wharf_gate": visitor.cookies["blog.localhost"]["wharf_gate"]
    }
    other = await visitor.get("http://shop.localhost/")
    assert other.status == 302 and "/.wharf/gate/login" in other.headers["Location"]

    # A hand-off token replayed in a browser that did not start the sign-in opens nothing.
    stranger = Visitor(visitor.traefik, visitor.control, visitor.session, {})
    refused = await stranger.get(str(handoff))
    assert refused.status == 403
    assert "did not finish in this browser" in await refused.text()
    assert "wharf_gate" not in refused.cookies

    # A verified visitor who is not listed gets a page saying so, and no cookie.
    bob = Visitor(visitor.traefik, visitor.control, visitor.session, {})
    refused = await bob.through_gate("http://blog.localhost/", "bob")
    text = " ".join((await refused.text()).split())
    assert refused.status == 403
    assert (
        "You signed in as bob@other.test, who is not on the list of people who may open this site"
        in text
    )
    assert "not_on_list" in text
    gated = await bob.get("http://blog.localhost/")
    assert gated.status == 302
