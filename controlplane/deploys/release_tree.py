"""Build steps: choose the folder of an upload to publish and turn it into a release tree."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import brotli  # type: ignore[import-untyped]
import minify_html
import rcssmin  # type: ignore[import-untyped]
import rjsmin  # type: ignore[import-untyped]

from controlplane.atomic import write_json_atomically
from controlplane.errors import Invalid

# --- Content types -------------------------------------------------------------------------------
# Self-contained (stdlib only) so the edge server can share the same table: a file must be served
# with the type the build recorded in the manifest, on every machine, whatever its /etc/mime.types.

_CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".xhtml": "application/xhtml+xml",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".jsonld": "application/ld+json",
    ".webmanifest": "application/manifest+json",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".ics": "text/calendar; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".apng": "image/apng",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".bmp": "image/bmp",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".wasm": "application/wasm",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# MimeTypes(filenames=()) holds only Python's built-in table: it never reads /etc/mime.types.
_BUILTIN_TYPES = mimetypes.MimeTypes(filenames=())


def content_type_for(name: str) -> str:
    """The Content-Type to serve a file name with, from a fixed table that no machine changes."""
    suffix = PurePosixPath(name).suffix.lower()
    if not suffix:
        return DEFAULT_CONTENT_TYPE
    known = _CONTENT_TYPES.get(suffix)
    if known is not None:
        return known
    # Look the suffix up alone: guess_type("a.js.gz") would answer the inner type plus an encoding.
    strict, loose = _BUILTIN_TYPES.types_map[True], _BUILTIN_TYPES.types_map[False]
    return strict.get(suffix) or loose.get(suffix) or DEFAULT_CONTENT_TYPE


_COMPRESSIBLE = frozenset(
    {
        "text/javascript",
        "application/json",
        "application/xml",
        "application/wasm",
        "image/svg+xml",
        "image/x-icon",
        "font/ttf",
        "font/otf",
        "application/vnd.ms-fontobject",
    }
)


def is_compressible(content_type: str) -> bool:
    """Whether a content type is text-like enough for .br/.gz variants to pay off."""
    base = content_type.split(";", 1)[0].strip()
    return base.startswith("text/") or base in _COMPRESSIBLE or base.endswith(("+json", "+xml"))


# --- Site root -----------------------------------------------------------------------------------

SSG_OUTPUT_DIRS = ("dist", "build", "public", "_site", "out")
# Left behind by archivers and file browsers; never a reason to stop descending, never published.
JUNK_NAMES = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"})
INDEX = "index.html"
_DRIVE = re.compile(r"[A-Za-z]:")


@dataclass(frozen=True)
class SiteRoot:
    """The folder of an extracted upload to publish, and why it was chosen (for the build log)."""

    path: Path
    reason: str


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as it:
        return sorted((e for e in it if e.name not in JUNK_NAMES), key=lambda e: e.name)


def _is_plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _has_any_file(directory: Path) -> bool:
    for entry in _entries(directory):
        if entry.is_file(follow_symlinks=False):
            return True
        if entry.is_dir(follow_symlinks=False) and _has_any_file(Path(entry.path)):
            return True
    return False


def _descend(extracted: Path) -> tuple[Path, str]:
    """Follow single-folder wrappers (a zipped folder); return the folder and its relative path."""
    current = extracted
    parts: list[str] = []
    while True:
        entries = _entries(current)
        if len(entries) != 1 or not entries[0].is_dir(follow_symlinks=False):
            return current, "/".join(parts)
        current = Path(entries[0].path)
        parts.append(entries[0].name)


def _explicit_root(extracted: Path, explicit: str) -> SiteRoot:
    def invalid(why: str) -> Invalid:
        return Invalid(f"the root {explicit!r} {why}", code="invalid_root")

    if "\\" in explicit or "\x00" in explicit or explicit.startswith("/") or _DRIVE.match(explicit):
        raise invalid("must be a relative path with forward slashes")
    parts = [p for p in explicit.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise invalid("must stay inside the upload")
    shown = "/".join(parts) + "/" if parts else "./"
    # A zipped folder wraps everything in one directory; the root may be named inside it.
    descended, wrapper = _descend(extracted)
    bases = [(extracted, "")]
    if wrapper:
        bases.append((descended, f" inside single top-level folder '{wrapper}/'"))
    for base, where in bases:
        candidate = base
        for part in parts:
            candidate = candidate / part
            if candidate.is_symlink():
                raise invalid("must not be or pass through a symbolic link")
            if not candidate.is_dir():
                break
        else:
            inside = extracted.resolve()
            if candidate.resolve() != inside and inside not in candidate.resolve().parents:
                raise invalid("must stay inside the upload")
            return SiteRoot(candidate, f"explicit root '{shown}'{where}")
    raise invalid("is not a folder in the upload")


def find_site_root(extracted: Path, explicit: str | None = None) -> SiteRoot:
    """Choose the folder to publish."""
    if explicit:
        return _explicit_root(extracted, explicit)
    current, wrapper = _descend(extracted)
    prefix = f"{wrapper}/" if wrapper else ""
    if _is_plain_file(current / INDEX):
        if wrapper:
            return SiteRoot(current, f"single top-level folder '{prefix}'")
        return SiteRoot(current, f"{INDEX} at the archive root")
    for name in SSG_OUTPUT_DIRS:
        candidate = current / name
        if not candidate.is_symlink() and candidate.is_dir() and _is_plain_file(candidate / INDEX):
            return SiteRoot(candidate, f"SSG output folder '{prefix}{name}/'")
    if _has_any_file(current):
        where = f"single top-level folder '{prefix}'" if wrapper else "the archive root"
        return SiteRoot(current, f"{where} (no {INDEX} found)")
    raise Invalid("the upload contains no files to publish", code="no_site_root")


# --- Release build -------------------------------------------------------------------------------

MANIFEST_NAME = "manifest.json"
# Parsed by the rules step at build time; they describe serving, they are not served.
BUILD_INPUT_FILES = frozenset({"_redirects", "_headers"})
PRECOMPRESS_MIN_SIZE = 1024
_WORKERS = 2  # zlib, brotli and hashlib release the GIL on large buffers; 2 cores measured
_COPY_CHUNK = 1024 * 1024
_FILE_MODE = 0o644
_DIR_MODE = 0o755
_MAX_FILE_NOTES = 50  # per-file lines in the build log; the rest are counted

# minify-html options, chosen to never change what a browser renders or runs:
# - no inline JS/CSS minification: its JS minifier renames variables wrongly and emits syntax
#   errors (wilsonzlin/minify-html#177, #197, still in 0.18; #199 hangs); .css/.js files are
#   minified by rcssmin/rjsmin instead.
# - keep comments: hydration markers of SSR frameworks (React `<!--$-->`, Vue `<!--[-->`) and
#   Knockout bindings live in comments.
# - keep closing tags and <html>/<head>: optional by the spec, but other tools parsing pages
#   expect them.
# - keep type=text on inputs: CSS selectors like input[type=text] match on it.
# - spec-compliant attribute quoting, entities, doctype and attribute spacing only (so
#   allow_noncompliant_*, allow_optimal_entities, minify_doctype, allow_removing_spaces_* are off).
_HTML_OPTIONS: dict[str, bool] = {
    "keep_closing_tags": True,
    "keep_comments": True,
    "keep_html_and_head_opening_tags": True,
    "keep_input_type_text_attr": True,
    "keep_ssi_comments": True,
    "minify_css": False,
    "minify_js": False,
    "minify_doctype": False,
    "allow_noncompliant_unquoted_attribute_values": False,
    "allow_optimal_entities": False,
    "allow_removing_spaces_between_attributes": False,
    "remove_bangs": False,
    "remove_processing_instructions": False,
}
# minify-html drops whitespace-only text between elements inside "layout" parents (body, div, nav,
# ul...), on purpose (wilsonzlin/minify-html#207), so `<div><a>x</a> <a>y</a></div>` renders "xy".
# Count such gaps between inline-level elements before and after; if any went, keep the original.
_INLINE_TAGS = (
    "a|abbr|audio|b|bdi|bdo|big|button|canvas|cite|code|data|del|dfn|em|embed|font|i|iframe|img|"
    "input|ins|kbd|label|mark|math|meter|nobr|object|output|picture|progress|q|s|samp|select|"
    "small|span|strike|strong|sub|sup|svg|textarea|time|tt|u|var|video|wbr|"
    r"[a-z][a-z0-9]*-[a-z0-9._-]*"  # custom elements are inline unless styled otherwise
)
_VOID_INLINE_TAGS = "embed|img|input|wbr"
_INLINE_GAP = re.compile(
    rf"(?:</(?:{_INLINE_TAGS})\s*>|<(?:{_VOID_INLINE_TAGS})(?=[\s/>])[^>]*>)"
    rf"\s+(?=<(?:{_INLINE_TAGS})(?=[\s/>]))",
    re.IGNORECASE,
)


# rjsmin (1.3) predates two kinds of modern syntax and breaks them (found by running its output of
# 600 real-world scripts through node: 43 became syntax errors): private class members `#name`
# (it joins `x = null\n#y` into `x=null#y`), and template literals (`//` inside a nested
# `${`...`}` read as a comment). Scripts using either are kept as they are.
_RJSMIN_UNSAFE = re.compile(rb"`|#[A-Za-z_$\\\x80-\xff]")
_RJSMIN_UNSAFE_WHY = "uses template literals or #private names, which rjsmin cannot minify safely"


@dataclass(frozen=True)
class BuildOptions:
    """What a build does besides copying: minification and precompression settings."""

    minify: bool = True
    precompress: bool = True
    # Measured here on 19 MB of real HTML/CSS/JS, one core: quality 6 compresses ~50 MB/s to 93%
    # of gzip -6; 5 is as fast and ~1% bigger, 4 is no smaller than gzip, 7 is up to 3x slower,
    # 9 runs at 3-5 MB/s and 11 at 1 MB/s (a 50 MB site: ~1.4 s to build at 6, ~10 s at 11).
    brotli_quality: int = 6
    gzip_level: int = 6

    def __post_init__(self) -> None:
        if not 0 <= self.brotli_quality <= 11:
            raise ValueError("brotli_quality must be between 0 and 11")
        if not 1 <= self.gzip_level <= 9:
            raise ValueError("gzip_level must be between 1 and 9")


@dataclass(frozen=True)
class FileEntry:
    """One served file of a release, as listed in its manifest."""

    path: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class BuildResult:
    """What a build produced: the manifest entries, counters, and the build log lines."""

    files: list[FileEntry]
    minified: int
    bytes_saved_by_minify: int
    precompressed: int
    log: list[str]


@dataclass
class _Outcome:
    entry: FileEntry
    saved: int = 0  # bytes removed by minification; 0 when the original was kept
    variants: int = 0
    notes: list[str] = field(default_factory=list)


_TOP = PurePosixPath()


def _walk(source: Path, rel: PurePosixPath = _TOP) -> Iterator[tuple[str, Path | None]]:
    """Yield (relative path, file) for every regular file; (path, None) for what is skipped."""
    with os.scandir(source / rel) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        child = rel / entry.name
        if entry.name in JUNK_NAMES:
            continue
        if entry.is_symlink():
            yield str(child), None
        elif entry.is_dir(follow_symlinks=False):
            yield from _walk(source, child)
        elif entry.is_file(follow_symlinks=False):
            if rel.parts or entry.name not in BUILD_INPUT_FILES:
                yield str(child), Path(entry.path)
        else:
            yield str(child), None


def _minifier(rel: str) -> Callable[[bytes], bytes] | None:
    name = rel.rsplit("/", 1)[-1].lower()
    if name.endswith((".min.js", ".min.mjs", ".min.css")):
        return None
    if name.endswith((".html", ".htm")):
        return _minify_html
    if name.endswith(".css"):
        return _minify_css
    if name.endswith((".js", ".mjs")):
        return _minify_js
    return None


class _KeepOriginal(Exception):
    """A minifier's output would change the page; the original is kept."""


def _minify_html(data: bytes) -> bytes:
    text = data.decode("utf-8")  # a page in another charset is kept as is (UnicodeDecodeError)
    out = minify_html.minify(text, **_HTML_OPTIONS)
    lost = len(_INLINE_GAP.findall(text)) - len(_INLINE_GAP.findall(out))
    if lost > 0:
        raise _KeepOriginal(f"minifying would remove {lost} visible space(s) between elements")
    return out.encode("utf-8")


def _minify_css(data: bytes) -> bytes:
    result: bytes = rcssmin.cssmin(data, keep_bang_comments=True)  # /*! licences */ stay
    return result


def _minify_js(data: bytes) -> bytes:
    if _RJSMIN_UNSAFE.search(data):
        raise _KeepOriginal(_RJSMIN_UNSAFE_WHY)
    result: bytes = rjsmin.jsmin(data, keep_bang_comments=True)
    return result


def _write(path: Path, data: bytes) -> None:
    # "x": never follow or overwrite anything already there; fchmod: whatever the umask is.
    with open(path, "xb") as f:
        os.fchmod(f.fileno(), _FILE_MODE)
        f.write(data)


def _copy_streaming(src: Path, dst: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        os.fchmod(fout.fileno(), _FILE_MODE)
        while chunk := fin.read(_COPY_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _brotli_mode(content_type: str) -> int:
    if content_type.startswith("font/"):
        return int(brotli.MODE_FONT)
    if content_type == "application/wasm":
        return int(brotli.MODE_GENERIC)
    return int(brotli.MODE_TEXT)


def _compress(data: bytes, suffix: str, content_type: str, options: BuildOptions) -> bytes:
    if suffix == ".br":
        packed: bytes = brotli.compress(
            data, mode=_brotli_mode(content_type), quality=options.brotli_quality
        )
        return packed
    # mtime=0: the same input gives the same bytes (and Python 3.11 then calls zlib only once).
    return gzip.compress(data, compresslevel=options.gzip_level, mtime=0)


def _build_file(
    rel: str, src: Path, dst: Path, options: BuildOptions, taken: frozenset[str]
) -> _Outcome:
    """Copy one file into the release, minified when that helps, with its .br/.gz variants."""
    content_type = content_type_for(rel)
    minify = _minifier(rel) if options.minify else None
    compress = (
        options.precompress
        and is_compressible(content_type)
        and not rel.lower().endswith((".br", ".gz"))
    )
    if minify is None and not compress:
        size, sha = _copy_streaming(src, dst)
        return _Outcome(FileEntry(rel, size, sha, content_type))

    data = src.read_bytes()  # files are at most 25 MiB (upload limit)
    outcome = _Outcome(FileEntry(rel, 0, "", content_type))
    if minify is not None:
        try:
            smaller = minify(data)
        except _KeepOriginal as kept:
            outcome.notes.append(f"kept {rel} as is: {kept}")
        except Exception as error:  # a minifier bug must never fail the build
            outcome.notes.append(f"kept {rel} as is: minifier error: {error!r:.200}")
        else:
            if len(smaller) < len(data):
                outcome.saved = len(data) - len(smaller)
                data = smaller
    _write(dst, data)
    outcome.entry = FileEntry(rel, len(data), hashlib.sha256(data).hexdigest(), content_type)

    if compress and len(data) >= PRECOMPRESS_MIN_SIZE:
        for suffix in (".br", ".gz"):
            if rel + suffix in taken:  # the upload ships its own variant: it wins
                outcome.notes.append(f"kept the uploaded {rel}{suffix}")
                continue
            packed = _compress(data, suffix, content_type, options)
            if len(packed) < len(data):
                _write(dst.with_name(dst.name + suffix), packed)
                outcome.variants += 1
    return outcome


def _write_manifest(target: Path, files: list[FileEntry]) -> None:
    body = {
        "version": 1,
        "files": [
            {"path": f.path, "size": f.size, "sha256": f.sha256, "content_type": f.content_type}
            for f in sorted(files, key=lambda f: f.path)
        ],
    }
    # Whole or not at all: a reader never sees a half-written manifest.
    write_json_atomically(target, body, compact=True, mode=_FILE_MODE)


def _relative_inside(path: Path, folder: Path) -> str | None:
    """path relative to folder with forward slashes, or None when it lies outside."""
    path, folder = Path(os.path.abspath(path)), Path(os.path.abspath(folder))
    return path.relative_to(folder).as_posix() if path.is_relative_to(folder) else None


def _mkdir(path: Path) -> None:
    path.mkdir()
    path.chmod(_DIR_MODE)  # explicit: mkdir's mode is filtered by the umask


def _build_tree(
    files: list[tuple[str, Path]], dest: Path, options: BuildOptions, emit: Callable[[str], None]
) -> list[_Outcome]:
    """Create the folders, then build every file in the thread pool; return outcomes in order."""
    folders = {a for rel, _ in files for a in PurePosixPath(rel).parents} - {_TOP}
    for folder in sorted(folders, key=str):  # an ancestor's path is a prefix: it sorts first
        _mkdir(dest / folder)
    taken = frozenset(rel for rel, _ in files)
    outcomes: list[_Outcome] = []
    notes = 0
    pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="build")
    try:
        results = pool.map(
            lambda item: _build_file(item[0], item[1], dest / item[0], options, taken), files
        )
        for outcome in results:
            outcomes.append(outcome)
            for note in outcome.notes:
                notes += 1
                if notes <= _MAX_FILE_NOTES:
                    emit(note)
    finally:
        # On an error, drop the queued files instead of building them all before raising.
        pool.shutdown(wait=True, cancel_futures=True)
    if notes > _MAX_FILE_NOTES:
        emit(f"… and {notes - _MAX_FILE_NOTES} more notes like these")
    return outcomes


def build_release(
    source: Path,
    dest: Path,
    options: BuildOptions,
    log: Callable[[str], None] | None = None,
    manifest: Path | None = None,
) -> BuildResult:
    """Copy the site root into dest, minify, precompress, and write manifest.json."""
    # The manifest goes to dest/manifest.json unless the caller keeps it outside the served tree
    # (where a site's own /manifest.json, a PWA's, cannot collide with it).
    target = dest / MANIFEST_NAME if manifest is None else manifest
    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        if log is not None:
            log(line)

    started = time.monotonic()
    files: list[tuple[str, Path]] = []
    for rel, path in _walk(source):
        if path is None:
            emit(f"skipped {rel}: not a regular file")
        else:
            files.append((rel, path))
    reserved = _relative_inside(target, dest)
    if reserved is not None and reserved in (rel for rel, _ in files):
        raise Invalid(
            f"the site has a file named {reserved}, where Wharf writes its manifest",
            code="reserved_name",
        )
    total = sum(path.stat().st_size for _, path in files)
    emit(f"building {len(files)} files ({total / 1e6:.1f} MB)")

    dest.parent.mkdir(parents=True, exist_ok=True)
    _mkdir(dest)  # fails if dest exists: a release is built once, into a new folder
    try:
        outcomes = _build_tree(files, dest, options, emit)
        entries = sorted((o.entry for o in outcomes), key=lambda e: e.path)
        _write_manifest(target, entries)
    except BaseException:
        # A half-built release must not look like a release, nor block a retry into the same path.
        shutil.rmtree(dest, ignore_errors=True)
        raise

    minified = sum(1 for o in outcomes if o.saved)
    saved = sum(o.saved for o in outcomes)
    precompressed = sum(1 for o in outcomes if o.variants)
    if options.minify:
        emit(f"minified {minified} files, saving {saved / 1e3:.1f} kB")
    if options.precompress:
        emit(f"precompressed {precompressed} files (brotli {options.brotli_quality}, gzip)")
    emit(f"wrote the manifest ({len(entries)} files) in {time.monotonic() - started:.2f} s")
    return BuildResult(entries, minified, saved, precompressed, lines)
