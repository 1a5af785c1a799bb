"""Builders of site archives for tests: small real sites as ZIP bytes or files."""

from __future__ import annotations

import io
import json
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


def docs_site_files(sections: int = 8, per_section: int = 13) -> dict[str, str | bytes]:
    """A documentation site shaped like MkDocs Material's output (338 files, 105 pages and a
    404 page): every page carries the whole navigation as relative links, a stylesheet with
    url() fonts and images, srcset images, a web manifest, and folder-style clean URLs."""
    names = ["index.html"] + [
        f"section-{s}/page-{p}/index.html" for s in range(sections) for p in range(per_section)
    ]
    names = names[:105]
    files: dict[str, str | bytes] = {}
    assets = {
        "assets/stylesheets/main.4f9a1b2c.min.css": (
            "@import url(palette.css);\n@font-face{font-family:t;src:url(../fonts/t.woff2)"
            ' format("woff2")}\n.logo{background:url("../images/logo.svg")}\n'
            ".icon{mask-image:url('data:image/svg+xml;charset=utf-8,<svg/>')}\n"
        ),
        "assets/stylesheets/palette.css": ":root{--md-primary:#4051b5}\n",
        "assets/fonts/t.woff2": b"wOF2",
        "assets/images/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
        "assets/images/favicon.png": b"\x89PNG",
        "assets/javascripts/bundle.8a7c3e21.min.js": "console.log('bundle');\n",
        "assets/javascripts/workers/search.2c215733.min.js": "self.onmessage=()=>{};\n",
        "site.webmanifest": json.dumps(
            {"start_url": "./", "icons": [{"src": "assets/images/favicon.png"}]}
        ),
        "search/search_index.json": json.dumps({"docs": [{"location": n} for n in names]}),
        "sitemap.xml": "<urlset/>",
        "robots.txt": "User-agent: *\n",
    }
    files.update(assets)
    for index in range(338 - len(assets) - len(names) - 1):
        files[f"images/figure-{index}.png"] = b"\x89PNG" + bytes(index % 7)
    figures = [name for name in files if name.startswith("images/")]

    def page(name: str, up: str, body: str) -> str:
        nav = "\n".join(
            f'<li class="md-nav__item"><a href="{up}{other.removesuffix("index.html")}"'
            f' class="md-nav__link">{other}</a></li>'
            for other in names
        )
        return (
            f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f"<title>{name} - Docs</title>\n"
            f'<link rel="canonical" href="https://docs.example.com/{name}">\n'
            f'<link rel="icon" href="{up}assets/images/favicon.png">\n'
            f'<link rel="manifest" href="{up}site.webmanifest">\n'
            f'<link rel="stylesheet" href="{up}assets/stylesheets/main.4f9a1b2c.min.css">\n'
            '<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>\n'
            "</head><body>\n"
            f'<a href="#main" class="md-skip">Skip</a>\n<nav class="md-nav"><ul>\n{nav}\n</ul>'
            f"</nav>\n<main id=main>{body}</main>\n"
            f'<script src="{up}assets/javascripts/bundle.8a7c3e21.min.js"></script>\n'
            "</body></html>\n"
        )

    for number, name in enumerate(names):
        up = "../" * name.count("/")
        figure = figures[number % len(figures)]
        following = names[(number + 1) % len(names)].removesuffix("index.html")
        body = (
            f'<h1>{name}</h1>\n<p>See <a href="{up}{following}#part">the next page</a> and'
            f' <a href="{up}">home</a>.</p>\n'
            f'<img src="{up}{figure}" srcset="{up}{figure} 1x, {up}{figure} 2x" alt="">\n'
        )
        files[name] = page(name, up, body)
    # Served at any missing path, so its URLs are root-relative (as with a site_url set).
    files["404.html"] = page("404.html", "/", "<h1>404 - Not found</h1>")
    return files
