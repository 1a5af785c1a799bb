"""The `wharf` command: parse arguments, resolve settings, call into the control plane."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence

from aiohttp import web

from controlplane.accounts import Accounts
from controlplane.app import create_app, secret_key_for
from controlplane.bootstrap import ensure_first_admin
from controlplane.config import SETTINGS, ConfigError, Settings, load_settings
from controlplane.database import open_store
from controlplane.errors import WharfError
from controlplane.logs import configure_logging
from controlplane.secrets import derive_key
from controlplane.store import describe_schema
from controlplane.web.keys import ACCOUNTS


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
    migrate = commands.add_parser("migrate", parents=[common], help="apply database migrations")
    migrate.add_argument(
        "--print-schema", action="store_true", help="print the schema after migrating"
    )

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True
    )
    user_create = user.add_parser("create", parents=[common], help="create a user")
    user_create.add_argument("email")
    user_create.add_argument("--role", choices=["admin", "member"], default="member")
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
    token_create.add_argument("--name", default="cli", help="a label for the token")
    return parser


def _serve(settings: Settings, *, banner: bool) -> None:
    app = create_app(settings)

    async def announce(app: web.Application) -> None:
        password = await ensure_first_admin(app[ACCOUNTS], settings)
        if banner:
            host, port = settings.listen
            print(f"Wharf is running: http://{host}:{port}/", flush=True)
            print(f"  login: {settings.admin_email}", flush=True)
            print(f"  password: {password or '(set at first start)'}", flush=True)
            print("Press Ctrl-C to stop.", flush=True)

    app.on_startup.append(announce)
    host, port = settings.listen
    web.run_app(app, host=host, port=port, print=None, access_log=None)


async def _migrate(settings: Settings, print_schema: bool) -> None:
    async with open_store(settings) as store:
        if print_schema:
            async with store.pool.acquire() as conn:
                sys.stdout.write(await describe_schema(conn))


def _accounts(settings: Settings, store: object) -> Accounts:
    from controlplane.store import Store

    assert isinstance(store, Store)
    return Accounts(
        store,
        derive_key(secret_key_for(settings), "jwt"),
        access_token_ttl=settings.access_token_ttl,
        max_failures=settings.login_max_failures,
        failure_window=settings.login_window,
    )


async def _user_create(settings: Settings, email: str, role: str, password: str | None) -> None:
    if password is None:
        if not sys.stdin.isatty():
            raise WharfError("give --password or WHARF_USER_PASSWORD", code="password_required")
        password = getpass.getpass("Password: ")
    async with open_store(settings) as store:
        user = await _accounts(settings, store).create_user(None, email, password, role)
    print(f"created {user.role} {user.email} (id {user.id})")


async def _token_create(settings: Settings, email: str, name: str) -> None:
    async with open_store(settings) as store:
        found = await store.user_credentials(email)
        if found is None:
            raise WharfError(f"no user {email!r}", code="user_not_found")
        _, text = await _accounts(settings, store).create_token(found[0], name)
    print(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `wharf` console script."""
    args = build_parser().parse_args(argv)
    overrides = {setting.name: getattr(args, setting.name, None) for setting in SETTINGS}
    try:
        settings = load_settings(overrides)
    except ConfigError as exc:
        print(f"wharf: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command in ("up", "serve"):
            _serve(settings, banner=True)
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
