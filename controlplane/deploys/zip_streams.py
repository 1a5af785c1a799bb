"""One ZIP entry's bytes, decoded under a hard output bound, and a writer that puts them under
one new directory without ever following a link."""

from __future__ import annotations

import bz2
import lzma
import mmap
import os
import shutil
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

# Big enough that zlib and crc32 dominate the Python loop, small enough to bound memory.
_CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class CorruptEntry(Exception):
    """An entry's compressed data cannot be decoded."""


class _Decoder(Protocol):
    """What bz2.BZ2Decompressor and lzma.LZMADecompressor offer, with a bounded output."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int, /) -> bytes: ...


class _Inflater:
    """zlib's raw inflate behind the bz2/lzma decompressor interface."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        """Whether the deflate stream has ended."""
        return self._zlib.eof

    def decompress(self, data: bytes, max_length: int, /) -> bytes:
        """At most max_length bytes more, keeping unread input for the next call."""
        out = self._zlib.decompress(self._zlib.unconsumed_tail + data, max_length)
        # A full output buffer can leave bytes pending inside zlib even when all input was taken.
        self.needs_input = not self._zlib.unconsumed_tail and len(out) < max_length
        return out


class _ZipLzma:
    """LZMA as zip stores it: a version, a properties size and 5 property bytes, then raw LZMA1."""

    def __init__(self, dictionary_cap: int) -> None:
        self._head = b""
        self._lzma: lzma.LZMADecompressor | None = None
        self._dictionary_cap = dictionary_cap

    @property
    def eof(self) -> bool:
        """Whether the LZMA stream has ended (only when it carries an end marker)."""
        return self._lzma is not None and self._lzma.eof

    @property
    def needs_input(self) -> bool:
        """Whether another call needs more compressed bytes."""
        return self._lzma is None or self._lzma.needs_input

    def decompress(self, data: bytes, max_length: int, /) -> bytes:
        """At most max_length bytes more, once the properties header has arrived."""
        if self._lzma is None:
            self._head += data
            if len(self._head) < 9:
                return b""
            properties_size, properties = struct.unpack_from("<H", self._head, 2)[0], self._head[4]
            if properties_size != 5 or properties >= 9 * 5 * 5:
                raise CorruptEntry("bad LZMA properties")
            pb, rest = divmod(properties, 9 * 5)
            lp, lc = divmod(rest, 9)
            dictionary = struct.unpack_from("<L", self._head, 5)[0]
            # No file may exceed the cap, so a larger dictionary would only make us allocate.
            dictionary = max(4096, min(dictionary, self._dictionary_cap))
            options = {"id": lzma.FILTER_LZMA1, "dict_size": dictionary, "lc": lc, "lp": lp}
            try:
                self._lzma = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{**options, "pb": pb}])
            except (lzma.LZMAError, ValueError) as exc:
                raise CorruptEntry(str(exc)) from None
            data, self._head = self._head[9:], b""
        return self._lzma.decompress(data, max_length)


def decompressed(
    fp: BinaryIO | mmap.mmap, start: int, size: int, method: int, cap: int, max_file_bytes: int
) -> Iterator[bytes]:
    """The entry's bytes in chunks of at most 1 MiB, never more than cap of them in all."""
    fp.seek(start)
    left_in, left_out = size, cap
    decoder: _Decoder
    if method == zipfile.ZIP_STORED:
        while left_in and left_out:
            data = fp.read(min(_CHUNK, left_in, left_out))
            if not data:
                return
            left_in -= len(data)
            left_out -= len(data)
            yield data
        return
    if method == zipfile.ZIP_DEFLATED:
        decoder = _Inflater()
    elif method == zipfile.ZIP_BZIP2:
        decoder = bz2.BZ2Decompressor()
    else:
        decoder = _ZipLzma(max(max_file_bytes, 4096))
    # zipfile's own reader asks bz2 and lzma for unbounded output: a few KiB of bzip2 can
    # expand to gigabytes in memory before any size check runs. Here every call is bounded.
    while left_out > 0 and not decoder.eof:
        data = b""
        if decoder.needs_input:
            data = fp.read(min(_CHUNK, left_in))
            left_in -= len(data)
            if not data:
                return
        try:
            out = decoder.decompress(data, min(_CHUNK, left_out))
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            raise CorruptEntry(str(exc)) from None
        if not out and not data and not decoder.needs_input and not decoder.eof:
            raise CorruptEntry("the decoder stopped making progress")
        if out:
            left_out -= len(out)
            yield out


class SafeWriter:
    """Creates folders and files under one new directory, never following a link."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        os.mkdir(dest, 0o755)
        self._root = os.open(dest, _DIR_FLAGS)
        os.fchmod(self._root, 0o755)
        # Files of one folder usually come together, so keep the last folder open.
        self._last: tuple[tuple[str, ...], int] = ((), self._root)

    def directory(self, segments: tuple[str, ...]) -> int:
        """A descriptor for dest/segments, creating what is missing, following no link."""
        if segments == self._last[0]:
            return self._last[1]
        fd = self._root
        for segment in segments:
            try:
                os.mkdir(segment, 0o755, dir_fd=fd)
                created = True
            except FileExistsError:
                created = False
            child = os.open(segment, _DIR_FLAGS, dir_fd=fd)
            if created:
                os.fchmod(child, 0o755)  # mkdir's mode went through the umask
            if fd != self._root:
                os.close(fd)
            fd = child
        self._forget()
        self._last = (segments, fd)
        return fd

    def file(self, segments: tuple[str, ...]) -> BinaryIO:
        """A new file dest/segments, opened for writing with mode 0644 whatever the archive says."""
        parent = self.directory(segments[:-1])
        fd = os.open(segments[-1], _FILE_FLAGS, 0o644, dir_fd=parent)
        os.fchmod(fd, 0o644)
        return os.fdopen(fd, "wb")

    def close(self) -> None:
        """Release the descriptors."""
        self._forget()
        self._last = ((), self._root)
        os.close(self._root)

    def remove(self) -> None:
        """Delete everything written, dest included."""
        self.close()
        shutil.rmtree(self.dest, ignore_errors=True)

    def _forget(self) -> None:
        """Close the cached folder descriptor unless it is dest itself."""
        if self._last[1] != self._root:
            os.close(self._last[1])
