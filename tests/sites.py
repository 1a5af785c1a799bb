"""Builders of site archives for tests: small real sites as ZIP bytes or files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

INDEX_HTML = """<!doctype html>
<html>
  <head>
    <title>  Release {marker}  </title>
    <link rel="stylesheet" href="/assets/site.css">
  </head>
  <body>
    <h1>   Hello from release {marker}   </h1>
    <p>API: __WHARF_ENV_API_URL__</p>
    <script src="/assets/app.js"></script>
  </body>
</html>
"""
CSS = "body {\n    color : #333333 ;\n    margin : 0px ;\n}\n" * 40
JS = "function greet ( name ) {\n    return 'hello ' + name ;\n}\n" * 40


def site_files(
    marker: str = "one", extra: dict[str, str | bytes] | None = None
) -> dict[str, str | bytes]:
    """A small site whose pages carry a marker naming the release."""
    files: dict[str, str | bytes] = {
        "index.html": INDEX_HTML.format(marker=marker),
        "about/index.html": f"<html><body><p>About {marker}</p></body></html>",
        "assets/site.css": CSS,
        "assets/app.js": JS + f"\nconsole.log('{marker}');\n",
        "_redirects": "/old  /about  301\n/blog/*  /news/:splat  302\n",
        "_headers": "/*\n  X-Frame-Options: DENY\n",
    }
    files.update(extra or {})
    return files


def zip_bytes(files: dict[str, str | bytes], prefix: str = "") -> bytes:
    """The files as a ZIP, each under the prefix (a top-level folder when it ends in /)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(prefix + name, content)
    return buffer.getvalue()


def write_site(folder: Path, files: dict[str, str | bytes]) -> Path:
    """The files written under a folder."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return folder
