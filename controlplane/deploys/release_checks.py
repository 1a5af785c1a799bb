"""Checks a built release before it goes live: every internal link answered as the edge answers it.

Blocking (it reads and parses every page): call it in a thread. The edge's own `Responder` answers
each link, given a `Routed` at the release as a preview of the deploy would be, so clean URLs,
trailing slashes, `_redirects`, the SPA fallback and `404.html` are the edge's rules, never a copy.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit

from controlplane.deploys.page_links import Link, css_links, manifest_links, scan_html
from edge.hosts import HostMap, Target
from edge.release_cache import Release, ReleaseCache
from edge.responder import ACME_PREFIX, CHALLENGE_PREFIX, EdgeConfig, Request, Responder, Routed

Severity = Literal["error", "warning"]
CheckStatus = Literal["passed", "warned", "failed"]
CHECK_MODES = ("off", "warn", "block")
DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_PROBLEMS = 500  # kept in the report; the rest are only counted, so the JSON stays small
MAX_REDIRECTS = 5  # hops followed, as a browser would, before calling it a loop
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Characters a browser sends as they are in a path or query; everything else is %-encoded
# (UTF-8) before the request, which the edge then decodes once. '%' stays: it starts an escape.
_URL_SAFE = "/!$&'()*+,;=:@%~"
# Schemes that name no file of the site.
_WEB_SCHEMES = frozenset({"", "http", "https"})
_HTML_TYPES = ("text/html",)
_CSS_TYPES = ("text/css",)


@dataclass(frozen=True)
class CheckOptions:
    """Which release, seen on which host, and the site's settings that change the answers."""

    site: str
    deploy_id: str
    host: str  # the deploy's preview host: `_redirects` rules with a host match as there
    spa: bool = False
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_problems: int = MAX_PROBLEMS


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (page, line), what (kind, link) and what the edge answers."""

    kind: str  # broken_link, missing_asset, redirect_loop, missing_index, mixed_content, …
    severity: Severity
    page: str  # the file, as in the release ("docs/index.html")
    line: int | None
    link: str | None  # as the page writes it
    source: str | None  # what names it: "a href", "img srcset", "css url()", …
    status: int | None  # the edge's final status for it
    answer: str | None  # what the edge answers, redirects included ("301 → /a/ → 404 Not Found")
    message: str


@dataclass(frozen=True)
class ChecksReport:
    """The outcome: failed with any error, warned with only warnings, else passed."""

    status: CheckStatus
    problems: list[Problem]
    errors: int
    warnings: int
    omitted: int  # problems past the cap, counted but not listed
    pages: int
    links: int
    seconds: float
    blocked: bool = False  # set by the worker: the site blocks failed deploys from going live

    def summary(self) -> str:
        """One line for the build log: "3 problems (2 errors, 1 warning)"."""
        total = self.errors + self.warnings
        if total == 0:
            return f"passed ({self.pages} pages, {self.links} links)"
        return (
            f"{_plural(total, 'problem')} ({_plural(self.errors, 'error')},"
            f" {_plural(self.warnings, 'warning')})"
        )

    def to_json(self) -> dict[str, Any]:
        """The report as the deploy stores and the API shows it."""
        return asdict(self)


def report_from_json(document: dict[str, Any]) -> ChecksReport:
    """A stored report back as a ChecksReport."""
    problems = [Problem(**problem) for problem in document.get("problems", [])]
    return ChecksReport(**{**document, "problems": problems})


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class _Answer:
    """The edge's final status for a URL, and the way there."""

    status: int
    text: str
    external: bool = False  # redirected off the site: not ours to check
    loop: bool = False


@dataclass
class _Findings:
    """Problems as found (up to the cap of each severity), counted all the same."""

    found: dict[Severity, list[Problem]] = field(
        default_factory=lambda: {"error": [], "warning": []}
    )
    pages: int = 0
    links: int = 0
    errors: int = 0
    warnings: int = 0

    def add(self, problem: Problem, cap: int) -> None:
        if problem.severity == "error":
            self.errors += 1
        else:
            self.warnings += 1
        kept = self.found[problem.severity]
        if len(kept) < cap:
            kept.append(problem)

    def listed(self, cap: int) -> list[Problem]:
        """Errors first, then warnings, at most cap in all."""
        return (self.found["error"] + self.found["warning"])[:cap]


class _EdgeView:
    """Asks the edge's Responder what it answers for a path of the release, remembering it."""

    def __init__(self, root: Path, options: CheckOptions) -> None:
        base = options.host.split(".", 1)[1] if "." in options.host else options.host
        spa = frozenset({options.site}) if options.spa else frozenset()
        # No data directory of the edge's own: the release is named directly, and the SPA
        # setting is the site's, not the edge's config file.
        self.responder = Responder(
            EdgeConfig(root, base), ReleaseCache(max_releases=1), HostMap(base, None, spa)
        )
        self.host = options.host
        self.routed = Routed(
            options.host, Target(options.site, deploy_id=options.deploy_id), str(root)
        )
        self._answers: dict[str, _Answer] = {}

    def release(self) -> Release | None:
        """The release as the edge loads it (None when it cannot: no manifest)."""
        return self.responder.cache.release(str(self.routed.root))

    def body(self, target: str) -> bytes | None:
        """The bytes the edge serves with a 200 for a target (its manifest, say)."""
        response = self.responder.handle(Request("GET", target, self.host), self.routed)
        if response.status != 200:
            return None
        if response.file is not None:
            return response.file.read_bytes()
        return response.body

    def answer(self, target: str) -> _Answer:
        """The edge's answer to GET target, following its redirects inside the site."""
        known = self._answers.get(target)
        if known is None:
            known = self._answers[target] = self._follow(target)
        return known

    def _follow(self, target: str) -> _Answer:
        steps: list[str] = []
        seen = {target}
        for _ in range(MAX_REDIRECTS + 1):
            request = Request("HEAD", target, self.host, {"accept": "text/html"})
            response = self.responder.handle(request, self.routed)
            if response.status not in _REDIRECTS:
                steps.append(_status_text(response.status, response))
                return _Answer(response.status, " → ".join(steps))
            location = dict(response.headers).get("Location", "")
            steps.append(f"{response.status} to {location}")
            parts = urlsplit(urljoin(f"https://{self.host}{target}", location))
            if parts.scheme not in ("http", "https") or parts.netloc.lower() != self.host:
                return _Answer(response.status, " → ".join(steps), external=True)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            if target in seen:
                return _Answer(response.status, " → ".join([*steps, "a loop"]), loop=True)
            seen.add(target)
        return _Answer(response.status, " → ".join([*steps, "…"]), loop=True)


def _status_text(status: int, response: Any) -> str:
    """'404 Not Found', naming the site's 404 page when it answered."""
    try:
        text = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        text = str(status)
    content_type = dict(response.headers).get("Content-Type", "")
    if status == 404 and content_type.startswith("text/html"):
        text += " (the site's 404.html)"
    return text


def _request_target(url: str) -> str:
    """A resolved URL's path and query as a browser puts them on the request line."""
    parts = urlsplit(url)
    target = quote(parts.path or "/", safe=_URL_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_URL_SAFE + "?")
    return target


class _Checker:
    """One run over a release: pages, stylesheets, manifests, files."""

    def __init__(self, root: Path, options: CheckOptions) -> None:
        self.options = options
        self.edge = _EdgeView(root, options)
        self.findings = _Findings()
        self.origin = f"https://{options.host}"
        self._manifests: set[str] = set()

    def add(self, problem: Problem) -> None:
        self.findings.add(problem, self.options.max_problems)

    def run(self) -> None:
        release = self.edge.release()
        if release is None:
            self.add(_problem("unreadable_release", "error", "manifest.json", "not loadable"))
            return
        if "index.html" not in release.files:
            answer = self.edge.answer("/")
            self.add(
                Problem(
                    "missing_index", "error", "index.html", None, "/", None, answer.status,
                    answer.text, "the site has no index.html, so / has no page",
                )
            )  # fmt: skip
        for path, info in sorted(release.files.items()):
            if info.size > self.options.max_file_bytes:
                self.add(
                    _problem(
                        "file_too_large",
                        "warning",
                        path,
                        f"{_size(info.size)}, over the site's limit of"
                        f" {_size(self.options.max_file_bytes)}",
                    )
                )
            if info.content_type.startswith(_HTML_TYPES):
                self.page(release, path)
            elif info.content_type.startswith(_CSS_TYPES):
                text = self._text(release, path)
                self.links(path, self.origin + "/" + path, css_links(text))
            elif path.endswith(".webmanifest"):
                self.manifest(path, self.origin + "/" + path, self._text(release, path))

    def page(self, release: Release, path: str) -> None:
        scan = scan_html(self._text(release, path))
        self.findings.pages += 1
        base = self.origin + "/" + path
        if scan.base is not None:
            base = urljoin(base, scan.base.strip())
        self.links(path, base, scan.links)
        if scan.document and not scan.title:
            self.add(_problem("missing_title", "warning", path, "the page has no <title>"))

    def manifest(self, path: str, url: str, text: str) -> None:
        if url in self._manifests:
            return
        self._manifests.add(url)
        self.links(path, url, manifest_links(text))

    def links(self, page: str, base: str, links: list[Link]) -> None:
        """Check each URL of a page (relative ones against the base URL), once per (URL, what
        names it) on that page."""
        seen: set[tuple[str, str]] = set()
        for link in links:
            key = (link.url, link.source)
            if key in seen:
                continue
            seen.add(key)
            self.link(page, base, link)

    def link(self, page: str, base: str, link: Link) -> None:
        # Browsers drop surrounding whitespace and inner tabs and newlines, and read a
        # backslash as a slash in http(s) URLs.
        url = "".join(link.url.strip().split("\t")).replace("\n", "").replace("\r", "")
        url = url.replace("\\", "/")
        if not url or url.startswith("#"):
            return
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _WEB_SCHEMES:
            return  # mailto:, tel:, data:, javascript:, …
        if scheme == "http" and not link.navigation:
            self.add(
                Problem(
                    "mixed_content", "warning", page, link.line, link.url, link.source, None, None,
                    "loaded over plain http from an https page: browsers block or warn",
                )
            )  # fmt: skip
        if scheme or parts.netloc:
            return  # absolute URLs are external: not checked
        resolved = urljoin(base, url)
        if not resolved.startswith(self.origin + "/"):
            return  # a <base href> elsewhere made it external
        target = _request_target(resolved)
        if target.startswith((ACME_PREFIX, CHALLENGE_PREFIX)):
            return  # answered by the edge from Wharf's own files, never the site's
        self.findings.links += 1
        answer = self.edge.answer(target)
        if answer.external or answer.status == 200:
            # 200 includes the SPA fallback (index.html, for a site with spa on) and rewrites.
            if link.source == "link manifest href" and answer.status == 200:
                self._linked_manifest(link, target)
            return
        if answer.loop:
            kind, message = "redirect_loop", "the edge's redirects for it do not end"
        elif link.navigation:
            kind, message = "broken_link", "the link leads to no page"
        else:
            kind, message = "missing_asset", "the page loads a file the site does not have"
        self.add(
            Problem(
                kind, "error", page, link.line, link.url, link.source, answer.status,
                answer.text, message,
            )
        )  # fmt: skip

    def _linked_manifest(self, link: Link, target: str) -> None:
        """A <link rel=manifest>'s file, checked like the .webmanifest files are."""
        path = target.partition("?")[0]
        if self.origin + path in self._manifests:
            return  # every page links the same one: read and checked once
        body = self.edge.body(target)
        if body is not None:
            self.manifest(path.lstrip("/"), self.origin + path, body.decode("utf-8", "replace"))

    def _text(self, release: Release, path: str) -> str:
        return (release.site_dir / path).read_bytes().decode("utf-8", "replace")


def _problem(kind: str, severity: Severity, page: str, message: str) -> Problem:
    """A problem of a whole file (no line, no link)."""
    return Problem(kind, severity, page, None, None, None, None, None, message)


def _size(count: int) -> str:
    """Bytes in MiB or KiB, as people read them."""
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MiB"
    return f"{count / 1024:.0f} KiB"


def check_release(root: Path, options: CheckOptions) -> ChecksReport:
    """Check the release at root (its site/, manifest.json and rules.json) as the edge serves it."""
    started = time.perf_counter()
    checker = _Checker(root, options)
    checker.run()
    found = checker.findings
    status: CheckStatus = "failed" if found.errors else "warned" if found.warnings else "passed"
    problems = found.listed(options.max_problems)
    return ChecksReport(
        status=status,
        problems=problems,
        errors=found.errors,
        warnings=found.warnings,
        omitted=found.errors + found.warnings - len(problems),
        pages=found.pages,
        links=found.links,
        seconds=round(time.perf_counter() - started, 3),
    )
