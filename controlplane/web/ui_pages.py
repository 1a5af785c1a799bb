"""The admin UI's pages: sign in and out, the sites, a site with its deploys, publishing and
rolling back. Server-rendered from templates/, on the same service calls as the JSON API; every
action is a form that POSTs and redirects, so nothing needs JavaScript."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from controlplane.domains.ownership_checks import challenge_record_name, challenge_url
from controlplane.errors import NotFound, RateLimited, WharfError
from controlplane.models import Deploy, UploadForm, User
from controlplane.names import site_hosts
from controlplane.web.inputs import read_form
from controlplane.web.keys import SETTINGS, services
from controlplane.web.middleware import client_address
from controlplane.web.pages import page
from controlplane.web.ui_session import (
    COOKIE,
    UI_HEADERS,
    set_session_cookie,
    ui_user,
)
from controlplane.web.uploads import receive_upload


def ui_page(
    request: web.Request, name: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A UI page with the UI's security headers."""
    response = page(request, name, {"user": None, **context}, status)
    response.headers.update(UI_HEADERS)
    return response


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **UI_HEADERS})


async def _signed_in(request: web.Request) -> User:
    """The signed-in user; otherwise a redirect to the sign-in page that comes back here."""
    user = await ui_user(request)
    if user is None:
        raise web.HTTPSeeOther(f"/sign-in?next={quote(request.path_qs, safe='')}")
    return user


def _next_path(value: object) -> str:
    """Where to go after signing in: a path on this host, never another site."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value
    return "/sites"


def _showing_not_found(handler: Handler) -> Handler:
    """The handler, with a NotFound from its services answered by the UI's 404 page: another
    member's site, deploy or token looks exactly like one that does not exist."""

    async def page_or_not_found(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except NotFound:
            return ui_page(request, "ui_not_found.html", {"user": await ui_user(request)}, 404)

    return page_or_not_found


async def home(request: web.Request) -> web.Response:
    """The sites when signed in, else the sign-in page."""
    return _redirect("/sites" if await ui_user(request) else "/sign-in")


async def sign_in_form(request: web.Request) -> web.Response:
    """The sign-in form."""
    if await ui_user(request):
        return _redirect(_next_path(request.query.get("next")))
    context = {"next": _next_path(request.query.get("next")), "error": None, "email": ""}
    if request.query.get("changed"):
        context["notice"] = "Your password is changed, and every session ended with it."
    return ui_page(request, "sign_in.html", context)


async def sign_in(request: web.Request) -> web.Response:
    """Check the password; the session cookie and the page asked for, or the form again."""
    form = await read_form(request)
    email, password = form.get("email"), form.get("password")
    next_path = _next_path(form.get("next"))
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    try:
        token = await services(request).accounts.sign_in(email, password, address)
    except RateLimited as exc:
        error = f"Too many failed sign-ins. Try again in {exc.retry_after} seconds."
        context = {"next": next_path, "error": error, "email": email}
        response = ui_page(request, "sign_in.html", context, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except WharfError:
        error = "That email and password do not match an account. Check both and try again."
        context = {"next": next_path, "error": error, "email": email}
        return ui_page(request, "sign_in.html", context, 401)
    response = _redirect(next_path)
    set_session_cookie(response, request, token)
    return response


async def sign_out(request: web.Request) -> web.Response:
    """End this session; back to the sign-in page."""
    token = request.cookies.get(COOKIE)
    if token:
        await services(request).accounts.sign_out(token)
    response = _redirect("/sign-in")
    response.del_cookie(COOKIE, path="/")
    return response


def _site_view(request: web.Request, site: Any) -> dict[str, Any]:
    hosts = site_hosts(site.name, request.app[SETTINGS].base_domain)
    template = request.app[SETTINGS].site_link_template
    urls = {env: template.format(host=host) for env, host in hosts.items() if host}
    return {"site": site, "urls": urls}


async def sites_page(request: web.Request) -> web.Response:
    """Every site the user may see, and the form to create one."""
    user = await _signed_in(request)
    sites = await services(request).sites.list(user)
    views = [_site_view(request, site) for site in sites]
    context = {"user": user, "sites": views, "error": None, "name": ""}
    return ui_page(request, "sites.html", {**context, "deleted": request.query.get("deleted")})


async def create_site(request: web.Request) -> web.Response:
    """Create a site; its page, or the list again with the reason next to the field."""
    user = await _signed_in(request)
    form = await read_form(request)
    try:
        site = await services(request).sites.create(user, form.get("name"))
    except WharfError as exc:
        sites = await services(request).sites.list(user)
        context = {
            "user": user,
            "sites": [_site_view(request, each) for each in sites],
            "error": exc.message,
            "name": form.get("name") or "",
            "deleted": None,
        }
        return ui_page(request, "sites.html", context, 422)
    return _redirect(f"/sites/{site.name}")


async def site_page(request: web.Request) -> web.Response:
    """A site: its URLs, its live deploys, and its deploys with publish and roll back."""
    user = await _signed_in(request)
    name = request.match_info["site"]
    site = await services(request).sites.get(user, name)
    deploys = await services(request).deploys.for_site(user, name)
    live = {deploy.environment: deploy for deploy in deploys if deploy.status == "live"}
    context = {
        "user": user,
        **_site_view(request, site),
        "deploys": deploys,
        "live": live,
        "published": request.query.get("published"),
    }
    return ui_page(request, "site.html", context)


async def _deploy(request: web.Request, user: User) -> Deploy:
    return await services(request).deploys.get(
        user, request.match_info["site"], request.match_info["deploy"]
    )


async def publish_form(request: web.Request) -> web.Response:
    """Ask before publishing (or rolling back to) a deploy: it goes live at once."""
    user = await _signed_in(request)
    deploy = await _deploy(request, user)
    return ui_page(request, "publish.html", {"user": user, "deploy": deploy, "error": None})


async def publish(request: web.Request) -> web.Response:
    """Publish the deploy; back to the site, which shows it LIVE."""
    user = await _signed_in(request)
    deploy = await _deploy(request, user)
    try:
        await services(request).deploys.publish(user, deploy.site_name, deploy.id)
    except WharfError as exc:
        context = {"user": user, "deploy": deploy, "error": exc.message}
        return ui_page(request, "publish.html", context, 409)
    return _redirect(f"/sites/{deploy.site_name}?published={deploy.id}")


async def upload_form(request: web.Request) -> web.Response:
    """Upload a ZIP of the built site, to production or staging."""
    user = await _signed_in(request)
    site = await services(request).sites.get(user, request.match_info["site"])
    return ui_page(
        request, "upload.html", {"user": user, "site": site, "error": None, "problems": []}
    )


async def upload(request: web.Request) -> web.Response:
    """Take the upload (the same path as the API's); the new deploy's page, or the form again
    with every refused file in a table."""
    user = await _signed_in(request)
    name = request.match_info["site"]

    async def receive(path: Path, limit: int) -> UploadForm:
        received = await receive_upload(request, path, limit)
        return UploadForm(received.fields.get("environment") or "production", None)

    try:
        deploy = await services(request).deploys.receive(user, name, receive)
    except NotFound:
        raise  # the site: the 404 page
    except WharfError as exc:
        site = await services(request).sites.get(user, name)
        problems = exc.details if isinstance(exc.details, list) else []
        context = {"user": user, "site": site, "error": exc.message, "problems": problems}
        return ui_page(request, "upload.html", context, exc.status)
    return _redirect(f"/sites/{name}/deploys/{deploy.id}")


_SWITCHES = ("auto_publish", "spa", "minify")


async def settings_page(request: web.Request) -> web.Response:
    """A site's deploy settings, and the way to delete it."""
    user = await _signed_in(request)
    site = await services(request).sites.get(user, request.match_info["site"])
    saved = request.query.get("saved")
    return ui_page(request, "site_settings.html", {"user": user, "site": site, "saved": saved})


async def save_settings(request: web.Request) -> web.Response:
    """Save the switches (a box not sent is off, as browsers send only ticked ones)."""
    user = await _signed_in(request)
    form = await read_form(request)
    name = request.match_info["site"]
    await services(request).sites.update(
        user, name, {switch: switch in form for switch in _SWITCHES}
    )
    return _redirect(f"/sites/{name}/settings?saved=1")


async def delete_form(request: web.Request) -> web.Response:
    """Ask before deleting a site, naming it: everything of it goes."""
    user = await _signed_in(request)
    site = await services(request).sites.get(user, request.match_info["site"])
    return ui_page(request, "site_delete.html", {"user": user, "site": site, "error": None})


async def delete_site(request: web.Request) -> web.Response:
    """Delete the site once its name is typed; back to the sites."""
    user = await _signed_in(request)
    form = await read_form(request)
    name = request.match_info["site"]
    site = await services(request).sites.get(user, name)
    if form.get("confirm") != site.name:
        context = {"user": user, "site": site, "error": f"Type {site.name} to confirm."}
        return ui_page(request, "site_delete.html", context, 422)
    await services(request).sites.delete(user, name)
    return _redirect(f"/sites?deleted={name}")


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
    values = {"user": user, "site": site, "domains": [_domain_view(d) for d in domains]}
    return ui_page(
        request, "domains.html", {"error": None, "hostname": "", **values, **context}, status
    )


async def domains_page(request: web.Request) -> web.Response:
    """A site's custom domains, each with how to prove it is yours."""
    return await _domains_page(request, await _signed_in(request))


async def add_domain(request: web.Request) -> web.Response:
    """Attach a hostname; the page again, showing its TXT record, or the reason it was refused."""
    user = await _signed_in(request)
    form = await read_form(request)
    name = request.match_info["site"]
    try:
        await services(request).domains.add(user, name, form.get("hostname"))
    except NotFound:
        raise  # the site: the 404 page
    except WharfError as exc:
        hostname = form.get("hostname") or ""
        return await _domains_page(request, user, 422, error=exc.message, hostname=hostname)
    return _redirect(f"/sites/{name}/domains")


async def check_domain(request: web.Request) -> web.Response:
    """Run the ownership check now; the page shows its result."""
    user = await _signed_in(request)
    name, hostname = request.match_info["site"], request.match_info["hostname"]
    await services(request).domains.verify(user, name, hostname, None)
    return _redirect(f"/sites/{name}/domains")


# How often the live log looks for new lines while a deploy builds.
LOG_POLL_SECONDS = 0.5


async def deploy_page(request: web.Request) -> web.Response:
    """A deploy: its status, what its build reported, and its log (live while it builds)."""
    user = await _signed_in(request)
    deploy = await _deploy(request, user)
    lines = await services(request).deploys.log(user, deploy.site_name, deploy.id)
    problems = deploy.report.get("archive") or deploy.report.get("rules", {}).get("problems") or []
    context = {
        "user": user,
        "deploy": deploy,
        "lines": lines,
        "building": not await services(request).deploys.settled(deploy),
        "problems": problems,
    }
    return ui_page(request, "deploy.html", context)


async def deploy_log_stream(request: web.Request) -> web.StreamResponse:
    """The build log as server-sent events: one event a line (its number as the id), from
    after Last-Event-ID on a reconnect, until the build has finished; then `done`."""
    user = await _signed_in(request)
    deploy = await _deploy(request, user)
    # A reconnect says where it stopped (Last-Event-ID); a first connection, which lines the
    # page showed already (?after=).
    given = [request.headers.get("Last-Event-ID", ""), request.query.get("after", "")]
    sent = max([int(value) for value in given if value.isascii() and value.isdigit()] or [0])
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no", **UI_HEADERS}
    )
    await response.prepare(request)
    deploys = services(request).deploys
    while True:
        current = await deploys.get(user, deploy.site_name, deploy.id)
        for line in await deploys.log(user, deploy.site_name, deploy.id):
            if line.line_no > sent:
                text = line.text.replace("\r", " ").replace("\n", " ")
                await response.write(f"id: {line.line_no}\ndata: {text}\n\n".encode())
                sent = line.line_no
        if await deploys.settled(current):
            await response.write(f"event: done\ndata: {current.status}\n\n".encode())
            return response
        await asyncio.sleep(LOG_POLL_SECONDS)


async def _account(
    request: web.Request, user: User, status: int = 200, **context: Any
) -> web.Response:
    tokens = await services(request).accounts.list_tokens(user)
    values = {"user": user, "tokens": tokens, "new_token": None, "error": None, "notice": None}
    return ui_page(request, "account.html", {**values, **context}, status)


async def account_page(request: web.Request) -> web.Response:
    """The account: change the password; API tokens (create, list, revoke)."""
    user = await _signed_in(request)
    return await _account(request, user, notice=request.query.get("notice"))


async def change_password(request: web.Request) -> web.Response:
    """Change the password; every session ends with it, so back to the sign-in page."""
    user = await _signed_in(request)
    form = await read_form(request)
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    try:
        await services(request).accounts.change_password(
            user, form.get("current_password"), form.get("new_password"), address
        )
    except WharfError as exc:
        return await _account(request, user, 422 if exc.status < 500 else 500, error=exc.message)
    response = _redirect("/sign-in?changed=1")
    response.del_cookie(COOKIE, path="/")
    return response


async def create_token(request: web.Request) -> web.Response:
    """Create an API token and show it, this once."""
    user = await _signed_in(request)
    form = await read_form(request)
    try:
        token, text = await services(request).accounts.create_token(user, form.get("name"))
    except WharfError as exc:
        return await _account(request, user, 422, error=exc.message)
    return await _account(request, user, 201, new_token={"name": token.name, "text": text})


async def revoke_token(request: web.Request) -> web.Response:
    """Revoke one of the user's API tokens."""
    user = await _signed_in(request)
    raw = request.match_info["token_id"]
    token_id = int(raw) if raw.isascii() and raw.isdigit() else -1  # "²" is a digit too
    await services(request).accounts.delete_token(user, token_id)
    return _redirect("/account?notice=revoked")


UI_ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("GET", "/", home),
    ("GET", "/sign-in", sign_in_form),
    ("POST", "/sign-in", sign_in),
    ("POST", "/sign-out", sign_out),
    ("GET", "/account", account_page),
    ("POST", "/account/password", change_password),
    ("POST", "/account/tokens", create_token),
    ("POST", "/account/tokens/{token_id}/revoke", revoke_token),
    ("GET", "/sites", sites_page),
    ("POST", "/sites", create_site),
    ("GET", "/sites/{site}", site_page),
    ("GET", "/sites/{site}/settings", settings_page),
    ("POST", "/sites/{site}/settings", save_settings),
    ("GET", "/sites/{site}/delete", delete_form),
    ("POST", "/sites/{site}/delete", delete_site),
    ("GET", "/sites/{site}/domains", domains_page),
    ("POST", "/sites/{site}/domains", add_domain),
    ("POST", "/sites/{site}/domains/{hostname}/check", check_domain),
    ("GET", "/sites/{site}/upload", upload_form),
    ("POST", "/sites/{site}/upload", upload),
    ("GET", "/sites/{site}/deploys/{deploy}", deploy_page),
    ("GET", "/sites/{site}/deploys/{deploy}/log", deploy_log_stream),
    ("GET", "/sites/{site}/deploys/{deploy}/publish", publish_form),
    ("POST", "/sites/{site}/deploys/{deploy}/publish", publish),
)


def add_ui_routes(app: web.Application, static: Any) -> None:
    """Register the UI's pages and its /static/ files."""
    for method, path, handler in UI_ROUTES:
        app.router.add_route(method, path, _showing_not_found(handler))
    app.router.add_static("/static/", static, name="static", append_version=True)
