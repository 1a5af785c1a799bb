"""REDbot (PyPI `redbot`) on one URL, its notes printed as JSON lines: `python -m
tests.harness.redbot_notes URL [Header: value ...]`.

Names under `localhost` resolve to loopback here, as RFC 6761 (section 6.3) says they must:
REDbot resolves with dnspython, which asks a DNS server and so knows none of them.
"""

from __future__ import annotations

import json
import socket
import sys
from configparser import ConfigParser
from typing import Any

import thor
import thor.dns
from redbot.resource import HttpResource

_resolve = thor.dns._lookup


def _lookup(host: bytes, port: int, socktype: int) -> Any:
    name = host.decode("idna")
    if name == "localhost" or name.endswith(".localhost"):
        return [(socket.AF_INET, socktype, socket.IPPROTO_IP, "", ("127.0.0.1", port))]
    return _resolve(host, port, socktype)


def notes(url: str, headers: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Every note REDbot makes of the URL (subnotes flattened), with its level and category."""
    thor.dns._lookup = _lookup
    config = ConfigParser()
    config.read_dict({"redbot": {"enable_local_access": "True"}})
    resource = HttpResource(config["redbot"])
    resource.set_request(url, headers=headers)

    @thor.events.on(resource)
    def check_done() -> None:
        thor.stop()

    resource.check()
    thor.run()
    if resource.fetch_error is not None:
        raise SystemExit(f"REDbot could not fetch {url}: {resource.fetch_error.desc}")
    found = []
    for note in resource.response.notes:
        for each in (note, *note.subnotes):
            level = each.level.name if each.level is not None else "INFO"
            found.append({"level": level, "category": str(note.category), "summary": each.summary})
    return found


if __name__ == "__main__":
    given = [tuple(part.strip() for part in item.split(":", 1)) for item in sys.argv[2:]]
    for found in notes(sys.argv[1], given):  # type: ignore[arg-type]
        print(json.dumps(found))
