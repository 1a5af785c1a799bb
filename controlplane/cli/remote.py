"""Running a command against a control plane: which URL and token, the client and the output,
and a failure turned into a message on stderr and its exit code."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from controlplane.cli import logins
from controlplane.cli.client import EXIT_OK, EXIT_UNAUTHORISED, ApiTarget, Client, CliFailure
from controlplane.cli.output import Output

# Per-item problems printed under a refusal (an archive's entries, flags, fields).
DETAILS_SHOWN = 50


@dataclass
class Context:
    """What a command works with: the API client, the output, and whether a person is there."""

    client: Client
    output: Output
    url: str
    interactive: bool


Handler = Callable[[Context, argparse.Namespace], Awaitable[None]]


def remote_options() -> argparse.ArgumentParser:
    """--url, --token and --json, shared by every command that talks to a control plane."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--url",
        help="the control plane (WHARF_URL) [default: the one logged in to last, else "
        f"{logins.DEFAULT_URL}]",
    )
    group.add_argument("--token", help="an API token (WHARF_TOKEN) [default: the login's]")
    group.add_argument("--json", action="store_true", help="print the API's JSON document")
    return parser


def target_for(args: argparse.Namespace) -> ApiTarget:
    """The URL and token: flags, then WHARF_URL/WHARF_TOKEN, then the stored login."""
    url = logins.chosen_url(args.url)
    token = args.token or os.environ.get("WHARF_TOKEN")
    if not token and (login := logins.stored(url)):
        token = login.token
    return ApiTarget(url, token)


def failure_text(exc: CliFailure) -> str:
    """The message, and each per-item problem the server listed."""
    lines = [f"wharf: {exc.message}"]
    if isinstance(exc.details, list):
        for item in exc.details[:DETAILS_SHOWN]:
            if isinstance(item, dict):
                where = item.get("entry") or item.get("flag") or item.get("field")
                said = f"{item.get('message')} ({item.get('code')})"
                lines.append(f"  {where}: {said}" if where else f"  {said}")
        if len(exc.details) > DETAILS_SHOWN:
            lines.append(f"  … and {len(exc.details) - DETAILS_SHOWN} more")
    return "\n".join(lines)


async def _run(handler: Handler, args: argparse.Namespace, target: ApiTarget) -> None:
    output = Output(args.json)
    async with Client(target) as client:
        await handler(Context(client, output, target.url, sys.stdin.isatty()), args)


def run_remote(args: argparse.Namespace) -> int:
    """Run the parsed command's handler; its exit code."""
    target = target_for(args)
    if getattr(args, "needs_login", True) and not target.token:
        print(
            f"wharf: not logged in to {target.url}: run `wharf login --url {target.url}`"
            " (or give --token / WHARF_TOKEN)",
            file=sys.stderr,
        )
        return EXIT_UNAUTHORISED
    try:
        asyncio.run(_run(args.run, args, target))
    except CliFailure as exc:
        print(failure_text(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("wharf: interrupted", file=sys.stderr)
        return 130
    return EXIT_OK
