"""The `wharf` command: parse arguments, resolve settings, call into the control plane."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from controlplane.accounts.first_admin import ensure_first_admin
from controlplane.cli import (
    account_commands,
    completion,
    deploy_commands,
    domain_commands,
    gate_commands,
    site_commands,
    tls_commands,
    token_commands,
    user_commands,
)
from controlplane.cli.remote import remote_options, run_remote
from controlplane.config import SETTINGS, ConfigError, Settings, load_settings
from controlplane.errors import WharfError
from controlplane.logs import configure_logging
from controlplane.runtime.database import open_store
from controlplane.runtime.stack import edge_process, traefik_process
from controlplane.services import accounts_for, open_services, run_background
from controlplane.store import describe_schema
from controlplane.web.app import create_app
from controlplane.web.runner import WharfRunner
from edge.responder import EdgeConfig
from edge.server import EdgeOptions, run_edge

log = logging.getLogger(__name__)


def _settings_parser() -> argparse.ArgumentParser:
    """Options shared by every subcommand: one per setting, each also read from WHARF_*."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("settings (each also read from its WHARF_* variable)")
    for setting in SETTINGS:
        group.add_argument(
            setting.flag,
            dest=setting.name,
            metavar=setting.env,
            help=f"{setting.help} [default: {setting.default or 'unset'}]",
        )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    common = _settings_parser()
    parser = argparse.ArgumentParser(prog="wharf", description="Self-hosted static sites.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", parents=[common], help="run the whole stack on this machine")
    commands.add_parser("serve", parents=[common], help="run the control plane (API, admin UI)")
    commands.add_parser("worker", parents=[common], help="run a build worker (and retention)")
    commands.add_parser("edge", parents=[common], help="run the edge file server")
    migrate = commands.add_parser("migrate", parents=[common], help="apply database migrations")
    migrate.add_argument(
        "--print-schema", action="store_true", help="print the schema after migrating"
    )

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True
    )
    user_create = user.add_parser("create", parents=[common], help="create a user")
    user_create.add_argument("email", help="the new user's email")
    user_create.add_argument(
        "--role",
        choices=["admin", "member"],
        default=os.environ.get("WHARF_USER_ROLE", "member"),
        help="admin or member (WHARF_USER_ROLE) [default: member]",
    )
    user_create.add_argument(
        "--password",
        default=os.environ.get("WHARF_USER_PASSWORD"),
        help="the password (WHARF_USER_PASSWORD); asked for on a terminal when unset",
    )

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    token_create = token.add_parser("create", parents=[common], help="create an API token")
    token_create.add_argument("email", help="the user the token acts as")
    token_create.add_argument(
        "--name",
        default=os.environ.get("WHARF_TOKEN_NAME", "cli"),
        help="a label for the token (WHARF_TOKEN_NAME) [default: cli]",
    )
    remote = remote_options()
    modules = (
        account_commands,
        site_commands,
        deploy_commands,
        domain_commands,
        gate_commands,
        tls_commands,
        token_commands,
        user_commands,
    )
    for module in modules:
        module.register(commands, remote)
    completion.register(commands, parser)
    return parser


async def _worker(settings: Settings) -> None:
    """Run the build worker and retention until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with open_services(settings) as services:
        await run_background(services, stop)


async def _serve(settings: Settings, *, show_login: bool, whole_stack: bool = False) -> None:
    """Run the control plane until SIGINT or SIGTERM; print the URL once the port is bound."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if whole_stack and settings.traefik and not settings.traefik_api_url:
        api_host, api_port = settings.traefik_api_listen
        settings = settings.replace(traefik_api_url=f"http://{api_host}:{api_port}")
    async with contextlib.AsyncExitStack() as children:
        services = await children.enter_async_context(open_services(settings))
        password = await ensure_first_admin(services.accounts, settings)
        runner = WharfRunner(create_app(settings, services), access_log=None)
        await runner.setup()
        children.push_async_callback(runner.cleanup)
        host, port = settings.listen
        await web.TCPSite(runner, host, port).start()
        if whole_stack:
            edge_url = await children.enter_async_context(edge_process(settings))
            if settings.traefik:
                routers = services.routing.routers
                sites_url = await children.enter_async_context(traefik_process(settings, routers))
        print(f"Wharf is running: http://{host}:{port}/", flush=True)
        if whole_stack:
            print(f"  edge: {edge_url}", flush=True)
            if settings.traefik:
                _, http_port = settings.http_listen
                example = f"http://<site>.{settings.base_domain}:{http_port}/"
                print(f"  sites (through Traefik): {example}  ({sites_url})", flush=True)
        if show_login:
            # Printed to the terminal of `wharf up` only, never logged.
            if settings.admin_password:
                password = "(as set in WHARF_ADMIN_PASSWORD)"
            print(f"  login: {settings.admin_email}", flush=True)
            print(f"  password: {password or '(not generated by Wharf)'}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()


async def _migrate(settings: Settings, print_schema: bool) -> None:
    async with open_store(settings) as store:
        if print_schema:
            async with store.pool.acquire() as conn:
                sys.stdout.write(await describe_schema(conn))
    log.info("database schema is current")


async def _user_create(settings: Settings, email: str, role: str, password: str | None) -> None:
    if password is None:
        if not sys.stdin.isatty():
            raise WharfError("give --password or WHARF_USER_PASSWORD", code="password_required")
        password = getpass.getpass("Password: ")
    async with open_store(settings) as store:
        user = await accounts_for(settings, store).create_user(None, email, password, role)
    log.info("user created", extra={"user": user.email, "role": user.role, "id": user.id})
    print(f"created {user.role} {user.email} (id {user.id})")


async def _token_create(settings: Settings, email: str, name: str) -> None:
    async with open_store(settings) as store:
        found = await store.user_credentials(email)
        if found is None:
            raise WharfError(f"no user {email!r}", code="user_not_found")
        token, text = await accounts_for(settings, store).create_token(found[0], name)
    # The token alone on stdout (a script captures it); the record of it goes to the log.
    log.info("API token created", extra={"user": email, "id": token.id, "label": token.name})
    print(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `wharf` console script."""
    args = build_parser().parse_args(argv)
    if hasattr(args, "completion_of"):
        sys.stdout.write(completion.script(args.completion_of, args.shell))
        return 0
    if hasattr(args, "run"):
        return run_remote(args)
    overrides = {setting.name: getattr(args, setting.name, None) for setting in SETTINGS}
    try:
        settings = load_settings(overrides)
    except ConfigError as exc:
        print(f"wharf: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, log_format=settings.log_format)
    try:
        if args.command in ("up", "serve"):
            up = args.command == "up"
            asyncio.run(_serve(settings, show_login=up, whole_stack=up))
        elif args.command == "edge":
            return run_edge(
                EdgeConfig(settings.data_dir.resolve(), settings.base_domain),
                EdgeOptions(
                    *settings.edge_listen,
                    settings.edge_workers,
                    idle_timeout=float(settings.edge_idle_timeout),
                ),
            )
        elif args.command == "worker":
            asyncio.run(_worker(settings))
        elif args.command == "migrate":
            asyncio.run(_migrate(settings, args.print_schema))
        elif args.command == "user":
            asyncio.run(_user_create(settings, args.email, args.role, args.password))
        elif args.command == "token":
            asyncio.run(_token_create(settings, args.email, args.name))
    except WharfError as exc:
        print(f"wharf: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
