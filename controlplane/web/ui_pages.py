"""The admin UI's pages: sign in and out, the sites, a site with its deploys, uploads,
publishing and rolling back, its settings; and the registry of every screen's routes.
Server-rendered from templates/, on the same service calls as the JSON API; every action is
a form that POSTs and redirects, so nothing needs JavaScript."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from controlplane.deploys.build_flags import CATALOGUE
from controlplane.errors import Forbidden, NotFound, RateLimited, WharfError
from controlplane.models import Deploy, Site, SiteTlsView, UploadForm, User
from controlplane.names import preview_host, safe_next, site_hosts
from controlplane.web import (
    ui_account,
    ui_admin,
    ui_domains,
    ui_gates,
    ui_sign_in,
    ui_theme,
    ui_tls,
    ui_webhooks,
)
from controlplane.web.inputs import read_form, url_number
from controlplane.web.keys import SETTINGS, services
from controlplane.web.log_stream import stream_log
from controlplane.web.middleware import client_address
from controlplane.web.site_api import site_urls
from controlplane.web.ui_common import (
    Routes,
    redirect,
    showing_not_found,
    signed_in,
    ui_page,
)
from controlplane.web.ui_session import COOKIE, UI_HEADERS, set_session_cookie, ui_user
from controlplane.web.ui_tls import status_view
from controlplane.web.uploads import receive_upload


def _next_path(value: object) -> str:
    """Where to go after signing in: a path on this host, never another site."""
    return safe_next(value, "/sites")


async def home(request: web.Request) -> web.Response:
    """The sites when signed in, else the sign-in page."""
    return redirect("/sites" if await ui_user(request) else "/sign-in")


async def _sign_in_page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    """The sign-in page: the providers' buttons, and the password form (folded away when
    password sign-in is only for the break-glass admin)."""
    sign_in = services(request).sign_in
    values = {
        "next": _next_path(request.query.get("next")),
        "error": None,
        "email": "",
        "providers": sign_in.providers,
        "password_off": await sign_in.break_glass_user() is not None,
    }
    return ui_page(request, "sign_in.html", {**values, **context}, status)


async def sign_in_form(request: web.Request) -> web.Response:
    """The sign-in form."""
    if await ui_user(request):
        return redirect(_next_path(request.query.get("next")))
    if request.query.get("changed"):
        notice = "Your password is changed, and every session ended with it."
        return await _sign_in_page(request, notice=notice)
    return await _sign_in_page(request)


async def sign_in(request: web.Request) -> web.Response:
    """Check the password; the session cookie and the page asked for, or the form again."""
    form = await read_form(request)
    email, password = form.get("email"), form.get("password")
    next_path = _next_path(form.get("next"))
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    kept = {"next": next_path, "email": email if isinstance(email, str) else ""}
    try:
        token = await services(request).accounts.sign_in(email, password, address)
    except RateLimited as exc:
        error = f"Too many failed sign-ins. Try again in {exc.retry_after} seconds."
        response = await _sign_in_page(request, 429, error=error, **kept)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Forbidden as exc:  # the right password of a disabled account, or passwords are off
        error = (
            "Password sign-in is turned off on this Wharf. Use a button above."
            if exc.code == "password_sign_in_off"
            else "This account is disabled. An admin of this Wharf can enable it again."
        )
        return await _sign_in_page(request, 403, error=error, **kept)
    except WharfError:
        error = "That email and password do not match an account. Check both and try again."
        return await _sign_in_page(request, 401, error=error, **kept)
    response = redirect(next_path)
    set_session_cookie(response, request, token)
    return response


async def sign_out(request: web.Request) -> web.Response:
    """End this session; back to the sign-in page."""
    token = request.cookies.get(COOKIE)
    if token:
        await services(request).accounts.sign_out(token)
    response = redirect("/sign-in")
    response.del_cookie(COOKIE, path="/")
    return response


def _site_urls(request: web.Request, site_name: str) -> dict[str, str]:
    hosts = site_hosts(site_name, request.app[SETTINGS].base_domain)
    return {env: url for env, url in site_urls(request, dict(hosts)).items() if url}


def _page_number(value: object) -> int:
    return url_number(value) or 1


async def _sites(
    request: web.Request, user: User, status: int = 200, **context: Any
) -> web.Response:
    search = request.query.get("q", "")
    listing = await services(request).sites.page(
        user, search, _page_number(request.query.get("page"))
    )
    views = [
        {"summary": summary, "urls": _site_urls(request, summary.site.name)}
        for summary in listing.sites
    ]
    values = {
        "user": user,
        "sites": views,
        "listing": listing,
        "routing": await services(request).routing.report(),
        "now": datetime.now(UTC),
        "q": search,
        "error": None,
        "name": "",
        "deleted": request.query.get("deleted"),
    }
    return ui_page(request, "sites.html", {**values, **context}, status)


async def sites_page(request: web.Request) -> web.Response:
    """The sites the user may see (a page of them, searchable), and the form to create one."""
    return await _sites(request, await signed_in(request))


async def create_site(request: web.Request) -> web.Response:
    """Create a site; its page, or the list again with the reason next to the field."""
    user = await signed_in(request)
    form = await read_form(request)
    try:
        site = await services(request).sites.create(user, form.get("name"))
    except WharfError as exc:
        return await _sites(request, user, 422, error=exc.message, name=form.get("name") or "")
    return redirect(f"/sites/{site.name}")


# Deploys a page of a site's history shows.
DEPLOYS_PER_PAGE = 25


async def site_page(request: web.Request) -> web.Response:
    """A site: its URLs, its live deploys, and a page of its deploys with publish and roll back."""
    user = await signed_in(request)
    name = request.match_info["site"]
    site = await services(request).sites.get(user, name)
    before = request.query.get("before") or None
    history = await services(request).deploys.page(user, name, before, DEPLOYS_PER_PAGE)
    context = {
        "user": user,
        "site": site,
        "urls": _site_urls(request, site.name),
        "history": history,
        "previews": {deploy.id: _preview_url(request, deploy) for deploy in history.deploys},
        "before": before,
        "live": await services(request).deploys.live(user, name),
        "published": request.query.get("published"),
        "routing": await services(request).routing.site(site.name),
        "tls": _tls_health(await services(request).tls.site(user, name)),
        "monitoring": await services(request).monitor.report(user, name),
    }
    return ui_page(request, "site.html", context)


def _tls_health(view: SiteTlsView) -> dict[str, Any]:
    """The site's own hosts' TLS, and how many of its custom domains are not on HTTPS."""
    domains = [status_view(status) for status in view.domains]
    return {
        "own": status_view(view.base),
        "domains": len(domains),
        "troubled": [d for d in domains if d["tone"] in ("bad", "warn")],
    }


def _preview_url(request: web.Request, deploy: Deploy) -> str | None:
    """The deploy's own URL while its files are there (none for a name too long for one)."""
    if deploy.status not in ("ready", "live", "superseded") or deploy.pruned_at:
        return None
    host = preview_host(deploy.id, deploy.site_name, request.app[SETTINGS].base_domain)
    return site_urls(request, {"preview": host})["preview"]


async def _deploy(request: web.Request, user: User) -> Deploy:
    return await services(request).deploys.get(
        user, request.match_info["site"], request.match_info["deploy"]
    )


async def _publish_page(
    request: web.Request, user: User, deploy: Deploy, error: str | None = None, status: int = 200
) -> web.Response:
    """The publish question, with the failed release checks and "Publish anyway" when the
    site blocks such deploys."""
    site = await services(request).sites.get(user, deploy.site_name)
    checks = deploy.checks or {}
    blocking = site.checks == "block" and checks.get("status") == "failed"
    context = {
        "user": user,
        "deploy": deploy,
        "error": error,
        "checks": checks,
        "blocking": blocking,
        "problems_shown": PROBLEMS_SHOWN,
    }
    return ui_page(request, "publish.html", context, status)


async def publish_form(request: web.Request) -> web.Response:
    """Ask before publishing (or rolling back to) a deploy: it goes live at once."""
    user = await signed_in(request)
    return await _publish_page(request, user, await _deploy(request, user))


async def publish(request: web.Request) -> web.Response:
    """Publish the deploy (anyway, when "force" is sent); back to the site, which shows it LIVE."""
    user = await signed_in(request)
    form = await read_form(request)
    deploy = await _deploy(request, user)
    try:
        event = await services(request).deploys.publish(
            user, deploy.site_name, deploy.id, force=form.get("force") == "true"
        )
    except WharfError as exc:
        return await _publish_page(request, user, deploy, exc.message, 409)
    services(request).probes.check_later(event)
    return redirect(f"/sites/{deploy.site_name}?published={deploy.id}")


async def pin(request: web.Request) -> web.Response:
    """Pin a deploy (retention keeps it) or unpin it; back to its page."""
    user = await signed_in(request)
    form = await read_form(request)
    deploy = await _deploy(request, user)
    pinned = form.get("pinned") == "true"
    await services(request).deploys.set_pinned(user, deploy.site_name, deploy.id, pinned)
    notice = "pinned" if pinned else "unpinned"
    return redirect(f"/sites/{deploy.site_name}/deploys/{deploy.id}?notice={notice}")


async def upload_form(request: web.Request) -> web.Response:
    """Upload a ZIP of the built site, to production or staging."""
    user = await signed_in(request)
    site = await services(request).sites.get(user, request.match_info["site"])
    return ui_page(
        request, "upload.html", {"user": user, "site": site, "error": None, "problems": []}
    )


async def upload(request: web.Request) -> web.Response:
    """Take the upload (the same path as the API's); the new deploy's page, or the form again
    with every refused file in a table."""
    user = await signed_in(request)
    name = request.match_info["site"]

    async def receive(path: Path, limit: int) -> UploadForm:
        received = await receive_upload(request, path, limit)
        fields = received.fields
        return UploadForm(fields.get("environment") or "production", None, fields.get("message"))

    try:
        deploy = await services(request).deploys.receive(user, name, receive)
    except NotFound:
        raise  # the site: the 404 page
    except WharfError as exc:
        site = await services(request).sites.get(user, name)
        problems = exc.details if isinstance(exc.details, list) else []
        context = {"user": user, "site": site, "error": exc.message, "problems": problems}
        return ui_page(request, "upload.html", context, exc.status)
    return redirect(f"/sites/{name}/deploys/{deploy.id}")


_SWITCHES = ("auto_publish", "spa", "minify", "probe_rollback")
_MIB = 1024 * 1024


def _settings(
    request: web.Request, user: User, site: Site, status: int = 200, **context: Any
) -> web.Response:
    values = {
        "user": user,
        "site": site,
        "saved": request.query.get("saved"),
        "catalogue": CATALOGUE,
        "flags": " ".join(site.allowed_flags),
        "max_file_mib": max(site.checks_max_file_bytes // _MIB, 1),
        "error": None,
        "error_field": None,
    }
    return ui_page(request, "site_settings.html", {**values, **context}, status)


async def settings_page(request: web.Request) -> web.Response:
    """A site's deploy settings, and the way to delete it."""
    user = await signed_in(request)
    return _settings(
        request, user, await services(request).sites.get(user, request.match_info["site"])
    )


async def save_settings(request: web.Request) -> web.Response:
    """Save the switches (a box not sent is off, as browsers send only ticked ones), the
    allowed build flags (separated by spaces or commas) and, for admins, the tier."""
    user = await signed_in(request)
    form = await read_form(request)
    name = request.match_info["site"]
    given = form.get("allowed_flags")
    flags = given if isinstance(given, str) else ""
    changes: dict[str, Any] = {switch: switch in form for switch in _SWITCHES}
    changes["allowed_flags"] = flags.replace(",", " ").split()
    interval = form.get("monitor_interval")
    if isinstance(interval, str) and interval.strip():
        # Not a number goes on as text, for the service to refuse with its message.
        number = interval.strip()
        changes["monitor_interval"] = (
            int(number) if number.isdigit() and len(number) < 6 else number
        )
    if "checks" in form:
        changes["checks"] = form["checks"]
    mib = form.get("checks_max_file_mib")
    if isinstance(mib, str) and mib.strip():
        # Whole MiB in the form; the service judges the bytes (a word is refused there too).
        digits = mib.strip()
        changes["checks_max_file_bytes"] = (
            int(digits) * _MIB if digits.isascii() and digits.isdigit() else digits
        )
    if user.is_admin and "tier" in form:
        changes["tier"] = form["tier"]
    try:
        await services(request).sites.update(user, name, changes)
    except NotFound:
        raise
    except WharfError as exc:
        site = await services(request).sites.get(user, name)
        field = "checks" if exc.code == "invalid_checks" else "flags"
        return _settings(
            request, user, site, 422, error=exc.message, flags=flags, error_field=field
        )
    return redirect(f"/sites/{name}/settings?saved=1")


async def delete_form(request: web.Request) -> web.Response:
    """Ask before deleting a site, naming it: everything of it goes."""
    user = await signed_in(request)
    site = await services(request).sites.get(user, request.match_info["site"])
    return ui_page(request, "site_delete.html", {"user": user, "site": site, "error": None})


async def delete_site(request: web.Request) -> web.Response:
    """Delete the site once its name is typed; back to the sites."""
    user = await signed_in(request)
    form = await read_form(request)
    name = request.match_info["site"]
    site = await services(request).sites.get(user, name)
    if form.get("confirm") != site.name:
        context = {"user": user, "site": site, "error": f"Type {site.name} to confirm."}
        return ui_page(request, "site_delete.html", context, 422)
    await services(request).sites.delete(user, name)
    return redirect(f"/sites?deleted={name}")


# How many of a deploy's files its page lists (the rest are counted).
FILES_SHOWN = 200
# How many release-check problems the publish page lists (its deploy page lists them all).
PROBLEMS_SHOWN = 20


async def deploy_page(request: web.Request) -> web.Response:
    """A deploy: its status, what its build reported, and its log (live while it builds)."""
    user = await signed_in(request)
    deploy = await _deploy(request, user)
    lines = await services(request).deploys.log(user, deploy.site_name, deploy.id)
    problems = deploy.report.get("archive") or deploy.report.get("rules", {}).get("problems") or []
    context = {
        "user": user,
        "deploy": deploy,
        "preview": _preview_url(request, deploy),
        "notice": request.query.get("notice"),
        "lines": lines,
        "building": not await services(request).deploys.settled(deploy),
        "problems": problems,
        "files": await services(request).deploys.served_files(user, deploy.site_name, deploy.id),
        "files_shown": FILES_SHOWN,
    }
    return ui_page(request, "deploy.html", context)


async def deploy_log_stream(request: web.Request) -> web.StreamResponse:
    """The build log, live (server-sent events; see log_stream)."""
    user = await signed_in(request)
    return await stream_log(request, user, await _deploy(request, user), UI_HEADERS)


ROUTES: Routes = (
    ("GET", "/", home),
    ("GET", "/sign-in", sign_in_form),
    ("POST", "/sign-in", sign_in),
    ("POST", "/sign-out", sign_out),
    ("GET", "/sites", sites_page),
    ("POST", "/sites", create_site),
    ("GET", "/sites/{site}", site_page),
    ("GET", "/sites/{site}/settings", settings_page),
    ("POST", "/sites/{site}/settings", save_settings),
    ("GET", "/sites/{site}/delete", delete_form),
    ("POST", "/sites/{site}/delete", delete_site),
    ("GET", "/sites/{site}/upload", upload_form),
    ("POST", "/sites/{site}/upload", upload),
    ("GET", "/sites/{site}/deploys/{deploy}", deploy_page),
    ("GET", "/sites/{site}/deploys/{deploy}/log", deploy_log_stream),
    ("GET", "/sites/{site}/deploys/{deploy}/publish", publish_form),
    ("POST", "/sites/{site}/deploys/{deploy}/pin", pin),
    ("POST", "/sites/{site}/deploys/{deploy}/publish", publish),
)


def all_routes() -> Routes:
    """Every screen's routes."""
    return (
        ROUTES
        + ui_domains.ROUTES
        + ui_gates.ROUTES
        + ui_tls.ROUTES
        + ui_webhooks.ROUTES
        + ui_account.ROUTES
        + ui_admin.ROUTES
        + ui_sign_in.ROUTES
        + ui_theme.ROUTES
    )


def add_ui_routes(app: web.Application, static: Any) -> None:
    """Register the UI's pages and its /static/ files."""
    for method, path, handler in all_routes():
        app.router.add_route(method, path, showing_not_found(handler))
    app.router.add_static("/static/", static, name="static", append_version=True)
