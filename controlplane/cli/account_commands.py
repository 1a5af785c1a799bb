"""`wharf login`, `logout` and `whoami`: an API token per control plane, kept for the user."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys

from controlplane.cli import logins
from controlplane.cli.client import EXIT_USAGE, CliFailure
from controlplane.cli.remote import Context


def _ask(prompt: str, *, secret: bool = False) -> str:
    if secret:
        return getpass.getpass(prompt)
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().strip()


def _credentials(ctx: Context, args: argparse.Namespace) -> tuple[str, str]:
    """Email and password: flags and WHARF_PASSWORD, prompts on a terminal, else stdin."""
    email = args.email or os.environ.get("WHARF_EMAIL")
    password = os.environ.get("WHARF_PASSWORD")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    if not email and ctx.interactive:
        email = _ask("Email: ")
    if password is None and ctx.interactive:
        password = _ask("Password: ", secret=True)
    if not email or not password:
        raise CliFailure(
            "give --email (or WHARF_EMAIL) and the password in WHARF_PASSWORD or on stdin"
            " with --password-stdin",
            code="credentials_required",
            exit_code=EXIT_USAGE,
        )
    return email, password


async def login(ctx: Context, args: argparse.Namespace) -> None:
    """Sign in, create a token named after this machine, and keep it for this URL."""
    email, password = _credentials(ctx, args)
    access = await ctx.client.call(
        "POST", "/api/v1/auth/login", body={"email": email, "password": password}
    )
    name = args.name or f"wharf CLI on {socket.gethostname()}"[:100]
    token = await ctx.client.call(
        "POST", "/api/v1/tokens", body={"name": name}, bearer=access["access_token"]
    )
    me = await ctx.client.call("GET", "/api/v1/me", bearer=token["token"])
    logins.remember(logins.Login(ctx.url, token["token"], token["id"], me["email"]))
    shown = {key: value for key, value in token.items() if key != "token"}
    ctx.output.result(
        {"url": ctx.url, "user": me, "token": shown},
        lambda: ctx.output.line(
            f"Logged in to {ctx.url} as {me['email']} ({me['role']}); the token "
            f"“{name}” is kept in {logins.logins_file()}."
        ),
    )


async def logout(ctx: Context, args: argparse.Namespace) -> None:
    """Revoke this URL's kept token on the server and forget it here."""
    login = logins.stored(ctx.url)
    if login is None:
        ctx.output.result(
            {"url": ctx.url, "logged_out": False},
            lambda: ctx.output.line(f"Not logged in to {ctx.url}: nothing to do."),
        )
        return
    try:
        await ctx.client.call("DELETE", f"/api/v1/tokens/{login.token_id}", bearer=login.token)
    except CliFailure as exc:
        # Revoked elsewhere (the UI), or the server is gone: forgetting it is still right.
        ctx.output.note(f"The server did not revoke the token ({exc.message}); forgetting it.")
    logins.forget(ctx.url)
    ctx.output.result(
        {"url": ctx.url, "logged_out": True},
        lambda: ctx.output.line(f"Logged out of {ctx.url}; the token is revoked."),
    )


async def whoami(ctx: Context, args: argparse.Namespace) -> None:
    """Who the token acts as, on which control plane."""
    me = await ctx.client.call("GET", "/api/v1/me")
    ctx.output.result(me, lambda: ctx.output.line(f"{me['email']} ({me['role']}) on {ctx.url}"))


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    """Add login, logout and whoami."""
    parser = commands.add_parser(
        "login", parents=[remote], help="log in and keep a token for this control plane"
    )
    parser.add_argument("--email", help="your email (WHARF_EMAIL) [default: asked]")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (else WHARF_PASSWORD, else asked)",
    )
    parser.add_argument("--name", help="the token's name [default: wharf CLI on <host>]")
    parser.set_defaults(run=login, needs_login=False)
    parser = commands.add_parser(
        "logout", parents=[remote], help="revoke and forget this control plane's token"
    )
    parser.set_defaults(run=logout, needs_login=False)
    parser = commands.add_parser("whoami", parents=[remote], help="who you are logged in as")
    parser.set_defaults(run=whoami)
