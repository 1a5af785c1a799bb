"""The app's runner: a request the HTTP parser refuses (a line or header over aiohttp's 8,190
bytes, bytes that are not HTTP) is answered in the API's error shape, never with the bytes
sent. aiohttp answers these itself, in plain text that quotes the offending line, before any
middleware runs; its `RequestHandler.handle_error` (aiohttp/web_protocol.py) is the one hook."""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from controlplane.web.middleware import error_response


class _Protocol(RequestHandler):
    """aiohttp's protocol, with its refusals of unreadable requests in the error shape."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A refused request's answer: 431 for an over-long line, 400 for bad HTTP."""
        if not isinstance(exc, BadHttpMessage):
            return super().handle_error(request, status, exc, message)
        self.log_debug("refused a request the parser could not read: %s", type(exc).__name__)
        if isinstance(exc, LineTooLong):
            response = error_response(
                431,
                "request_header_fields_too_large",
                "the request line or a header is longer than 8190 bytes",
            )
        else:
            response = error_response(400, "bad_request", "the request is not valid HTTP")
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


class WharfRunner(web.AppRunner):
    """An AppRunner whose connections use _Protocol."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app builds its Server itself; _Server only replaces how connections are made.
        server.__class__ = _Server
        return server
