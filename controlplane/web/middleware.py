"""Request ids, the access log line, request metrics, and errors mapped to the API's error shape."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Histogram

from controlplane.config import IPNetwork
from controlplane.errors import RateLimited, WharfError

log = logging.getLogger("controlplane.access")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID = web.RequestKey("request_id", str)
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

REQUESTS = Counter(
    "wharf_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
LATENCY = Histogram(
    "wharf_http_request_duration_seconds", "Time to answer an HTTP request", ["route", "method"]
)


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON error in the API's shape."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return web.json_response(body, status=status, headers=headers)


def _route_label(request: web.Request) -> str:
    """The matched route's template, so metrics do not grow a label per site name."""
    route = request.match_info.route
    resource = route.resource
    if resource is None or isinstance(request.match_info.http_exception, web.HTTPException):
        return "unmatched"
    return resource.canonical


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id, then log and count it once it is answered."""
    offered = request.headers.get("X-Request-Id", "")
    request_id = offered if _CLIENT_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    finally:
        duration = time.perf_counter() - started
        route = _route_label(request)
        REQUESTS.labels(route, request.method, str(status)).inc()
        LATENCY.labels(route, request.method).observe(duration)
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
            },
        )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain errors and HTTP errors into JSON error bodies; hide unexpected failures."""
    try:
        return await handler(request)
    except RateLimited as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        return error_response(exc.status, exc.code, exc.message, exc.details, headers)
    except WharfError as exc:
        challenge = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, exc.details, challenge)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, code, exc.reason, headers=_allow_header(exc))
    except Exception:
        log.exception("unhandled error", extra={"request_id": request.get(REQUEST_ID)})
        return error_response(500, "internal_error", "something went wrong on our side")


def _allow_header(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None


def client_address(request: web.Request, trusted_proxies: tuple[IPNetwork, ...]) -> str:
    """The client's address: the peer, or the last untrusted X-Forwarded-For hop behind proxies."""
    peer = request.remote or "unknown"
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
    candidates = [peer, *reversed([hop for hop in hops if hop])]
    for index, address in enumerate(candidates):
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            # An unparsable hop ends the trusted chain; the hop before it is the answer.
            return candidates[index - 1] if index else peer
        if not any(parsed in network for network in trusted_proxies):
            return address
    return candidates[-1]
