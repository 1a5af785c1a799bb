"""`wharf tokens list|create|revoke`: the caller's API tokens, through the API."""

from __future__ import annotations

import argparse
import socket
from typing import Any

from controlplane.cli import logins
from controlplane.cli.output import ago
from controlplane.cli.remote import Context


def _this_login(ctx: Context) -> int | None:
    """The id of the token this command runs with, when it is the kept login's."""
    login = logins.stored(ctx.url)
    if login is not None and login.token == ctx.client.target.token:
        return login.token_id
    return None


async def list_tokens(ctx: Context, args: argparse.Namespace) -> None:
    """The caller's tokens, newest first; the one in use is marked."""
    document = await ctx.client.call("GET", "/api/v1/tokens")
    current = _this_login(ctx)

    def row(token: dict[str, Any]) -> tuple[str, str, str, str]:
        name = token["name"] + (" (this login)" if token["id"] == current else "")
        return (str(token["id"]), name, ago(token["created_at"]), ago(token["last_used_at"]))

    rows = [row(token) for token in document["tokens"]]
    ctx.output.result(
        document,
        lambda: ctx.output.table(
            ("ID", "NAME", "CREATED", "LAST USED"),
            rows,
            "No API tokens: create one with `wharf tokens create --name NAME`.",
        ),
    )


def default_name() -> str:
    """A new token's name when --name is not given."""
    return f"wharf tokens create on {socket.gethostname()}"[:100]


async def create_token(ctx: Context, args: argparse.Namespace) -> None:
    """Create a token; its text alone on stdout (a script captures it), a note on stderr."""
    token = await ctx.client.call(
        "POST", "/api/v1/tokens", body={"name": args.name or default_name()}
    )

    def human() -> None:
        ctx.output.line(token["token"])
        ctx.output.note(
            f"Token {token['id']} “{token['name']}” is shown this once: keep it now (for CI, as"
            f" WHARF_TOKEN). Revoke it with `wharf tokens revoke {token['id']}`."
        )

    ctx.output.result(token, human)


async def revoke_token(ctx: Context, args: argparse.Namespace) -> None:
    """Revoke one of the caller's tokens; the kept login is forgotten when it was its token."""
    current = _this_login(ctx)
    await ctx.client.call("DELETE", f"/api/v1/tokens/{args.id}")
    if args.id == current:
        logins.forget(ctx.url)
        ctx.output.note(f"That was this login's token: run `wharf login --url {ctx.url}` again.")
    ctx.output.result(
        {"id": args.id, "revoked": True},
        lambda: ctx.output.line(f"Revoked token {args.id}: it no longer works."),
    )


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    """Add `wharf tokens …` (the database-side `wharf token create` is in commands.py)."""
    tokens = commands.add_parser("tokens", help="list, create and revoke your API tokens")
    actions = tokens.add_subparsers(dest="action", required=True)
    parser = actions.add_parser("list", parents=[remote], help="your API tokens, newest first")
    parser.set_defaults(run=list_tokens)
    parser = actions.add_parser(
        "create", parents=[remote], help="create an API token and print it (shown once)"
    )
    parser.add_argument(
        "--name", help="a label for the token [default: wharf tokens create on <host>]"
    )
    parser.set_defaults(run=create_token)
    parser = actions.add_parser("revoke", parents=[remote], help="revoke one of your API tokens")
    parser.add_argument("id", type=int, help="the token's id (see `wharf tokens list`)")
    parser.set_defaults(run=revoke_token)
