"""`wharf users list|create|disable|enable`: accounts through the API, for admins (the
database-side `wharf user create`, for first set-up, is in commands.py)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from controlplane.cli.client import EXIT_NOT_FOUND, ApiError, CliFailure
from controlplane.cli.output import ago
from controlplane.cli.remote import Context
from controlplane.cli.resources import usage_failure

ADMINS_ONLY = "only admins manage users: ask an admin, or log in as one (`wharf login`)"


async def _admin_call(ctx: Context, method: str, path: str, body: object = None) -> Any:
    """A users endpoint; a member's 403 said plainly, with what to do."""
    try:
        return await ctx.client.call(method, path, body=body)
    except ApiError as exc:
        if exc.code == "admin_required":
            exc.message = ADMINS_ONLY
        raise


async def list_users(ctx: Context, args: argparse.Namespace) -> None:
    """Every user, oldest first."""
    document = await _admin_call(ctx, "GET", "/api/v1/users")
    rows = [
        (
            str(user["id"]),
            user["email"],
            user["role"],
            "disabled" if user["disabled"] else "enabled",
            ago(user["created_at"]),
        )
        for user in document["users"]
    ]
    ctx.output.result(
        document,
        lambda: ctx.output.table(("ID", "EMAIL", "ROLE", "STATUS", "CREATED"), rows, "No users."),
    )


def _new_password(ctx: Context, args: argparse.Namespace) -> str:
    """From stdin with --password-stdin, else asked twice at a terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not ctx.interactive:
        raise usage_failure(
            "give the new user's password on stdin with --password-stdin (no terminal to ask)",
            "password_required",
        )
    password = getpass.getpass("Password for the new user: ")
    if getpass.getpass("Same password again: ") != password:
        raise usage_failure("the two passwords differ: nothing was created", "password_mismatch")
    return password


async def create_user(ctx: Context, args: argparse.Namespace) -> None:
    """Create a user with a role."""
    if ctx.interactive and not args.password_stdin:
        # A member is told before typing a password twice, not after.
        me = await ctx.client.call("GET", "/api/v1/me")
        if me["role"] != "admin":
            raise ApiError(403, "admin_required", ADMINS_ONLY)
    password = _new_password(ctx, args)
    user = await _admin_call(
        ctx,
        "POST",
        "/api/v1/users",
        {"email": args.email, "password": password, "role": args.role},
    )
    ctx.output.result(
        user,
        lambda: ctx.output.line(
            f"Created {user['role']} {user['email']} (id {user['id']}): they can `wharf login`."
        ),
    )


async def _find(ctx: Context, who: str) -> dict[str, Any]:
    """The user with this email (any case) or id; exit 3 when there is none."""
    document = await _admin_call(ctx, "GET", "/api/v1/users")
    for user in document["users"]:
        if str(user["id"]) == who or user["email"].lower() == who.lower():
            return dict(user)
    raise CliFailure(
        f"no user {who!r}: see `wharf users list` for emails and ids",
        code="user_not_found",
        exit_code=EXIT_NOT_FOUND,
    )


async def _set_disabled(ctx: Context, who: str, disabled: bool) -> None:
    found = await _find(ctx, who)
    user = await _admin_call(ctx, "PATCH", f"/api/v1/users/{found['id']}", {"disabled": disabled})
    if disabled:
        text = (
            f"Disabled {user['email']} (id {user['id']}): they cannot sign in, their tokens"
            f" stop working (until `wharf users enable {user['email']}`)."
        )
    else:
        text = f"Enabled {user['email']} (id {user['id']}): their tokens work again."
    ctx.output.result(user, lambda: ctx.output.line(text))


async def disable_user(ctx: Context, args: argparse.Namespace) -> None:
    """Disable a user: no sign-in, no token, sessions ended."""
    await _set_disabled(ctx, args.user, True)


async def enable_user(ctx: Context, args: argparse.Namespace) -> None:
    """Enable a disabled user again."""
    await _set_disabled(ctx, args.user, False)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    """Add `wharf users …`."""
    users = commands.add_parser("users", help="list, create, disable and enable users (admins)")
    actions = users.add_subparsers(dest="action", required=True)
    parser = actions.add_parser("list", parents=[remote], help="every user, oldest first")
    parser.set_defaults(run=list_users)
    parser = actions.add_parser("create", parents=[remote], help="create a user")
    parser.add_argument("email", help="the new user's email")
    parser.add_argument(
        "--role",
        choices=["admin", "member"],
        default="member",
        help="admin or member [default: member]",
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (else asked twice on a terminal)",
    )
    parser.set_defaults(run=create_user)
    for name, run, text in (
        ("disable", disable_user, "disable a user: no sign-in, their tokens stop working"),
        ("enable", enable_user, "enable a disabled user again"),
    ):
        parser = actions.add_parser(name, parents=[remote], help=text)
        parser.add_argument("user", metavar="EMAIL-or-ID", help="the user's email or id")
        parser.set_defaults(run=run)
