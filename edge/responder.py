"""The serving rules: a parsed request and a release in, a response out (no sockets here)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote_to_bytes

from edge import own_pages as pages
from edge.hosts import BadHost, HostMap, Target
from edge.release_cache import (
    FileInfo,
    Release,
    ReleaseCache,
    live_release_dir,
    preview_release_dir,
)

MAX_PATH = 2048
_ACME_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
ACME_PREFIX = "/.well-known/acme-challenge/"
# Custom-domain ownership tokens, written by the control plane like the ACME ones.
CHALLENGE_PREFIX = "/.well-known/wharf-challenge/"
# A hash-like segment before the extension (app.3f9a2b1c.js, main-BkXz12Ab.css): safe to cache
# for a year, since a new build gets a new name.
_FINGERPRINTED = re.compile(r"[.-](?=[A-Za-z0-9_]*\d)[A-Za-z0-9_]{8,}\.[a-z0-9]+$")
_TOKEN_PREFIXES = (ACME_PREFIX, CHALLENGE_PREFIX)
# Requests carrying these get the full treatment every time (their answer varies with them).
_UNCACHEABLE = frozenset({"if-none-match", "if-modified-since", "range", "if-range"})
# No `public`: it adds nothing for a plain response, and would let a shared cache keep an
# answer to a request with credentials (a basic-auth gate) for everyone.
IMMUTABLE = "max-age=31536000, immutable"
REVALIDATE = "max-age=0, must-revalidate"
# A permanent redirect is kept by browsers with no end unless told; an hour lets a mistaken
# `_redirects` rule heal. Temporary ones are asked again each time.
PERMANENT_REDIRECT = "max-age=3600"
TEMPORARY_REDIRECT = "no-cache"
# Statuses whose body says "not here": no validators, they describe no representation.
_ERROR_STATUSES = frozenset({404, 410})


@dataclass
class Request:
    """What the server parsed, reduced to what the rules look at."""

    method: str
    target: str  # the raw request target (path and query, percent-encoded)
    host: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


@dataclass
class Response:
    """Status, headers and a body: bytes in memory, or a byte range of a file."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    file: Path | None = None
    offset: int = 0
    length: int = 0
    deploy: str = "none"
    site: str = "-"


@dataclass(frozen=True)
class Routed:
    """Where a request goes: its host (None when invalid), target and release directory."""

    host: str | None
    target: Target | None
    root: str | None
    # Last-Modified of a live target: when its live link was last switched (a rollback too),
    # so it never goes backwards for a URL; None for previews (their release's build time).
    published: str | None = None


@dataclass(frozen=True)
class EdgeConfig:
    """Where the data is, and the base domain of the URL scheme."""

    data_dir: Path
    base_domain: str


def nothing_here(request: Request, line: str, title: str, text: str, site: str = "-") -> Response:
    """A 404 of the edge's own: a short page for a browser, the line of text for anyone else."""
    if not pages.wants_html(request.headers.get("accept", "")):
        return plain(404, line, site=site)
    headers, body = pages.page(title, text)
    return Response(404, headers, body, site=site)


def plain(status: int, text: str, deploy: str = "none", site: str = "-") -> Response:
    """A short text/plain answer."""
    body = (text + "\n").encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
    return Response(status, headers, body, deploy=deploy, site=site)


class BadPath(ValueError):
    """The request path could name something outside the release."""


def decode_path(raw_path: str) -> str:
    """The percent-decoded path; BadPath for encoded separators, dot segments, NUL, backslashes."""
    if len(raw_path) > MAX_PATH or not raw_path.startswith("/"):
        raise BadPath(raw_path)
    lowered = raw_path.lower()
    if "%2f" in lowered or "%5c" in lowered or "%00" in lowered or "\\" in raw_path:
        raise BadPath(raw_path)
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise BadPath(raw_path) from None
    if any(ord(char) < 32 or ord(char) == 127 for char in path):
        raise BadPath(raw_path)
    if any(segment in (".", "..") for segment in path.split("/")):
        raise BadPath(raw_path)
    return path


class Responder:
    """Turns a parsed request into a response from the release tree (the sockets are
    edge/server.py's); one per worker process."""

    def __init__(
        self, config: EdgeConfig, cache: ReleaseCache | None = None, hosts: HostMap | None = None
    ) -> None:
        self.config = config
        self.data_dir = str(config.data_dir)
        self.hosts = hosts or HostMap(config.base_domain, config.data_dir / "edge" / "config.json")
        self.cache = cache or ReleaseCache()
        # live link -> (the release it named, HTTP date of the link): one lstat per switch.
        self._published: dict[str, tuple[str, str]] = {}

    def release_root(self, target: Target) -> str | None:
        """The release directory a target names right now (one readlink for live sites)."""
        if target.deploy_id is not None:
            return preview_release_dir(self.data_dir, target.site, target.deploy_id)
        assert target.environment is not None
        return live_release_dir(self.data_dir, target.site, target.environment)

    def route(self, request: Request) -> Routed:
        """Host → target → release directory, read once for the whole request."""
        try:
            host, target = self.hosts.resolve(request.host)
        except BadHost:
            return Routed(None, None, None)
        if target is None:
            return Routed(host, None, None)
        root = self.release_root(target)
        if root is None or target.deploy_id is not None:
            return Routed(host, target, root)
        return Routed(host, target, root, self._published_date(target, root))

    def _published_date(self, target: Target, root: str) -> str | None:
        """When the target's live link was made, as an HTTP date (cached until it changes)."""
        link = f"{self.data_dir}/live/{target.site}/{target.environment}"
        known = self._published.get(link)
        if known is not None and known[0] == root:
            return known[1]
        try:
            switched = os.lstat(link).st_mtime
        except OSError:
            return None
        date = formatdate(switched, usegmt=True)
        self._published[link] = (root, date)
        return date

    def cache_key(self, request: Request, routed: Routed) -> tuple[object, ...] | None:
        """A key for an answer that depends only on what the key holds; None when the request
        needs the full rules (conditional, range, tokens)."""
        if (
            routed.root is None
            or request.method not in ("GET", "HEAD")
            or _UNCACHEABLE.intersection(request.headers)
            or request.target.startswith(_TOKEN_PREFIXES)
        ):
            return None
        return (
            routed.root,
            routed.published,
            routed.host,
            self.hosts.generation,  # site options (SPA) and domains as of this key
            request.method,
            request.target,
            request.headers.get("accept-encoding", ""),
            pages.wants_html(request.headers.get("accept", "")),  # the edge's own 404 pages
        )

    def handle(self, request: Request, routed: Routed | None = None) -> Response:
        """The response to one request (routed beforehand when the caller already did)."""
        if request.method not in ("GET", "HEAD"):
            response = plain(405, "method not allowed")
            response.headers.append(("Allow", "GET, HEAD"))
            return response
        routed = routed or self.route(request)
        if routed.host is None:
            return plain(400, "bad Host header")
        host, target, root = routed.host, routed.target, routed.root
        raw_path, _, query = request.target.partition("?")
        if raw_path.startswith(ACME_PREFIX):
            return self._token("acme", raw_path[len(ACME_PREFIX) :])
        if raw_path.startswith(CHALLENGE_PREFIX):
            return self._token("challenges", raw_path[len(CHALLENGE_PREFIX) :])
        if target is None:
            text = f"Nothing is published at {host}. Check the address."
            return nothing_here(request, "no site here", "No site here", text)
        release = self.cache.release(root) if root is not None else None
        if release is None:
            line, title = "this site has nothing published", f"{target.site}: nothing published yet"
            text = "This site exists, but none of its deploys is live. Its owner can publish one."
            return nothing_here(request, line, title, text, target.site)
        try:
            path = decode_path(raw_path)
        except BadPath:
            return plain(400, "bad request path", release.deploy_id, target.site)
        modified = routed.published or release.last_modified
        response = self._serve(release, request, host, path, query, target.site, modified)
        response.deploy, response.site = release.deploy_id, target.site
        return response

    def _token(self, folder: str, token: str) -> Response:
        """An ACME HTTP-01 or domain-ownership token from the folder the control plane writes."""
        if not _ACME_TOKEN.fullmatch(token):
            return plain(404, "no such challenge")
        try:
            body = (self.config.data_dir / folder / token).read_bytes()
        except OSError:
            return plain(404, "no such challenge")
        return Response(200, [("Content-Type", "text/plain"), ("Cache-Control", "no-store")], body)

    def _serve(
        self,
        release: Release,
        request: Request,
        host: str,
        path: str,
        query: str,
        site: str,
        modified: str,
    ) -> Response:
        found, redirect_to = _lookup(release, path)
        if redirect_to is not None:
            location = redirect_to + ("?" + query if query else "")
            return _redirect(301, location)
        rule = release.rules.redirect_for(path, query, host)
        if rule is not None and (rule.force or found is None):
            if rule.status in (301, 302, 303, 307, 308):
                return _redirect(rule.status, rule.location)
            # 200 rewrites, 404/410 serve the target's content with that status.
            try:
                rewritten, _ = _lookup(release, decode_path(rule.location.partition("?")[0]))
            except BadPath:
                rewritten = None
            if rewritten is None:
                return self._not_found(release, request, path, host, modified)
            return self._file(release, request, rewritten, rule.status, path, host, modified)
        if found is None:
            if "index.html" in release.files and self.hosts.spa(site):
                return self._file(
                    release, request, release.files["index.html"], 200, path, host, modified
                )
            return self._not_found(release, request, path, host, modified)
        return self._file(release, request, found, 200, path, host, modified)

    def _not_found(
        self, release: Release, request: Request, path: str, host: str, modified: str
    ) -> Response:
        page = release.files.get("404.html")
        if page is None:
            return plain(404, "not found", release.deploy_id)
        return self._file(release, request, page, 404, path, host, modified)

    def _file(
        self,
        release: Release,
        request: Request,
        info: FileInfo,
        status: int,
        path: str,
        host: str,
        modified: str,
    ) -> Response:
        """A file's response: negotiated encoding, conditional requests, ranges, headers."""
        html = info.content_type.startswith("text/html")
        headers = [
            ("Content-Type", info.content_type),
            (
                "Cache-Control",
                REVALIDATE if html or not _FINGERPRINTED.search(info.path) else IMMUTABLE,
            ),
        ]
        if status not in _ERROR_STATUSES:
            headers.append(("Last-Modified", modified))
        relative, size, etag = info.path, info.size, info.etag
        if info.variants:
            headers.append(("Vary", "Accept-Encoding"))
            encoding = _choose_encoding(request.headers.get("accept-encoding", ""), info)
            if encoding is not None:
                name, relative, size = encoding
                # Weak: an encoding is the same content, and Traefik decodes gzip for a client
                # that asked for none, handing it this variant's validator (traefik#13075).
                etag = "W/" + etag[:-1] + "-" + name + '"'
                headers.append(("Content-Encoding", name))
        if status not in _ERROR_STATUSES:
            headers.append(("ETag", etag))
        set_headers, removed = release.rules.headers_for(path, host)
        # A site's own value for a header replaces Wharf's default rather than doubling it.
        replaced = removed | {name.lower() for name, _ in set_headers}
        if status == 200 and _not_modified(request.headers, info.etag, modified):
            kept = {"cache-control", "last-modified", "vary", "etag", "expires"}
            headers = [h for h in headers if h[0].lower() not in replaced] + set_headers
            return Response(304, [h for h in headers if h[0].lower() in kept])
        offset, length = 0, size
        if status == 200 and relative == info.path:
            headers.append(("Accept-Ranges", "bytes"))
            byte_range = _range(request.headers, etag, size)
            if isinstance(byte_range, str):
                return Response(416, [("Content-Range", f"bytes */{size}")])
            if byte_range is not None:
                offset, length = byte_range
                status = 206
                headers.append(("Content-Range", f"bytes {offset}-{offset + length - 1}/{size}"))
        headers = [h for h in headers if h[0].lower() not in replaced]
        headers.extend(set_headers)
        response = Response(status, headers, length=length, offset=offset)
        body = self.cache.content(release, relative, size) if request.method == "GET" else b""
        if body is None:
            response.file = release.site_dir / relative
        elif request.method == "GET":
            response.body = body[offset : offset + length] if status == 206 else body
        return response


def _lookup(release: Release, path: str) -> tuple[FileInfo | None, str | None]:
    """The file a path names (clean URLs), or a redirect adding the directory's slash."""
    files = release.files
    relative = path[1:]
    if relative == "" or relative.endswith("/"):
        return files.get(relative + "index.html"), None
    found = files.get(relative)
    if found is not None:
        return found, None
    found = files.get(relative + ".html")
    if found is not None:
        return found, None
    if relative + "/index.html" in files:
        return None, path + "/"
    return None, None


def _redirect(status: int, location: str) -> Response:
    policy = PERMANENT_REDIRECT if status in (301, 308) else TEMPORARY_REDIRECT
    return Response(
        status,
        [
            ("Location", location),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Cache-Control", policy),
        ],
        f"Redirecting to {location}\n".encode(),
    )


def _choose_encoding(accept: str, info: FileInfo) -> tuple[str, str, int] | None:
    """The best precompressed variant the client accepts (q=0 refuses)."""
    if not accept:
        return None
    accepted = {}
    for part in accept.lower().split(","):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        accepted[name.strip()] = quality
    for encoding, relative, size in info.variants:
        if accepted.get(encoding, accepted.get("*", 0.0)) > 0:
            return encoding, relative, size
    return None


def _not_modified(headers: dict[str, str], etag: str, last_modified: str) -> bool:
    """If-None-Match first, by weak comparison: any encoding's tag of the file's content
    (etag, the identity tag) matches; If-Modified-Since only without it."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = [_content_tag(tag) for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    since = headers.get("if-modified-since")
    if since:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(last_modified)
        except (TypeError, ValueError):
            return False
    return False


def _content_tag(tag: str) -> str:
    """A tag without W/ and without an encoding's suffix: the content it names."""
    tag = tag.strip().removeprefix("W/")
    for encoding in ("br", "gzip"):
        if tag.endswith(f'-{encoding}"'):
            return tag[: -len(encoding) - 2] + '"'
    return tag


def _range(headers: dict[str, str], etag: str, size: int) -> tuple[int, int] | str | None:
    """(offset, length) of a single satisfiable range; "unsatisfiable"; None for the whole."""
    value = headers.get("range")
    if not value or not value.startswith("bytes="):
        return None
    if_range = headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        return None
    spec = value[6:].strip()
    if "," in spec:
        return None  # several ranges: the whole file is a valid answer
    first, dash, last = spec.partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                return "unsatisfiable"
            start = max(size - suffix, 0)
            end = size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or start > end:
        return "unsatisfiable"
    end = min(end, size - 1)
    return start, end - start + 1


def http_date(now: float | None = None) -> str:
    """The Date header value."""
    return formatdate(now if now is not None else time.time(), usegmt=True)
