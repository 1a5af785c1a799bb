"""The admin UI's admin screens: users (create, change a role, disable and enable), sign-in
(the providers, their callback URLs, password sign-in on or break-glass only), the instance's
settings as they stand, and the patterns page showing every component."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from controlplane.config import SETTINGS as SETTING_ROWS
from controlplane.errors import NotFound, WharfError
from controlplane.models import User
from controlplane.web.inputs import read_form, url_number
from controlplane.web.keys import SETTINGS, services
from controlplane.web.ui_common import Routes, redirect, signed_in, ui_page
from controlplane.web.ui_sign_in import providers_view

# Which field a refused new user's error belongs next to, by the service's error code.
_FIELD_OF = {
    "invalid_email": "email",
    "user_exists": "email",
    "invalid_password": "password",
    "invalid_role": "role",
}
_DONE = {
    "created": "{email} can sign in now.",
    "role": "{email} is {role} now.",
    "disabled": "{email} is disabled: they cannot sign in, their tokens are refused, and their"
    " sessions have ended.",
    "enabled": "{email} is enabled again.",
}
_POLICY_DONE = "Saved: the sign-in settings apply from the next sign-in."


async def admin_user(request: web.Request) -> User:
    """The signed-in admin; anyone else gets the 404 page, as for another member's site."""
    user = await signed_in(request)
    if not user.is_admin:
        raise NotFound("no such page", code="not_found")
    return user


# The instance-wide settings the users screen shows (read-only: they are read at start).
_SHOWN = ("base_domain", "control_host", "reserved_site_names")


def _settings(request: web.Request) -> list[tuple[str, str, str]]:
    """The shown settings as (variable, value, help), from the settings table."""
    settings = request.app[SETTINGS]
    rows = []
    for setting in SETTING_ROWS:
        if setting.name in _SHOWN:
            value = getattr(settings, setting.name)
            text = " ".join(value) if isinstance(value, tuple) else str(value or "(none)")
            rows.append((setting.env, text, setting.help))
    return rows


async def _users(
    request: web.Request, admin: User, status: int = 200, **context: Any
) -> web.Response:
    users = await services(request).accounts.list_users(admin)
    done, who = request.query.get("done"), request.query.get("who")
    named = next((each for each in users if str(each.id) == who), None)
    message = None
    if done in _DONE and named is not None:
        message = _DONE[done].format(email=named.email, role=named.role)
    elif done == "policy":
        message = _POLICY_DONE
    settings = request.app[SETTINGS]
    accounts = services(request).accounts
    values = {
        "user": admin,
        "users": users,
        "settings": _settings(request),
        "providers": providers_view(request),
        "allowed_domains": settings.oauth_allowed_domains,
        "allowed_orgs": settings.oauth_allowed_github_orgs,
        "break_glass": await services(request).sign_in.break_glass_user(),
        "break_glass_choices": [
            each
            for each in users
            if each.is_admin and not each.disabled and await accounts.has_password(each)
        ],
        "policy_error": None,
        "form": {"email": "", "role": "member"},
        "errors": {},
        "row_error": None,
        "done": message,
    }
    return ui_page(request, "admin_users.html", {**values, **context}, status)


def _user_id(request: web.Request) -> int:
    raw = request.match_info["user_id"]
    return url_number(raw) or -1  # no such user: the 404 page


async def users_page(request: web.Request) -> web.Response:
    """Every user with their role and state, the form to create one, and the settings."""
    return await _users(request, await admin_user(request))


async def create_user(request: web.Request) -> web.Response:
    """Create a user; the list again with the reason next to the field it is about."""
    admin = await admin_user(request)
    form = await read_form(request)
    email, role = form.get("email"), form.get("role")
    try:
        created = await services(request).accounts.create_user(
            admin, email, form.get("password"), role
        )
    except WharfError as exc:
        field = _FIELD_OF.get(exc.code, "email")
        kept = {"email": email if isinstance(email, str) else "", "role": role}
        message = exc.message[:1].upper() + exc.message[1:] + "."
        return await _users(request, admin, exc.status, form=kept, errors={field: message})
    return redirect(f"/admin/users?done=created&who={created.id}")


async def _change(request: web.Request, done: str, **change: object) -> web.Response:
    admin = await admin_user(request)
    user_id = _user_id(request)
    try:
        await services(request).accounts.update_user(admin, user_id, **change)
    except NotFound:
        raise
    except WharfError as exc:
        row_error = {"id": user_id, "message": exc.message[:1].upper() + exc.message[1:] + "."}
        return await _users(request, admin, exc.status, row_error=row_error)
    if user_id == admin.id and (change.get("disabled") or change.get("role") == "member"):
        # The admin stepped down or disabled themselves: the admin pages are not theirs now.
        return redirect("/sites")
    return redirect(f"/admin/users?done={done}&who={user_id}")


async def change_role(request: web.Request) -> web.Response:
    """Make a user an admin or a member; never the last enabled admin a member."""
    form = await read_form(request)
    return await _change(request, "role", role=form.get("role"))


async def disable_user(request: web.Request) -> web.Response:
    """Disable a user: no sign-in, no tokens, their sessions end; never the last admin."""
    return await _change(request, "disabled", disabled=True)


async def enable_user(request: web.Request) -> web.Response:
    """Enable a disabled user again."""
    return await _change(request, "enabled", disabled=False)


async def patterns_page(request: web.Request) -> web.Response:
    """Every component of the UI in every state, on one page (for screenshots and axe)."""
    admin = await admin_user(request)
    now = datetime.now(UTC)
    sample_users = [
        User(1, "admin@example.test", "admin", now),
        User(2, "dev@example.test", "member", now, disabled_at=now),
    ]
    lines = ["extracted 3 files (1,204 bytes)", "minified index.html", "release ready"]
    statuses = ("pending", "building", "ready", "live", "failed", "superseded")
    context = {"user": admin, "users": sample_users, "lines": lines, "statuses": statuses}
    return ui_page(request, "patterns.html", context)


async def set_password_policy(request: web.Request) -> web.Response:
    """Turn password sign-in on, or off for all but the chosen break-glass admin."""
    admin = await admin_user(request)
    form = await read_form(request)
    enabled = form.get("password_sign_in") != "off"
    break_glass = url_number(form.get("break_glass"))
    try:
        await services(request).sign_in.set_password_sign_in(admin, enabled, break_glass)
    except WharfError as exc:
        return await _users(request, admin, exc.status, policy_error=exc.message)
    return redirect("/admin/users?done=policy#sign-in")


ROUTES: Routes = (
    ("GET", "/admin/users", users_page),
    ("POST", "/admin/users", create_user),
    ("POST", "/admin/users/{user_id}/role", change_role),
    ("POST", "/admin/users/{user_id}/disable", disable_user),
    ("POST", "/admin/users/{user_id}/enable", enable_user),
    ("POST", "/admin/sign-in", set_password_policy),
    ("GET", "/admin/patterns", patterns_page),
)
