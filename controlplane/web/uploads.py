"""Receiving a deploy upload: a raw ZIP body, or a multipart form with the ZIP or a folder's
files, streamed to disk with a limit."""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from controlplane.errors import Invalid, WharfError
from controlplane.web.inputs import BadInput, parse_json_text

ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/octet-stream"}
_CHUNK = 256 * 1024
_WRITE_BATCH = 4 * 1024 * 1024
_MAX_FIELD = 64 * 1024


class UploadError(WharfError):
    """The upload itself is unusable (size, type, missing field)."""


@dataclass
class ReceivedUpload:
    """The archive on disk and the form fields that came with it."""

    size: int
    fields: dict[str, Any] = field(default_factory=dict)


def _too_large(limit: int) -> UploadError:
    error = UploadError(f"the upload is larger than {limit} bytes", code="archive_too_large")
    error.status = 413
    return error


async def _stream(chunks: Any, target: BinaryIO, limit: int) -> int:
    """Copy chunks to the file, off the event loop in batches, stopping past the limit."""
    size = 0
    batch: list[bytes] = []
    batched = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        batch.append(chunk)
        batched += len(chunk)
        if batched >= _WRITE_BATCH:
            await asyncio.to_thread(target.writelines, batch)
            batch, batched = [], 0
    await asyncio.to_thread(target.writelines, batch)
    return size


async def _part_chunks(part: BodyPartReader) -> Any:
    while chunk := await part.read_chunk(_CHUNK):
        yield chunk


async def receive_upload(request: web.Request, destination: Path, limit: int) -> ReceivedUpload:
    """Write the uploaded archive (or the folder's files, zipped) to destination; fields are
    the other multipart fields."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    with destination.open("wb") as target:
        if request.content_type in ZIP_TYPES:
            size = await _stream(request.content.iter_chunked(_CHUNK), target, limit)
            return ReceivedUpload(size)
        if request.content_type != "multipart/form-data":
            error = UploadError(
                "send the ZIP as application/zip or as multipart field 'archive'",
                code="unsupported_media_type",
            )
            error.status = 415
            raise error
        received: ReceivedUpload | None = None
        folder = _Folder(target, limit)
        fields: dict[str, Any] = {}
        try:
            async for part in _parts(request):
                if part.name == "archive" and received is None and not folder.count:
                    received = ReceivedUpload(await _stream(_part_chunks(part), target, limit))
                elif part.name == "file" and part.filename and received is None:
                    await folder.add(_form_file_name(part.filename), part)
                elif part.name in ("environment", "flags", "message", "commit"):
                    text = (await part.read(decode=True))[:_MAX_FIELD].decode("utf-8", "replace")
                    fields[part.name] = text
                else:
                    await part.release()
        finally:
            size = await folder.close()  # on a refusal too: the ZIP must not outlive its file
        if folder.count:
            received = ReceivedUpload(size)
    if received is None:
        raise UploadError(
            "the form has no 'archive' field and no 'file' fields", code="missing_archive"
        )
    received.fields = fields
    return received


def _form_file_name(sent: str) -> str:
    """A file name as the browser had it: the HTML standard's multipart encoding turns `"`, CR
    and LF into %22, %0D and %0A, and leaves everything else (a `%` too) as it is."""
    return sent.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


class _Folder:
    """A folder sent as one multipart `file` part a file, its path as the part's filename,
    written into a ZIP as it arrives: the archive then takes the ZIP upload's path and checks."""

    def __init__(self, target: BinaryIO, limit: int) -> None:
        self.target = target
        self.zip: zipfile.ZipFile | None = None  # opened by the first file
        self.entry: IO[bytes] | None = None  # the file being written into it
        self.count = 0
        self.left = limit
        self.limit = limit

    async def add(self, path: str, part: BodyPartReader) -> None:
        """Stream one file into the ZIP under its path, within what is left of the limit."""
        if "\x00" in path:  # zipfile would cut the name there, silently; the checks see the rest
            raise UploadError(f"the file name {path!r} holds a NUL", code="invalid_file_name")
        # Stored, not deflated: the ZIP lives only until the build unpacks it.
        self.zip = self.zip or zipfile.ZipFile(self.target, "w")
        large = self.limit >= zipfile.ZIP64_LIMIT
        self.entry = await asyncio.to_thread(self.zip.open, path, "w", force_zip64=large)
        batch: list[bytes] = []
        batched = 0
        async for chunk in _part_chunks(part):
            self.left -= len(chunk)
            if self.left < 0:
                raise _too_large(self.limit)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= _WRITE_BATCH:
                await asyncio.to_thread(self.entry.writelines, batch)
                batch, batched = [], 0
        await asyncio.to_thread(self.entry.writelines, batch)
        await asyncio.to_thread(self.entry.close)
        self.entry = None
        self.count += 1

    async def close(self) -> int:
        """Finish the ZIP (and a file cut short by a refusal), if a file came; its size."""
        if self.zip is None:
            return 0
        if self.entry is not None:
            await asyncio.to_thread(self.entry.close)
        await asyncio.to_thread(self.zip.close)
        return self.target.tell()


async def _parts(request: web.Request) -> AsyncIterator[BodyPartReader]:
    """The form's parts; 400 when the body is not the multipart form its header announces."""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader):
                yield part
    except (
        ValueError,
        AssertionError,
        KeyError,
        LookupError,
        UnicodeDecodeError,
        HttpProcessingError,
    ):
        # aiohttp's answers to a missing or empty boundary, or a body without it.
        raise UploadError(
            "the body is not a readable multipart form", code="invalid_multipart"
        ) from None


def parse_flags_text(text: str | None) -> object:
    """Flags arrive as JSON text (query or form field): an object, or absent."""
    if text is None or text == "":
        return None
    try:
        flags = parse_json_text(text, "flags")
    except BadInput as exc:
        raise WharfError(
            f"flags must be a JSON object: {exc.message}", code="invalid_flags"
        ) from None
    if not isinstance(flags, dict):
        raise Invalid("flags must be a JSON object", code="invalid_flags")
    return flags
