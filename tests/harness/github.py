"""A fake GitHub on loopback: the OAuth app web flow and the REST endpoints sign-in reads.

Follows GitHub's documentation (only a fake can stand in for GitHub's API here):
- https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps — the
  web flow: `GET /login/oauth/authorize` (client_id, redirect_uri, scope space-delimited, state,
  code_challenge with code_challenge_method S256 only), `POST /login/oauth/access_token`
  (client_id, client_secret, code, redirect_uri, code_verifier; form-encoded answer unless
  `Accept: application/json`, scopes comma-separated), codes that expire after 10 minutes and work
  once, and the redirect-URL rule (same host and port as the callback URL, a path under it; any
  port on a loopback host).
- https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
  — token errors answered with HTTP 200 and `error`, `error_description`, `error_uri`.
- https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-authorization-request-errors
  — `access_denied` and `redirect_uri_mismatch` sent back to the application's redirect URL.
- https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps — scopes
  (`user` includes `user:email`; `admin:org` and `write:org` include `read:org`), the
  `X-OAuth-Scopes` and `X-Accepted-OAuth-Scopes` headers.
- https://docs.github.com/en/rest/users/users#get-the-authenticated-user — `GET /user`, whose
  `email` is the public profile email (null when the user shows none).
- https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user
  — `GET /user/emails` needs `user:email` (or `user`); without it GitHub answers 404 Not Found,
  as it does where a 403 would tell that the resource exists
  (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#404-not-found-for-an-existing-resource).
- https://docs.github.com/en/rest/orgs/orgs#list-organizations-for-the-authenticated-user —
  `GET /user/orgs` needs `user` or `read:org`: "Requests with insufficient scope will receive a
  403 Forbidden response". So a token without them sees no membership at all, public or private.
- https://docs.github.com/en/rest/orgs/orgs#list-organizations-for-a-user — `GET
  /users/{username}/orgs` lists public memberships only, "regardless of authentication".
- https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent
  — API requests without a User-Agent are refused (403).

The web endpoints live at the root (`url`, for WHARF_OAUTH_GITHUB_URL) and the REST API under
`/api` (`api_url`, for WHARF_OAUTH_GITHUB_API_URL), as github.com and api.github.com. Not
modelled: pagination (every list fits one page), rate limits, refresh tokens, GitHub Apps, the
device flow, organizations' OAuth app access restrictions.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web
from yarl import URL

from tests.harness.oauth_checks import client_credentials, verifies
from tests.harness.ports import free_port
from tests.harness.serving import serve

CODE_LIFETIME = 600.0  # "codes expire after 10 minutes" (authorizing-oauth-apps)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_DOCS = "https://docs.github.com/apps/managing-oauth-apps"
_TOKEN_ERRORS = f"{_DOCS}/troubleshooting-oauth-app-access-token-request-errors/"
_AUTHORIZE_ERRORS = f"{_DOCS}/troubleshooting-authorization-request-errors/"
_REDIRECT_MISMATCH = "The redirect_uri MUST match the registered callback URL for this application."
_SCOPES_KEY = web.RequestKey("oauth_scopes", tuple)  # the caller's token scopes, for headers
_ORG_SCOPES = ("admin:org", "read:org", "repo", "user", "write:org")


class GitHubEmail(NamedTuple):
    """One row of `GET /user/emails`."""

    email: str
    primary: bool
    verified: bool


class GitHubOrg(NamedTuple):
    """An organization the user belongs to; public=False is a private (concealed) membership."""

    login: str
    public: bool = True
    id: int = 0  # 0: derived from login


@dataclass(frozen=True)
class GitHubUser:
    """A GitHub account the fake knows; public_email is the one its profile shows, if any."""

    id: int
    login: str
    name: str | None = None
    emails: Sequence[GitHubEmail] = ()
    orgs: Sequence[GitHubOrg] = ()
    public_email: str | None = None


OCTOCAT = GitHubUser(
    id=1,
    login="octocat",
    name="The Octocat",
    emails=[GitHubEmail("octo@example.test", primary=True, verified=True)],
    orgs=[GitHubOrg("wharf-dev", public=False), GitHubOrg("octo-public")],
)
USERS: Mapping[str, GitHubUser] = {OCTOCAT.login: OCTOCAT}


class _Pending(NamedTuple):
    """An authorize page shown and not answered yet: its query, and where to send the answer."""

    query: dict[str, str]
    redirect_to: str


@dataclass(frozen=True)
class _Grant:
    """What an authorization code was issued for."""

    login: str
    client_id: str
    redirect_uri: str | None
    scopes: tuple[str, ...]
    code_challenge: str | None
    expires: float


@dataclass
class FakeGitHub:
    """A running fake GitHub and what it saw. Tests may set callback_url (the OAuth app's
    registered callback; None accepts any redirect_uri), granted_scopes (the scopes the user
    grants; None grants what was asked) and code_lifetime before a flow."""

    url: str
    client_id: str
    client_secret: str
    users: Mapping[str, GitHubUser]
    callback_url: str | None = None
    granted_scopes: Sequence[str] | None = None
    code_lifetime: float = CODE_LIFETIME
    scopes_asked: list[list[str]] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _pending: dict[str, _Pending] = field(default_factory=dict, repr=False)
    _codes: dict[str, _Grant] = field(default_factory=dict, repr=False)
    _tokens: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict, repr=False)

    @property
    def api_url(self) -> str:
        """The REST API's base URL (api.github.com's stand-in)."""
        return f"{self.url}/api"

    @property
    def authorize_url(self) -> str:
        """The authorization endpoint."""
        return f"{self.url}/login/oauth/authorize"

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return f"{self.url}/login/oauth/access_token"

    def issue_token(self, login: str, scopes: Iterable[str] = ()) -> str:
        """An access token for login with scopes, as if a web flow had just granted it."""
        token = "gho_" + secrets.token_urlsafe(27)
        self._tokens[token] = (login, tuple(scopes))
        return token

    def app(self) -> web.Application:
        """The aiohttp application serving both the web flow and the API."""
        app = web.Application()
        app.router.add_get("/login/oauth/authorize", self._authorize_page)
        app.router.add_post("/login/oauth/authorize", self._authorize_decision)
        app.router.add_post("/login/oauth/access_token", self._access_token)
        app.router.add_get("/api/user", self._user)
        app.router.add_get("/api/user/emails", self._emails)
        app.router.add_get("/api/user/orgs", self._orgs)
        app.router.add_get("/api/users/{login}/orgs", self._public_orgs)
        return app

    # The web flow.

    async def _authorize_page(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.authorize_requests.append(query)
        if query.get("client_id") != self.client_id:
            return _page("404 Not Found", "<p>No OAuth application has this client_id.</p>", 404)
        redirect_uri = query.get("redirect_uri") or self.callback_url
        if redirect_uri is None:
            return _page("Bad request", "<p>No redirect_uri and no callback URL.</p>", 400)
        if query.get("redirect_uri") and not self._redirect_allowed(query["redirect_uri"]):
            assert self.callback_url is not None
            raise _redirect(
                self.callback_url,
                error="redirect_uri_mismatch",
                error_description=_REDIRECT_MISMATCH,
                error_uri=_AUTHORIZE_ERRORS + "#redirect-uri-mismatch",
                state=query.get("state"),
            )
        if "code_challenge" in query and query.get("code_challenge_method", "plain") != "S256":
            return _page("Bad request", "<p>code_challenge_method must be S256.</p>", 400)
        scopes = query.get("scope", "").split()
        self.scopes_asked.append(scopes)
        pending = secrets.token_urlsafe(16)
        self._pending[pending] = _Pending(query, redirect_uri)
        buttons = "".join(
            f'<button type="submit" name="login" value="{html.escape(login)}">'
            f"Authorize {html.escape(login)}</button>\n"
            for login in self.users
        )
        asked = ", ".join(html.escape(scope) for scope in scopes) or "(no scope: public data)"
        body = f"""<p>An application asks for: {asked}</p>
<form method="post" action="/login/oauth/authorize">
<input type="hidden" name="authorization" value="{pending}">
{buttons}<button type="submit" name="cancel" value="1">Cancel</button>
</form>"""
        return _page("Authorize application", body)

    async def _authorize_decision(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        pending = self._pending.pop(str(form.get("authorization", "")), None)
        if pending is None:
            return _page("Bad request", "<p>This authorization was already answered.</p>", 400)
        query = pending.query
        login = str(form.get("login", ""))
        if "cancel" in form or login not in self.users:
            raise _redirect(
                pending.redirect_to,
                error="access_denied",
                error_description="The user has denied your application access.",
                error_uri=_AUTHORIZE_ERRORS + "#access-denied",
                state=query.get("state"),
            )
        asked = tuple(query.get("scope", "").split())
        code = secrets.token_hex(10)  # GitHub's codes are 20 hex characters
        self._codes[code] = _Grant(
            login=login,
            client_id=query["client_id"],
            redirect_uri=query.get("redirect_uri"),
            scopes=asked if self.granted_scopes is None else tuple(self.granted_scopes),
            code_challenge=query.get("code_challenge"),
            expires=time.monotonic() + self.code_lifetime,
        )
        raise _redirect(pending.redirect_to, code=code, state=query.get("state"))

    def _redirect_allowed(self, redirect_uri: str) -> bool:
        """GitHub's rule: the callback URL's host and port (any port on loopback), a path
        under the callback's; without a registered callback every URL passes."""
        if self.callback_url is None:
            return True
        wanted, given = urlsplit(self.callback_url), urlsplit(redirect_uri)
        loopback = given.hostname in LOOPBACK_HOSTS and wanted.hostname == given.hostname
        same_place = loopback or (wanted.hostname, wanted.port) == (given.hostname, given.port)
        base = wanted.path.rstrip("/")
        under = given.path == base or given.path.startswith(base + "/") or not base
        return wanted.scheme == given.scheme and same_place and under

    async def _access_token(self, request: web.Request) -> web.Response:
        form = {name: str(value) for name, value in (await request.post()).items()}
        self.token_requests.append(form)
        wants_json = "application/json" in request.headers.get("Accept", "")
        client_id, client_secret = client_credentials(request, form)
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return _token_error(
                wants_json,
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            )
        # A code is spent by the first request that names it, even one that fails below.
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant.client_id != client_id or time.monotonic() > grant.expires:
            return _bad_verification_code(wants_json)
        if grant.redirect_uri is not None and form.get("redirect_uri") != grant.redirect_uri:
            return _token_error(wants_json, "redirect_uri_mismatch", _REDIRECT_MISMATCH)
        if grant.code_challenge is not None and not verifies(
            form.get("code_verifier"), grant.code_challenge
        ):
            return _bad_verification_code(wants_json)
        token = self.issue_token(grant.login, grant.scopes)
        answer = {"access_token": token, "token_type": "bearer", "scope": ",".join(grant.scopes)}
        return _token_answer(wants_json, answer)

    # The REST API.

    def _caller(self, request: web.Request) -> tuple[GitHubUser, frozenset[str]]:
        """The token's user and scopes (with the scopes they imply), or an HTTP error."""
        if not request.headers.get("User-Agent"):
            raise web.HTTPForbidden(
                text="Request forbidden by administrative rules. "
                "Please make sure your request has a User-Agent header."
            )
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if not token:
            raise _api_error(401, "Requires authentication", "https://docs.github.com/rest")
        found = self._tokens.get(token.strip()) if scheme.lower() in ("bearer", "token") else None
        if found is None or found[0] not in self.users:
            raise _api_error(401, "Bad credentials", "https://docs.github.com/rest")
        login, scopes = found
        request[_SCOPES_KEY] = scopes
        return self.users[login], _implied(scopes)

    async def _user(self, request: web.Request) -> web.Response:
        user, _ = self._caller(request)
        return _api_json(request, _user_json(user), accepted=())

    async def _emails(self, request: web.Request) -> web.Response:
        user, scopes = self._caller(request)
        accepted = ("user", "user:email")
        if "user:email" not in scopes:
            doc = "https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user"
            raise _api_error(404, "Not Found", doc, accepted=accepted, request=request)
        rows = [
            {
                "email": email.email,
                "primary": email.primary,
                "verified": email.verified,
                "visibility": (
                    "public"
                    if email.email == user.public_email
                    else ("private" if email.primary else None)
                ),
            }
            for email in user.emails
        ]
        return _api_json(request, rows, accepted=accepted)

    async def _orgs(self, request: web.Request) -> web.Response:
        user, scopes = self._caller(request)
        if not scopes & {"user", "read:org"}:
            doc = "https://docs.github.com/rest/orgs/orgs#list-organizations-for-the-authenticated-user"
            message = "You need at least read:org scope or user scope to list your organizations."
            raise _api_error(403, message, doc, accepted=_ORG_SCOPES, request=request)
        return _api_json(request, [_org_json(org) for org in user.orgs], accepted=_ORG_SCOPES)

    async def _public_orgs(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["login"])
        if user is None:
            raise _api_error(404, "Not Found", "https://docs.github.com/rest")
        rows = [_org_json(org) for org in user.orgs if org.public]
        return _api_json(request, rows, accepted=())


def _implied(scopes: Iterable[str]) -> frozenset[str]:
    """Scopes with those they include (scopes-for-oauth-apps: user ⊃ user:email, read:user;
    admin:org ⊃ write:org ⊃ read:org)."""
    implied = set(scopes)
    if "user" in implied:
        implied |= {"user:email", "read:user", "user:follow"}
    if implied & {"admin:org", "write:org"}:
        implied |= {"read:org"}
    return frozenset(implied)


def _stable_id(login: str) -> int:
    """A positive id that stays the same for a login across runs."""
    return zlib.crc32(login.encode()) or 1


def _user_json(user: GitHubUser) -> dict[str, Any]:
    """The fields of `GET /user` a sign-in reads, with the shape GitHub gives them."""
    return {
        "login": user.login,
        "id": user.id,
        "node_id": base64.b64encode(f"04:User{user.id}".encode()).decode(),
        "avatar_url": f"https://avatars.example.test/u/{user.id}",
        "html_url": f"https://github.example.test/{user.login}",
        "type": "User",
        "site_admin": False,
        "name": user.name,
        "email": user.public_email,
    }


def _org_json(org: GitHubOrg) -> dict[str, Any]:
    """One organization as `GET /user/orgs` lists it."""
    return {"login": org.login, "id": org.id or _stable_id(org.login), "description": None}


def _token_answer(wants_json: bool, answer: Mapping[str, str]) -> web.Response:
    """The token endpoint's answer: JSON when asked, else form-encoded (GitHub's default)."""
    if wants_json:
        return web.json_response(dict(answer))
    return web.Response(text=urlencode(answer), content_type="application/x-www-form-urlencoded")


def _token_error(wants_json: bool, error: str, description: str) -> web.Response:
    """A token error as GitHub answers it: HTTP 200 with error, description and doc link."""
    anchor = error.replace("_", "-")
    answer = {
        "error": error,
        "error_description": description,
        "error_uri": _TOKEN_ERRORS + "#" + anchor,
    }
    return _token_answer(wants_json, answer)


def _bad_verification_code(wants_json: bool) -> web.Response:
    """The error for an unknown, spent or expired code, or a wrong PKCE verifier."""
    return _token_error(
        wants_json, "bad_verification_code", "The code passed is incorrect or expired."
    )


def _redirect(location: str, **params: str | None) -> web.HTTPFound:
    """A 302 to location with params (those that are None left out) added to its query."""
    kept = {name: value for name, value in params.items() if value is not None}
    return web.HTTPFound(str(URL(location).update_query(kept)))


def _page(title: str, body: str, status: int = 200) -> web.Response:
    """A minimal HTML page."""
    text = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
    return web.Response(text=text, status=status, content_type="text/html")


def _scope_headers(request: web.Request | None, accepted: Iterable[str]) -> dict[str, str]:
    """X-OAuth-Scopes (the token's) and X-Accepted-OAuth-Scopes (the endpoint's)."""
    granted = request.get(_SCOPES_KEY, ()) if request is not None else ()
    return {
        "X-OAuth-Scopes": ", ".join(granted),
        "X-Accepted-OAuth-Scopes": ", ".join(accepted),
    }


def _api_json(request: web.Request, body: Any, *, accepted: Iterable[str]) -> web.Response:
    """A REST API answer with GitHub's scope headers."""
    return web.json_response(body, headers=_scope_headers(request, accepted))


def _api_error(
    status: int,
    message: str,
    documentation_url: str,
    *,
    accepted: Iterable[str] = (),
    request: web.Request | None = None,
) -> web.HTTPException:
    """A REST API error: {"message", "documentation_url", "status"} as GitHub sends them."""
    body = {"message": message, "documentation_url": documentation_url, "status": str(status)}
    kind = {401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound}[status]
    return kind(
        text=json.dumps(body),
        content_type="application/json",
        headers=_scope_headers(request, accepted),
    )


@contextlib.asynccontextmanager
async def fake_github(
    users: Mapping[str, GitHubUser] | None = None, *, callback_url: str | None = None
) -> AsyncIterator[FakeGitHub]:
    """A fake GitHub on a free loopback port knowing users (default USERS: octocat, with a
    private membership of wharf-dev and a public one of octo-public); stopped on exit."""
    port = free_port()
    github = FakeGitHub(
        url=f"http://127.0.0.1:{port}",
        client_id="Iv1." + secrets.token_hex(8),
        client_secret=secrets.token_hex(20),
        users=dict(USERS if users is None else users),
        callback_url=callback_url,
    )
    async with serve(github.app(), port):
        yield github


async def authorize(authorize_url: str, login: str | None) -> str:
    """What a person does on the fake's authorize page: click "Authorize <login>", or "Cancel"
    when login is None; returns the redirect back to the application (code or error)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(authorize_url, allow_redirects=False) as page:
            text = await page.text()
            if page.status == 302:
                return page.headers["Location"]  # redirect_uri_mismatch goes straight back
            assert page.status == 200, f"{page.status}: {text}"
        pending = text.split('name="authorization" value="', 1)[1].split('"', 1)[0]
        choice = {"cancel": "1"} if login is None else {"login": login}
        async with session.post(
            URL(authorize_url).with_query(None),
            data={"authorization": pending, **choice},
            allow_redirects=False,
        ) as answer:
            assert answer.status == 302, f"{answer.status}: {await answer.text()}"
            return answer.headers["Location"]
