"""The admin UI's TLS screens: a site's strategy and certificate with its custom domains', and
the base domain's (admins); each certificate's names, expiry and fingerprint, never its key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from controlplane.errors import Forbidden, NotFound, WharfError
from controlplane.models import HostsStatus, StoredCertificate, User
from controlplane.tls.tls_service import HSTS_MAX, STRATEGIES
from controlplane.web.inputs import read_form
from controlplane.web.keys import services
from controlplane.web.ui_common import Routes, redirect, signed_in, ui_page

# A certificate this close to its end is shown as expiring (the docs suggest alerting at 14 days).
SOON_DAYS = 14
_REDIRECTS = {"auto": None, "on": True, "off": False}
# Which field of the form an error code belongs to.
_FIELD_OF_CODE = {
    "invalid_strategy": "strategy",
    "invalid_key": "key",
    "key_mismatch": "key",
    "certificate_required": "certificate",
    "invalid_certificate": "certificate",
    "certificate_expired": "certificate",
    "certificate_not_yet_valid": "certificate",
    "names_do_not_cover": "certificate",
    "chain_out_of_order": "certificate",
}
# The service names the API's field in its other messages (invalid_tls).
_FIELD_IN_MESSAGE = (
    ("hsts_max_age", "hsts"),
    ("redirect_https", "redirect"),
    ("key", "key"),
    ("certificate", "certificate"),
)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def certificate_view(cert: StoredCertificate | None) -> dict[str, Any] | None:
    """A certificate's public facts and the days it has left; never its key."""
    if cert is None:
        return None
    return {
        "names": cert.names,
        "issuer": cert.issuer,
        "not_before": cert.not_before,
        "not_after": cert.not_after,
        "days_left": (cert.not_after - datetime.now(UTC)).days,
        "fingerprint": cert.fingerprint,
        "source": cert.source,
    }


def status_view(status: HostsStatus) -> dict[str, Any]:
    """Some hosts' TLS in words: a badge (never colour alone), a sentence, the certificate."""
    cert = certificate_view(status.certificate)
    effective = status.effective
    if effective == "none":
        badge, tone, say = "HTTP ONLY", "muted", "No TLS: served over plain HTTP."
    elif effective == "traefik":
        badge, tone = "BY TRAEFIK", "muted"
        say = "Traefik's own ACME resolver obtains and renews it; Wharf does not hold it."
    elif cert is not None and cert["days_left"] < 0:
        badge, tone, say = "EXPIRED", "bad", "The certificate has expired: browsers refuse it."
    elif cert is not None and cert["days_left"] < SOON_DAYS:
        badge, tone = "EXPIRES SOON", "warn"
        say = f"The certificate expires in {cert['days_left']} days."
    elif cert is not None:
        badge, tone = "HTTPS", "live"
        say = f"Served over HTTPS; the certificate expires in {cert['days_left']} days."
    elif status.last_error:
        badge, tone, say = "ERROR", "bad", "No certificate yet: on plain HTTP until there is one."
    elif effective == "wharf":
        badge, tone, say = (
            "PENDING",
            "warn",
            "Wharf is ordering the certificate: plain HTTP until then.",
        )
    else:
        badge, tone, say = "NO CERTIFICATE", "bad", "Upload a certificate and its key."
    return {
        "hostnames": status.hostnames,
        "strategy": status.strategy,
        "effective": effective,
        "badge": badge,
        "tone": tone,
        "say": say,
        "certificate": cert,
        "last_error": status.last_error,
        "retry_at": status.retry_at,
    }


def _field(exc: WharfError) -> str:
    """The form field an error is shown next to."""
    if exc.code in _FIELD_OF_CODE:
        return _FIELD_OF_CODE[exc.code]
    for name, field in _FIELD_IN_MESSAGE:
        if name in exc.message:
            return field
    return "strategy"


def _body(form: Any, *, settings: bool, inherit: bool) -> dict[str, Any]:
    """A TLS form as the service's body: strategy (empty inherits), redirect and HSTS (on the
    site and base forms), and the PEM texts that were filled in."""
    strategy = _text(form.get("strategy"))
    body: dict[str, Any] = {"strategy": strategy or (None if inherit else "")}
    if settings:
        redirect_choice = _text(form.get("redirect_https"))
        body["redirect_https"] = _REDIRECTS.get(redirect_choice, redirect_choice)
        hsts = _text(form.get("hsts_max_age")).strip()
        body["hsts_max_age"] = (
            None
            if not hsts and inherit
            else 0
            if not hsts
            else int(hsts)
            if hsts.isascii() and hsts.isdigit() and len(hsts) < 12
            else hsts
        )
    for name in ("certificate", "chain", "key"):
        text = _text(form.get(name))
        if text.strip():
            body[name] = text
    return body


def _kept(form: Any) -> dict[str, str]:
    """What a refused form is shown again with: everything but the key, and no field a key
    was pasted into by mistake (the refusal says so; the page must not show it back)."""
    names = ("strategy", "redirect_https", "hsts_max_age", "certificate", "chain")
    kept = {name: _text(form.get(name)) for name in names}
    return {name: "" if "PRIVATE KEY" in text else text for name, text in kept.items()}


def _form_values(strategy: object, redirect_https: bool | None, hsts: int | None) -> dict[str, str]:
    """A settings form filled in with what is stored."""
    choice = next(key for key, value in _REDIRECTS.items() if value is redirect_https)
    return {
        "strategy": strategy if isinstance(strategy, str) else "",
        "redirect_https": choice,
        "hsts_max_age": "" if hsts is None else str(hsts),
        "certificate": "",
        "chain": "",
    }


async def _site_page(
    request: web.Request, user: User, status: int = 200, **context: Any
) -> web.Response:
    name = request.match_info["site"]
    site = await services(request).sites.get(user, name)
    view = await services(request).tls.site(user, name)
    values = {
        "user": user,
        "site": site,
        "strategies": STRATEGIES,
        "hsts_max": HSTS_MAX,
        "effective": view.effective,
        "certificate": certificate_view(view.certificate),
        "base": status_view(view.base),
        "domains": [status_view(domain) for domain in view.domains],
        "values": _form_values(
            view.settings.strategy, view.settings.redirect_https, view.settings.hsts_max_age
        ),
        "hsts_in_effect": view.hsts_max_age,
        "failed": None,  # which form was refused: "site" or a hostname
        "errors": {},  # field -> message, of the refused form
        "saved": request.query.get("saved"),
    }
    if context.get("failed") == "site":
        values["values"] = context.pop("kept")
    return ui_page(request, "site_tls.html", {**values, **context}, status)


async def site_tls_page(request: web.Request) -> web.Response:
    """A site's TLS: its hosts', its custom domains' strategy and certificate."""
    return await _site_page(request, await signed_in(request))


async def set_site_tls(request: web.Request) -> web.Response:
    """Set the site's strategy, redirect, HSTS and maybe upload a certificate."""
    user = await signed_in(request)
    form = await read_form(request)
    name = request.match_info["site"]
    try:
        await services(request).tls.set_site(user, name, _body(form, settings=True, inherit=True))
    except NotFound:
        raise  # the site: the 404 page
    except WharfError as exc:
        errors = {_field(exc): exc.message}
        return await _site_page(request, user, 422, failed="site", errors=errors, kept=_kept(form))
    return redirect(f"/sites/{name}/tls?saved=site")


async def set_domain_tls(request: web.Request) -> web.Response:
    """Set one custom domain's own strategy (empty: its site's) and maybe its certificate."""
    user = await signed_in(request)
    form = await read_form(request)
    name, hostname = request.match_info["site"], request.match_info["hostname"]
    try:
        await services(request).tls.set_domain(
            user, name, hostname, _body(form, settings=False, inherit=True)
        )
    except NotFound:
        raise  # the site or the domain: the 404 page
    except WharfError as exc:
        errors = {_field(exc): exc.message}
        return await _site_page(
            request, user, 422, failed=hostname, errors=errors, domain_kept=_kept(form)
        )
    return redirect(f"/sites/{name}/tls?saved={quote(hostname, safe='')}")


def _forbidden(request: web.Request, user: User) -> web.Response:
    """The page a member gets for an admin's screen (the API answers 403 too)."""
    return ui_page(request, "ui_forbidden.html", {"user": user}, 403)


async def _base_page(
    request: web.Request, user: User, status: int = 200, **context: Any
) -> web.Response:
    base, hosts = await services(request).tls.base(user)
    values = {
        "user": user,
        "strategies": STRATEGIES,
        "hsts_max": HSTS_MAX,
        "status": status_view(hosts),
        "values": _form_values(base.strategy, base.redirect_https, base.hsts_max_age),
        "errors": {},
        "saved": request.query.get("saved"),
    }
    return ui_page(request, "base_tls.html", {**values, **context}, status)


async def base_tls_page(request: web.Request) -> web.Response:
    """The base domain's TLS (admins): its wildcard's strategy, certificate, last ACME error."""
    user = await signed_in(request)
    try:
        return await _base_page(request, user)
    except Forbidden:
        return _forbidden(request, user)


async def set_base_tls(request: web.Request) -> web.Response:
    """Set the base domain's strategy, redirect, HSTS and maybe upload its certificate."""
    user = await signed_in(request)
    form = await read_form(request)
    try:
        await services(request).tls.set_base(user, _body(form, settings=True, inherit=False))
    except Forbidden:
        return _forbidden(request, user)
    except WharfError as exc:
        errors = {_field(exc): exc.message}
        return await _base_page(request, user, 422, errors=errors, values=_kept(form))
    return redirect("/admin/tls?saved=1")


ROUTES: Routes = (
    ("GET", "/sites/{site}/tls", site_tls_page),
    ("POST", "/sites/{site}/tls", set_site_tls),
    ("POST", "/sites/{site}/tls/domains/{hostname}", set_domain_tls),
    ("GET", "/admin/tls", base_tls_page),
    ("POST", "/admin/tls", set_base_tls),
)
