"""The `wharf` command: parse arguments, resolve settings, call into the control plane."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
    webhook_commands,
)
from controlplane.cli.remote import remote_options, run_remote
from controlplane.config import SETTINGS, ConfigError, load_settings


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
        webhook_commands,
    )
    for module in modules:
        module.register(commands, remote)
    completion.register(commands, parser)
    return parser


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
    # Imported here: loading the control plane takes a second a client command does not need.
    from controlplane.cli.server_commands import run_server_command

    return run_server_command(args, settings)


if __name__ == "__main__":
    sys.exit(main())
