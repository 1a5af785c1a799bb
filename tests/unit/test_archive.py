"""Upload safety: hostile archives are rejected naming every problem; sound ones extract exactly."""

from __future__ import annotations

import errno
import io
import os
import random
import stat
import struct
import tracemalloc
import unicodedata
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import pytest

from controlplane.deploys import zip_streams
from controlplane.deploys.archive import (
    MAX_PROBLEMS,
    ArchiveLimits,
    ArchiveRejected,
    ArchiveSummary,
    extract_archive,
    inspect_archive,
)

LIMITS = ArchiveLimits()
MiB = 1024**2

Entry = tuple[str | zipfile.ZipInfo, bytes]

# Offsets of the fields a test patches, in the local header and in the central-directory record.
_LOCAL_FIELDS = {"flags": 6, "method": 8, "crc": 14, "compress_size": 18, "file_size": 22}
_CENTRAL_FIELDS = {"flags": 8, "method": 10, "crc": 16, "compress_size": 20, "file_size": 24}
_FORMATS = {"flags": "<H", "method": "<H", "crc": "<L", "compress_size": "<L", "file_size": "<L"}


def _zip(path: Path, entries: list[Entry], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Write entries (names or ZipInfo objects with their bytes) to a new archive at path."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates we mean to write
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return path


def _patch(path: Path, name: str, **fields: int) -> None:
    """Overwrite header fields of one entry in both its local header and its central record."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local, position = archive.getinfo(name).header_offset, archive.start_dir
    central = -1
    while data[position : position + 4] == b"PK\x01\x02":
        lengths = struct.unpack_from("<3H", data, position + 28)
        if data[position + 46 : position + 46 + lengths[0]] == name.encode():
            central = position
        position += 46 + sum(lengths)
    assert central >= 0
    for field, value in fields.items():
        struct.pack_into(_FORMATS[field], data, local + _LOCAL_FIELDS[field], value)
        struct.pack_into(_FORMATS[field], data, central + _CENTRAL_FIELDS[field], value)
    path.write_bytes(data)


def _stored(name: bytes, data: bytes) -> bytes:
    """A local header for a stored entry, its name and its data."""
    crc, size = zlib.crc32(data), len(data)
    header = struct.pack(
        "<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, size, size, len(name), 0
    )
    return header + name + data


def _raw_zip(path: Path, body: bytes, records: list[tuple[bytes, bytes, int]]) -> Path:
    """An archive written byte by byte: body, then a central record per (name, data, offset)."""
    directory = b""
    for name, data, offset in records:
        crc, size = zlib.crc32(data), len(data)
        directory += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc, size, size, len(name),
            0, 0, 0, 0, 0, offset,
        ) + name  # fmt: skip
    count = len(records)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    path.write_bytes(body + directory + end)
    return path


def _as_zip64(path: Path) -> None:
    """End the archive as zip64 writers do: zip64 end record, locator, then a masked classic one."""
    data = path.read_bytes()
    at = data.rindex(b"PK\x05\x06")
    count, size, offset = struct.unpack_from("<4s4H2LH", data, at)[4:7]
    end64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(data[:at] + end64 + locator + end)


def _data_start(path: Path, name: str) -> int:
    """Where an entry's compressed bytes begin."""
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(name).header_offset
    lengths = struct.unpack_from("<2H", path.read_bytes(), offset + 26)
    return offset + 30 + sum(lengths)


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so external_attr carries a mode
    info.external_attr = mode << 16
    return info


def _rejected(path: Path, limits: ArchiveLimits = LIMITS) -> ArchiveRejected:
    with pytest.raises(ArchiveRejected) as caught:
        inspect_archive(path, limits)
    return caught.value


def _problems(path: Path, limits: ArchiveLimits = LIMITS) -> list[tuple[str | None, str]]:
    return [(problem.entry, problem.code) for problem in _rejected(path, limits).problems]


def _listing(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def _site(path: Path, count: int = 2_000) -> tuple[Path, dict[str, bytes]]:
    """A realistic site: nested folders of html, css, js and png-like bytes, and an NFD name."""
    rng = random.Random(7)
    files: dict[str, bytes] = {}
    for number in range(count):
        folder = "/".join(f"section{rng.randrange(8)}" for _ in range(rng.randrange(4)))
        kind = ("html", "css", "js", "png")[number % 4]
        if kind == "png":
            data = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randrange(200, 6_000))
        else:
            words = [
                rng.choice(("<div>", "color:", "function", "const", "site")) for _ in range(400)
            ]
            data = " ".join(words).encode()
        name = f"{folder}/page{number}.{kind}".lstrip("/")
        files[name] = data
    files["blog/cafe\u0301/index.html"] = b"<h1>caf\xc3\xa9</h1>"  # decomposed, as macOS writes
    entries: list[Entry] = [("blog/", b"")] + [(name, data) for name, data in files.items()]
    _zip(path, entries)
    return path, {unicodedata.normalize("NFC", name): data for name, data in files.items()}


def test_archive_realistic_site_passes_and_extracts_exact_bytes_under_nfc_names(
    tmp_path: Path,
) -> None:
    archive, files = _site(tmp_path / "site.zip")
    summary = inspect_archive(archive, LIMITS)
    assert summary.file_count == len(files) == 2_001
    assert summary.total_bytes == sum(len(data) for data in files.values())
    assert summary.files == tuple(sorted(files))
    assert "blog/café/index.html" in summary.files
    dest = tmp_path / "out"
    assert extract_archive(archive, dest, LIMITS) == summary
    written = {str(path.relative_to(dest)) for path in dest.rglob("*") if path.is_file()}
    assert written == set(files)
    for name, data in files.items():
        assert (dest / name).read_bytes() == data
    assert (dest / "blog" / "café" / "index.html").exists()


def test_archive_extract_writes_0644_files_and_0755_dirs_whatever_the_archive_says(
    tmp_path: Path,
) -> None:
    archive = _zip(
        tmp_path / "modes.zip",
        [
            (_info("bin/", 0o40777), b""),
            (_info("bin/run.sh", 0o104777), b"#!/bin/sh\n"),
            (_info("secret.html", 0o100600), b"hidden"),
        ],
    )
    dest = tmp_path / "out"
    extract_archive(archive, dest, LIMITS)
    modes = {str(p.relative_to(dest)): stat.S_IMODE(p.stat().st_mode) for p in dest.rglob("*")}
    assert modes == {"bin": 0o755, "bin/run.sh": 0o644, "secret.html": 0o644}
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755


class _Pipe(io.RawIOBase):
    """A target zipfile cannot seek in, so it writes a data descriptor after each entry."""

    def __init__(self) -> None:
        self.written = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.written.write(data)


def test_archive_accepts_every_supported_method_zip64_headers_and_data_descriptors(
    tmp_path: Path,
) -> None:
    rng = random.Random(1)
    payload = {name: rng.randbytes(3_000) + b"x" * 50_000 for name in ("a", "b", "c", "d", "e")}
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w") as streamed:
        for name, method in (("a", 0), ("b", 8), ("c", 12), ("d", 14)):
            info = zipfile.ZipInfo(f"{name}.bin")
            info.compress_type = method
            with streamed.open(info, "w") as out:
                out.write(payload[name])
        with streamed.open("e.bin", "w", force_zip64=True) as out:
            out.write(payload["e"])
    archive = tmp_path / "methods.zip"
    archive.write_bytes(pipe.written.getvalue())
    with zipfile.ZipFile(archive) as check:
        assert {info.compress_type for info in check.infolist()} == {0, 8, 12, 14}
        assert all(info.flag_bits & 0x08 for info in check.infolist())
    dest = tmp_path / "out"
    summary = extract_archive(archive, dest, LIMITS)
    assert summary.file_count == 5
    for name, data in payload.items():
        assert (dest / f"{name}.bin").read_bytes() == data


def test_archive_reads_utf8_names_written_without_the_utf8_flag(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "legacy.zip", [("café.html", b"<p>hi</p>")])
    with zipfile.ZipFile(archive) as check:
        flags = check.getinfo("café.html").flag_bits
    _patch(archive, "café.html", flags=flags & ~0x800)
    assert inspect_archive(archive, LIMITS).files == ("café.html",)


def test_archive_keeps_cp437_names_that_are_not_utf8(tmp_path: Path) -> None:
    archive = _raw_zip(
        tmp_path / "t.zip", _stored(b"caf\x82.html", b"x"), [(b"caf\x82.html", b"x", 0)]
    )
    assert inspect_archive(archive, LIMITS).files == ("café.html",)


def test_archive_reads_zip64_end_records(tmp_path: Path) -> None:
    entries: list[Entry] = [(f"{n}.html", b"<p></p>") for n in range(51)]
    archive = _zip(tmp_path / "t.zip", entries)
    _as_zip64(archive)
    assert inspect_archive(archive, LIMITS).file_count == 51
    assert _problems(archive, ArchiveLimits(max_entries=50)) == [(None, "too_many_entries")]


def test_archive_with_data_prepended_passes(tmp_path: Path) -> None:
    inner = _zip(tmp_path / "inner.zip", [("index.html", b"<p>hello</p>" * 100)])
    archive = tmp_path / "prefixed.zip"
    archive.write_bytes(b"#!/bin/sh\nexit 0\n" * 10 + inner.read_bytes())
    assert inspect_archive(archive, LIMITS).files == ("index.html",)


def test_archive_nested_zip_is_kept_as_one_file_not_expanded(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(10 * MiB))])
    archive = _zip(tmp_path / "outer.zip", [("downloads/bomb.zip", bomb.read_bytes())])
    summary = inspect_archive(archive, LIMITS)
    assert summary.files == ("downloads/bomb.zip",)
    assert summary.total_bytes == bomb.stat().st_size


def test_archive_classic_zip_bomb_is_rejected_for_its_ratio(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", [("index.html", b"hi"), ("zeros.bin", bytes(10 * MiB))])
    assert _problems(archive) == [("zeros.bin", "compression_ratio"), (None, "compression_ratio")]


def test_archive_many_small_bombs_are_rejected_for_the_overall_ratio(tmp_path: Path) -> None:
    # Each entry stays under the ratio floor; together they expand thousands of times.
    entries: list[Entry] = [(f"part{n}.bin", bytes(900 * 1024)) for n in range(30)]
    archive = _zip(tmp_path / "many.zip", entries)
    assert _problems(archive) == [(None, "compression_ratio")]


def test_archive_bzip2_bomb_is_rejected_without_inflating_it_in_memory(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bz.zip", [("zeros.bin", bytes(20 * MiB))], zipfile.ZIP_BZIP2)
    assert archive.stat().st_size < 1_000  # 20 MiB in a few dozen bytes
    tracemalloc.start()
    try:
        problems = _problems(archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ("zeros.bin", "compression_ratio") in problems
    assert peak < 8 * MiB


def test_archive_overlapping_entry_bomb_is_rejected_before_decompressing(tmp_path: Path) -> None:
    # Many central-directory entries pointing at one local header: each "file" is the same
    # kernel, so a small archive would expand to entries × kernel.
    kernel = _zip(tmp_path / "kernel.zip", [("kernel.bin", bytes(MiB))]).read_bytes()
    start = kernel.index(b"PK\x01\x02")
    record_end = kernel.index(b"PK\x05\x06")
    record = kernel[start:record_end]
    directory = b"".join(record for _ in range(20))
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 20, 20, len(directory), start, 0)
    archive = tmp_path / "overlap.zip"
    archive.write_bytes(kernel[:start] + directory + end)
    problems = _problems(archive)
    assert problems.count(("kernel.bin", "overlapping_entries")) == 19
    assert ("kernel.bin", "compression_ratio") not in problems


def test_archive_entry_hidden_inside_another_entrys_data_is_rejected(tmp_path: Path) -> None:
    # The "better zip bomb" shape: b's local header is quoted inside a's data.
    b_data = b"x" * 1_000
    a_data = _stored(b"b.html", b_data)
    b_offset = 30 + len(b"a.html")
    archive = _raw_zip(
        tmp_path / "quoted.zip",
        _stored(b"a.html", a_data),
        [(b"a.html", a_data, 0), (b"b.html", b_data, b_offset)],
    )
    with zipfile.ZipFile(archive) as check:
        assert check.testzip() is None  # zipfile itself finds nothing wrong
    assert _problems(archive) == [("b.html", "overlapping_entries")]


@pytest.mark.parametrize(
    "name", ["../a.html", "a/../../b.html", "..\\a.html", "..", "a/..", "../", "a/../b/"]
)
def test_archive_rejects_parent_segments_in_every_spelling(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", b"ok"), (name, b"")])
    assert (name, "path_traversal") in _problems(archive)


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "C:\\x.html", "C:x.html", "c:/x.html", "//server/share", "/"]
)
def test_archive_rejects_absolute_and_drive_paths(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", b"ok"), (name, b"")])
    assert (name, "absolute_path") in _problems(archive)


def test_archive_rejects_backslashes(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [("css\\site.css", b"a{}")])
    assert _problems(archive) == [("css\\site.css", "backslash")]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("a//b.html", "invalid_name"),
        ("./a.html", "invalid_name"),
        ("a/./b.html", "invalid_name"),
        ("x" * 256 + ".html", "name_too_long"),
    ],
)
def test_archive_rejects_malformed_and_overlong_names(tmp_path: Path, name: str, code: str) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", b"ok"), (name, b"x")])
    assert _problems(archive) == [(name, code)]


def test_archive_rejects_overlong_paths_and_shortens_them_in_the_report(tmp_path: Path) -> None:
    name = "d/" * 520 + "a.html"
    archive = _zip(tmp_path / "t.zip", [(name, b"x")])
    [problem] = _rejected(archive).problems
    assert problem.code == "name_too_long"
    assert problem.entry == name[:1024] + "…"


@pytest.mark.parametrize("char", ["\n", "\t", "\x1b", "\x7f", "\x85"])
def test_archive_rejects_control_characters_and_shows_them_escaped(
    tmp_path: Path, char: str
) -> None:
    archive = _zip(tmp_path / "t.zip", [(f"a{char}b.html", b"x")])
    shown = "a" + repr(char)[1:-1] + "b.html"
    assert _problems(archive) == [(shown, "control_character")]


def test_archive_rejects_a_nul_in_a_name_that_zipfile_would_silently_cut(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", b"ok"), ("evil_html", b"x")])
    archive.write_bytes(archive.read_bytes().replace(b"evil_html", b"evil\x00html"))
    assert _problems(archive) == [("evil\\x00html", "control_character")]


def test_archive_rejects_symlinks_devices_and_fifos(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "t.zip",
        [
            ("index.html", b"ok"),
            (_info("link", 0o120777), b"/etc/passwd"),
            (_info("fifo", 0o010644), b""),
            (_info("tty", 0o020644), b""),
            (_info("disk", 0o060644), b""),
        ],
    )
    assert _problems(archive) == [
        ("link", "symlink"),
        ("fifo", "special_file"),
        ("tty", "special_file"),
        ("disk", "special_file"),
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("a.html", "a.html"),
        ("A.html", "a.html"),
        ("Straße.html", "STRASSE.html"),
        ("caf\u00e9.html", "cafe\u0301.html"),
        ("a", "a/b.html"),
        ("a/b.html", "a"),
        ("a/", "a"),
        ("Docs/x.html", "docs/y.html"),
        ("img/", "img/"),
    ],
)
def test_archive_rejects_duplicate_names_after_case_folding_and_nfc(
    tmp_path: Path, first: str, second: str
) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", b""), (first, b"1"), (second, b"2")])
    assert _problems(archive) == [(second, "duplicate_name")]


def test_archive_allows_a_folder_entry_next_to_the_files_inside_it(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [("a/b.html", b"1"), ("a/", b""), ("a/c/", b"")])
    assert inspect_archive(archive, LIMITS).files == ("a/b.html",)


def test_archive_rejects_sizes_that_lie_in_both_headers(tmp_path: Path) -> None:
    text = b"<p>lorem ipsum dolor sit amet</p>\n" * 10_000
    archive = _zip(tmp_path / "t.zip", [("small.html", text), ("big.html", text)])
    _patch(archive, "small.html", file_size=1_000)
    _patch(archive, "big.html", file_size=len(text) + 1)
    assert _problems(archive) == [("small.html", "size_mismatch"), ("big.html", "size_mismatch")]


def test_archive_rejects_a_wrong_crc(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", b"<p>hello</p>")])
    _patch(archive, "index.html", crc=zlib.crc32(b"<p>hello</p>") ^ 1)
    assert _problems(archive) == [("index.html", "corrupt_entry")]


@pytest.mark.parametrize(
    ("method", "at"),
    [(zipfile.ZIP_DEFLATED, 0), (zipfile.ZIP_BZIP2, 0), (zipfile.ZIP_LZMA, 4)],
)
def test_archive_rejects_damaged_compressed_data(tmp_path: Path, method: int, at: int) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", os.urandom(64) * 100)], method)
    data = bytearray(archive.read_bytes())
    start = _data_start(archive, "index.html") + at
    data[start : start + 10] = b"\xff" * 10
    archive.write_bytes(bytes(data))
    assert _problems(archive) == [("index.html", "corrupt_entry")]


def test_archive_rejects_a_local_header_that_names_another_file(tmp_path: Path) -> None:
    # Readers that trust local headers would extract evil.html where we checked index.html.
    body = _stored(b"index.html", b"ok") + _stored(b"evil.html", b"bad")
    archive = _raw_zip(
        tmp_path / "t.zip", body, [(b"index.html", b"ok", 0), (b"good.html", b"bad", 42)]
    )
    assert _problems(archive) == [("good.html", "corrupt_entry")]


def test_archive_rejects_entries_without_a_local_header(tmp_path: Path) -> None:
    body = _stored(b"index.html", b"ok")
    archive = _raw_zip(tmp_path / "t.zip", body, [(b"index.html", b"ok", 0), (b"x.html", b"", 3)])
    assert _problems(archive) == [("x.html", "corrupt_entry")]


def test_archive_rejects_data_running_into_the_central_directory(tmp_path: Path) -> None:
    body = _stored(b"a.html", b"x" * 10)
    archive = _raw_zip(tmp_path / "t.zip", body, [(b"a.html", b"x" * 100, 0)])
    assert _problems(archive) == [("a.html", "overlapping_entries")]


def test_archive_rejects_an_empty_name(tmp_path: Path) -> None:
    body = _stored(b"index.html", b"ok") + _stored(b"", b"x")
    archive = _raw_zip(tmp_path / "t.zip", body, [(b"index.html", b"ok", 0), (b"", b"x", 42)])
    assert _problems(archive) == [("", "invalid_name")]


def test_archive_rejects_encrypted_entries(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", b"ok"), ("secret.html", b"pssst")])
    _patch(archive, "secret.html", flags=0x1)
    assert _problems(archive) == [("secret.html", "encrypted")]


def test_archive_rejects_unsupported_compression_methods(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", b"ok"), ("aes.html", b"x" * 100)])
    _patch(archive, "aes.html", method=99)
    rejected = _rejected(archive)
    assert [(p.entry, p.code) for p in rejected.problems] == [
        ("aes.html", "unsupported_compression")
    ]
    assert "99" in rejected.problems[0].message


def test_archive_rejects_too_many_entries_once(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_entries=50)
    entries: list[Entry] = [(f"../{n}.html", b"") for n in range(51)]
    archive = _zip(tmp_path / "t.zip", entries)
    assert _problems(archive, limits) == [(None, "too_many_entries")]
    fine = _zip(tmp_path / "fine.zip", [(f"{n}.html", b"") for n in range(50)])
    assert inspect_archive(fine, limits).file_count == 50


def test_archive_caps_the_problem_list(tmp_path: Path) -> None:
    entries: list[Entry] = [(f"../{n}.html", b"") for n in range(MAX_PROBLEMS + 100)]
    archive = _zip(tmp_path / "t.zip", entries)
    problems = _rejected(archive).problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].code == "too_many_problems"
    assert "100" in problems[-1].message


def test_archive_rejects_files_over_the_per_file_limit(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_file_bytes=1_000)
    archive = _zip(tmp_path / "t.zip", [("ok.html", b"x" * 1_000), ("big.png", os.urandom(1_001))])
    assert _problems(archive, limits) == [("big.png", "file_too_large")]


def test_archive_rejects_files_whose_real_size_passes_the_limit_despite_their_headers(
    tmp_path: Path,
) -> None:
    limits = ArchiveLimits(max_file_bytes=1_000)
    archive = _zip(tmp_path / "t.zip", [("big.png", os.urandom(50_000))])
    _patch(archive, "big.png", file_size=900)
    assert _problems(archive, limits) == [("big.png", "size_mismatch")]


def test_archive_counts_the_total_while_decompressing_not_from_headers(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_total_bytes=2_000)
    entries: list[Entry] = [("a.bin", os.urandom(1_500)), ("b.bin", os.urandom(1_000))]
    archive = _zip(tmp_path / "t.zip", entries, zipfile.ZIP_STORED)
    _patch(archive, "a.bin", file_size=1_000)
    assert _problems(archive, limits) == [("a.bin", "size_mismatch"), (None, "total_too_large")]


def test_archive_rejects_a_total_over_the_limit(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_total_bytes=5_000)
    entries: list[Entry] = [(f"{n}.png", os.urandom(2_000)) for n in range(3)]
    archive = _zip(tmp_path / "t.zip", entries)
    assert _problems(archive, limits) == [(None, "total_too_large")]


def test_archive_oversized_upload_is_a_413_and_anything_else_a_422(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", os.urandom(500))])
    rejected = _rejected(archive, ArchiveLimits(max_upload_bytes=100))
    assert [(p.entry, p.code) for p in rejected.problems] == [(None, "archive_too_large")]
    assert rejected.status == 413
    assert _rejected(_zip(tmp_path / "u.zip", [("../x", b"")])).status == 422


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip at all", b"PK\x03\x04" + bytes(100), b"PK\x05\x06" + bytes(10)],
)
def test_archive_rejects_files_that_are_not_zips(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "t.zip"
    archive.write_bytes(content)
    assert _problems(archive) == [(None, "not_a_zip")]


def test_archive_rejects_a_corrupt_central_directory(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [(f"{n}.html", b"x") for n in range(3)])
    data = bytearray(archive.read_bytes())
    second = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 1)
    data[second : second + 4] = b"PK\x09\x09"
    archive.write_bytes(bytes(data))
    assert _problems(archive) == [(None, "not_a_zip")]


def test_archive_rejects_a_truncated_zip(tmp_path: Path) -> None:
    whole = _zip(tmp_path / "w.zip", [(f"{n}.html", os.urandom(500)) for n in range(10)])
    cut = tmp_path / "t.zip"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size - 30])
    assert _problems(cut) == [(None, "not_a_zip")]


@pytest.mark.parametrize("entries", [[], [("assets/", b"")]])
def test_archive_rejects_an_archive_without_files(tmp_path: Path, entries: list[Entry]) -> None:
    archive = _zip(tmp_path / "t.zip", entries)
    assert _problems(archive) == [(None, "empty_archive")]


def _hostile(path: Path) -> Path:
    """One archive with many different problems in its names, metadata and content."""
    _zip(
        path,
        [
            ("index.html", b"<p>fine</p>"),
            ("../evil.html", b"x"),
            ("About.html", b"1"),
            ("about.html", b"2"),
            (_info("link", 0o120777), b"/etc/passwd"),
            ("secret.html", b"pssst"),
            ("crc.html", b"<p>crc</p>"),
            ("zeros.bin", bytes(3 * MiB)),
        ],
    )
    _patch(path, "secret.html", flags=0x1)
    _patch(path, "crc.html", crc=0)
    return path


def test_archive_reports_every_problem_with_its_entry(tmp_path: Path) -> None:
    rejected = _rejected(_hostile(tmp_path / "t.zip"))
    assert [(p.entry, p.code) for p in rejected.problems] == [
        ("../evil.html", "path_traversal"),
        ("link", "symlink"),
        ("secret.html", "encrypted"),
        ("about.html", "duplicate_name"),
        ("crc.html", "corrupt_entry"),
        ("zeros.bin", "compression_ratio"),
        (None, "compression_ratio"),
    ]
    assert rejected.status == 422
    assert all(problem.message for problem in rejected.problems)
    assert rejected.details == [
        {"entry": p.entry, "code": p.code, "message": p.message} for p in rejected.problems
    ]


@pytest.mark.parametrize("make", ["hostile", "late_crc"])
def test_archive_rejected_extract_leaves_no_trace(tmp_path: Path, make: str) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    if make == "hostile":
        archive = _hostile(uploads / "t.zip")
    else:
        # Problems found only while writing: the good files before it were already on disk.
        entries: list[Entry] = [(f"dir{n}/page.html", os.urandom(2_000)) for n in range(20)]
        archive = _zip(uploads / "t.zip", [*entries, ("last.html", b"<p>last</p>")])
        _patch(archive, "last.html", crc=0)
    before = _listing(tmp_path)
    dest = tmp_path / "staging"
    with pytest.raises(ArchiveRejected):
        extract_archive(archive, dest, LIMITS)
    assert not dest.exists()
    assert _listing(tmp_path) == before


def test_archive_failed_write_leaves_no_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries: list[Entry] = [(f"d{n}/page.html", b"<p>page</p>") for n in range(10)]
    archive = _zip(tmp_path / "t.zip", entries)
    original = zip_streams.SafeWriter.file
    calls: list[tuple[str, ...]] = []

    def disk_full(self: zip_streams.SafeWriter, segments: tuple[str, ...]) -> BinaryIO:
        calls.append(segments)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, segments)

    monkeypatch.setattr(zip_streams.SafeWriter, "file", disk_full)
    before = _listing(tmp_path)
    with pytest.raises(OSError, match="No space"):
        extract_archive(archive, tmp_path / "out", LIMITS)
    assert _listing(tmp_path) == before


def test_archive_extract_refuses_an_existing_destination(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [("index.html", b"ok")])
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError):
        extract_archive(archive, tmp_path / "out", LIMITS)


def test_archive_summary_counts_what_was_decompressed(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "t.zip", [("b.html", b"x" * 300), ("a/", b""), ("a/c.css", b"y")])
    with zipfile.ZipFile(archive) as check:
        compressed = sum(info.compress_size for info in check.infolist() if not info.is_dir())
    assert inspect_archive(archive, LIMITS) == ArchiveSummary(
        file_count=2, total_bytes=301, compressed_bytes=compressed, files=("a/c.css", "b.html")
    )
