"""`wharf deploy`, `deploys list|show`, `logs`, `publish`, `rollback`, `pin` and `unpin`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import humanize
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from controlplane.cli.client import EXIT_NOT_FOUND, ApiError, CliFailure
from controlplane.cli.output import ago
from controlplane.cli.remote import Context
from controlplane.cli.uploading import parse_flag_options, zip_directory

_CHUNK = 256 * 1024
# A deploy is done changing by itself in these (a ready one of a locked site waits for you).
_SETTLED = {"live", "failed", "superseded"}
# Log lines shown when a build fails and --follow did not show them already.
FAILED_LOG_LINES = 40
_SHOWN_PROBLEMS = 10  # release-check problems printed after a deploy


def _site_path(args: argparse.Namespace) -> str:
    return f"/api/v1/sites/{args.site}"


async def _ensure_site(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    """The site; created when asked to (--create, or yes at the terminal's question)."""
    try:
        site: dict[str, Any] = await ctx.client.call("GET", _site_path(args))
        return site
    except ApiError as exc:
        if exc.status != 404:
            raise
    create = args.create
    if not create and ctx.interactive:
        sys.stderr.write(f"There is no site named {args.site!r}. Create it? [y/N] ")
        sys.stderr.flush()
        create = sys.stdin.readline().strip().lower() in ("y", "yes")
    if not create:
        raise CliFailure(
            f"no site named {args.site!r}: create it with `wharf sites create {args.site}`,"
            " or deploy with --create",
            code="site_not_found",
            exit_code=EXIT_NOT_FOUND,
        )
    created: dict[str, Any] = await ctx.client.call(
        "POST", "/api/v1/sites", body={"name": args.site}
    )
    ctx.output.note(f"Created the site {args.site}.")
    return created


async def _chunks(path: Path, size: int, progress: Progress | None) -> AsyncIterator[bytes]:
    task = progress.add_task("Uploading", total=size) if progress else None
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, _CHUNK):
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
            yield chunk


async def _upload(ctx: Context, args: argparse.Namespace, archive: Path) -> dict[str, Any]:
    params = {"environment": args.environment}
    flags = parse_flag_options(args.flag, args.secret_flag)
    if flags:
        params["flags"] = json.dumps(flags)
    if args.message:  # a commit's whole message from CI: its subject is what the history shows
        params["message"] = (
            args.message.strip().splitlines()[0][:500] if args.message.strip() else ""
        )
    if args.commit:
        params["commit"] = args.commit
    size = (await asyncio.to_thread(archive.stat)).st_size
    path = f"{_site_path(args)}/deploys"
    if not ctx.output.err.isatty():  # a bar only for a person watching
        return dict(await ctx.client.send(path, _chunks(archive, size, None), size, params))
    columns = (TextColumn("Uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=ctx.output.err_console, transient=True) as progress:
        return dict(await ctx.client.send(path, _chunks(archive, size, progress), size, params))


async def _follow(ctx: Context, args: argparse.Namespace, deploy_id: str, to_stderr: bool) -> str:
    """Print the build log as it is written; the status it ended in."""
    path = f"{_site_path(args)}/deploys/{deploy_id}/log/stream"
    async for event, data in ctx.client.events(path):
        if event == "done":
            return data
        if to_stderr:
            ctx.output.note(f"  | {data}")
        else:
            ctx.output.line(data)
    raise CliFailure("the log stream ended before the deploy settled", code="stream_ended")


async def _until_settled(
    ctx: Context, args: argparse.Namespace, deploy: dict[str, Any], stops_at_ready: bool
) -> dict[str, Any]:
    """Poll the deploy, saying each phase it enters, until it has settled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.wait
    said = deploy["status"]
    while deploy["status"] not in _SETTLED and not (
        deploy["status"] == "ready" and (stops_at_ready or _held_back(deploy))
    ):
        if loop.time() > deadline:
            raise CliFailure(
                f"deploy {deploy['id']} is still {deploy['status']} after {args.wait:g} s;"
                f" watch it with `wharf logs {deploy['id']} --site {args.site} --follow`",
                code="timeout",
            )
        await asyncio.sleep(0.3)
        deploy = await ctx.client.call("GET", f"{_site_path(args)}/deploys/{deploy['id']}")
        if deploy["status"] != said:
            said = deploy["status"]
            ctx.output.note(f"{said.capitalize()}…" if said == "building" else said.capitalize())
    return deploy


async def deploy(ctx: Context, args: argparse.Namespace) -> None:
    """Upload a folder or ZIP, follow its build, and print where it is live."""
    source: Path = args.source
    site = await _ensure_site(ctx, args)
    temp: Path | None = None
    if await asyncio.to_thread(source.is_dir):
        fd, name = tempfile.mkstemp(suffix=".zip")
        os.close(fd)
        temp = Path(name)
        count = await asyncio.to_thread(zip_directory, source, temp)
        ctx.output.note(f"Zipped {count} files from {source}")
        archive = temp
    elif await asyncio.to_thread(source.is_file):
        archive = source
    else:
        raise CliFailure(f"{source} is neither a folder nor a file", code="no_source")
    try:
        accepted = await _upload(ctx, args, archive)
    finally:
        if temp is not None:
            await asyncio.to_thread(temp.unlink, missing_ok=True)
    ctx.output.note(f"Deploy {accepted['id']} accepted; building…")
    stops_at_ready = args.environment == "production" and not site["auto_publish"]
    if args.follow:
        await _follow(ctx, args, accepted["id"], to_stderr=True)
    final = await _until_settled(ctx, args, accepted, stops_at_ready)
    if final["status"] == "failed":
        if not args.follow:
            log = await ctx.client.call("GET", f"{_site_path(args)}/deploys/{final['id']}/log")
            for line in log["lines"][-FAILED_LOG_LINES:]:
                ctx.output.note(f"  | {line['text']}")
        raise CliFailure(f"deploy {final['id']} failed: {final['error']}", code="deploy_failed")
    _say_checks(ctx, final)
    if final["status"] == "ready" and _held_back(final):
        raise CliFailure(
            f"deploy {final['id']} failed its release checks and this site blocks such deploys:"
            f" it is ready, not published; `wharf publish {final['id']} --site {args.site}"
            " --force` publishes it anyway",
            code="checks_failed",
        )
    ctx.output.result(final, lambda: _say_where(ctx, args, final))


def _held_back(deploy: dict[str, Any]) -> bool:
    """Whether the release checks kept the deploy from publishing itself."""
    return bool((deploy.get("checks") or {}).get("blocked"))


def _checks_line(checks: dict[str, Any] | None) -> str:
    """'failed: 2 errors, 1 warning', or 'not checked' (checks off, or built before them)."""
    if not checks:
        return "not checked"
    counts = [
        f"{count} {word}{'s' * (count != 1)}"
        for count, word in ((checks["errors"], "error"), (checks["warnings"], "warning"))
        if count
    ]
    return str(checks["status"]) + (": " + ", ".join(counts) if counts else "")


def _say_checks(ctx: Context, deploy: dict[str, Any]) -> None:
    """The release checks' outcome and their first problems, on stderr."""
    checks = deploy.get("checks")
    if not checks or checks["status"] == "passed":
        return
    ctx.output.note(f"Checks {_checks_line(checks)}")
    for problem in checks["problems"][:_SHOWN_PROBLEMS]:
        line = f":{problem['line']}" if problem["line"] is not None else ""
        link = f" {problem['link']}" if problem["link"] is not None else ""
        answer = f" ({problem['answer']})" if problem["answer"] else ""
        ctx.output.note(f"  {problem['severity']}: {problem['page']}{line}{link}{answer}")
    rest = checks["errors"] + checks["warnings"] - min(len(checks["problems"]), _SHOWN_PROBLEMS)
    if rest > 0:
        ctx.output.note(f"  … and {rest} more: `wharf deploys show {deploy['id']} --json`")


def _say_where(ctx: Context, args: argparse.Namespace, deploy: dict[str, Any]) -> None:
    """Live (or ready to publish) and its URLs; the preview URL last, for scripts."""
    urls = deploy["urls"]
    if deploy["status"] == "live":
        ctx.output.line(f"Live: {urls['environment']}")
    else:
        ctx.output.line(
            f"Ready, not published (auto-publish is off): `wharf publish {deploy['id']}"
            f" --site {args.site}`"
        )
    if urls.get("preview"):
        ctx.output.line(f"Preview: {urls['preview']}")


def _status(deploy: dict[str, Any]) -> str:
    return "LIVE" if deploy["status"] == "live" else deploy["status"]


async def list_deploys(ctx: Context, args: argparse.Namespace) -> None:
    """A site's deploys, newest first, the live ones marked."""
    document = await ctx.client.call("GET", f"{_site_path(args)}/deploys")
    shown = [d for d in document["deploys"] if args.environment in (None, d["environment"])]
    rows = [
        (
            d["id"],
            d["environment"],
            _status(d) + (" (pinned)" if d["pinned"] else ""),
            humanize.naturalsize(d["total_bytes"]) if d["total_bytes"] is not None else "—",
            ago(d["created_at"]),
            d["message"] or "",
        )
        for d in shown
    ]
    ctx.output.result(
        {"deploys": shown},
        lambda: ctx.output.table(
            ("DEPLOY", "ENV", "STATUS", "SIZE", "CREATED", "MESSAGE"),
            rows,
            f"No deploys of {args.site} yet: `wharf deploy ./public --site {args.site}`.",
        ),
    )


async def show_deploy(ctx: Context, args: argparse.Namespace) -> None:
    """One deploy: its status, URLs, what it says of itself."""
    d = await ctx.client.call("GET", f"{_site_path(args)}/deploys/{args.deploy}")
    pairs = [
        ("Deploy", d["id"]),
        ("Site", d["site"]),
        ("Environment", d["environment"]),
        ("Status", _status(d) + (f": {d['error']}" if d["error"] else "")),
        ("Created", ago(d["created_at"])),
        ("Published", ago(d["published_at"])),
        ("Files", f"{d['file_count']} ({humanize.naturalsize(d['total_bytes'])})")
        if d["file_count"] is not None
        else ("Files", "—"),
        ("Pinned", "yes" if d["pinned"] else "no"),
        ("Message", d["message"] or "—"),
        ("Commit", d["commit"] or "—"),
        ("Preview", d["urls"]["preview"] or "—"),
        ("Checks", _checks_line(d.get("checks")) + (" (held back)" if _held_back(d) else "")),
    ]
    ctx.output.result(d, lambda: ctx.output.fields(pairs))


async def logs(ctx: Context, args: argparse.Namespace) -> None:
    """The build log; with --follow, as it is written until the deploy settles."""
    path = f"{_site_path(args)}/deploys/{args.deploy}/log"
    if args.follow and not ctx.output.as_json:
        status = await _follow(ctx, args, args.deploy, to_stderr=False)
        ctx.output.note(f"The deploy is {status}.")
        return
    if args.follow:  # --json: one document, the whole log once it has settled
        async for event, _ in ctx.client.events(path + "/stream"):
            if event == "done":
                break
    document = await ctx.client.call("GET", path)

    def lines() -> None:
        for line in document["lines"]:
            ctx.output.line(line["text"])

    ctx.output.result(document, lines)


async def publish(ctx: Context, args: argparse.Namespace) -> None:
    """Make a ready (or earlier) deploy live; --force past failed release checks."""
    event = await ctx.client.call(
        "POST",
        f"{_site_path(args)}/deploys/{args.deploy}/publish",
        body={"force": True} if args.force else None,
    )
    ctx.output.result(event, lambda: _say_event(ctx, args, event))


def _say_event(ctx: Context, args: argparse.Namespace, event: dict[str, Any]) -> None:
    was = event["from_deploy"] or "nothing"
    ctx.output.line(
        f"{args.site} ({event['environment']}): {event['to_deploy']} is live (was {was})."
    )


async def rollback(ctx: Context, args: argparse.Namespace) -> None:
    """Go back to the previous deploy, or to the one named."""
    body: dict[str, Any] = {"environment": args.environment}
    if args.to:
        body["deploy_id"] = args.to
    event = await ctx.client.call("POST", f"{_site_path(args)}/rollback", body=body)
    ctx.output.result(event, lambda: _say_event(ctx, args, event))


async def pin(ctx: Context, args: argparse.Namespace) -> None:
    """Pin a deploy (retention keeps it) or unpin it."""
    pinned = args.command == "pin"
    d = await ctx.client.call(
        "PATCH", f"{_site_path(args)}/deploys/{args.deploy}", body={"pinned": pinned}
    )
    said = "pinned: retention keeps it" if pinned else "unpinned"
    ctx.output.result(d, lambda: ctx.output.line(f"Deploy {d['id']} is {said}."))


def _site_options(env_default: str | None = None, *, env: bool = True) -> argparse.ArgumentParser:
    """--site (or WHARF_SITE), and --env when the command has one (default env_default)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--site",
        default=os.environ.get("WHARF_SITE"),
        required=not os.environ.get("WHARF_SITE"),
        help="the site's name (WHARF_SITE)",
    )
    if env:
        parser.add_argument(
            "--env",
            dest="environment",
            choices=["production", "staging"],
            default=os.environ.get("WHARF_ENV") or env_default,
            help=f"production or staging (WHARF_ENV) [default: {env_default or 'both'}]",
        )
    return parser


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    """Add deploy, deploys, logs, publish, rollback, pin and unpin."""
    site = _site_options(env=False)  # a deploy id names its environment
    site_env = _site_options("production")
    parser = commands.add_parser(
        "deploy", parents=[remote, site_env], help="deploy a folder or a ZIP of a built site"
    )
    parser.add_argument("source", type=Path, help="a built site's folder, or a .zip of it")
    parser.add_argument(
        "--create", action="store_true", help="create the site when it does not exist"
    )
    parser.add_argument(
        "--message", help="what the history shows (of a commit's message, its first line)"
    )
    parser.add_argument("--commit", help="the commit it was built from")
    parser.add_argument("--follow", action="store_true", help="show the build log as it runs")
    parser.add_argument("--flag", action="append", default=[], help="a build flag, name=value")
    parser.add_argument(
        "--secret-flag", action="append", default=[], help="a build flag whose value is secret"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=float(os.environ.get("WHARF_DEPLOY_WAIT", "600")),
        help="seconds to wait for the build (WHARF_DEPLOY_WAIT) [default: 600]",
    )
    parser.set_defaults(run=deploy)

    deploys = commands.add_parser("deploys", help="a site's deploys")
    actions = deploys.add_subparsers(dest="action", required=True)
    parser = actions.add_parser(
        "list", parents=[remote, _site_options()], help="newest first, LIVE marked"
    )
    parser.set_defaults(run=list_deploys)
    parser = actions.add_parser("show", parents=[remote, site], help="one deploy")
    parser.add_argument("deploy", help="the deploy's id")
    parser.set_defaults(run=show_deploy)

    parser = commands.add_parser("logs", parents=[remote, site], help="a deploy's build log")
    parser.add_argument("deploy", help="the deploy's id")
    parser.add_argument("--follow", action="store_true", help="until the deploy has settled")
    parser.set_defaults(run=logs)
    parser = commands.add_parser("publish", parents=[remote, site], help="make a deploy live")
    parser.add_argument("deploy", help="the deploy's id")
    parser.add_argument(
        "--force",
        action="store_true",
        help="publish even though its release checks failed on a site with checks: block",
    )
    parser.set_defaults(run=publish)
    parser = commands.add_parser(
        "rollback", parents=[remote, site_env], help="go back to the previous deploy, or one named"
    )
    parser.add_argument("--to", help="the deploy to go back to [default: the previous]")
    parser.set_defaults(run=rollback)
    for name, text in (("pin", "keep a deploy through retention"), ("unpin", "undo pin")):
        parser = commands.add_parser(name, parents=[remote, site], help=text)
        parser.add_argument("deploy", help="the deploy's id")
        parser.set_defaults(run=pin)
