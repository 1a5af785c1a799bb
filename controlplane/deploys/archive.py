"""Upload safety: check a site's .zip against every limit, and extract it only when it passes."""

from __future__ import annotations

import mmap
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from controlplane.deploys.zip_names import (
    clash,
    decoded_name,
    fold,
    name_problems,
    printable,
    raw_name,
)
from controlplane.deploys.zip_streams import CorruptEntry, SafeWriter, decompressed
from controlplane.errors import WharfError

MAX_PROBLEMS = 1_000
_SUPPORTED_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflated",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
_FLAG_ENCRYPTED = 0x0001
_FLAG_STRONG_ENCRYPTION = 0x0040

_END_OF_DIRECTORY = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_OF_DIRECTORY = struct.Struct("<4sQ2H2L4Q")
_CENTRAL_RECORD_SIZE = 46
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_MAX_COMMENT = 0xFFFF


@dataclass(frozen=True)
class ArchiveLimits:
    """The upload limits; each is configurable and published in the docs."""

    max_upload_bytes: int = 100 * 1024**2
    max_file_bytes: int = 25 * 1024**2
    max_entries: int = 20_000
    max_total_bytes: int = 1024**3
    max_ratio: float = 100.0
    # Tiny files compress very well, so the ratio only counts past this many bytes.
    ratio_floor_bytes: int = 1024**2


@dataclass(frozen=True)
class Problem:
    """One broken rule: the entry it concerns (None for the whole archive), a code, and why."""

    entry: str | None
    code: str
    message: str


@dataclass(frozen=True)
class ArchiveSummary:
    """What a passing archive holds; sizes are counted while decompressing, not read."""

    file_count: int
    total_bytes: int
    compressed_bytes: int
    files: tuple[str, ...]


class ArchiveRejected(WharfError):
    """The archive breaks one or more upload rules; `problems` lists every one found."""

    default_code = "archive_rejected"

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        message = problems[0].message if count == 1 else f"the archive has {count} problems"
        super().__init__(message, details=[asdict(problem) for problem in problems])
        self.problems = problems
        # Only an oversized upload is "too large"; anything wrong inside it is a 422.
        self.status = 413 if all(p.code == "archive_too_large" for p in problems) else 422


def inspect_archive(path: Path, limits: ArchiveLimits) -> ArchiveSummary:
    """Check everything, decompressing every entry and counting bytes, writing nothing."""
    with path.open("rb") as fp:
        return _Check(fp, path.stat().st_size, limits).run(None)


def extract_archive(path: Path, dest: Path, limits: ArchiveLimits) -> ArchiveSummary:
    """Same checks, writing the files under new dir dest; on rejection dest is removed."""
    if os.path.lexists(dest):
        raise FileExistsError(f"{dest} already exists")
    with path.open("rb") as fp:
        return _Check(fp, path.stat().st_size, limits).run(dest)


@dataclass
class _Entry:
    """One central-directory entry and what the checks learned about it."""

    info: zipfile.ZipInfo
    name: str
    shown: str
    is_dir: bool
    segments: tuple[str, ...] = ()
    regular: bool = False
    readable: bool = False
    data_start: int = -1


class _Report:
    """Problems in the order found, capped so that a hostile archive cannot make a huge report."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.omitted = 0

    def add(self, entry: str | None, code: str, message: str) -> None:
        """Record one problem, or only count it once the list is full."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(entry, code, message))
        else:
            self.omitted += 1

    @property
    def full(self) -> bool:
        """Whether further problems would go unlisted."""
        return len(self.problems) >= MAX_PROBLEMS

    def rejection(self) -> ArchiveRejected:
        """The exception that reports every problem listed."""
        problems = list(self.problems)
        if self.omitted:
            problems.append(
                Problem(None, "too_many_problems", f"{self.omitted} more problems were not listed")
            )
        return ArchiveRejected(problems)


class _Check:
    """One pass over one archive: directory checks first, then every entry's content."""

    def __init__(self, fp: BinaryIO, archive_bytes: int, limits: ArchiveLimits) -> None:
        self.fp = fp
        # Local headers and entry data are read through a memory map: thousands of small
        # seek+read calls cost more than the decompression of a typical site.
        self.data: BinaryIO | mmap.mmap = (
            mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) if archive_bytes else fp
        )
        self.archive_bytes = archive_bytes
        self.limits = limits
        self.report = _Report()
        self.total = 0
        self.compressed = 0
        self.stopped = False

    def run(self, dest: Path | None) -> ArchiveSummary:
        """Check the archive, extracting into dest when given; raise ArchiveRejected if bad."""
        try:
            return self._run(dest)
        finally:
            if isinstance(self.data, mmap.mmap):
                self.data.close()

    def _run(self, dest: Path | None) -> ArchiveSummary:
        entries = self._directory()
        if entries is None:
            raise self.report.rejection()
        writer: SafeWriter | None = None
        if dest is not None and not self.report.problems:
            writer = SafeWriter(dest)
        try:
            self._contents(entries, writer)
        except BaseException:
            if writer is not None:
                writer.remove()
            raise
        if self.report.problems:
            if writer is not None:
                writer.remove()
            raise self.report.rejection()
        if writer is not None:
            writer.close()
        files = [entry for entry in entries if entry.regular]
        return ArchiveSummary(
            file_count=len(files),
            total_bytes=self.total,
            compressed_bytes=self.compressed,
            files=tuple(sorted("/".join(entry.segments) for entry in files)),
        )

    def _directory(self) -> list[_Entry] | None:
        """Every name and metadata problem; None when the content cannot or need not be read."""
        limits = self.limits
        if self.archive_bytes > limits.max_upload_bytes:
            # The caller stops streaming at this limit, so the file is usually cut short anyway.
            self.report.add(
                None,
                "archive_too_large",
                f"the archive is {_size(self.archive_bytes)}; the limit is"
                f" {_size(limits.max_upload_bytes)}",
            )
            return None
        # zipfile builds an object per entry before we could count them, so count first.
        if _count_entries(self.fp, self.archive_bytes, limits.max_entries) > limits.max_entries:
            self._too_many_entries()
            return None
        try:
            with zipfile.ZipFile(self.fp) as archive:
                infos = archive.infolist()
                directory_start = archive.start_dir
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            self.report.add(None, "not_a_zip", f"the file is not a readable zip archive ({exc})")
            return None
        if len(infos) > limits.max_entries:
            self._too_many_entries()
            return None
        entries = [self._examine(info) for info in infos]
        self._find_duplicates(entries)
        declared = sum(entry.info.file_size for entry in entries if not entry.is_dir)
        if declared > limits.max_total_bytes:
            self.report.add(
                None,
                "total_too_large",
                f"the files declare {_size(declared)} in total; the limit is"
                f" {_size(limits.max_total_bytes)}",
            )
            self.stopped = True
        if not any(entry.regular for entry in entries):
            self.report.add(None, "empty_archive", "the archive holds no files")
        if not self._locate_data(entries, directory_start):
            self.stopped = True
        return entries

    def _too_many_entries(self) -> None:
        """Report the entry count, once, for the whole archive."""
        limit = self.limits.max_entries
        self.report.add(
            None,
            "too_many_entries",
            f"the archive has more than {limit} entries (files and folders)",
        )

    def _examine(self, info: zipfile.ZipInfo) -> _Entry:
        """Check what the central directory says about one entry."""
        name = decoded_name(info)
        entry = _Entry(info=info, name=name, shown=printable(name), is_dir=name.endswith("/"))
        problems, segments = name_problems(name, entry.is_dir)
        # Entries with sound names take part in the duplicate check, whatever else is wrong.
        entry.segments = () if problems else segments
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            problems.append(("symlink", "symbolic links are not allowed"))
        elif kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            problems.append(("special_file", "devices, FIFOs and sockets are not allowed"))
        entry.regular = not entry.is_dir and kind in (0, stat.S_IFREG, stat.S_IFDIR)
        readable = not entry.is_dir
        if info.flag_bits & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
            problems.append(("encrypted", "encrypted entries are not supported"))
            readable = False
        if info.compress_type not in _SUPPORTED_METHODS:
            problems.append(
                (
                    "unsupported_compression",
                    f"compression method {info.compress_type} is not supported; use"
                    f" {', '.join(_SUPPORTED_METHODS.values())}",
                )
            )
            readable = False
        if not entry.is_dir and info.file_size > self.limits.max_file_bytes:
            problems.append(
                (
                    "file_too_large",
                    f"the file declares {_size(info.file_size)}; the limit is"
                    f" {_size(self.limits.max_file_bytes)}",
                )
            )
            readable = False
        for code, message in problems:
            self.report.add(entry.shown, code, message)
        entry.readable = readable
        return entry

    def _find_duplicates(self, entries: list[_Entry]) -> None:
        """Flag names that clash once case and Unicode normalisation are ignored."""
        # folded path -> (spelling, is a file, named explicitly, entry that introduced it)
        seen: dict[str, tuple[str, bool, bool, str]] = {}
        # Folders already accepted need no second look; most entries share a parent folder.
        folders: set[tuple[str, ...]] = set()
        for entry in entries:
            if not entry.segments:
                continue
            parents = known = len(entry.segments) - 1
            while known and entry.segments[:known] not in folders:
                known -= 1
            for level in range(known + 1, parents + 2):
                spelling = "/".join(entry.segments[:level])
                key = fold(spelling)
                own = level > parents
                is_file = own and not entry.is_dir
                earlier = seen.get(key)
                if earlier is None:
                    seen[key] = (spelling, is_file, own, entry.shown)
                elif (message := clash(spelling, is_file, own, earlier)) is not None:
                    self.report.add(entry.shown, "duplicate_name", message)
                    break
                elif own:
                    seen[key] = (spelling, is_file, True, earlier[3])
                if not own:
                    folders.add(entry.segments[:level])

    def _locate_data(self, entries: list[_Entry], directory_start: int) -> bool:
        """Read each local header; False when entries share bytes (an overlapping-entry bomb)."""
        spans: list[tuple[int, int, int]] = []
        for index, entry in enumerate(entries):
            offset = entry.info.header_offset
            header = b""
            if 0 <= offset <= directory_start - _LOCAL_HEADER.size:
                self.data.seek(offset)
                header = self.data.read(_LOCAL_HEADER.size)
            if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
                self._corrupt(entry, "its local header is missing")
                continue
            fields = _LOCAL_HEADER.unpack(header)
            method, name_length, extra_length = fields[3], fields[9], fields[10]
            # Tools that read local headers would see another name or method than we checked.
            if self.data.read(name_length) != raw_name(entry.info) or method != (
                entry.info.compress_type
            ):
                self._corrupt(entry, "its local header disagrees with the central directory")
                continue
            entry.data_start = offset + _LOCAL_HEADER.size + name_length + extra_length
            spans.append((offset, entry.data_start + entry.info.compress_size, index))
        sound = True
        reach, owner = 0, -1
        for start, end, index in sorted(spans):
            entry = entries[index]
            if start < reach:
                sound = False
                self.report.add(
                    entry.shown,
                    "overlapping_entries",
                    f"its data overlaps that of {entries[owner].shown!r}",
                )
            elif end > directory_start:
                sound = False
                self.report.add(
                    entry.shown, "overlapping_entries", "its data runs into the central directory"
                )
            if end > reach:
                reach, owner = end, index
        return sound

    def _contents(self, entries: list[_Entry], writer: SafeWriter | None) -> None:
        """Decompress every readable entry in order, writing it while nothing has failed."""
        for entry in entries:
            if self.stopped or self.report.full:
                return
            if self.report.problems:
                writer = None
            if entry.is_dir:
                if writer is not None:
                    writer.directory(entry.segments)
            elif entry.readable and entry.data_start >= 0:
                if writer is None:
                    self._content(entry, None)
                else:
                    with writer.file(entry.segments) as sink:
                        self._content(entry, sink)
                # Checked between entries so that an entry's own verdict comes first; one entry
                # alone cannot run far, as its own ratio, size and the total stop it.
                self._check_overall_ratio()

    def _content(self, entry: _Entry, sink: BinaryIO | None) -> None:
        """Count, check and maybe write one entry's bytes; stop reading at its first problem."""
        info, limits = entry.info, self.limits
        self.compressed += info.compress_size
        # One byte past the declared size or the total budget is enough to know a limit broke.
        cap = min(info.file_size, max(limits.max_total_bytes - self.total, 0)) + 1
        counted = crc = 0
        stream = decompressed(
            self.data,
            entry.data_start,
            info.compress_size,
            info.compress_type,
            cap,
            limits.max_file_bytes,
        )
        try:
            for chunk in stream:
                counted += len(chunk)
                self.total += len(chunk)
                if counted > info.file_size:
                    # The declared size is within max_file_bytes, so this also enforces it.
                    self._size_mismatch(entry, "it holds more than the")
                    return
                if self.total > limits.max_total_bytes:
                    self.report.add(
                        None,
                        "total_too_large",
                        f"the files hold more than {_size(limits.max_total_bytes)} in total",
                    )
                    self.stopped = True
                    return
                if counted > limits.ratio_floor_bytes and counted > (
                    limits.max_ratio * info.compress_size
                ):
                    self.report.add(
                        entry.shown,
                        "compression_ratio",
                        f"it expands more than {limits.max_ratio:g} times (a zip bomb?)",
                    )
                    return
                crc = zlib.crc32(chunk, crc)
                if sink is not None:
                    sink.write(chunk)
        except CorruptEntry as exc:
            self._corrupt(entry, f"its compressed data is damaged ({exc})")
            return
        if counted != info.file_size:
            self._size_mismatch(entry, f"it holds {counted} bytes, not the")
        elif crc != info.CRC:
            self._corrupt(entry, "its CRC-32 does not match its content")

    def _check_overall_ratio(self) -> None:
        """Stop everything once the whole archive expands past the ratio."""
        limits = self.limits
        if self.total > limits.ratio_floor_bytes and self.total > (
            limits.max_ratio * self.archive_bytes
        ):
            self.report.add(
                None,
                "compression_ratio",
                f"the archive expands more than {limits.max_ratio:g} times (a zip bomb?)",
            )
            self.stopped = True

    def _size_mismatch(self, entry: _Entry, start: str) -> None:
        """Report that the bytes counted differ from the header's size; start says how."""
        self.report.add(
            entry.shown,
            "size_mismatch",
            f"{start} {entry.info.file_size} bytes its header declares",
        )

    def _corrupt(self, entry: _Entry, message: str) -> None:
        """Report an entry whose headers or data cannot be trusted."""
        self.report.add(entry.shown, "corrupt_entry", message)


def _count_entries(fp: BinaryIO, archive_bytes: int, cap: int) -> int:
    """How many central-directory records zipfile would read, counting no further than cap + 1."""
    # Mirrors zipfile._EndRecData so that both find the same directory; on any doubt return 0
    # and let zipfile itself reject the file.
    tail_start = max(archive_bytes - _MAX_COMMENT - _END_OF_DIRECTORY.size, 0)
    fp.seek(tail_start)
    tail = fp.read()
    size = _END_OF_DIRECTORY.size
    if len(tail) >= size and tail[-size : -size + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0":
        at = len(tail) - size
    else:
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < size:
            return 0
    end = _END_OF_DIRECTORY.unpack_from(tail, at)
    directory_size, directory_offset = end[5], end[6]
    location = tail_start + at
    concat = location - directory_size - directory_offset
    locator_at = location - _ZIP64_LOCATOR.size
    if locator_at >= 0:
        fp.seek(locator_at)
        locator = fp.read(_ZIP64_LOCATOR.size)
        if locator[:4] == b"PK\x06\x07" and locator_at >= _ZIP64_END_OF_DIRECTORY.size:
            fp.seek(locator_at - _ZIP64_END_OF_DIRECTORY.size)
            end64 = _ZIP64_END_OF_DIRECTORY.unpack(fp.read(_ZIP64_END_OF_DIRECTORY.size))
            if end64[0] == b"PK\x06\x06":
                directory_size, directory_offset = end64[8], end64[9]
                concat = location - directory_size - directory_offset
                concat -= _ZIP64_END_OF_DIRECTORY.size + _ZIP64_LOCATOR.size
    start = directory_offset + concat
    if start < 0 or directory_size > archive_bytes:
        return 0
    fp.seek(start)
    directory = fp.read(directory_size)
    count = position = 0
    while position < len(directory) and count <= cap:
        if directory[position : position + 4] != b"PK\x01\x02":
            break
        if position + _CENTRAL_RECORD_SIZE > len(directory):
            break
        lengths = struct.unpack_from("<3H", directory, position + 28)
        position += _CENTRAL_RECORD_SIZE + sum(lengths)
        count += 1
    return count


def _size(count: int) -> str:
    """A byte count for people."""
    if count >= 1024**2:
        return f"{count / 1024**2:.1f} MiB"
    if count >= 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count} bytes"
