"""HTML pages: Jinja templates from the top-level `templates/` folder, autoescaped."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import humanize
import jinja2
from aiohttp import web


def templates_dir() -> Path:
    """The repository's `templates/` (a checkout or an editable install), else the copy an
    install puts in <prefix>/share/wharf/templates (setup.cfg's data_files)."""
    source = Path(__file__).resolve().parents[2] / "templates"
    return source if source.is_dir() else Path(sys.prefix) / "share" / "wharf" / "templates"


def setup_pages(app: web.Application) -> None:
    """Install the template environment: autoescaping on, undefined names an error, and the
    filters pages use for sizes and ages ("2.1 MB", "3 hours ago")."""
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["size"] = humanize.naturalsize
    environment.filters["ago"] = _ago


def _ago(moment: datetime) -> str:
    return humanize.naturaltime(datetime.now(UTC) - moment)


def page(
    request: web.Request, name: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A rendered template as a text/html answer."""
    return aiohttp_jinja2.render_template(name, request, context, status=status)
