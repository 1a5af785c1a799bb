"""What the commands on a site's domains, gates and TLS share: API paths with each name quoted
as one segment, a usage failure, a file's text, and the routing state of a write."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from controlplane.cli.client import EXIT_USAGE, CliFailure
from controlplane.cli.remote import Context


def site_path(site: str, *rest: str) -> str:
    """/api/v1/sites/<site>/<rest…>, every name one segment: `--site ../users` stays a name."""
    return "/".join(["/api/v1/sites", *(quote(part, safe="") for part in (site, *rest))])


def usage_failure(message: str, code: str = "usage") -> CliFailure:
    """A failure of the command line itself: exit code 2."""
    return CliFailure(message, code=code, exit_code=EXIT_USAGE)


def file_text(path: str, what: str) -> str:
    """A file's text; a failure naming the file and what it should hold when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliFailure(f"no file {path} (the {what})", code="file_not_found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        message = f"cannot read {path} (the {what}): {reason}"
        raise CliFailure(message, code="file_unreadable") from None


def routing_note(ctx: Context, document: dict[str, Any]) -> None:
    """Say on stderr when Traefik refused the configuration a write produced."""
    routing = document.get("routing") or {}
    if routing.get("state") == "error":
        ctx.output.note(
            f"Traefik did not take this change yet: {routing.get('error')}"
            " (the control plane's log says more)",
            style="yellow",
        )
