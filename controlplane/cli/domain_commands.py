"""`wharf domains list|show|add|verify|remove`: a site's custom domains and proving them yours."""

from __future__ import annotations

import argparse
import re
from typing import Any

from controlplane.cli.client import CliFailure
from controlplane.cli.output import ago
from controlplane.cli.remote import Context
from controlplane.cli.resources import routing_note, site_path
from controlplane.cli.site_commands import confirmed

_BY = {
    "dns": "(by its DNS record)",
    "http": "(by its HTTP token)",
    "admin": "(vouched for by an admin)",
}


def relative_name(record: str, hostname: str) -> str:
    """The record's name without the zone, as most DNS hosts want it typed: the zone is usually
    the last two labels (not for example.co.uk, hence "usually" wherever this is shown)."""
    return record.removesuffix("." + ".".join(hostname.split(".")[-2:]))


def _status(domain: dict[str, Any]) -> str:
    if domain["status"] == "verified":
        return f"verified {_BY.get(domain['verified_by'], '')} {ago(domain['verified_at'])}"
    return "pending: not proven yours yet"


def _proof(ctx: Context, domain: dict[str, Any], site: str) -> None:
    """The TXT record to create, the zone warning, the HTTP alternative, and what to run next."""
    record = domain["dns_record"]
    out = ctx.output
    out.line("Create this DNS record at your DNS host:")
    out.line(f"  Type:  {record['type']}")
    out.line(f"  Name:  {record['name']}")
    out.line(f"  Value: {record['value']}")
    out.line(
        "If your DNS host appends the domain to the name you type (most do), enter "
        f"{relative_name(record['name'], domain['hostname'])} (usually), not the full name.",
        style="yellow",
    )
    if domain["http_check"]:
        out.line("Or serve the value as plain text at:")
        out.line(f"  {domain['http_check']['url']}")
    out.line(f"Then run: wharf domains verify {domain['hostname']} --site {site}")


def _found(domain: dict[str, Any]) -> list[str]:
    """What the last check found, one line per method (DNS, HTTP)."""
    error = domain["last_error"] or ""
    return [part for part in re.split(r"; (?=(?:DNS|HTTP): )", error) if part]


async def list_domains(ctx: Context, args: argparse.Namespace) -> None:
    """A site's custom domains and where each stands."""
    document = await ctx.client.call("GET", site_path(args.site, "domains"))
    rows = [
        (
            domain["hostname"],
            domain["environment"],
            domain["status"],
            ago(domain["last_checked_at"]),
            domain["last_error"] or "—",
        )
        for domain in document["domains"]
    ]
    ctx.output.result(
        document,
        lambda: ctx.output.table(
            ("DOMAIN", "ENV", "STATUS", "CHECKED", "LAST ERROR"),
            rows,
            f"No custom domains on {args.site} yet: add one with"
            f" `wharf domains add HOST --site {args.site}`.",
        ),
    )


async def show_domain(ctx: Context, args: argparse.Namespace) -> None:
    """One domain, and for a pending one what to publish."""
    domain = await ctx.client.call("GET", site_path(args.site, "domains", args.hostname))

    def human() -> None:
        ctx.output.fields(
            [
                ("Domain", domain["hostname"]),
                ("Serves", f"{args.site} ({domain['environment']})"),
                ("Status", _status(domain)),
                ("Checked", ago(domain["last_checked_at"])),
                ("Last error", domain["last_error"] or "—"),
            ]
        )
        if domain["status"] != "verified":
            _proof(ctx, domain, args.site)

    ctx.output.result(domain, human)


async def add_domain(ctx: Context, args: argparse.Namespace) -> None:
    """Attach a hostname; the DNS record (or HTTP token) that proves it is yours."""
    domain = await ctx.client.call(
        "POST",
        site_path(args.site, "domains"),
        body={"hostname": args.hostname, "environment": args.environment},
    )

    def human() -> None:
        ctx.output.line(
            f"Added {domain['hostname']} to {args.site} ({domain['environment']}): it is"
            " pending until you prove it is yours."
        )
        _proof(ctx, domain, args.site)

    ctx.output.result(domain, human)
    routing_note(ctx, domain)


async def verify_domain(ctx: Context, args: argparse.Namespace) -> None:
    """Run the ownership check now and say what it found; exit 1 while still pending."""
    body = {"method": args.method} if args.method else None
    domain = await ctx.client.call(
        "POST", site_path(args.site, "domains", args.hostname, "verify"), body=body
    )
    verified = domain["status"] == "verified"

    def human() -> None:
        if verified:
            ctx.output.line(
                f"{domain['hostname']} is verified {_BY.get(domain['verified_by'], '')}: it"
                f" serves {args.site} ({domain['environment']}).",
                style="green",
            )
            return
        ctx.output.line(f"{domain['hostname']} is still pending. The check found:")
        for finding in _found(domain) or ["nothing (no check ran)"]:
            ctx.output.line(f"  {finding}")

    ctx.output.result(domain, human)
    routing_note(ctx, domain)
    if not verified:
        raise CliFailure(
            f"{domain['hostname']} is not verified yet: publish the TXT record (`wharf domains"
            f" show {domain['hostname']} --site {args.site}` prints it), wait for DNS, and run"
            " verify again",
            code="not_verified",
        )


async def remove_domain(ctx: Context, args: argparse.Namespace) -> None:
    """Detach a domain, once confirmed."""
    path = site_path(args.site, "domains", args.hostname)
    domain = await ctx.client.call("GET", path)  # a typo fails before asking
    hostname = domain["hostname"]
    confirmed(ctx, hostname, args.yes, f"{hostname} stops reaching {args.site} at once")
    await ctx.client.call("DELETE", path)
    ctx.output.result(
        {"site": args.site, "hostname": hostname, "removed": True},
        lambda: ctx.output.line(f"Removed {hostname}: it no longer reaches {args.site}."),
    )


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    """Add `wharf domains …`."""
    site = argparse.ArgumentParser(add_help=False)
    site.add_argument("--site", required=True, help="the site's name")
    domains = commands.add_parser("domains", help="a site's custom domains")
    actions = domains.add_subparsers(dest="action", required=True)
    parser = actions.add_parser("list", parents=[remote, site], help="a site's custom domains")
    parser.set_defaults(run=list_domains)

    parser = actions.add_parser(
        "add", parents=[remote, site], help="attach a domain; prints the DNS record to create"
    )
    parser.add_argument("hostname", help="e.g. www.example.com")
    parser.add_argument(
        "--env",
        dest="environment",
        choices=["production", "staging"],
        default="production",
        help="the environment it serves [default: production]",
    )
    parser.set_defaults(run=add_domain)

    parser = actions.add_parser(
        "show", parents=[remote, site], help="one domain, and the record that proves it"
    )
    parser.add_argument("hostname", help="the domain")
    parser.set_defaults(run=show_domain)

    parser = actions.add_parser(
        "verify", parents=[remote, site], help="check ownership now and say what was found"
    )
    parser.add_argument("hostname", help="the domain")
    parser.add_argument(
        "--method",
        choices=["dns", "http", "admin"],
        help="only DNS, only HTTP, or (admins) vouch without a check [default: DNS, then HTTP]",
    )
    parser.set_defaults(run=verify_domain)

    parser = actions.add_parser("remove", parents=[remote, site], help="detach a domain")
    parser.add_argument("hostname", help="the domain")
    parser.add_argument("--yes", action="store_true", help="do not ask to type the domain")
    parser.set_defaults(run=remove_domain)
