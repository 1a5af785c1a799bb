"""Applies a release's parsed `_redirects` and `_headers` rules (its rules.json) to requests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

SUPPORTED_VERSION = 1
# The build refuses more (2,000 static + 100 dynamic, 100 header rules); refusing more here too
# bounds the per-request work whatever a damaged or hostile rules.json says.
MAX_REDIRECTS = 2100
MAX_DYNAMIC_REDIRECTS = 100
MAX_HEADER_RULES = 100
MAX_PATTERN = 2000
MAX_QUERY_FIELDS = 1000
STATUSES = frozenset({200, 301, 302, 303, 307, 308, 404, 410})
# Statuses answered with the content at `location` inside the site, not with a Location header.
INTERNAL_STATUSES = frozenset({200, 404, 410})
FORBIDDEN_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_ABSOLUTE = re.compile(r"https?://", re.IGNORECASE)
# Everything printable in ASCII but space: literal text of a target keeps its own %-escapes and
# only non-ASCII or control characters are encoded, so no value can break the Location header.
_PRINTABLE = "".join(chr(code) for code in range(0x21, 0x7F))
# Captured values are percent-encoded for where they land: '/' only in a path, '&', '=' and '+'
# never in a query (they would add or change parameters), nothing but unreserved in a host.
_PATH_SAFE = "/:@!$&'()*+,;="
_QUERY_SAFE = "/:@!$'()*,;?"
_AUTHORITY_SAFE = ""

_Template = tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class Redirect:
    """What a matching `_redirects` rule asks for.

    For 301/302/303/307/308 send `location` as the Location header. For 200 (rewrite), 404 and
    410 serve the site's file at `location` (split off the query, then percent-decode the path)
    with that status. The caller decides precedence: a file that exists at the request path wins
    over the rule unless `force` is set (the rule ended in '!').
    """

    status: int
    location: str
    force: bool

    @property
    def internal(self) -> bool:
        """True when `location` is served from the site rather than sent to the browser."""
        return self.status in INTERNAL_STATUSES


def _normalise(path: str) -> str:
    """The path without one trailing slash, so `/a` and `/a/` compare equal as on Netlify."""
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


def _request_host(host: str) -> str:
    """The request's host name, lower-case, without port or trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    else:
        name, colon, port = host.rpartition(":")
        if colon and port.isdigit():
            host = name
    return host.rstrip(".")


@dataclass(frozen=True)
class _Matcher:
    """A compiled path pattern: an exact path, or a regex built from escaped literal pieces."""

    host: str | None
    static: str
    regex: re.Pattern[str] | None

    def match(self, path: str, normalised: str, host: str) -> dict[str, str] | None:
        """The captured values (placeholders and `splat`) if the request matches, else None."""
        if self.host is not None and self.host != host:
            return None
        if self.regex is None:
            return {} if normalised == self.static else None
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {
            group.removeprefix("p_"): value for group, value in found.groupdict(default="").items()
        }


def _compile_matcher(pattern: object, host: object) -> _Matcher:
    """Compile a `from`/`path` pattern; placeholders match one segment, a splat only ends it."""
    if not isinstance(pattern, str) or not pattern.startswith("/") or len(pattern) > MAX_PATTERN:
        raise ValueError(f"invalid rule pattern {pattern!r}")
    if host is not None and (not isinstance(host, str) or not _HOST.fullmatch(host)):
        raise ValueError(f"invalid rule host {host!r}")
    star = pattern.find("*")
    if star not in (-1, len(pattern) - 1):
        raise ValueError(f"a splat may only end a pattern: {pattern!r}")
    body = pattern[:-1] if star != -1 else pattern
    segments = body.split("/")
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()  # trailing slash: matched optionally below
    pieces: list[str] = []
    variable = star != -1
    for segment in segments:
        if segment.startswith(":"):
            name = segment[1:]
            if not _NAME.fullmatch(name) or name == "splat":
                raise ValueError(f"invalid placeholder {segment!r}")
            # [^/]+ between literal slashes cannot backtrack across segments.
            pieces.append(f"(?P<p_{name}>[^/]+)")
            variable = True
        else:
            pieces.append(re.escape(unquote(segment)))
    if not variable:
        return _Matcher(host, _normalise(unquote(body)), None)
    if star == -1:
        tail = "/?"
    elif body.endswith("/"):
        tail = "(?:/(?P<splat>.*))?"  # `/a/*` also matches `/a`, as on Netlify
    else:
        tail = "(?P<splat>.*)"
    try:
        # DOTALL: a decoded path may hold a newline (%0A); the splat must still take it all.
        regex = re.compile("/".join(pieces) + tail, re.DOTALL)
    except re.error as error:  # duplicate placeholder names
        raise ValueError(f"invalid rule pattern {pattern!r}: {error}") from error
    return _Matcher(host, "", regex)


def _template(text: str, defined: frozenset[str]) -> _Template:
    """Split target text into literal pieces and references to captured values."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for reference in _REFERENCE.finditer(text):
        if reference.group(1) not in defined:
            continue
        pieces.append((quote(text[position : reference.start()], safe=_PRINTABLE), False))
        pieces.append((reference.group(1), True))
        position = reference.end()
    pieces.append((quote(text[position:], safe=_PRINTABLE), False))
    return tuple(piece for piece in pieces if piece[0])


def _render(template: _Template, values: dict[str, str], safe: str) -> str:
    """Fill a template, percent-encoding each captured value for its place in the URL."""
    return "".join(
        quote(values.get(text, ""), safe=safe) if reference else text
        for text, reference in template
    )


@dataclass(frozen=True)
class _RedirectRule:
    """One compiled `_redirects` rule."""

    index: int
    matcher: _Matcher
    query: tuple[tuple[str, str], ...]
    authority: _Template
    path: _Template
    own_query: _Template | None
    fragment: _Template | None
    status: int
    force: bool

    def redirect(self, values: dict[str, str], request_query: str) -> Redirect:
        """The Redirect for a match, carrying the request's query unless the target has one."""
        location = _render(self.authority, values, _AUTHORITY_SAFE)
        location += _render(self.path, values, _PATH_SAFE)
        if self.own_query is not None:
            query = _render(self.own_query, values, _QUERY_SAFE)
        else:
            query = quote(request_query, safe=_PRINTABLE)
        if query:
            location += "?" + query
        if self.fragment is not None:
            location += "#" + _render(self.fragment, values, _QUERY_SAFE)
        return Redirect(status=self.status, location=location, force=self.force)


def _field(rule: dict[str, Any], name: str, kind: type) -> Any:
    """rule[name] if it has the expected type, else ValueError."""
    value = rule.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"rule field {name!r} must be {kind.__name__}: {rule!r:.200}")
    return value


def _compile_redirect(index: int, rule: object) -> _RedirectRule:
    """Compile one rule of the document's `redirects` list."""
    if not isinstance(rule, dict):
        raise ValueError("a redirect rule must be an object")
    matcher = _compile_matcher(rule.get("from"), rule.get("host"))
    target: str = _field(rule, "to", str)
    status: int = _field(rule, "status", int)
    force: bool = _field(rule, "force", bool)
    query_map: dict[str, Any] = _field(rule, "query", dict)
    if status not in STATUSES or len(target) > MAX_PATTERN:
        raise ValueError(f"invalid redirect rule {rule!r:.200}")
    if not (target.startswith("/") or _ABSOLUTE.match(target)) or target.startswith("//"):
        raise ValueError(f"invalid redirect target {target!r:.200}")
    query: list[tuple[str, str]] = []
    for key, name in query_map.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"invalid query placeholder {name!r}")
        query.append((str(key), name))
    source = str(rule["from"])
    names = [segment[1:] for segment in source.split("/") if segment.startswith(":")]
    splat = ["splat"] if source.endswith("*") else []
    defined = frozenset(names + [name for _, name in query] + splat)
    base, hash_mark, fragment = target.partition("#")
    base, question_mark, own_query = base.partition("?")
    authority = ""
    if _ABSOLUTE.match(base):
        slash = base.find("/", base.index("://") + 3)
        authority = base if slash == -1 else base[:slash]
    return _RedirectRule(
        index=index,
        matcher=matcher,
        query=tuple(query),
        authority=_template(authority, defined),
        path=_template(base[len(authority) :], defined),
        own_query=_template(own_query, defined) if question_mark else None,
        fragment=_template(fragment, defined) if hash_mark else None,
        status=status,
        force=force,
    )


@dataclass(frozen=True)
class _HeaderRule:
    """One compiled `_headers` rule."""

    matcher: _Matcher
    add: tuple[tuple[str, str], ...]
    unset: frozenset[str]


def _header_name(name: object) -> str:
    """The name if it is a token a site may set or remove, else ValueError."""
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"invalid header name {name!r:.200}")
    if name.lower() in FORBIDDEN_HEADERS:
        raise ValueError(f"header {name} cannot be set by a site")
    return name


def _compile_header_rule(rule: object) -> _HeaderRule:
    """Compile one rule of the document's `headers` list."""
    if not isinstance(rule, dict):
        raise ValueError("a header rule must be an object")
    matcher = _compile_matcher(rule.get("path"), rule.get("host"))
    pairs: list[tuple[str, str]] = []
    for pair in _field(rule, "set", list):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"invalid header pair {pair!r:.200}")
        name, value = pair
        # A CR or LF here would let a site split the response: values stay printable ASCII.
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise ValueError(f"invalid header value {value!r:.200}")
        pairs.append((_header_name(name), value))
    unset = frozenset(_header_name(name).lower() for name in _field(rule, "unset", list))
    return _HeaderRule(matcher=matcher, add=tuple(pairs), unset=unset)


def _query_values(query: str) -> dict[str, str]:
    """The first value of each query parameter; an absurd query string matches nothing."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        return {}
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return values


class SiteRules:
    """The compiled rules of one release; compile once per release, then match per request.

    `redirect_for` takes the percent-decoded path (aiohttp's `request.path`), the raw query string
    and the Host header. It only matches: serving an existing file instead of following a rule
    without `force` is the caller's decision, as on Netlify.

    `headers_for` applies every matching `_headers` rule in file order: a rule's `! Name` lines
    drop what earlier rules set and add the name to the drop set (for the server's own defaults),
    then its headers are appended. The caller drops its defaults named in the set or in the list,
    then adds the list. Rules written with an absolute URL match only when `host` is given.
    """

    def __init__(self, redirects: list[_RedirectRule], headers: list[_HeaderRule]) -> None:
        self._redirects = redirects
        self._headers = headers
        # Rules with nothing to capture are looked up by exact path; only the (at most 100)
        # dynamic ones are tried one by one.
        self._static: dict[tuple[str | None, str], int] = {}
        self._dynamic: list[_RedirectRule] = []
        for rule in redirects:
            if rule.matcher.regex is None and not rule.query:
                self._static.setdefault((rule.matcher.host, rule.matcher.static), rule.index)
            else:
                self._dynamic.append(rule)
        if len(self._dynamic) > MAX_DYNAMIC_REDIRECTS:
            raise ValueError(f"more than {MAX_DYNAMIC_REDIRECTS} dynamic redirect rules")

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> SiteRules:
        """Compile a rules.json document (version 1 only); ValueError if it is malformed."""
        version = document.get("version") if isinstance(document, dict) else None
        if version != SUPPORTED_VERSION:
            raise ValueError(f"unsupported rules document version {version!r}")
        redirects = document.get("redirects", [])
        headers = document.get("headers", [])
        if not isinstance(redirects, list) or len(redirects) > MAX_REDIRECTS:
            raise ValueError(f"'redirects' must be a list of at most {MAX_REDIRECTS} rules")
        if not isinstance(headers, list) or len(headers) > MAX_HEADER_RULES:
            raise ValueError(f"'headers' must be a list of at most {MAX_HEADER_RULES} rules")
        return cls(
            [_compile_redirect(index, rule) for index, rule in enumerate(redirects)],
            [_compile_header_rule(rule) for rule in headers],
        )

    def redirect_for(self, path: str, query: str, host: str) -> Redirect | None:
        """The first matching rule in file order; the caller lets a file win unless `force`."""
        normalised = _normalise(path)
        request_host = _request_host(host)
        found = [
            index
            for key in ((None, normalised), (request_host, normalised))
            if (index := self._static.get(key)) is not None
        ]
        best = min(found, default=None)
        values_of_query: dict[str, str] | None = None
        for rule in self._dynamic:
            if best is not None and rule.index > best:
                break
            values = rule.matcher.match(path, normalised, request_host)
            if values is None:
                continue
            if rule.query:
                if values_of_query is None:
                    values_of_query = _query_values(query)
                for key, name in rule.query:
                    values[name] = values_of_query.get(key, "")
                if not all(values[name] for _, name in rule.query):
                    continue
            return rule.redirect(values, query)
        if best is None:
            return None
        return self._redirects[best].redirect({}, query)

    def headers_for(
        self, path: str, host: str | None = None
    ) -> tuple[list[tuple[str, str]], set[str]]:
        """Headers to add for a path, in rule order, and lower-case names of headers to drop."""
        normalised = _normalise(path)
        request_host = _request_host(host) if host is not None else ""
        headers: list[tuple[str, str]] = []
        removed: set[str] = set()
        for rule in self._headers:
            if rule.matcher.match(path, normalised, request_host) is None:
                continue
            if rule.unset:
                headers = [
                    (name, value) for name, value in headers if name.lower() not in rule.unset
                ]
                removed |= rule.unset
            headers.extend(rule.add)
        return headers, removed
