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
from edge.canary import (
    CANARY,
    STABLE,
    Split,
    Splits,
    cookie_release,
    private_cache_control,
    set_cookie,
)
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
# Returning visitors' routes kept per worker, one per distinct (Host, Cookie) of at most 512
# characters: a few MB at most, whatever visitors send.
_KEPT_MAX = 4096
_KEPT_COOKIE_MAX = 512
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
    # (site, environment, deploy, role) while a canary split is in force: counted per release.
    release: tuple[str, str, str, str] | None = None


# Not frozen: a frozen dataclass's __init__ costs about 0.3 µs more, on every request.
@dataclass(slots=True)
class Routed:
    """Where a request goes: its host (None when invalid), target and release directory."""

    host: str | None
    target: Target | None
    root: str | None
    # Last-Modified of a live target: when its live link was last switched (a rollback too),
    # so it never goes backwards for a URL; None for previews (their release's build time).
    published: str | None = None
    # While a canary split is in force: which of its two releases answers (STABLE or CANARY),
    # and whether this visitor is being assigned to it now (a Set-Cookie keeps them there).
    role: str | None = None
    assign: bool = False

    @property
    def release(self) -> tuple[str, str, str, str] | None:
        """(site, environment, deploy, role) of a split's answer, for the per-release counts."""
        if self.role is None or self.target is None or self.root is None:
            return None
        deploy = self.root[-12:]  # a release directory ends in /<deploy id>
        return (self.target.site, self.target.environment or "", deploy, self.role)


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
        self.splits = Splits(self.data_dir)
        # (Host, Cookie) -> (split, stable release, routed) of returning visitors while split
        self._kept: dict[tuple[str, str], tuple[Split, str, Routed]] = {}
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
            return Routed(host, target, root)  # previews are never split
        assert target.environment is not None
        published = self._published_date(target, root)
        split = self.splits.of(target.site, target.environment)
        if split is None or split.root == root:  # a promoted canary is simply the live release
            return Routed(host, target, root, published)
        if not split.loaded:
            if self.cache.release(split.root) is None:  # it cannot serve: the split is ignored
                self.splits.broken(target.site, target.environment)
                return Routed(host, target, root, published)
            split.loaded = True
        return self._split(request, host, target, root, published, split)

    def _split(
        self,
        request: Request,
        host: str,
        target: Target,
        root: str,
        published: str | None,
        split: Split,
    ) -> Routed:
        """Which of a split's releases answers: the one the cookie names, else one drawn."""
        cookie = request.headers.get("cookie", "")
        # A returning visitor sends the same Cookie line each time: its answer is looked up
        # rather than parsed again (about 0.4 µs a request), for as long as split and link hold.
        keep = 0 < len(cookie) <= _KEPT_COOKIE_MAX
        kept = self._kept.get((request.host, cookie)) if keep else None
        if kept is not None and kept[0] is split and kept[1] == root:
            return kept[2]
        stable = root[-12:]  # live_release_dir ends in /<deploy id>, 12 characters
        chosen = cookie_release(cookie, stable, split.deploy)
        assign = chosen is None
        if chosen is None:
            chosen = split.deploy if self.splits.draw(split.percent) else stable
        if chosen == stable:
            routed = Routed(host, target, root, published, STABLE, assign)
        else:
            routed = Routed(host, target, split.root, published, CANARY, assign)
        if keep and not assign:
            if len(self._kept) >= _KEPT_MAX:
                self._kept.clear()
            self._kept[(request.host, cookie)] = (split, root, routed)
        return routed

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
            routed.role,  # a split's answers are private, and name their role in the counts
            routed.assign,  # with the cookie of the release in routed.root
        )

    def handle(self, request: Request, routed: Routed | None = None) -> Response:
        """The response to one request (routed beforehand when the caller already did)."""
        routed = routed or self.route(request)
        response = self._answer(request, routed)
        if routed.role is not None:
            _in_split(response, routed)
        return response

    def _answer(self, request: Request, routed: Routed) -> Response:
        if request.method not in ("GET", "HEAD"):
            response = plain(405, "method not allowed")
            response.headers.append(("Allow", "GET, HEAD"))
            return response
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
        # No date validator while split: two releases answer one URL, so a date cannot say
        # which a client holds (the ETag, from the file's content, can).
        modified = None if routed.role else routed.published or release.last_modified
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
        modified: str | None,
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
        self, release: Release, request: Request, path: str, host: str, modified: str | None
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
        modified: str | None,
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
        if status not in _ERROR_STATUSES and modified is not None:
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


def _in_split(response: Response, routed: Routed) -> None:
    """A split's answer: stored by no shared cache, and with the cookie when assigning."""
    headers, private = [], False
    for name, value in response.headers:
        if name.lower() == "cache-control":
            value, private = private_cache_control(value), True
        headers.append((name, value))
    if not private:  # a site's `! Cache-Control` removed ours; the split still needs it
        headers.append(("Cache-Control", "private"))
    release = routed.release
    assert release is not None
    if routed.assign:
        headers.append(("Set-Cookie", set_cookie(release[2])))
    response.headers = headers
    response.release = release


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


def _not_modified(headers: dict[str, str], etag: str, last_modified: str | None) -> bool:
    """If-None-Match first, by weak comparison: any encoding's tag of the file's content
    (etag, the identity tag) matches; If-Modified-Since only without it."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = [_content_tag(tag) for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    since = headers.get("if-modified-since")
    if since and last_modified is not None:
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
