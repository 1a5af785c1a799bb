"""The edge's own HTML answers for browsers (no site at a host, nothing published yet), styled by
the same tokens as the admin UI: static/ holds copies of templates/static/tokens.css and
visitor.css (`make edge-css`; a test keeps them equal). The edge serves only sites' files, so the
style is inline, allowed by its hash in the page's CSP."""

from __future__ import annotations

import base64
import functools
import hashlib
import html
from pathlib import Path

_STATIC = Path(__file__).parent / "static"


@functools.cache
def _style() -> tuple[str, str]:
    """The inline stylesheet and its CSP source (read once, on the first page)."""
    css = "\n".join((_STATIC / name).read_text() for name in ("tokens.css", "visitor.css"))
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return css, f"'sha256-{digest}'"


def wants_html(accept: str) -> bool:
    """Whether the client asked for HTML (a browser) rather than anything at all (curl)."""
    return "text/html" in accept


def page(title: str, text: str) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of a small HTML page: a heading and a sentence, no script, no images."""
    css, source = _style()
    body = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n"
        f"<body><main><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></main></body>\n"
        "</html>\n"
    )
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        (
            "Content-Security-Policy",
            f"default-src 'none'; style-src {source}; base-uri 'none'; form-action 'none';"
            " frame-ancestors 'none'",
        ),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return headers, body.encode()
