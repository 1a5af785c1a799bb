"""`wharf gate show|set|off` and `wharf share create`: who may open an environment, and links
that open a password or sign-in gate for a while. Passwords come from a prompt or a file,
never argv."""

from __future__ import annotations

import argparse
import getpass
import re
from datetime import datetime
from typing import Any

from controlplane.cli.client import CliFailure
from controlplane.cli.output import ago
from controlplane.cli.remote import Context
from controlplane.cli.resources import file_text, routing_note, site_path, usage_failure

ENVIRONMENTS = ("production", "staging", "previews")
_UNITS = {"m": 60, "h": 3600, "d": 86400}
SHARE_MAX_SECONDS = 30 * 86400  # the API's bound (gate_service.SHARE_MAX_SECONDS)


def expires_in(text: str) -> int:
    """`30m`, `1h`, `7d`, `30d` as seconds (at most 30 days)."""
    match = re.fullmatch(r"([1-9][0-9]{0,6})([mhd])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 1h, 7d or 30d")
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds > SHARE_MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} is longer than the most, 30d")
    return seconds


def _secret_from_file(path: str, what: str) -> str:
    """A password kept in a file: its text without the final line break."""
    secret = file_text(path, what).rstrip("\r\n")
    if not secret:
        raise CliFailure(f"{path} is empty (the {what})", code="empty_password_file")
    return secret


def _prompted(ctx: Context, prompt: str, instead: str) -> str:
    """A password typed twice at the terminal (not echoed); off a terminal, a usage failure."""
    if not ctx.interactive:
        raise usage_failure(f"no terminal to ask for the password: {instead}", "password_required")
    first = getpass.getpass(f"{prompt}: ")
    if getpass.getpass("Again, to be sure: ") != first:
        raise CliFailure("the two passwords differ: nothing was changed", code="password_mismatch")
    return first


def _basic_users(ctx: Context, args: argparse.Namespace) -> list[dict[str, str]]:
    """--user NAME (asked) and --user NAME:PASSWORD-FILE as the API's users."""
    users = []
    for given in args.user:
        name, has_file, path = given.partition(":")
        if has_file:
            password = _secret_from_file(path, f"password of {name}")
        else:
            password = _prompted(ctx, f"Password for {name}", f"give --user {name}:PASSWORD-FILE")
        users.append({"username": name, "password": password})
    return users


def _kept_users(current: dict[str, Any], named: set[str]) -> list[str]:
    """The gate's current basic users not named again (they keep their passwords)."""
    if current.get("mode") != "basic":
        return []
    return [name for name in current["users"] if name not in named]


def _describe(gate: dict[str, Any], site: str) -> str:
    mode = gate["mode"]
    where = f"{gate['environment']} of {site}"
    if mode == "basic":
        return f"{where} asks for a username and password (basic): {', '.join(gate['users'])}."
    if mode == "password":
        return f"{where} asks visitors for its password."
    if mode == "oauth":
        return f"{where} lets in, once signed in: {', '.join(gate['allowed'])}."
    return f"{where} is open: no gate."


async def show_gates(ctx: Context, args: argparse.Namespace) -> None:
    """Each environment's gate (or one's): mode and usernames, never a password."""
    document = await ctx.client.call("GET", site_path(args.site, "gate"))
    gates = [
        gate
        for environment, gate in document["gates"].items()
        if args.environment in (None, environment)
    ]
    rows = [
        (
            gate["environment"],
            gate["mode"],
            ", ".join(gate["users"] or gate.get("allowed", [])) or "—",
            ago(gate["updated_at"]),
        )
        for gate in gates
    ]
    ctx.output.result(
        document,
        lambda: ctx.output.table(("ENV", "GATE", "WHO", "CHANGED"), rows, "No environments."),
    )


def _check_options(args: argparse.Namespace) -> None:
    """Options that do not go together: a usage failure before anything is asked or sent."""
    if args.mode == "basic":
        if args.password_file:
            raise usage_failure(
                "--password-file is for --mode password: give --user NAME:PASSWORD-FILE"
            )
        if not args.user and not args.keep_users:
            raise usage_failure("--mode basic needs at least one --user NAME[:PASSWORD-FILE]")
    elif args.user or args.keep_users:
        raise usage_failure("--user is for --mode basic: --mode password takes --password-file")
    if args.mode == "oauth" and not args.allow:
        raise usage_failure("--mode oauth needs at least one --allow EMAIL|@DOMAIN|github:ORG")
    if args.allow and args.mode != "oauth":
        raise usage_failure("--allow is for --mode oauth")


async def set_gate(ctx: Context, args: argparse.Namespace) -> None:
    """Gate an environment: basic users, one password, or a sign-in for the listed people."""
    _check_options(args)
    # Read first: an unknown site fails before anybody types a password.
    gates = (await ctx.client.call("GET", site_path(args.site, "gate")))["gates"]
    body: dict[str, Any] = {"environment": args.environment, "mode": args.mode}
    if args.mode == "basic":
        users = _basic_users(ctx, args)
        if args.keep_users:
            named = {user["username"] for user in users}
            kept = _kept_users(gates.get(args.environment) or {}, named)
            users += [{"username": name} for name in kept]
        body["users"] = users
    elif args.mode == "oauth":
        body["allowed"] = args.allow
    else:
        body["password"] = (
            _secret_from_file(args.password_file, "visitors' password")
            if args.password_file
            else _prompted(ctx, "Visitors' password", "give --password-file PATH")
        )
    gate = await ctx.client.call("PUT", site_path(args.site, "gate"), body=body)

    def human() -> None:
        ctx.output.line(_describe(gate, args.site))
        if gate["mode"] in ("password", "oauth"):
            ctx.output.line(
                "A link that opens it without signing in: wharf share create"
                f" --site {args.site} --env {args.environment} --expires 7d"
            )

    ctx.output.result(gate, human)
    routing_note(ctx, gate)


async def gate_off(ctx: Context, args: argparse.Namespace) -> None:
    """Remove an environment's gate."""
    gate = await ctx.client.call(
        "PUT", site_path(args.site, "gate"), body={"environment": args.environment, "mode": "none"}
    )
    ctx.output.result(gate, lambda: ctx.output.line(_describe(gate, args.site)))
    routing_note(ctx, gate)


async def create_share(ctx: Context, args: argparse.Namespace) -> None:
    """A link opening a password-gated environment until it expires; the link is the last line."""
    body: dict[str, Any] = {"environment": args.environment, "expires_in": args.expires}
    if args.deploy:
        body["deploy_id"] = args.deploy
    if args.domain:
        body["hostname"] = args.domain
    share = await ctx.client.call("POST", site_path(args.site, "gate", "share"), body=body)

    def human() -> None:
        until = datetime.fromisoformat(share["expires_at"])
        ctx.output.line(
            f"Anyone with this link opens {args.environment} of {args.site} without a password"
            f" or sign-in until {until:%Y-%m-%d %H:%M} UTC ({ago(share['expires_at'])}):"
        )
        ctx.output.line(share["url"])

    ctx.output.result(share, human)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    """Add `wharf gate …` and `wharf share create`."""
    site = argparse.ArgumentParser(add_help=False)
    site.add_argument("--site", required=True, help="the site's name")
    environment = argparse.ArgumentParser(add_help=False)
    environment.add_argument(
        "--env", dest="environment", choices=ENVIRONMENTS, required=True, help="the environment"
    )
    gate = commands.add_parser("gate", help="gates (passwords, sign-in) on a site's environments")
    actions = gate.add_subparsers(dest="action", required=True)
    parser = actions.add_parser("show", parents=[remote, site], help="each environment's gate")
    parser.add_argument(
        "--env", dest="environment", choices=ENVIRONMENTS, help="only this environment"
    )
    parser.set_defaults(run=show_gates)

    parser = actions.add_parser(
        "set", parents=[remote, site, environment], help="gate an environment"
    )
    parser.add_argument(
        "--mode",
        choices=["basic", "password", "oauth"],
        required=True,
        help="basic: users with passwords (Traefik checks them); password: one password in a"
        " form; oauth: visitors sign in with a provider and pass when listed by --allow",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="WHO",
        help="oauth: an email, @domain or github:org let in (repeat for more)",
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME[:PASSWORD-FILE]",
        help="basic: a user, the password read from the file or else asked (repeat for more)",
    )
    parser.add_argument(
        "--keep-users",
        action="store_true",
        help="basic: keep the current users (and their passwords) not named by --user",
    )
    parser.add_argument(
        "--password-file",
        metavar="PATH",
        help="password: the file holding the visitors' password [default: asked]",
    )
    parser.set_defaults(run=set_gate)

    parser = actions.add_parser(
        "off", parents=[remote, site, environment], help="remove an environment's gate"
    )
    parser.set_defaults(run=gate_off)

    share = commands.add_parser(
        "share", help="links that open a password or sign-in gate for a while"
    )
    share_actions = share.add_subparsers(dest="action", required=True)
    parser = share_actions.add_parser(
        "create",
        parents=[remote, site, environment],
        help="a link that skips the password or sign-in",
    )
    parser.add_argument(
        "--expires",
        type=expires_in,
        default=expires_in("7d"),
        metavar="DURATION",
        help="how long the link works: 30m, 1h, 7d, up to 30d [default: 7d]",
    )
    parser.add_argument("--deploy", metavar="ID", help="previews: the deploy whose preview opens")
    parser.add_argument("--domain", metavar="HOST", help="a verified custom domain to link to")
    parser.set_defaults(run=create_share)
