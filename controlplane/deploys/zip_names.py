"""Names inside a ZIP: decoded as their writer meant them, checked segment by segment, shown
safely, and folded to find two that would land on one file."""

from __future__ import annotations

import re
import unicodedata
import zipfile

NAME_MAX_BYTES = 1_024
# Linux NAME_MAX: a longer segment could not be written to disk at all.
SEGMENT_MAX_BYTES = 255
_FLAG_UTF8 = 0x0800
# Exactly the Unicode category Cc; a regex keeps hostile 64 KiB names off a per-character loop.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"[A-Za-z]:")
_SEPARATORS = re.compile(r"[/\\]")


def decoded_name(info: zipfile.ZipInfo) -> str:
    """The entry name as its writer meant it, NUL bytes and all."""
    # orig_filename keeps what zipfile cuts at the first NUL.
    name = info.orig_filename
    if info.flag_bits & _FLAG_UTF8 or name.isascii():
        return name
    # Info-ZIP on Linux and older macOS tools write UTF-8 without setting the flag; read as
    # cp437, "café" would become "cafÃ©" and every link to it would break.
    try:
        return name.encode("cp437").decode("utf-8")
    except UnicodeDecodeError:
        return name


def raw_name(info: zipfile.ZipInfo) -> bytes:
    """The name bytes as stored in the central directory."""
    return info.orig_filename.encode("utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437")


def printable(name: str) -> str:
    """The name with control characters escaped as repr would, shortened when absurdly long."""
    shown = _CONTROL.sub(lambda match: repr(match.group())[1:-1], name)
    # A rejected 64 KiB name, a thousand times over, would make the report itself a bomb.
    return shown if len(shown) <= NAME_MAX_BYTES else shown[:NAME_MAX_BYTES] + "…"


def name_problems(name: str, is_dir: bool) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    """The rules one entry name breaks, and its NFC path segments."""
    problems: list[tuple[str, str]] = []
    # ASCII names (nearly all) are their own NFC form; normalising them is wasted time.
    nfc = name if name.isascii() else unicodedata.normalize("NFC", name)
    if _CONTROL.search(nfc):
        problems.append(("control_character", "the name contains a control character"))
    if "\\" in nfc:
        problems.append(("backslash", "the name contains a backslash; separate folders with '/'"))
    drive = _DRIVE.match(nfc) is not None
    body = nfc[2:] if drive else nfc
    rooted = drive or body.startswith(("/", "\\"))
    if rooted:
        problems.append(("absolute_path", "the name is an absolute path or has a drive letter"))
        body = body.lstrip("/\\")
    if is_dir and body.endswith("/"):
        body = body[:-1]
    segments = tuple(_SEPARATORS.split(body)) if body else ()
    if ".." in segments:
        problems.append(
            ("path_traversal", "the name has a '..' segment, pointing outside the site")
        )
    if not segments and not rooted:
        problems.append(("invalid_name", "the name is empty"))
    elif any(segment in ("", ".") for segment in segments):
        problems.append(("invalid_name", "the name has an empty or '.' segment"))
    if len(nfc.encode()) > NAME_MAX_BYTES or any(
        len(segment.encode()) > SEGMENT_MAX_BYTES for segment in segments
    ):
        problems.append(
            (
                "name_too_long",
                f"names have at most {NAME_MAX_BYTES} bytes, and each folder or file name"
                f" at most {SEGMENT_MAX_BYTES}",
            )
        )
    return problems, segments


def fold(path: str) -> str:
    """The form two names share when they differ only in case or Unicode normalisation."""
    if path.isascii():
        return path.lower()
    return unicodedata.normalize("NFC", path.casefold())


def clash(
    spelling: str, is_file: bool, own: bool, earlier: tuple[str, bool, bool, str]
) -> str | None:
    """Why a path clashes with one seen before, or None when both are the same folder."""
    earlier_spelling, earlier_is_file, earlier_own, earlier_entry = earlier
    if earlier_spelling != spelling:
        return (
            f"{spelling!r} and {earlier_spelling!r} (from {earlier_entry!r}) differ only in case"
            " or Unicode normalisation"
        )
    if earlier_is_file and is_file:
        return "the archive holds this name twice"
    if earlier_is_file:
        return f"{earlier_entry!r} is a file, but this entry needs a folder of that name"
    if is_file:
        return f"{earlier_entry!r} needs a folder of this name, but this entry is a file"
    if own and earlier_own:
        return "the archive holds this folder twice"
    return None
