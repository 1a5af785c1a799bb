"""`wharf sites list|create|show|delete`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from controlplane.cli.client import EXIT_USAGE, CliFailure
from controlplane.cli.output import ago
from controlplane.cli.remote import Context


def _url(site: dict[str, Any], environment: str) -> str:
    return site["urls"].get(environment) or "—"


async def list_sites(ctx: Context, args: argparse.Namespace) -> None:
    """Every site the token may see."""
    document = await ctx.client.call("GET", "/api/v1/sites")
    rows = [
        (site["name"], _url(site, "production"), _url(site, "staging"), ago(site["created_at"]))
        for site in document["sites"]
    ]
    ctx.output.result(
        document,
        lambda: ctx.output.table(
            ("SITE", "PRODUCTION", "STAGING", "CREATED"),
            rows,
            "No sites yet: create one with `wharf sites create NAME`.",
        ),
    )


def show_site(ctx: Context, site: dict[str, Any]) -> None:
    """A site's URLs and settings for a person."""
    ctx.output.fields(
        [
            ("Site", site["name"]),
            ("Production", _url(site, "production")),
            ("Staging", _url(site, "staging")),
            ("Auto-publish", "on" if site["auto_publish"] else "off (production waits for you)"),
            ("SPA fallback", "on" if site["spa"] else "off"),
            ("Minify", "on" if site["minify"] else "off"),
            ("Build flags", ", ".join(site["allowed_flags"]) or "none"),
            ("Tier", site["tier"]),
            ("Created", ago(site["created_at"])),
        ]
    )


async def create_site(ctx: Context, args: argparse.Namespace) -> None:
    """Create a site; its URLs."""
    site = await ctx.client.call("POST", "/api/v1/sites", body={"name": args.name})
    ctx.output.result(
        site,
        lambda: ctx.output.line(
            f"Created {site['name']}: {_url(site, 'production')} once a deploy is live"
            f" (`wharf deploy ./public --site {site['name']}`)."
        ),
    )


async def get_site(ctx: Context, args: argparse.Namespace) -> None:
    """One site."""
    site = await ctx.client.call("GET", f"/api/v1/sites/{args.name}")
    ctx.output.result(site, lambda: show_site(ctx, site))


def confirmed(ctx: Context, name: str, yes: bool, what: str) -> None:
    """Go on only with --yes, or once a person at a terminal typed the name."""
    if yes:
        return
    if not ctx.interactive:
        raise CliFailure(
            f"{what}: give --yes to confirm (no terminal to ask)",
            code="no_yes",
            exit_code=EXIT_USAGE,
        )
    sys.stderr.write(f"{what}. Type {name} to confirm: ")
    sys.stderr.flush()
    if sys.stdin.readline().strip() != name:
        raise CliFailure("not confirmed: nothing was deleted", code="not_confirmed")


async def delete_site(ctx: Context, args: argparse.Namespace) -> None:
    """Delete a site and everything of it, once confirmed."""
    await ctx.client.call("GET", f"/api/v1/sites/{args.name}")  # a typo fails before asking
    confirmed(ctx, args.name, args.yes, f"This deletes {args.name}, its deploys, domains and gates")
    await ctx.client.call("DELETE", f"/api/v1/sites/{args.name}")
    ctx.output.result(
        {"name": args.name, "deleted": True},
        lambda: ctx.output.line(f"Deleted {args.name}."),
    )


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    """Add `wharf sites …`."""
    sites = commands.add_parser("sites", help="list, create, show and delete sites")
    actions = sites.add_subparsers(dest="action", required=True)
    parser = actions.add_parser("list", parents=[remote], help="every site you may see")
    parser.set_defaults(run=list_sites)
    for name, run, text in (
        ("create", create_site, "create a site"),
        ("show", get_site, "a site's URLs and settings"),
    ):
        parser = actions.add_parser(name, parents=[remote], help=text)
        parser.add_argument("name", help="the site's name")
        parser.set_defaults(run=run)
    parser = actions.add_parser("delete", parents=[remote], help="delete a site and its deploys")
    parser.add_argument("name", help="the site's name")
    parser.add_argument("--yes", action="store_true", help="do not ask to type the name")
    parser.set_defaults(run=delete_site)
