"""A webhook receiver on loopback, as a site owner would run one: it checks each request's
signature with the code docs/webhooks.md gives (run from the page itself), records what came
and when, and answers as a test scripts it (500, 500, then 200...)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

DOCS = Path(__file__).parents[2] / "docs" / "webhooks.md"
Verifier = Callable[[str, bytes, str], bool]


def documented_verifier() -> Verifier:
    """verify_wharf_signature(secret, body, header) as docs/webhooks.md writes it."""
    text = DOCS.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code, "docs/webhooks.md has no Python block"
    namespace: dict[str, Any] = {}
    exec(compile(code[1], str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    verifier: Verifier = namespace["verify_wharf_signature"]
    return verifier


@dataclass
class Received:
    """One request as it arrived."""

    at: float  # time.monotonic()
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool  # the documented check passed with the receiver's secret

    @property
    def document(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class Receiver:
    """The receiving app: `answers` are the statuses to give in turn (the last repeats)."""

    answers: list[int] = field(default_factory=lambda: [200])
    secret: str = ""
    delay: float = 0.0  # seconds to wait before answering (a slow receiver)
    location: str | None = None  # sent with a 3xx answer
    received: list[Received] = field(default_factory=list)
    verify: Verifier = field(default_factory=documented_verifier)

    def app(self) -> web.Application:
        """An aiohttp app answering every POST."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("Wharf-Signature", "")
        signed = bool(self.secret) and self.verify(self.secret, body, signature)
        self.received.append(
            Received(time.monotonic(), request.path_qs, dict(request.headers), body, signed)
        )
        status = self.answers[min(len(self.received), len(self.answers)) - 1]
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = {"Location": self.location} if self.location and 300 <= status < 400 else {}
        return web.Response(status=status, text="ok", headers=headers)

    def gaps(self) -> list[float]:
        """Seconds between one request and the next."""
        times = [item.at for item in self.received]
        return [later - earlier for earlier, later in itertools.pairwise(times)]
