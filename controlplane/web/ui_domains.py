"""The admin UI's custom-domain screen: add a hostname, what to publish to prove it is yours
(the exact TXT record, or the HTTP token), and checking it now."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from controlplane.domains.ownership_checks import challenge_record_name, challenge_url
from controlplane.errors import NotFound, WharfError
from controlplane.models import User
from controlplane.web.inputs import read_form
from controlplane.web.keys import services
from controlplane.web.ui_common import Routes, redirect, signed_in, ui_page


def _domain_view(domain: Any) -> dict[str, Any]:
    """A domain with what its owner must publish: the TXT record, or the HTTP token."""
    record = challenge_record_name(domain.hostname)
    wildcard = domain.hostname.startswith("*.")
    return {
        "domain": domain,
        "record": record,
        # Most DNS hosts append the zone to a name typed in their form; the zone is usually the
        # last two labels (not for example.co.uk, hence the page's "usually").
        "relative": record.removesuffix("." + ".".join(domain.hostname.split(".")[-2:])),
        "http_url": None if wildcard else challenge_url(domain.hostname, domain.token),
    }


async def _domains_page(
    request: web.Request, user: User, status: int = 200, **context: Any
) -> web.Response:
    name = request.match_info["site"]
    site = await services(request).sites.get(user, name)
    domains = await services(request).domains.list(user, name)
    values = {
        "user": user,
        "site": site,
        "domains": [_domain_view(d) for d in domains],
        "removed": request.query.get("removed"),
    }
    return ui_page(
        request, "domains.html", {"error": None, "hostname": "", **values, **context}, status
    )


async def domains_page(request: web.Request) -> web.Response:
    """A site's custom domains, each with how to prove it is yours."""
    return await _domains_page(request, await signed_in(request))


async def add_domain(request: web.Request) -> web.Response:
    """Attach a hostname; the page again, showing its TXT record, or the reason it was refused."""
    user = await signed_in(request)
    form = await read_form(request)
    name = request.match_info["site"]
    try:
        await services(request).domains.add(user, name, form.get("hostname"))
    except NotFound:
        raise  # the site: the 404 page
    except WharfError as exc:
        hostname = form.get("hostname") or ""
        return await _domains_page(request, user, 422, error=exc.message, hostname=hostname)
    return redirect(f"/sites/{name}/domains")


async def check_domain(request: web.Request) -> web.Response:
    """Run the ownership check now; the page shows its result."""
    user = await signed_in(request)
    name, hostname = request.match_info["site"], request.match_info["hostname"]
    await services(request).domains.verify(user, name, hostname, None)
    return redirect(f"/sites/{name}/domains")


async def remove_domain(request: web.Request) -> web.Response:
    """Detach the hostname from the site; the page says it is gone."""
    user = await signed_in(request)
    name, hostname = request.match_info["site"], request.match_info["hostname"]
    await services(request).domains.delete(user, name, hostname)
    return redirect(f"/sites/{name}/domains?{urlencode({'removed': hostname})}")


ROUTES: Routes = (
    ("GET", "/sites/{site}/domains", domains_page),
    ("POST", "/sites/{site}/domains", add_domain),
    ("POST", "/sites/{site}/domains/{hostname}/check", check_domain),
    ("POST", "/sites/{site}/domains/{hostname}/remove", remove_domain),
)
