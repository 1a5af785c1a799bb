"""Parses a site's `_redirects` and `_headers` at build time into rules.json and a report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge.rule_engine import FORBIDDEN_HEADERS, INTERNAL_STATUSES, STATUSES

REDIRECTS_FILE = "_redirects"
HEADERS_FILE = "_headers"
RULES_VERSION = 1
# Cloudflare Pages' published limits; Netlify's are looser, so a file written for either fits.
MAX_STATIC_REDIRECTS = 2000
MAX_DYNAMIC_REDIRECTS = 100
MAX_REDIRECT_LINE = 1000
MAX_HEADER_RULES = 100
MAX_HEADER_LINE = 2000
DEFAULT_STATUS = 301
# The edge applies these rules; its constants are the contract (the edge cannot import us).
REDIRECT_STATUSES = STATUSES
# Netlify's per-visitor conditions; the edge knows nothing about visitors, so they cannot apply.
CONDITIONS = frozenset({"country", "language", "role", "cookie"})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")
_STATUS = re.compile(r"(\d*)(!?)")
_QUERY_KEY = re.compile(r"[A-Za-z0-9_.~\[\]-]+")
# RFC 9110 section 5.6.2: a field name is a token of tchar.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
# Tab separates tokens (and is legal inside header values); every other control is refused.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_ABSOLUTE = re.compile(r"https?://", re.IGNORECASE)


@dataclass(frozen=True)
class RuleProblem:
    """One rejected line of `_redirects` or `_headers`."""

    file: str
    line: int
    code: str
    message: str


@dataclass(frozen=True)
class ParsedRules:
    """A site's rules in their JSON form, and every problem found; any problem fails the deploy."""

    redirects: list[dict[str, Any]]
    headers: list[dict[str, Any]]
    problems: list[RuleProblem]


class _LineError(Exception):
    """Raised while parsing one line; becomes a RuleProblem for that line."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _lines(text: str) -> list[tuple[int, str]]:
    """The numbered lines of a file; only LF (and CRLF) end a line, so a stray CR stays visible."""
    return [
        (number, raw[:-1] if raw.endswith("\r") else raw)
        for number, raw in enumerate(text.split("\n"), start=1)
    ]


def _split_source(source: str, code: str) -> tuple[str | None, str]:
    """Split a rule's path or absolute URL into (host or None, path); raise with `code` if bad."""
    if _ABSOLUTE.match(source):
        try:
            parts = urlsplit(source)
            port = parts.port
        except ValueError as error:
            raise _LineError(code, f"{source!r} is not a valid URL") from error
        host = (parts.hostname or "").rstrip(".")
        if port is not None or parts.username is not None or not _HOST.fullmatch(host):
            raise _LineError(code, f"{source!r} must name a plain host name, without port or user")
        if parts.query or parts.fragment or "?" in source or "#" in source:
            raise _LineError(code, f"{source!r} cannot carry a query string or fragment")
        return host, parts.path or "/"
    if not source.startswith("/"):
        raise _LineError(code, f"{source!r} must start with '/' or be an http(s):// URL")
    if "?" in source or "#" in source:
        raise _LineError(
            code, f"{source!r} cannot carry a query string or fragment (match one with key=:name)"
        )
    return None, source


def _path_variables(path: str) -> tuple[list[str], bool]:
    """The placeholder names of a path pattern and whether it ends in a splat; raise if bad."""
    star = path.find("*")
    if star not in (-1, len(path) - 1):
        raise _LineError("invalid_splat", f"{path!r}: a splat '*' may only end the path")
    splat = star != -1
    body = path[:-1] if splat else path
    segments = body.split("/")
    names: list[str] = []
    for index, segment in enumerate(segments):
        if not segment.startswith(":"):
            continue
        name = segment[1:]
        if not _NAME.fullmatch(name):
            raise _LineError(
                "invalid_placeholder",
                f"{segment!r}: a placeholder is ':' and a name of letters, digits and '_'",
            )
        if name == "splat" or name in names:
            raise _LineError(
                "invalid_placeholder", f"{segment!r}: placeholder names must be unique, not 'splat'"
            )
        if splat and index == len(segments) - 1:
            raise _LineError(
                "invalid_splat", f"{path!r}: a splat cannot share a segment with a placeholder"
            )
        names.append(name)
    return names, splat


def _check_target(target: str, status: int) -> None:
    """Raise unless the target is a site path or an absolute http(s) URL the status allows."""
    if target.startswith("//"):
        raise _LineError(
            "invalid_target", f"{target!r} is ambiguous: write a path or https://host/path"
        )
    if _ABSOLUTE.match(target):
        try:
            parts = urlsplit(target)
            valid = bool(parts.hostname) and (parts.port is None or parts.port > 0)
        except ValueError:
            valid = False
        if not valid:
            raise _LineError("invalid_target", f"{target!r} is not a valid URL")
        if status in INTERNAL_STATUSES:
            raise _LineError(
                "unsupported_proxy",
                f"status {status} would serve another host's content (proxying), which Wharf does"
                " not do; use a 301 or 302 redirect",
            )
        return
    if not target.startswith("/"):
        raise _LineError(
            "invalid_target", f"{target!r} must start with '/' or be an http(s):// URL"
        )


def _condition_error(token: str) -> _LineError | None:
    """The error for a Netlify visitor condition such as Country=au, if the token is one."""
    key, equals, _ = token.partition("=")
    if equals and key.lower() in CONDITIONS:
        return _LineError(
            "unsupported_condition", f"{token!r}: {key} conditions are not supported by Wharf"
        )
    return None


def _parse_query_pair(token: str, taken: set[str]) -> tuple[str, str]:
    """Parse one `key=:name` query match; raise unless the key and a new name are valid."""
    condition = _condition_error(token)
    key, _, value = token.partition("=")
    if condition is not None and not value.startswith(":"):
        raise condition
    if not _QUERY_KEY.fullmatch(key) or not value.startswith(":"):
        raise _LineError("invalid_query", f"{token!r}: a query match is key=:name, e.g. id=:id")
    name = value[1:]
    if not _NAME.fullmatch(name) or name == "splat" or name in taken:
        raise _LineError(
            "invalid_placeholder", f"{token!r}: {value!r} must be a new placeholder name"
        )
    return key, name


def _parse_redirect(tokens: list[str]) -> tuple[dict[str, Any], bool]:
    """Parse one rule's tokens into its JSON form and whether it is dynamic."""
    host, path = _split_source(tokens[0], "invalid_source")
    names, splat = _path_variables(path)
    rest = tokens[1:]
    query: dict[str, str] = {}
    # Query matches sit between `from` and `to`; a target never contains '=' before a '/' or URL.
    while rest and "=" in rest[0] and not rest[0].startswith("/") and not _ABSOLUTE.match(rest[0]):
        key, name = _parse_query_pair(rest.pop(0), set(names) | set(query.values()))
        if key in query:
            raise _LineError("invalid_query", f"query key {key!r} is matched twice")
        query[key] = name
    if not rest:
        raise _LineError("missing_target", "a rule needs a target after its source")
    target = rest.pop(0)
    status, force = DEFAULT_STATUS, False
    if rest and (status_match := _STATUS.fullmatch(rest[0])):
        rest.pop(0)
        digits, bang = status_match.groups()
        if not digits or int(digits) not in REDIRECT_STATUSES:
            raise _LineError(
                "invalid_status",
                f"status {digits + bang!r} is not one of "
                + ", ".join(str(code) for code in sorted(REDIRECT_STATUSES))
                + " (optionally followed by '!')",
            )
        status, force = int(digits), bang == "!"
    if rest:
        raise _condition_error(rest[0]) or _LineError(
            "unexpected_token", f"unexpected {rest[0]!r} after the rule"
        )
    _check_target(target, status)
    defined = set(names) | set(query.values()) | ({"splat"} if splat else set())
    for reference in _REFERENCE.findall(target):
        if reference not in defined:
            raise _LineError(
                "undefined_placeholder",
                f"the target uses ':{reference}', which the source does not define",
            )
    rule = {
        "from": path,
        "to": target,
        "status": status,
        "force": force,
        "query": query,
        "host": host,
    }
    return rule, bool(names or splat or query)


def parse_redirects(text: str) -> tuple[list[dict[str, Any]], list[RuleProblem]]:
    """Parse a Netlify-format `_redirects` file into JSON-ready rules and line-numbered problems."""
    rules: list[dict[str, Any]] = []
    problems: list[RuleProblem] = []
    counts = {False: 0, True: 0}
    limits = {False: MAX_STATIC_REDIRECTS, True: MAX_DYNAMIC_REDIRECTS}
    for number, line in _lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            if len(line) > MAX_REDIRECT_LINE:
                raise _LineError(
                    "line_too_long", f"a rule has at most {MAX_REDIRECT_LINE} characters"
                )
            if _CONTROL.search(line):
                raise _LineError("invalid_character", "the line contains a control character")
            rule, dynamic = _parse_redirect(stripped.split())
        except _LineError as error:
            problems.append(RuleProblem(REDIRECTS_FILE, number, error.code, error.message))
            continue
        counts[dynamic] += 1
        if counts[dynamic] > limits[dynamic]:
            # Report only the first rule over the limit: one line says what to fix.
            if counts[dynamic] == limits[dynamic] + 1:
                kind = "dynamic" if dynamic else "static"
                problems.append(
                    RuleProblem(
                        REDIRECTS_FILE,
                        number,
                        "too_many_rules",
                        f"at most {limits[dynamic]} {kind} redirect rules; this is one more",
                    )
                )
            continue
        rules.append({"line": number, **rule})
    return rules, problems


def _parse_header_line(body: str, rule: dict[str, Any], positions: dict[str, int]) -> None:
    """Add one indented `Name: value` or `! Name` line to a header rule; raise if malformed."""
    if body.startswith("!"):
        name = body[1:].strip(" \t")
        _check_header_name(name)
        if name.lower() not in {existing.lower() for existing in rule["unset"]}:
            rule["unset"].append(name)
        return
    name, colon, value = body.partition(":")
    if not colon:
        raise _LineError("invalid_header_line", f"{body!r} is not 'Name: value' or '! Name'")
    name = name.strip(" \t")
    _check_header_name(name)
    value = value.strip(" \t")
    if _CONTROL.search(value) or not value.isascii():
        raise _LineError(
            "invalid_header_value",
            f"the value of {name} has a control or non-ASCII character (percent-encode URLs)",
        )
    if name.lower() in positions:
        # Netlify joins a repeated name into one comma-separated value.
        entry = rule["set"][positions[name.lower()]]
        entry[1] = f"{entry[1]}, {value}"
    else:
        positions[name.lower()] = len(rule["set"])
        rule["set"].append([name, value])


def _check_header_name(name: str) -> None:
    """Raise unless the name is an RFC 9110 token a site may set or remove."""
    if not _TOKEN.fullmatch(name):
        raise _LineError("invalid_header_name", f"{name!r} is not a valid header name")
    if name.lower() in FORBIDDEN_HEADERS:
        raise _LineError(
            "forbidden_header", f"{name} is managed by the server and cannot be set or removed"
        )


def parse_headers(text: str) -> tuple[list[dict[str, Any]], list[RuleProblem]]:
    """Parse a Netlify/Cloudflare-format `_headers` file into JSON-ready rules and problems."""
    rules: list[dict[str, Any]] = []
    problems: list[RuleProblem] = []
    current: dict[str, Any] | None = None
    positions: dict[str, int] = {}
    seen_path = False
    over = 0
    for number, line in _lines(text):
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        indented = line[0] in " \t"
        try:
            if len(line) > MAX_HEADER_LINE:
                if not indented:
                    seen_path, current = True, None
                raise _LineError(
                    "line_too_long", f"a line has at most {MAX_HEADER_LINE} characters"
                )
            if indented:
                if not seen_path:
                    raise _LineError(
                        "header_without_path",
                        "an indented header line must follow a path line that starts at column 0",
                    )
                # A header under a rejected path is not reported again: the path line says it.
                if current is not None:
                    _parse_header_line(stripped, current, positions)
                continue
            seen_path, current = True, None
            if _CONTROL.search(stripped) or " " in stripped or "\t" in stripped:
                raise _LineError(
                    "invalid_path", f"{stripped!r}: a path line holds one path and nothing else"
                )
            host, path = _split_source(stripped, "invalid_path")
            _path_variables(path)
            over += len(rules) >= MAX_HEADER_RULES
            if over == 1:
                raise _LineError(
                    "too_many_rules", f"at most {MAX_HEADER_RULES} header rules; this is one more"
                )
            if over:
                continue  # only the first rule over the limit is reported
            current = {"line": number, "path": path, "host": host, "set": [], "unset": []}
            positions = {}
            rules.append(current)
        except _LineError as error:
            problems.append(RuleProblem(HEADERS_FILE, number, error.code, error.message))
    return rules, problems


def _read(root: Path, name: str) -> tuple[str | None, list[RuleProblem]]:
    """The text of root/name, None when absent, or a problem naming the line of bad UTF-8."""
    path = root / name
    if not path.is_file():
        return None, []
    data = path.read_bytes()
    try:
        # utf-8-sig: editors on Windows add a byte-order mark that would otherwise spoil line 1.
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return None, [RuleProblem(name, line, "invalid_encoding", f"{name} is not valid UTF-8")]


def parse_site_rules(root: Path) -> ParsedRules:
    """Parse root/_redirects and root/_headers if present; absent files mean no rules."""
    redirects: list[dict[str, Any]] = []
    headers: list[dict[str, Any]] = []
    problems: list[RuleProblem] = []
    text, read_problems = _read(root, REDIRECTS_FILE)
    problems += read_problems
    if text is not None:
        redirects, found = parse_redirects(text)
        problems += found
    text, read_problems = _read(root, HEADERS_FILE)
    problems += read_problems
    if text is not None:
        headers, found = parse_headers(text)
        problems += found
    return ParsedRules(redirects=redirects, headers=headers, problems=problems)


def rules_document(rules: ParsedRules) -> dict[str, Any]:
    """The rules.json document written into a release for the edge to apply."""
    return {"version": RULES_VERSION, "redirects": rules.redirects, "headers": rules.headers}
