"""Receiving a deploy upload: a raw ZIP body or a multipart form, streamed to disk with a limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

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
    """Write the uploaded archive to destination; fields are the other multipart fields."""
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
        fields: dict[str, Any] = {}
        async for part in _parts(request):
            if part.name == "archive" and received is None:
                received = ReceivedUpload(await _stream(_part_chunks(part), target, limit))
            elif part.name in ("environment", "flags"):
                text = (await part.read(decode=True))[:_MAX_FIELD].decode("utf-8", "replace")
                fields[part.name] = text
            else:
                await part.release()
    if received is None:
        raise UploadError("the form has no 'archive' field", code="missing_archive")
    received.fields = fields
    return received


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
