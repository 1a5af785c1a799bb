"""The URLs a page names, with their lines: HTML (stdlib tokenizer), CSS (tinycss2), manifests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import tinycss2
from tinycss2.ast import AtKeywordToken, FunctionBlock, Node, StringToken, URLToken

# (attribute, how its value is read) of each element whose attributes name URLs. `srcset` holds
# several; `image`/`use` are SVG's (href, or the older xlink:href).
_URL, _SRCSET = "url", "srcset"
_ATTRIBUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "a": (("href", _URL),),
    "area": (("href", _URL),),
    "link": (("href", _URL), ("imagesrcset", _SRCSET)),
    "img": (("src", _URL), ("srcset", _SRCSET)),
    "source": (("src", _URL), ("srcset", _SRCSET)),
    "script": (("src", _URL),),
    "iframe": (("src", _URL),),
    "embed": (("src", _URL),),
    "object": (("data", _URL),),
    "video": (("src", _URL), ("poster", _URL)),
    "audio": (("src", _URL),),
    "track": (("src", _URL),),
    "input": (("src", _URL),),
    "image": (("href", _URL), ("xlink:href", _URL)),
    "use": (("href", _URL), ("xlink:href", _URL)),
}
# Elements a person follows; the others are loaded by the page itself (subresources).
_NAVIGATIONS = frozenset({"a", "area"})
# <link> relations that name a document rather than load anything, and ones that name an
# origin (a connection to open), not a resource.
_LINK_NAVIGATIONS = frozenset(
    {"alternate", "author", "canonical", "help", "license", "next", "prev", "search", "me"}
)
_LINK_ORIGINS = frozenset({"dns-prefetch", "preconnect"})
# `<meta http-equiv=refresh content="5; url=/next/">`: the delay, then an optional URL.
_REFRESH = re.compile(r"\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(.*)", re.IGNORECASE | re.DOTALL)
# Functions of CSS whose string arguments are URLs (url("a.png"), image-set("a.png" 1x)).
_CSS_URL_FUNCTIONS = frozenset({"url", "src", "image-set", "-webkit-image-set"})


@dataclass(frozen=True)
class Link:
    """One URL as a page writes it, where, and what the page does with it."""

    url: str
    line: int
    source: str  # what names it: "a href", "img srcset", "css url()", "manifest icons", …
    navigation: bool  # followed by a person (a link), not loaded by the page (an asset)


@dataclass
class PageScan:
    """What a checker needs of one HTML page."""

    links: list[Link] = field(default_factory=list)
    base: str | None = None  # the first <base href>: relative URLs resolve against it
    title: bool = False  # has a <title> with text
    document: bool = False  # a whole document (a doctype, <html>, <head> or <body>), not a part


def srcset_urls(value: str) -> list[str]:
    """The URLs of a srcset attribute, as the HTML standard splits it (commas may sit in URLs)."""
    urls: list[str] = []
    position, length = 0, len(value)
    while position < length:
        while position < length and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < length and not value[position].isspace():
            position += 1
        url = value[start:position]
        if url.endswith(","):
            url = url.rstrip(",")  # "a.png," ends the candidate: no descriptors follow
        else:
            depth = 0  # skip the descriptors, up to a comma outside parentheses
            while position < length:
                char = value[position]
                if char == "(":
                    depth += 1
                elif char == ")":
                    depth = max(depth - 1, 0)
                elif char == "," and depth == 0:
                    break
                position += 1
        if url:
            urls.append(url)
    return urls


def refresh_url(content: str) -> str | None:
    """The URL of a meta refresh's content ("0; url=/next/"), None when it only reloads."""
    found = _REFRESH.match(content)
    url = found.group(1).strip() if found else ""
    if len(url) >= 2 and url[0] == url[-1] and url[0] in "'\"":
        url = url[1:-1]
    return url or None


class _PageParser(HTMLParser):
    """Collects URLs and the title while tokenizing; the tokenizer keeps line numbers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scan = PageScan()
        self._in_style: int | None = None  # the line a <style> element's text begins on
        self._style: list[str] = []
        self._in_title = False

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype"):
            self.scan.document = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        values = {name: value for name, value in attrs if value is not None}
        if tag in ("html", "head", "body"):
            self.scan.document = True
        elif tag == "title":
            self._in_title = True
        elif tag == "style":
            self._in_style, self._style = line, []
        elif tag == "base":
            if self.scan.base is None and "href" in values:
                self.scan.base = values["href"]
            return
        elif tag == "meta":
            if values.get("http-equiv", "").lower() == "refresh":
                url = refresh_url(values.get("content", ""))
                if url is not None:
                    self.scan.links.append(Link(url, line, "meta refresh", True))
            return
        if "style" in values:
            for link in css_links(values["style"], line, "style attribute"):
                self.scan.links.append(link)
        attributes = _ATTRIBUTES.get(tag)
        if attributes is None:
            return
        navigation = tag in _NAVIGATIONS
        prefix = tag
        if tag == "link":
            rels = set(values.get("rel", "").lower().split())
            if rels & _LINK_ORIGINS:
                return
            navigation = bool(rels) and rels <= _LINK_NAVIGATIONS
            if "manifest" in rels:
                prefix = "link manifest"  # its file is checked too
        if tag == "input" and values.get("type", "").lower() != "image":
            return
        for name, kind in attributes:
            value = values.get(name)
            if value is None:
                continue
            source = f"{prefix} {name}"
            if kind == _SRCSET:
                for url in srcset_urls(value):
                    self.scan.links.append(Link(url, line, source, navigation))
            else:
                self.scan.links.append(Link(value, line, source, navigation))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "style" and self._in_style is not None:
            self.scan.links.extend(css_links("".join(self._style), self._in_style, "style"))
            self._in_style = None

    def handle_data(self, data: str) -> None:
        if self._in_style is not None:
            if not self._style:
                self._in_style = self.getpos()[0]  # the text's own first line
            self._style.append(data)
        elif self._in_title and data.strip():
            self.scan.title = True


def scan_html(text: str) -> PageScan:
    """The URLs, <base href> and title of an HTML page."""
    parser = _PageParser()
    parser.feed(text)
    parser.close()
    return parser.scan


def _walk(nodes: Iterable[Node]) -> Iterator[Node]:
    """Every component value, depth first, blocks and function arguments included."""
    for node in nodes:
        yield node
        inner = getattr(node, "arguments", None)
        if inner is None:
            inner = getattr(node, "content", None)
        if isinstance(inner, list):
            yield from _walk(inner)


def css_links(text: str, first_line: int = 1, where: str = "css") -> list[Link]:
    """The URLs of a stylesheet (url(), image-set(), @import), lines counted from first_line."""
    links: list[Link] = []
    importing = False
    for node in _walk(tinycss2.parse_component_value_list(text, skip_comments=True)):
        line = first_line + node.source_line - 1
        if isinstance(node, AtKeywordToken):
            importing = node.lower_value == "import"
            continue
        if node.type == "whitespace":
            continue
        if isinstance(node, URLToken):
            links.append(
                Link(node.value, line, f"{where} @import" if importing else f"{where} url()", False)
            )
        elif isinstance(node, FunctionBlock) and node.lower_name in _CSS_URL_FUNCTIONS:
            kind = "@import" if importing else f"{node.lower_name}()"
            for argument in node.arguments:
                if isinstance(argument, StringToken):
                    links.append(Link(argument.value, line, f"{where} {kind}", False))
                    if node.lower_name in ("url", "src"):
                        break  # url("a.png" format(…)): only the first string is the URL
        elif isinstance(node, StringToken) and importing:
            links.append(Link(node.value, line, f"{where} @import", False))
        importing = False
    return links


def _string_lines(document: Any, text: str) -> dict[tuple[object, ...], int]:
    """The line of every key and string value of a JSON document, by its path.

    json keeps the text's order, so each string is looked for after the one before it.
    """
    lines: dict[tuple[object, ...], int] = {}
    position = 0

    def find(string: str) -> int | None:
        nonlocal position
        found = text.find(json.dumps(string, ensure_ascii=False), position)
        if found < 0:
            return None
        position = found + 1
        return text.count("\n", 0, found) + 1

    def walk(node: Any, path: tuple[object, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                find(key)
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, (*path, index))
        elif isinstance(node, str):
            line = find(node)
            if line is not None:
                lines[path] = line

    walk(document, ())
    return lines


def manifest_links(text: str) -> list[Link]:
    """The URLs of a web app manifest: start_url, scope, icons, screenshots, shortcuts."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    wanted: list[tuple[str, tuple[object, ...]]] = [
        ("manifest start_url", ("start_url",)),
        ("manifest scope", ("scope",)),
    ]
    for key in ("icons", "screenshots"):
        for index, _ in _objects(document.get(key)):
            wanted.append((f"manifest {key}", (key, index, "src")))
    for index, shortcut in _objects(document.get("shortcuts")):
        wanted.append(("manifest shortcuts", ("shortcuts", index, "url")))
        for inner, _ in _objects(shortcut.get("icons")):
            wanted.append(("manifest shortcuts", ("shortcuts", index, "icons", inner, "src")))
    lines = _string_lines(document, text)
    links = []
    for source, path in wanted:
        url = _at(document, path)
        if isinstance(url, str) and url:
            navigation = source in ("manifest start_url", "manifest scope")
            links.append(Link(url, lines.get(path, 1), source, navigation))
    return links


def _at(document: Any, path: tuple[object, ...]) -> Any:
    """The value at a path of keys and indexes."""
    for step in path:
        document = document[step] if isinstance(step, int) else document.get(step)
        if document is None:
            return None
    return document


def _objects(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, object) of each object of a JSON list (anything else: none)."""
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]
